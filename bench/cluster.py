"""Three brokers: the raw produce-only and pass-through baselines and the 90 % duplicate load on
one worker, on the three-node KRaft cluster (every topic replicated 3 times, min.insync.replicas
2, so each acks=all write waits for a second node). Set against the same measures on the single
node, it tells what replication costs on this machine, and whether the end-to-end ratio holds."""

from __future__ import annotations

from typing import Any

from bench.infra import Infra
from bench.raw import pass_through, produce_only
from bench.scaling import Shape, run_shape

BROKERS = 3


async def run_cluster(infra: Infra, requests: int, payloads: list[bytes]) -> dict[str, Any]:
    print(f"  three brokers: raw baselines ({len(payloads)} messages), then {requests} requests", flush=True)
    raw_stack = await infra.stack("cluster-raw", brokers=BROKERS)
    settings = raw_stack.settings
    return {
        "brokers": BROKERS,
        "replication_factor": settings.replication_factor,
        "min_insync_replicas": 2,  # ops/kafka/kafka.sh's cluster mode
        "produce_only": await produce_only(settings, payloads),
        "pass_through": await pass_through(settings, len(payloads)),
        "dup90": await run_shape(infra, "cluster", Shape(1, brokers=BROKERS), requests),
    }
