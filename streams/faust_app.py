"""Our faust.App: start and stop hooks around the agents, the agents' records a fetch at a time,
and commits decided by our ``OffsetTracker``. What this needs of faust's internals is in
``streams.upstream`` (the one module that touches private names, with a version guard)."""

from __future__ import annotations

from typing import Any

import faust

from linguaflow.kafka import client_config, ssl_context
from linguaflow.settings import Settings
from linguaflow.streams.offsets import Hole, OffsetTracker
from linguaflow.streams.upstream import AgentConsumer, BatchHandler, HoleHandler, Hook


def faust_credentials(settings: Settings) -> Any:
    """The same security settings in the form faust's App(broker_credentials=...) takes."""
    if settings.kafka_security_protocol.startswith("SASL"):
        config = client_config(settings)
        if settings.kafka_sasl_mechanism == "OAUTHBEARER":
            return faust.OAuthCredentials(
                oauth_cb=config["sasl_oauth_token_provider"], ssl_context=config.get("ssl_context")
            )
        return faust.SASLCredentials(
            username=config["sasl_plain_username"],
            password=config["sasl_plain_password"],
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=config.get("ssl_context"),
        )
    context = ssl_context(settings)
    return faust.SSLCredentials(context) if context is not None else None


class LinguaflowApp(AgentConsumer, faust.App):
    """faust.App with start hooks that run before the agents, stop hooks after they drained, and
    commit offsets decided by our OffsetTracker instead of faust's ack bookkeeping (see
    streams/offsets.py for why)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.start_hooks: list[Hook] = []
        self.stop_hooks: list[Hook] = []
        self.offsets = OffsetTracker()
        self.tracked_topics: set[str] = set()  # the agents' input topics (see take_records)
        self._batch_handler: BatchHandler | None = None
        self._settle_hook: Hook | None = None
        self._hole_handler: HoleHandler | None = None

    def take_records(
        self, topics: list[Any], handler: BatchHandler, settle: Hook, on_holes: HoleHandler
    ) -> None:
        """Subscribe ``topics`` through faust's conductor (so faust's assignor keeps the tables'
        partitions beside theirs), hand their records to ``handler`` a fetch at a time, commit
        their offsets from our tracker, run ``settle`` (finish work in flight) before faust
        commits on a rebalance or shutdown, and tell ``on_holes`` of offsets not in the log."""
        for topic in topics:
            self.topics.add(topic)
            self.tracked_topics.add(topic.get_topic_name())
        self._batch_handler = handler
        self._settle_hook = settle
        self._hole_handler = on_holes

    async def _handle_batch(self, messages: list[Any]) -> None:
        if self._batch_handler is None:
            raise RuntimeError(f"records of {self.tracked_topics} but no batch handler")
        await self._batch_handler(messages)

    async def _settle(self) -> None:
        if self._settle_hook is not None:
            await self._settle_hook()

    def _holes(self, tp: Any, holes: list[Hole]) -> None:
        if self._hole_handler is not None:
            self._hole_handler(tp, holes)

    async def on_first_start(self) -> None:
        await super().on_first_start()
        for hook in self.start_hooks:
            await hook()

    async def on_shutdown(self) -> None:
        for hook in reversed(self.stop_hooks):
            await hook()
        await super().on_shutdown()
