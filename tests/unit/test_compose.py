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


def _mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    return [(v.split(":")[0], v.split(":")[1]) for v in service.get("volumes", [])]


def test_every_mounted_file_exists_in_the_repo() -> None:
    bind_mounts = 0
    for name, service in _compose()["services"].items():
        for source, _ in _mounts(service):
            if source.startswith("./"):
                bind_mounts += 1
                assert (REPO_ROOT / source).exists(), f"{name} mounts missing {source}"
    assert bind_mounts >= 6


def test_every_path_a_command_reads_is_mounted() -> None:
    for name, service in _compose()["services"].items():
        targets = [target for _, target in _mounts(service)]
        for arg in service.get("command", []):
            _, _, path = arg.partition("=")
            if path.startswith("/"):
                assert any(path == t or path.startswith(t + "/") for t in targets), f"{name}: {arg}"


def test_observability_services_point_at_defined_services() -> None:
    services = _compose()["services"]
    assert {"prometheus", "grafana", "otel-collector"} <= set(services)
    config = yaml.safe_load((REPO_ROOT / "ops" / "prometheus" / "prometheus.yml").read_text())
    for target in config["scrape_configs"][0]["static_configs"][0]["targets"]:
        host, port = target.split(":")
        assert host in services
        assert f"{port}:{port}" in services[host]["ports"]
    endpoint = services["worker"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert endpoint.split("//")[1].split(":")[0] in services
    grafana_targets = [target for _, target in _mounts(services["grafana"])]
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert any(home.startswith(t + "/") for t in grafana_targets)
    provisioning = REPO_ROOT / "ops" / "grafana" / "provisioning" / "dashboards" / "linguaflow.yml"
    [provider] = yaml.safe_load(provisioning.read_text())["providers"]
    assert provider["options"]["path"] in grafana_targets
