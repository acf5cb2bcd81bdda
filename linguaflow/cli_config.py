"""What the command line says about configuration: one line per bad environment value, naming the
variable; and ``linguaflow config``, every effective setting with secrets masked and where its value
came from (the environment, or the default)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo

from linguaflow.settings import Settings

PREFIX = "LINGUAFLOW_"


def variables(name: str, field: FieldInfo) -> list[str]:
    """The environment variables that set field ``name``, in the order they are read."""
    alias = field.validation_alias
    choices = getattr(alias, "choices", None)
    if choices:
        return [str(choice) for choice in choices]
    return [PREFIX + name.upper()]


def settings_errors(exc: ValidationError) -> list[str]:
    """One line per invalid setting: the variable, the value given (unless secret), what is wrong."""
    fields = Settings.model_fields
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        field = fields.get(name)
        if field is None:
            lines.append(f"{name or 'settings'}: {error['msg']}")
            continue
        names = variables(name, field)
        variable = next((v for v in names if v in os.environ), names[0])
        secret = SecretStr in (field.annotation, *getattr(field.annotation, "__args__", ()))
        shown = "***" if secret else repr(os.environ.get(variable, ""))
        lines.append(f"{variable}={shown}: {error['msg']} (see docs/configuration.md)")
    return lines


def effective(settings: Settings, environ: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every setting: its variable, its value (secrets masked) and its source."""
    rows = []
    for name, field in Settings.model_fields.items():
        names = variables(name, field)
        given = next((v for v in names if v in environ), None)
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = "***"
        elif value is not None and not isinstance(value, bool | int | float | str | list | dict):
            value = str(value)
        rows.append({"variable": given or names[0], "value": value, "source": "env" if given else "default"})
    return rows


def config_table(rows: list[dict[str, Any]]) -> str:
    width = max(len(row["variable"]) for row in rows)

    def shown(value: Any) -> str:
        return "unset" if value is None else str(value)

    return "\n".join(f"{row['variable']:<{width}}  {row['source']:<7}  {shown(row['value'])}" for row in rows)


def add_execute(parser: argparse.ArgumentParser, acts: str) -> None:
    """The one convention of every command that changes state (as Kafka's own tools do): without
    ``--execute`` it shows its plan (what it would do) and changes nothing."""
    parser.add_argument(
        "--execute", action="store_true", help=f"{acts} (without it: show the plan, change nothing)"
    )
