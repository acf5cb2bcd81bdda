"""Small pure validators shared by the event schemas. Each raises InvalidRequest with a message
that names the field and what was wrong, because producers read these in DLQ headers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from linguaflow.errors import InvalidRequest

# BCP-47-ish: a 2-3 letter language with optional script/region subtags (en, pt-BR, zh-Hant-TW).
_LANG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# In free text, tab and line breaks are content; other C0 controls (NUL above all: PostgreSQL text
# cannot hold it) are not something a translation request carries.
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def no_controls(value: str | None, field: str) -> str | None:
    if value is not None and _TEXT_CONTROL.search(value):
        raise fail(field, "contains control characters other than tab and line breaks")
    return value


def fail(field: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {problem}", reason="schema")


def req_str(data: Mapping[str, Any], field: str, *, max_len: int, min_len: int = 1) -> str:
    if field not in data:
        raise fail(field, "is required")
    return _check_str(data[field], field, max_len=max_len, min_len=min_len)


def opt_str(data: Mapping[str, Any], field: str, *, max_len: int, default: str | None = None) -> str | None:
    value = data.get(field)
    if value is None:
        return default
    return _check_str(value, field, max_len=max_len, min_len=0) or default


def _check_str(value: Any, field: str, *, max_len: int, min_len: int) -> str:
    if not isinstance(value, str):
        raise fail(field, f"must be a string, got {type(value).__name__}")
    if len(value) < min_len:
        raise fail(field, "must not be empty")
    if len(value) > max_len:
        raise fail(field, f"is {len(value)} characters, the limit is {max_len}")
    return value


def identifier(data: Mapping[str, Any], field: str, *, max_len: int, default: str | None = None) -> str:
    """A producer-chosen id: printable, no control characters; required unless it has a default."""
    value = data.get(field)
    if type(value) is str and 0 < len(value) <= max_len and value.isascii() and value.isprintable():
        return value  # the usual id, in one test: printable ASCII has no control characters
    if value in (None, "") and default is not None:
        return default
    value = req_str(data, field, max_len=max_len)
    if _CONTROL.search(value):
        raise fail(field, "contains control characters")
    return value


# Canonical forms of the concrete codes seen so far: every request has two language fields and
# real traffic a few dozen codes, so a repeat costs one dict lookup instead of a regex, a split and
# a join (~0.6 us). Bounded: hostile input that invents codes only empties it.
_CANONICAL: dict[str, str] = {}
_CANONICAL_MAX = 4_096


def language(value: Any, field: str, *, allow_auto: bool) -> str:
    """Canonical BCP-47 casing: language lower, script title, region upper (pt-br -> pt-BR)."""
    if type(value) is str:
        known = _CANONICAL.get(value)
        if known is not None:
            return known
    if value is None:
        raise fail(field, "is required")
    if not isinstance(value, str):
        raise fail(field, f"must be a language code string, got {type(value).__name__}")
    if value.lower() == "auto":
        if allow_auto:
            return "auto"
        raise fail(field, "must be a concrete language, not 'auto'")
    if not _LANG.fullmatch(value):
        raise fail(field, f"{value[:20]!r} is not a language code like 'de' or 'pt-BR'")
    head, *subtags = value.split("-")
    canonical = [head.lower()]
    for tag in subtags:
        canonical.append(tag.upper() if len(tag) == 2 else tag.title())
    if len(_CANONICAL) >= _CANONICAL_MAX:
        _CANONICAL.clear()
    code = _CANONICAL[value] = "-".join(canonical)
    return code


def choice(data: Mapping[str, Any], field: str, allowed: tuple[str, ...], default: str) -> str:
    value = data.get(field, default)
    if value is None:
        return default
    if value not in allowed:
        raise fail(field, f"{str(value)[:30]!r} is not one of {', '.join(allowed)}")
    return str(value)


def integer(data: Mapping[str, Any], field: str, *, default: int, low: int, high: int) -> int:
    value = data.get(field, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(field, f"must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise fail(field, f"must be between {low} and {high}, got {value}")
    return value


def flag(data: Mapping[str, Any], field: str) -> bool:
    """An optional boolean (absent or null: false)."""
    value = data.get(field)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise fail(field, f"must be true or false, got {type(value).__name__}")
    return value


def epoch_ms(data: Mapping[str, Any], field: str, *, default: int) -> int:
    """Epoch milliseconds from a number (ms) or an ISO-8601 string with a timezone."""
    value = data.get(field)
    if type(value) is int and 0 <= value < _MAX_MS:
        return value
    if value is None:
        return default
    if isinstance(value, bool):
        raise fail(field, "must be epoch milliseconds or an ISO-8601 timestamp")
    if isinstance(value, int | float):
        return _in_range(field, int(value))
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise fail(field, f"{value[:40]!r} is not an ISO-8601 timestamp") from None
        if parsed.tzinfo is None:
            raise fail(field, "an ISO-8601 timestamp needs a timezone (e.g. 'Z' or '+00:00')")
        return _in_range(field, int(parsed.timestamp() * 1000))
    raise fail(field, f"must be epoch milliseconds or an ISO-8601 timestamp, got {type(value).__name__}")


_MAX_MS = 10**14


def _in_range(field: str, ms: int) -> int:
    if not 0 <= ms < _MAX_MS:
        raise fail(field, f"{ms} ms is not a time since 1970 that epoch milliseconds can express")
    return ms
