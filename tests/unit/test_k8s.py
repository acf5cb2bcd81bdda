"""The Kubernetes manifests: every resource kustomize applies is valid against the Kubernetes
schemas (kubernetes-validate, strict: no unknown fields), every pod passes the "restricted" Pod
Security Standard, both Deployments have a PodDisruptionBudget, and each release runs the
migrations again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from linguaflow.settings import REPO_ROOT, Settings
from tests.unit.test_ops import check_promql, exported

K8S = REPO_ROOT / "ops" / "k8s"
VERSIONS = ("1.30.0", "1.33.0")  # the oldest supported minor we target, and a recent one


def resources() -> Iterator[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for name in kustomization["resources"]:
        yield from (doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc)


def pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in resources():
        spec = doc.get("spec", {})
        template = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get("template")
        if template:
            yield f"{doc['kind']}/{doc['metadata']['name']}", template["spec"]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_resource_is_valid_against_the_kubernetes_schemas(version: str) -> None:
    checked = 0
    for doc in resources():
        kubernetes_validate.validate(doc, version, strict=True)  # raises ValidationError
        checked += 1
    assert checked >= 11


def test_every_pod_passes_the_restricted_pod_security_standard() -> None:
    pods = dict(pod_specs())
    assert set(pods) >= {
        "Deployment/linguaflow-worker",
        "Deployment/linguaflow-sink",
        "Job/linguaflow-migrate",
    }
    for name, pod in pods.items():
        context = pod.get("securityContext", {})
        assert context.get("runAsNonRoot") is True, name
        assert context.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert not any(pod.get(host) for host in ("hostNetwork", "hostPID", "hostIPC")), name
        assert all("hostPath" not in volume for volume in pod.get("volumes", [])), name
        writable = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for container in pod.get("initContainers", []) + pod["containers"]:
            where = f"{name}: {container['name']}"
            security = container.get("securityContext", {})
            assert security.get("allowPrivilegeEscalation") is False, where
            assert not security.get("privileged"), where
            assert security.get("capabilities", {}).get("drop") == ["ALL"], where
            assert set(security.get("capabilities", {}).get("add", [])) <= {"NET_BIND_SERVICE"}, where
            assert security.get("readOnlyRootFilesystem") is True, where
            mounts = {m["name"] for m in container.get("volumeMounts", [])}
            assert mounts, where  # somewhere to write, with a read-only root
            assert mounts <= writable, where  # and only emptyDir volumes


def test_both_deployments_have_a_disruption_budget() -> None:
    budgets = [doc for doc in resources() if doc["kind"] == "PodDisruptionBudget"]
    covered = {b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] for b in budgets}
    assert covered == {"worker", "sink"}
    assert all(b["spec"]["maxUnavailable"] == 1 for b in budgets)


def test_each_release_runs_the_migrations_again() -> None:
    pods = dict(pod_specs())
    [init] = pods["Deployment/linguaflow-sink"]["initContainers"]
    assert init["command"] == ["linguaflow", "db", "migrate"]
    [job] = [doc for doc in resources() if doc["kind"] == "Job"]
    assert job["spec"]["ttlSecondsAfterFinished"] <= 300  # gone soon after it ends: apply creates it anew


def monitoring(kind: str) -> dict[str, Any]:
    [doc] = [d for d in yaml.safe_load_all((K8S / "monitoring" / f"{kind}.yaml").read_text()) if d]
    return doc


def test_the_prometheus_rule_carries_the_alert_rules_and_none_selects_a_job() -> None:
    alerts = yaml.safe_load((REPO_ROOT / "ops" / "prometheus" / "alerts.yml").read_text())
    rule = monitoring("prometheus-rule")
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"] == alerts["groups"]
    exprs = [r["expr"] for g in alerts["groups"] for r in g["rules"]]
    assert not [e for e in exprs if "job=" in e.replace(" ", "")]  # works under any job name
    scrape = yaml.safe_load((REPO_ROOT / "ops" / "prometheus" / "prometheus.yml").read_text())
    [static] = scrape["scrape_configs"][0]["static_configs"]
    assert static["labels"]["app_kubernetes_io_name"] == "linguaflow"  # what the alerts select on


def test_the_pod_monitor_scrapes_workers_and_sinks_with_the_labels_the_alerts_use() -> None:
    monitor = monitoring("pod-monitor")["spec"]
    wanted = monitor["selector"]["matchLabels"]
    [endpoint] = monitor["podMetricsEndpoints"]
    assert "app.kubernetes.io/name" in monitor["podTargetLabels"]  # -> app_kubernetes_io_name
    scraped = set()
    for doc in resources():
        if doc["kind"] != "Deployment":
            continue
        labels = doc["spec"]["template"]["metadata"]["labels"]
        assert wanted.items() <= labels.items(), doc["metadata"]["name"]
        ports = {p["name"] for c in doc["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        assert endpoint["port"] in ports
        scraped.add(labels["app.kubernetes.io/component"])
    assert scraped == {"worker", "sink"}
    assert endpoint["path"] == "/metrics"


def overlay(name: str, kind: str) -> dict[str, Any]:
    for path in sorted((K8S / name).glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == kind:
                return dict(doc)
    raise AssertionError(f"no {kind} in ops/k8s/{name}")


def base(kind: str, name: str) -> dict[str, Any]:
    [doc] = [d for d in resources() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def test_keda_scales_workers_on_the_agents_lag_up_to_the_partition_count() -> None:
    scaled = overlay("keda", "ScaledObject")["spec"]
    config = base("ConfigMap", "linguaflow")["data"]
    assert scaled["scaleTargetRef"]["name"] == "linguaflow-worker"
    assert scaled["maxReplicaCount"] == int(config["LINGUAFLOW_PARTITIONS"])
    [trigger] = scaled["triggers"]
    assert trigger["type"] == "kafka"
    meta = trigger["metadata"]
    assert meta["consumerGroup"] == config.get("LINGUAFLOW_APP_ID", Settings().app_id)
    assert meta["bootstrapServers"] == config["LINGUAFLOW_KAFKA_BOOTSTRAP"]
    assert meta["allowIdleConsumers"] == "false"  # never more replicas than partitions
    assert "topic" not in meta  # every topic of the group: the requests and the keyed topic
    kustomization = yaml.safe_load((K8S / "keda" / "kustomization.yaml").read_text())
    [patch] = kustomization["patches"]
    assert patch["target"]["kind"] == "HorizontalPodAutoscaler"
    assert "$patch: delete" in patch["patch"]  # KEDA's HPA replaces the CPU one


def test_the_rollback_analysis_has_the_four_triggers_on_exported_metrics() -> None:
    template = overlay("rollouts", "AnalysisTemplate")["spec"]
    args = {a["name"]: a["value"] for a in template["args"]}
    limit = base("Deployment", "linguaflow-worker")["spec"]["template"]["spec"]["containers"][0]
    assert int(args["memory-limit-bytes"]) == 1 << 30
    assert limit["resources"]["limits"]["memory"] == "1Gi"
    metrics = {m["name"]: m for m in template["metrics"]}
    conditions = {name: m["successCondition"] for name, m in metrics.items()}
    assert conditions == {
        "health-checks": "result[0] >= 1",
        "error-rate": "result[0] <= 0.05",
        "latency-p95": "result[0] <= 2.0",
        "memory": "result[0] <= 0.8",
    }
    interval = overlay("monitoring", "PodMonitor")["spec"]["podMetricsEndpoints"][0]["interval"]
    assert "[45s]" in metrics["health-checks"]["provider"]["prometheus"]["query"]
    assert interval == "15s"  # 45 s is three scrapes: three consecutive failures
    exported_metrics = exported()
    for metric in metrics.values():
        query = metric["provider"]["prometheus"]["query"].replace("{{args.memory-limit-bytes}}", "1")
        check_promql(query, exported_metrics)
    rollout = overlay("rollouts", "Rollout")["spec"]
    assert rollout["workloadRef"]["name"] == "linguaflow-worker"
    assert rollout["strategy"]["canary"]["analysis"]["templates"][0]["templateName"] == "linguaflow-rollback"


CUSTOM = {  # kind -> its schema (ops/k8s/schemas: from each project's CRD)
    "ScaledObject": "keda.sh/scaledobject_v1alpha1.json",
    "Rollout": "argoproj.io/rollout_v1alpha1.json",
    "AnalysisTemplate": "argoproj.io/analysistemplate_v1alpha1.json",
    "PodMonitor": "monitoring.coreos.com/podmonitor_v1.json",
    "PrometheusRule": "monitoring.coreos.com/prometheusrule_v1.json",
}


def test_every_custom_resource_is_valid_against_its_crds_schema() -> None:
    found = set()
    for folder in ("keda", "rollouts", "monitoring"):
        for path in sorted((K8S / folder).glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if not doc or doc["kind"] == "Kustomization":
                    continue
                schema = json.loads((K8S / "schemas" / CUSTOM[doc["kind"]]).read_text())
                validator = jsonschema.validators.validator_for(schema)(schema)
                errors = [
                    f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
                ]
                assert not errors, f"{path.name}: {errors}"
                found.add(doc["kind"])
    assert found == set(CUSTOM)
