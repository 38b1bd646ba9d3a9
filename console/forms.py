"""Forms built from the API's own pydantic models: a field per model field (nested models by
dotted name), and a posted form read back into the model, so the console accepts exactly what the
API accepts and names a refused field the way the API's problems do (`resolution.amount`)."""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

MAX_LINES = 50  # a list of text from a textarea: one item a line


def N_(message: str) -> str:
    return message


# Pydantic's refusals by type, as the catalogs word them (pydantic's own English text names the
# rule in English only); a type not listed here reads as `value_error` does.
MESSAGES = {
    "missing": N_("This field is required."),
    "string_too_short": N_("This field is required."),
    "string_too_long": N_("This is too long."),
    "too_long": N_("Too many items."),
    "too_short": N_("Choose at least one."),
    "enum": N_("Choose one of the options."),
    "literal_error": N_("Choose one of the options."),
    "int_parsing": N_("Enter a whole number."),
    "decimal_parsing": N_("Enter an amount such as 899.00."),
    "greater_than_equal": N_("The number is out of range."),
    "less_than_equal": N_("The number is out of range."),
    "greater_than": N_("The number is out of range."),
    "string_pattern_mismatch": N_("This is not in the expected form."),
    "value_error": N_("This value is not accepted."),
    "less_than": N_("The number is out of range."),
    "multiple_of": N_("The number is out of range."),
    "finite_number": N_("Enter a number."),
    "int_type": N_("Enter a whole number."),
    "int_from_float": N_("Enter a whole number."),
    "float_parsing": N_("Enter a number."),
    "float_type": N_("Enter a number."),
    "decimal_type": N_("Enter an amount such as 899.00."),
    "decimal_max_digits": N_("The amount has too many digits."),
    "decimal_max_places": N_("The amount has too many decimal places."),
    "decimal_whole_digits": N_("The amount has too many digits."),
    "bool_parsing": N_("Choose yes or no."),
    "bool_type": N_("Choose yes or no."),
    "string_type": N_("Enter text."),
    "list_type": N_("Enter one or more items."),
    "date_parsing": N_("Enter a date such as 2026-12-01."),
    "date_from_datetime_parsing": N_("Enter a date such as 2026-12-01."),
    "datetime_parsing": N_("Enter a date and time such as 2026-12-01 09:30."),
    "datetime_from_date_parsing": N_("Enter a date and time such as 2026-12-01 09:30."),
    "timedelta_parsing": N_("Enter a number of hours."),
    "url_parsing": N_("Enter a web address such as https://example.com/photo.jpg."),
    "url_scheme": N_("Enter a web address such as https://example.com/photo.jpg."),
    "extra_forbidden": N_("This field is not part of the form."),
    "assertion_error": N_("This value is not accepted."),
    "union_tag_invalid": N_("Choose one of the options."),
}


def message(problem: Any) -> str:
    """The catalog's wording of a pydantic refusal: never pydantic's English on a Chinese page."""
    return MESSAGES.get(problem["type"], MESSAGES["value_error"])


@dataclass
class FormField:
    name: str  # dotted: resolution.amount
    kind: str  # text, textarea, lines, number, decimal, select, checks, yesno, duration
    required: bool
    choices: list[str] = field(default_factory=list)
    max_length: int | None = None

    @property
    def label(self) -> str:
        """The catalog's msgid for the field: its last name (`amount`)."""
        return self.name.rsplit(".", 1)[-1]


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return (args[0] if len(args) == 1 else annotation), True
    return annotation, False


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is not None and hasattr(annotation, "__metadata__"):
        annotation = get_args(annotation)[0]
    return annotation


