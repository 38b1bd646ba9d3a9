"""The console's error page: a problem the API's handlers answer (api/problems.py: a rate limit,
a Temporal deadline, an unexpected error) reaches a person on a console path as a page in their
language, with what to do next, rather than as problem+json."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from console.render import page
from console.words import N_

PREFIX = "/console"

# What the page says, by status: a heading and what to do next (the catalogs translate both).
HEADINGS = {
    429: N_("Too many requests"),
    503: N_("Temporarily unavailable"),
    500: N_("Something went wrong"),
    404: N_("Page not found"),
}
ADVICE = {
    429: N_(
        "You sent too many requests in a short time; nothing was done. Wait %(seconds)s seconds, then send it again."
    ),
    503: N_(
        "The case or the workflow service did not answer in time. The action may still be taken: open the case "
        "again in a few seconds before sending it again (a form sent twice acts once)."
    ),
    500: N_("The request failed unexpectedly. It is safe to try again."),
    404: N_("There is no such page in the console."),
}
DEFAULT_HEADING = N_("The request could not be completed")
DEFAULT_ADVICE = N_("Nothing was done. Go back and check what you sent.")


def problem_page(
    request: Request, status: int, title: str, detail: str, headers: dict[str, str] | None
) -> Response | None:
    """The page for a problem on a console path; None elsewhere (the API answers JSON)."""
    path = request.url.path
    if path != PREFIX and not path.startswith(PREFIX + "/"):
        return None
    seconds = (headers or {}).get("Retry-After", "")
    response = page(
        request,
        "problem.html",
        status=status,
        heading=HEADINGS.get(status, DEFAULT_HEADING),
        advice=ADVICE.get(status, DEFAULT_ADVICE),
        seconds=seconds if seconds.isdigit() else "",
        title=title,
        detail=detail,
    )
    for name, value in (headers or {}).items():
        response.headers.setdefault(name, value)
    return response
