"""`aftersales apikey` and `aftersales triage-rules`: what lives in the database at DATABASE_URL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli import common
from cli.common import with_store

apikey_cli = typer.Typer(help="API keys for services calling the API (header X-API-Key).", no_args_is_help=True)


def _with_key_store(work):  # noqa: ANN001, ANN202 - async (ApiKeyStore) -> T, returns T
    from store.apikeys import ApiKeyStore

    return with_store(ApiKeyStore, work)


@apikey_cli.command("create")
def apikey_create(
    role: Annotated[
        str, typer.Option(help="agent, handler, supervisor, head, admin, or the systems warehouse and logistics")
    ],
    department: Annotated[
        str | None, typer.Option(help="The department of a handler key (required for handlers)")
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="Who the caller is in every record, up to 64 characters (default: role and key id)"),
    ] = None,
) -> None:
    """Create a key and print it, once: only its hash is stored."""
    from domain.case import Department, Role
    from store.apikeys import InvalidKeyRequest

    try:
        wanted_role = Role(role)
        wanted_department = Department(department) if department else None
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    if name is not None and not 0 < len(name) <= 64:
        raise typer.BadParameter("1 to 64 characters", param_hint="--name")
    try:
        issued = _with_key_store(lambda keys: keys.create(wanted_role, name=name, department=wanted_department))
    except InvalidKeyRequest as error:
        raise typer.BadParameter(str(error)) from None
    typer.echo(issued.key)
    where = f" in {issued.actor.department.value}" if issued.actor.department else ""
    typer.echo(
        f"key {issued.key_id} for {issued.actor.id} ({issued.actor.role.value}{where}); "
        "it is shown only now: store it in the caller's secrets",
        err=True,
    )


@apikey_cli.command("list")
def apikey_list() -> None:
    """Every key: id, name, role, department, created and revoked; never a secret."""
    from rich.console import Console
    from rich.table import Table

    rows = _with_key_store(lambda keys: keys.list())
    table = Table(title=f"API keys: {len(rows)}", title_justify="left")
    # The id is what `apikey revoke` takes: never cut it; the other columns wrap instead.
    table.add_column("key id", no_wrap=True, min_width=12)
    for column in ("name", "role", "department", "created", "revoked"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.key_id, row.name, row.role, row.department or "-", f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "-",
        )  # fmt: skip
    Console().print(table)


@apikey_cli.command("revoke")
def apikey_revoke(
    key_id: Annotated[
        str, typer.Argument(help="The key id `apikey list` shows, or a prefix of it only one live key has")
    ],
) -> None:
    """Revoke a key at once: its next request is refused."""

    async def work(keys):  # noqa: ANN001, ANN202 - ApiKeyStore; (revoked, the id, ambiguous ids)
        live = [row.key_id for row in await keys.list() if row.revoked_at is None and row.key_id.startswith(key_id)]
        if len(live) != 1 or not key_id:
            return False, key_id, live if len(live) > 1 else []
        return await keys.revoke(live[0]), live[0], []

    revoked, key_id, ambiguous = _with_key_store(work)
    if ambiguous:
        typer.echo(
            f"error: {len(ambiguous)} live keys start with {key_id}: {', '.join(ambiguous)}; give more of the id",
            err=True,
        )
        raise typer.Exit(1)
    if revoked:
        typer.echo(f"key {key_id} revoked")
    else:
        typer.echo(f"error: no live key {key_id}", err=True)
        raise typer.Exit(1)


triage_cli = typer.Typer(
    help="Triage rules versions (keywords, routing, priority terms) in the database at DATABASE_URL.",
    no_args_is_help=True,
)


def _with_triage_rules(work):  # noqa: ANN001, ANN202 - async (TriageRulesStore) -> T, returns T
    from store.triage_rules import TriageRulesStore

    return with_store(TriageRulesStore, work)


@triage_cli.command("upload")
def triage_rules_upload(
    file: Annotated[
        Path, typer.Argument(help="The rules as JSON or TOML (.toml), with a `version`", exists=True, dir_okay=False)
    ],
    activate: Annotated[bool, typer.Option(help="Put it in force at once")] = False,
    actor: Annotated[str, typer.Option(help="Who uploads, in the record")] = "cli",
) -> None:
    """Store a new version (immutable: the same name with other rules is refused)."""
    import json
    import tomllib

    from pydantic import ValidationError

    from domain.triage import TriageRulesDocument
    from store.rules import VersionExists

    text = file.read_text(encoding="utf-8")
    try:
        document = TriageRulesDocument.model_validate(
            tomllib.loads(text) if file.suffix == ".toml" else json.loads(text)
        )
    except (ValueError, ValidationError) as error:
        fields = (
            [".".join(map(str, e["loc"])) + f": {e['msg']}" for e in error.errors()]
            if isinstance(error, ValidationError)
            else [str(error)]
        )
        typer.echo("error: invalid triage rules\n  " + "\n  ".join(fields), err=True)
        raise typer.Exit(1) from None
    if not document.version:
        typer.echo("error: the file names no `version`", err=True)
        raise typer.Exit(1)
    rules = document.rules(document.version)

    async def work(store):
        created = await store.add(rules, actor)
        activated = await store.activate(rules.version, actor) if activate else None
        return created, activated

    try:
        created, activated = _with_triage_rules(work)
    except VersionExists:
        typer.echo(f"error: version {rules.version} exists with other rules: upload under a new version", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"triage rules {rules.version} {'uploaded' if created else 'already uploaded, unchanged'}")
    if activated is not None:
        typer.echo(f"triage rules {rules.version} in force for new cases (workers notice within their cache time)")


@triage_cli.command("activate")
def triage_rules_activate(
    version: Annotated[str, typer.Argument(help="An uploaded version")],
    actor: Annotated[str, typer.Option(help="Who activates, in the record")] = "cli",
) -> None:
    """Put an uploaded version in force for the cases received from now on."""
    if _with_triage_rules(lambda store: store.activate(version, actor)) is None:
        typer.echo(f"error: no triage rules version {version}: upload it first", err=True)
        raise typer.Exit(1)
    typer.echo(f"triage rules {version} in force for new cases (workers notice within their cache time)")


@triage_cli.command("list")
def triage_rules_list() -> None:
    """The uploaded versions, newest first, and the one in force."""

    async def work(store):
        return await store.active_version(), await store.versions(500)

    active, versions = _with_triage_rules(work)
    typer.echo(
        f"in force: {active or common.get_settings().triage_rules().version + ' (built-in or TRIAGE_RULES_FILE)'}"
    )
    for v in versions:
        mark = "*" if v.version == active else " "
        typer.echo(f"{mark} {v.version:<32} uploaded {v.created_at:%Y-%m-%d %H:%M} by {v.created_by}")


def rekey_phones() -> None:
    """After PHONE_LOOKUP_KEY changes: hash every case's phone again under the key now set, so
    finding a case by phone works again. Safe to run twice, or again after an interruption."""
    from store.phone_rekey import rekey_phones as rekey

    settings = common.get_settings()
    # with_store hands `work` what its first argument makes of the sessions: here the sessions themselves.
    changed = with_store(lambda sessions: sessions, lambda sessions: rekey(sessions, settings.phone_key()))
    typer.echo(f"{changed} cases' phone look-up re-hashed under the current PHONE_LOOKUP_KEY")
