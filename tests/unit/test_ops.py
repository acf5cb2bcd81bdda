"""ops/ stays honest without Docker or a cluster: every YAML/JSON file parses; alert rules and the
dashboard use only metrics (and labels) the code exports, taken from a real rendering of the
metric catalogue through the Prometheus exporter; manifests and units run real CLI commands and
set real settings; every runbook link resolves."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from linguaflow.cli import build_parser
from linguaflow.metrics import METRICS
from linguaflow.settings import REPO_ROOT, Settings
from linguaflow.telemetry import Telemetry

OPS = REPO_ROOT / "ops"
# OpenTelemetry's own variables the worker and the sink honour (docs/operations.md#tracing)
OTEL_VARS = {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_SERVICE_NAME"}
SETTINGS_VARS = {f"LINGUAFLOW_{name.upper()}" for name in Settings.model_fields} | {"DATABASE_URL"}
SETTINGS_VARS |= OTEL_VARS
# Labels Prometheus puts on every series of a target (the PodMonitor copies the pod labels).
TARGET_LABELS = {"job", "instance", "app_kubernetes_io_name", "app_kubernetes_io_component"}
PROMETHEUS_OWN = {"up": TARGET_LABELS}  # made by Prometheus itself, not by the worker


def exported() -> dict[str, set[str]]:
    """Sample name -> label names, as a worker's /metrics shows them."""
    telemetry = Telemetry()
    for name, spec in METRICS.items():
        attrs = dict.fromkeys(spec.labels, "x")
        if spec.kind == "counter":
            telemetry.count(name, **attrs)
        elif spec.kind == "histogram":
            telemetry.observe(name, 1.0, **attrs)
        else:
            telemetry.gauge(name, [(attrs, 1.0)])
    text = telemetry.prometheus().decode()
    names = {s.name: set(s.labels) - {"le"} for f in text_string_to_metric_families(text) for s in f.samples}
    return names | PROMETHEUS_OWN


def check_promql(expr: str, metrics: dict[str, set[str]]) -> None:
    used = set(re.findall(r"\b(linguaflow_\w+|process_\w+|up)\b(?=\s*[{\[)\s]|$)", expr))
    assert used, f"no metric in {expr!r}"
    unknown = used - set(metrics)
    assert not unknown, f"{expr!r} uses metrics the code does not export: {unknown}"
    for name, selector in re.findall(r"\b(\w+)\{([^}]*)\}", expr):
        labels = set(re.findall(r"(\w+)\s*(?:=~|!=|!~|=)", selector))
        known = metrics[name] | TARGET_LABELS
        assert labels <= known, f"{expr!r}: {name} has no label {labels - known}"
    available = set().union(*(metrics[name] for name in used)) | {"le"}
    for group in re.findall(r"\bby\s*\(([^)]*)\)", expr):
        labels = {label.strip() for label in group.split(",")}
        assert labels <= available, f"{expr!r} groups by unknown labels {labels - available}"


