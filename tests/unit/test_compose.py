"""docker-compose.yml must stay valid for users even though these machines cannot run Docker."""

from __future__ import annotations

from typing import Any

import yaml

from linguaflow.cli import build_parser
from linguaflow.settings import REPO_ROOT, Settings


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    return data


def test_every_project_service_runs_a_real_cli_command() -> None:
    parser = build_parser()
    services = _compose()["services"]
    ours = {name: s for name, s in services.items() if "build" in s}
    assert set(ours) == {"migrate", "worker"}
    for name, service in ours.items():
        command = service["command"]
        assert command[0] == "linguaflow", name
        args = parser.parse_args(command[1:])  # exits (fails the test) on an unknown command
        assert callable(args.fn)


def test_every_linguaflow_variable_in_compose_is_a_setting() -> None:
    fields = {f"LINGUAFLOW_{name.upper()}" for name in Settings.model_fields}
    for name, service in _compose()["services"].items():
        for var in service.get("environment", {}):
            if var.startswith("LINGUAFLOW_"):
                assert var in fields, f"{name}: {var} is not a Settings field"


def test_dependencies_point_at_defined_services() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        for dep in service.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown service {dep}"
    assert (REPO_ROOT / "Dockerfile").is_file()