def fields_of(model: type[BaseModel], prefix: str = "") -> list[FormField]:
    found: list[FormField] = []
    for name, info in model.model_fields.items():
        annotation, optional = _strip_optional(_unwrap(info.annotation))
        annotation = _unwrap(annotation)
        required = info.is_required()
        dotted = f"{prefix}{name}"
        max_length = next((m.max_length for m in info.metadata if getattr(m, "max_length", None)), None)
        origin = get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += fields_of(annotation, f"{dotted}.")
        elif isinstance(annotation, type) and issubclass(annotation, Enum):
            found.append(FormField(dotted, "select", required, [e.value for e in annotation]))
        elif origin is Literal:
            found.append(FormField(dotted, "select", required, [str(a) for a in get_args(annotation)]))
        elif origin is list:
            (item,) = get_args(annotation)
            item = _unwrap(item)
            if isinstance(item, type) and issubclass(item, Enum):
                found.append(FormField(dotted, "checks", required, [e.value for e in item]))
            elif item is str:
                found.append(FormField(dotted, "lines", required))
            # Lists of records (evidence references) are not typed into a form.
        elif annotation is bool:
            found.append(FormField(dotted, "yesno", required))
        elif annotation is int:
            found.append(FormField(dotted, "number", required))
        elif annotation is Decimal:
            found.append(FormField(dotted, "decimal", required))
        elif annotation is timedelta:
            found.append(FormField(dotted, "duration", required))
        elif annotation is datetime:
            continue  # optional instants (a plan's due date) are left to the API
        else:
            kind = "textarea" if (max_length or 0) > 200 else "text"
            found.append(FormField(dotted, kind, required and not optional, max_length=max_length))
    return found


def departments_fields() -> list[FormField]:
    """Naming departments: the lead, the assisting ones ticked, and one request they are all asked."""
    from domain.case import Department

    names = [d.value for d in Department]
    return [
        FormField("lead", "select", True, names),
        FormField("assisting", "checks", True, names),
        FormField("request", "textarea", True, max_length=2000),
        FormField("reason", "textarea", False, max_length=2000),
    ]


def read_departments(model: type[BaseModel], form: FormData) -> tuple[BaseModel | None, dict[str, str], dict[str, Any]]:
    lead, request, reason = (str(form.get(name) or "").strip() for name in ("lead", "request", "reason"))
    assisting = [d for d in form.getlist("assisting") if isinstance(d, str)][:10]
    sent: dict[str, Any] = {"lead": lead, "assisting": assisting, "request": request, "reason": reason}
    if assisting and not request:
        return None, {"request": MESSAGES["missing"]}, sent
    data: dict[str, Any] = {
        "lead": lead or None,
        "assisting": [{"department": d, "request": request} for d in assisting],
    }
    if reason:
        data["reason"] = reason
    try:
        return model.model_validate(data), {}, sent
    except ValidationError as error:
        errors: dict[str, str] = {}
        for problem in error.errors():
            errors.setdefault(str(problem["loc"][0]) if problem["loc"] else "form", message(problem))
        return None, errors, sent


def read(model: type[BaseModel], form: FormData) -> tuple[BaseModel | None, dict[str, str], dict[str, Any]]:
    """The model from the form, or None and the message per field; and the values as sent."""
    data: dict[str, Any] = {}
    sent: dict[str, Any] = {}
    for spec in fields_of(model):
        if spec.kind == "checks":
            value: Any = [v for v in form.getlist(spec.name) if isinstance(v, str)]
            sent[spec.name] = value
            if not value:
                continue
        else:
            raw = form.get(spec.name)
            text = raw.strip() if isinstance(raw, str) else ""
            sent[spec.name] = text
            if not text:
                continue
            value = text
            if spec.kind == "lines":
                value = [line.strip() for line in text.splitlines() if line.strip()][: MAX_LINES + 1]
            elif spec.kind == "duration":
                value = timedelta(hours=float(text)) if _number(text) else text
        target = data
        *parents, last = spec.name.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[last] = value
    try:
        return model.model_validate(data), {}, sent
    except ValidationError as error:
        errors: dict[str, str] = {}
        for problem in error.errors():
            name = ".".join(str(part) for part in problem["loc"] if not isinstance(part, int)) or "form"
            errors.setdefault(name, message(problem))
        return None, errors, sent


def _number(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False
