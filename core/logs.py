"""Logging that masks personal data, for every logger of the process (ours, uvicorn's, temporalio.*).

Masking happens when a record is created (a log record factory), not in one
handler: handlers added later (uvicorn's, pytest's caplog) and the Temporal
SDK's loggers then all see the masked text. Our own code never logs names or
complaint text in the first place (there is no pattern to recognise a name);
this is the safety net for phone numbers and e-mail addresses that slip into a
message, an argument or a traceback.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, unquote_plus

from domain.privacy import mask_email, mask_phone

# An e-mail address: the intake accepts anything@anything without spaces.
_EMAIL = re.compile(r"[^\s@'\"<>()\[\]{},;:]+@[^\s@'\"<>()\[\]{},;:]+")
# A phone-like run of digits and separators; a digit, letter, '-', '.', ':' or '/'
# next to it means it is part of something else (a case number AS-20261123-000001,
# an address 127.0.0.1:7233, a path, an ISO instant 2026-11-23T10:00); a full stop may end it.
_PHONE = re.compile(
    r"(?<![\w.:/\-+])(?:\+\d{1,3}[ -]?)?(?:\(\d{1,4}\)[ -]?)?\d{1,4}(?:[ -]?\d{1,4}){1,5}(?![\w:/\-]|\.\w)"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# A customer page link (services/customer_links.py): its signature is a credential, the rest is not.
_CUSTOMER_LINK = re.compile(r"(/c/[A-Z]{2,8}-[0-9]{8}-[0-9]{6}\.[a-z]\.[0-9a-z]{1,10}\.)[A-Za-z0-9_-]{22}")
_MIN_PHONE_DIGITS = 7


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    if digits < _MIN_PHONE_DIGITS or _DATE.fullmatch(text):
        return text
    return mask_phone(text) or text


# A URL or an absolute path in a message (a request line, an httpx log, an error naming the
# path): its pieces are decoded and masked one by one. Whole, a phone after a '/' looks like
# part of a path, and an e-mail in a query would swallow the path before it.
_URL = re.compile(r"""\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s"'<>]*|(?<![^\s"'(\[=,])/[^\s"'<>]*""")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*://)([^/?#]*)(.*)", re.DOTALL)
# What stays as it is when a masked piece is encoded again (RFC 3986 pchar; '*' of the mask).
_SEGMENT_SAFE = "!$&'()*+,;=:@~"
_QUERY_SAFE = "!$'()*,;:@/?~"


def _mask_plain(text: str) -> str:
    text = _EMAIL.sub(lambda m: mask_email(m.group(0)) or m.group(0), text)
    return _PHONE.sub(_phone, text)


def _mask_piece(piece: str, decode: Any, safe: str) -> str:
    """One path segment or query value: masked as decoded text, left as sent when nothing is personal."""
    decoded = decode(piece)
    masked = _mask_plain(decoded)
    return piece if masked == decoded else quote(masked, safe=safe)


def _mask_path(text: str) -> str:
    """`/a/b?k=v#f`: each segment, each query key and value, and the fragment."""
    rest, hash_, fragment = text.partition("#")
    path, question, query = rest.partition("?")
    path = "/".join(_mask_piece(segment, unquote, _SEGMENT_SAFE) for segment in path.split("/"))
    if question:
        pairs = []
        for pair in query.split("&"):
            key, equals, value = pair.partition("=")
            pairs.append(
                _mask_piece(key, unquote_plus, _QUERY_SAFE) + equals + _mask_piece(value, unquote_plus, _QUERY_SAFE)
            )
        path += "?" + "&".join(pairs)
    return path + (hash_ + _mask_piece(fragment, unquote, _QUERY_SAFE) if hash_ else "")


def _mask_url(match: re.Match[str]) -> str:
    text = match.group(0)
    url = _SCHEME.fullmatch(text)
    if url is None:
        return _mask_path(text)
    scheme, authority, rest = url.groups()
    return scheme + _mask_plain(authority) + _mask_path(rest)


def mask_text(text: str) -> str:
    """Phone numbers keep their last four digits, e-mail addresses their first character and
    domain, also inside URLs and paths, percent-encoded or not."""
    if not text:
        return text
    text = _CUSTOMER_LINK.sub(r"\1***", text)
    pieces = []
    done = 0
    for url in _URL.finditer(text):
        pieces += [_mask_plain(text[done : url.start()]), _mask_url(url)]
        done = url.end()
    pieces.append(_mask_plain(text[done:]))
    return "".join(pieces)


_installed_factory: Any = None

# Loggers whose formatter reads the arguments rather than the message: uvicorn's access
# formatter unpacks (client, method, path, HTTP version, status) from record.args. Theirs
# are masked one by one and kept; every other record carries its masked message alone.
STRUCTURED_ARGS_LOGGERS = frozenset({"uvicorn.access"})

# Libraries whose DEBUG output repeats database rows or SQL parameters (names, complaint
# text) verbatim, and whose INFO is every statement (the outbox dispatcher polls each
# second): WARNING and above only, whatever the process's level. store/db.py also hides
# SQL parameters for anyone who turns the statements on.
RAW_DATA_LOGGERS = ("aiosqlite", "sqlalchemy.engine")


def install_masking() -> None:
    """Mask every log record of this process from now on; calling it again changes nothing."""
    global _installed_factory
    for name in RAW_DATA_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
    current = logging.getLogRecordFactory()
    if current is _installed_factory:
        return
    base = current

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is logging's problem to report
            return record
        if record.name in STRUCTURED_ARGS_LOGGERS and isinstance(record.args, tuple):
            record.args = tuple(mask_text(a) if isinstance(a, str) else a for a in record.args)
        else:
            record.msg, record.args = mask_text(message), ()
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text: the traceback is masked once, here.
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return record

    _installed_factory = factory
    logging.setLogRecordFactory(factory)


class JsonFormatter(logging.Formatter):
    """One JSON object a line (`LOG_FORMAT=json`), with the trace and span ids of the span the
    record was written in when tracing is on (core/tracing.py). The message and the traceback
    are the masked ones the record factory left on the record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_trace_ids())
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_text(self.formatException(record.exc_info))
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


def _trace_ids() -> dict[str, str]:
    try:
        from opentelemetry import trace
    except ImportError:  # pragma: no cover - opentelemetry-api comes with the project's dependencies
        return {}
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}


def configure_logging(level: str | int = "INFO", log_format: str = "text") -> None:
    """The process's logging: one format (text, or JSON lines), masked records. Used by every
    `aftersales` command."""
    install_masking()
    if log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=level, handlers=[handler])
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