def yaml_docs(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def k8s(kind: str) -> list[dict[str, Any]]:
    return [d for p in sorted((OPS / "k8s").glob("*.yaml")) for d in yaml_docs(p) if d.get("kind") == kind]


def assert_real_command(argv: list[str]) -> None:
    assert Path(argv[0]).name == "linguaflow", argv
    args = build_parser().parse_args(argv[1:])  # exits (fails the test) on an unknown command
    assert callable(args.fn)


@pytest.mark.parametrize(
    "path",
    sorted([*OPS.rglob("*.yml"), *OPS.rglob("*.yaml")]),
    ids=lambda p: str(p.relative_to(OPS)),
)
def test_every_yaml_file_parses(path: Path) -> None:
    assert yaml_docs(path)


def test_alert_rules_use_exported_metrics_and_name_their_runbook_section() -> None:
    metrics = exported()
    runbook = (OPS / "RUNBOOK.md").read_text()
    anchors = {
        re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", runbook, re.MULTILINE)
    }
    rules = [r for g in yaml_docs(OPS / "prometheus" / "alerts.yml")[0]["groups"] for r in g["rules"]]
    for rule in rules:
        check_promql(rule["expr"], metrics)
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["runbook"].split("#")[1] in anchors, rule["alert"]
    assert {r["alert"] for r in rules} >= {
        "LinguaflowAllProvidersFailing",
        "LinguaflowErrorRateHigh",
        "LinguaflowLatencyP95High",
        "LinguaflowDlqGrowing",
        "LinguaflowConsumerLagHigh",
        "LinguaflowSinkStalled",
    }


def promtool() -> str:
    """Prometheus's own rule checker, which ``make test`` builds once per machine."""
    default = Path.home() / ".cache" / "linguaflow" / "promtool-v0.316.0" / "promtool"
    path = Path(os.environ.get("LINGUAFLOW_PROMTOOL", default))
    assert path.is_file(), f"no promtool at {path}: `make promtool` builds it"
    return str(path)


def test_promtool_accepts_the_rules_and_their_unit_tests_pass(tmp_path: Path) -> None:
    """``promtool check rules`` on alerts.yml and on the PrometheusRule's groups, and ``promtool
    test rules`` on alerts_test.yml: each alert fires on the series that should fire it."""
    rule = yaml_docs(OPS / "k8s" / "monitoring" / "prometheus-rule.yaml")[0]
    operator_rules = tmp_path / "operator-rules.yml"
    operator_rules.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    for argv in (
        ["check", "rules", str(OPS / "prometheus" / "alerts.yml"), str(operator_rules)],
        ["test", "rules", str(OPS / "prometheus" / "alerts_test.yml")],
    ):
        done = subprocess.run([promtool(), *argv], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_prometheus_scrapes_the_worker_and_loads_the_alert_rules() -> None:
    config = yaml_docs(OPS / "prometheus" / "prometheus.yml")[0]
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    [job] = config["scrape_configs"]
    assert (job["job_name"], job["metrics_path"]) == ("linguaflow", "/metrics")
    assert job["static_configs"][0]["targets"] == [f"worker:{Settings().web_port}"]


def test_dashboard_panels_use_exported_metrics() -> None:
    metrics = exported()
    dashboard = json.loads((OPS / "grafana" / "dashboards" / "linguaflow.json").read_text())
    titles = set()
    for panel in dashboard["panels"]:
        titles.add(panel["title"])
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            selectors = re.findall(r"\b(?:linguaflow|process)_\w+\{([^}]*)\}", expr)
            bare = re.findall(r"\b(?:linguaflow|process)_\w+\b(?!\{)", expr)
            assert selectors, expr
            assert not bare, f"{expr!r}: {bare} not scoped to $job and $instance"
            assert all('job=~"$job"' in s and 'instance=~"$instance"' in s for s in selectors), expr
            check_promql(expr.replace("$job", ".*").replace("$instance", ".*"), metrics)
    assert {"Cache hit ratio", "Provider share (texts)", "Success rate", "DLQ records"} <= titles
    assert {"Consumer lag", "p95 latency", "Cost per hour"} <= titles


def test_the_dashboard_has_datasource_job_and_instance_variables() -> None:
    dashboard = json.loads((OPS / "grafana" / "dashboards" / "linguaflow.json").read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("job", "instance"):
        assert variables[name]["includeAll"], name
        assert variables[name]["multi"], name
        assert variables[name]["definition"].startswith('label_values(up{app_kubernetes_io_name="linguaflow"')
    panels = dashboard["panels"]
    sources = {p["datasource"]["uid"] for p in panels} | {
        t["datasource"]["uid"] for p in panels for t in p["targets"]
    }
    assert sources == {"${datasource}"}  # no fixed uid: any Prometheus the user picks
    [datasource] = yaml_docs(OPS / "grafana" / "provisioning" / "datasources" / "prometheus.yml")[0][
        "datasources"
    ]
    assert datasource["isDefault"]  # compose: the variable starts on the provisioned one


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml_docs(OPS / "k8s" / "kustomization.yaml")[0]
    manifests = {p.name for p in (OPS / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests


def test_k8s_containers_run_real_commands_with_real_settings() -> None:
    [config] = k8s("ConfigMap")
    [secret] = k8s("Secret")
    assert set(config["data"]) | set(secret["stringData"]) <= SETTINGS_VARS
    workloads = k8s("Deployment") + k8s("Job") + k8s("CronJob")
    assert {w["kind"] for w in workloads} == {"Deployment", "Job", "CronJob"}
    for workload in workloads:
        spec = workload["spec"]
        pod = (spec["jobTemplate"]["spec"] if "jobTemplate" in spec else spec)["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            assert_real_command(container["command"])
            assert {e["name"] for e in container.get("env", [])} <= SETTINGS_VARS
            refs = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
            assert refs == {config["metadata"]["name"], secret["metadata"]["name"]}
    [job] = k8s("Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][1:] == ["db", "migrate"]


def deployments() -> dict[str, dict[str, Any]]:
    """The Deployments by component label (worker, sink)."""
    found = k8s("Deployment")
    return {d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in found}


@pytest.mark.parametrize("component", ["worker", "sink"])
def test_deployment_runs_its_command_with_probes_and_a_graceful_shutdown(component: str) -> None:
    deployment = deployments()[component]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"] == ["linguaflow", component]
    [port] = container["ports"]
    assert port["containerPort"] == int(k8s("ConfigMap")[0]["data"]["LINGUAFLOW_WEB_PORT"])
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": port["name"]}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": port["name"]}
    assert pod["terminationGracePeriodSeconds"] >= 60
    assert pod["terminationGracePeriodSeconds"] > Settings().shutdown_timeout_s  # the worker ends first
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert (
        deployment["spec"]["selector"]["matchLabels"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )


def test_workers_leave_postgres_to_the_sink_deployment() -> None:
    [worker] = deployments()["worker"]["spec"]["template"]["spec"]["containers"]
    assert {"name": "LINGUAFLOW_WORKER_SINK", "value": "false"} in worker["env"]
    assert set(deployments()) == {"worker", "sink"}


def test_hpa_scales_on_cpu_up_to_the_partition_count() -> None:
    [hpa] = k8s("HorizontalPodAutoscaler")
    deployment = deployments()["worker"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    partitions = int(k8s("ConfigMap")[0]["data"]["LINGUAFLOW_PARTITIONS"])
    assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] <= partitions
    assert "ops/k8s/keda" in (OPS / "k8s" / "hpa.yaml").read_text()  # where lag-based scaling is


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((OPS / "systemd" / name).read_text())
    return parser


def test_systemd_units_run_real_commands_and_stop_gracefully() -> None:
    worker = unit("linguaflow-worker.service")["Service"]
    assert_real_command(shlex.split(worker["ExecStart"]))
    assert worker["KillSignal"] == "SIGTERM"
    assert worker["Restart"] == "on-failure"
    assert int(worker["TimeoutStopSec"]) >= 60
    assert int(worker["TimeoutStopSec"]) > Settings().shutdown_timeout_s
    assert worker["NotifyAccess"] == "main"  # the event loop's watchdog pings
    assert int(worker["WatchdogSec"]) > Settings().health_max_loop_lag_s
    migrate = unit("linguaflow-migrate.service")["Service"]
    assert shlex.split(migrate["ExecStart"])[1:] == ["db", "migrate"]
    assert "linguaflow-migrate.service" in unit("linguaflow-worker.service")["Unit"]["After"]
    env = (OPS / "systemd" / "linguaflow.env").read_text()
    names = set(re.findall(r"^#?\s*([A-Z_]+)=", env, re.MULTILINE))
    assert names <= SETTINGS_VARS


def test_the_sink_unit_and_the_worker_template_run_their_commands() -> None:
    sink = unit("linguaflow-sink.service")["Service"]
    assert shlex.split(sink["ExecStart"])[1:] == ["sink"]
    assert_real_command(shlex.split(sink["ExecStart"]))
    template = unit("linguaflow-worker@.service")["Service"]
    assert shlex.split(template["ExecStart"])[1:] == ["worker"]
    assert template["Environment"] == "LINGUAFLOW_WEB_PORT=%i"  # the instance is the port
    for service in (sink, template):
        assert service["KillSignal"] == "SIGTERM"
        assert int(service["TimeoutStopSec"]) > Settings().shutdown_timeout_s


def test_every_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd's own checker, on copies whose ExecStart is this venv's ``linguaflow`` (verify
    checks the binary exists); the template as an instance."""
    binary = str(Path(sys.executable).parent / "linguaflow")
    names = []
    for path in sorted((OPS / "systemd").glob("*.[st]*")):
        if path.suffix not in {".service", ".timer"}:
            continue
        name = path.name.replace("@.service", "@6066.service")
        (tmp_path / name).write_text(path.read_text().replace("/opt/linguaflow/venv/bin/linguaflow", binary))
        names.append(f"./{name}")
    assert len(names) == 6
    verify = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (verify.returncode, verify.stdout + verify.stderr) == (0, "")


def test_runbook_commands_are_real() -> None:
    runbook = (OPS / "RUNBOOK.md").read_text()
    commands = re.findall(r"^\s*(linguaflow [a-z].*?)(?:\s+#.*)?$", runbook, re.MULTILINE)
    commands += re.findall(r"`(linguaflow [a-z][^`]*)`", runbook)
    assert len(commands) >= 4
    for command in commands:
        assert_real_command(shlex.split(command))


def test_operations_page_lists_every_exported_metric() -> None:
    page = (REPO_ROOT / "docs" / "operations.md").read_text()
    families = {re.sub(r"_(bucket|count|sum)$", "", name) for name in exported()} - set(PROMETHEUS_OWN)
    missing = {name for name in families if name not in page}
    assert not missing
