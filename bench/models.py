"""Provider latency models without product changes: the worker talks to a fake of a real API
(``testbed/fakes``) that answers after a fixed delay per call, like DeepL (~150 ms per batch) or an
LLM (~1.5 s). One worker per model, 90 % duplicates."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from bench.e2e import one_run
from bench.infra import Infra, ProcessSampler
from bench.load import run_requests
from testbed.fakes.apis import DEEPL, OPENAI, ApiSpec
from testbed.fakes.server import FakeApi

DUP_RATIO = 0.9


class DelayedFakeApi(FakeApi):
    """The tests' fake API, answering every call after ``delay_s``."""

    def __init__(self, spec: ApiSpec, delay_s: float) -> None:
        super().__init__(spec)
        self.delay_s = delay_s

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(self.delay_s)
        return await super()._handle(request)


MODELS: dict[str, tuple[ApiSpec, float, dict[str, str]]] = {
    "deepl_150ms": (DEEPL, 0.150, {"LINGUAFLOW_PROVIDER": "deepl", "LINGUAFLOW_DEEPL_API_KEY": "bench:fx"}),
    "llm_1500ms": (OPENAI, 1.5, {"LINGUAFLOW_PROVIDER": "openai", "LINGUAFLOW_OPENAI_API_KEY": "bench"}),
}
BASE_URL_VAR = {"deepl": "LINGUAFLOW_DEEPL_BASE_URL", "openai": "LINGUAFLOW_OPENAI_BASE_URL"}


async def run_model(infra: Infra, name: str, requests: int) -> dict[str, Any]:
    spec, delay_s, env = MODELS[name]
    api = DelayedFakeApi(spec, delay_s).start()
    try:
        stack = await infra.stack(name)
        stack.env.update({**env, BASE_URL_VAR[spec.name]: api.url})
        worker = infra.worker(stack, f"{name}-worker").wait_ready()
        sampler = ProcessSampler(worker.proc.pid)
        load = run_requests(name, space=name, count=requests, dup_ratio=DUP_RATIO)
        try:
            result = await one_run(stack, worker, sampler, load, name)
        finally:
            result_exit = worker.stop()
        result.update(provider_delay_ms=int(delay_s * 1000), api_calls_seen=api.calls, exit_code=result_exit)
        return result
    finally:
        api.stop()


async def run_models(infra: Infra, requests: int) -> dict[str, Any]:
    out = {}
    for name in MODELS:
        print(f"  provider model {name}: {requests} requests, {DUP_RATIO:.0%} duplicates", flush=True)
        out[name] = await run_model(infra, name, requests)
    return out
