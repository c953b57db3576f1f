"""The operator's view (issue 18, item 6): /healthz and /metrics over real HTTP, fed by an assistant
talking to people, and what the transports report to it."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, Sequence

import aiohttp
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from bot.discord.client import YoClient
from bot.operations import Operations, OperationsServer, report_connected, serve_operations
from bot.settings import Settings
from bot.telegram.handlers import report_error
from serving.protocol import ConceptRef, Segments, TextCallback
from tests.bot.conftest import Person, wait_for
from tests.bot.running import running
from tests.fakes.models import FakeModelService
from tests.fakes.photos import photo

ORANGE, GREEN = (220, 120, 30), (20, 200, 40)


class WatchedModels(FakeModelService):
    """The fake with what /healthz and /metrics read of a worker process: alive or not, restarts."""

    def __init__(self) -> None:
        super().__init__()
        self.alive = True
        self.restarts = 0
        self.fail = False

    def healthy(self) -> bool:
        return self.alive

    async def answer(self, question: Segments, concepts: Sequence[ConceptRef], photo: bytes | None = None,
                     on_text: TextCallback | None = None) -> str:
        if self.fail:
            raise RuntimeError("the model broke")
        return await super().answer(question, concepts, photo, on_text)


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[tuple[Any, WatchedModels, OperationsServer]]:
    models = WatchedModels()
    async with running(settings, models) as assistant:
        server = OperationsServer(assistant.operations, "127.0.0.1", 0)
        await server.start()
        try:
            yield assistant, models, server
        finally:
            await server.stop()


async def get(server: OperationsServer, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(server.url + path) as response:
        return response.status, await response.text()


async def health(server: OperationsServer) -> tuple[int, dict[str, Any]]:
    status, body = await get(server, "/healthz")
    return status, json.loads(body)


async def scrape(server: OperationsServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics, parsed by prometheus_client's own parser."""
    status, text = await get(server, "/metrics")
    assert status == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


async def test_healthz_waits_for_the_transports_and_the_model(served) -> None:
    assistant, models, server = served
    assistant.operations.expect("telegram")
    status, body = await health(server)
    assert status == 503 and body == {"ok": False, "checks": {"telegram": "not connected yet", "model": "ok"}}

    report_connected(assistant, "telegram")  # as bot/telegram/app.py does once it serves
    assert await health(server) == (200, {"ok": True, "checks": {"telegram": "ok", "model": "ok"}})

    models.alive = False  # the worker died; a new one is loading
    status, body = await health(server)
    assert status == 503 and body["checks"]["model"].startswith("the model worker is not running")
    models.alive = True
    report_connected(assistant, "telegram", False, "disconnected")
    assert (await health(server))[1]["checks"]["telegram"] == "disconnected"


async def test_metrics_move_with_what_the_assistant_does(served) -> None:
    assistant, models, server = served
    queue = assistant.services.queue
    ana = Person(assistant, "ana")
    await ana.says("/teach Bo", *[photo(ORANGE, seed=i) for i in range(3)])
    await wait_for(lambda: any("Bo is ready!" in t for t in ana.channel.texts))
    await ana.says("is Bo in this?", photo(ORANGE, seed=42))
    await ana.says("what does Bo like?")
    await ana.says("/help")
    models.fail = True
    await ana.says("what does Bo eat?")
    assert "something went wrong" in ana.channel.last.text
    models.fail = False
    models.restarts = 2

    await queue.pause()  # a job that waits: the queue length moves
    await ana.says("/teach Kiwi", *[photo(GREEN, seed=10 + i) for i in range(3)])
    samples = await scrape(server)
    assert value(samples, "yo_training_jobs_queued") == 1
    assert value(samples, "yo_updates_total", platform="test") == 6
    assert value(samples, "yo_errors_total", platform="test") == 1
    assert value(samples, "yo_answer_seconds_count") == 2  # the failed answer's time counts too
    assert value(samples, "yo_recognition_seconds_count") == 1
    assert value(samples, "yo_training_seconds_count", outcome="done") == 1
    assert value(samples, "yo_worker_restarts_total") == 2

    models.step_seconds = 0.3  # Kiwi trains long enough to be seen running
    await queue.resume()
    await wait_for(lambda: queue.running == 1)
    samples = await scrape(server)
    assert value(samples, "yo_training_jobs_running") == 1 and value(samples, "yo_training_jobs_queued") == 0
    await wait_for(lambda: any("Kiwi is ready!" in t for t in ana.channel.texts))
    samples = await scrape(server)
    assert value(samples, "yo_training_jobs_running") == 0
    assert value(samples, "yo_training_seconds_count", outcome="done") == 2
    assert value(samples, "yo_training_seconds_sum", outcome="done") >= 4 * 0.3


async def test_every_assistant_has_its_own_registry() -> None:
    first, second = Operations(), Operations()  # the global registry would refuse the second
    first.metrics.updates.labels("telegram").inc()
    assert second.metrics.registry.get_sample_value("yo_updates_total", {"platform": "telegram"}) is None
    assert first.metrics.registry.get_sample_value("yo_updates_total", {"platform": "telegram"}) == 1
    assert REGISTRY.get_sample_value("yo_updates_total", {"platform": "telegram"}) is None


async def test_the_server_is_off_at_port_0_and_stays_out_of_the_way_of_a_taken_port(caplog) -> None:
    operations = Operations()
    assert await serve_operations(operations, "127.0.0.1", 0) is None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with caplog.at_level(logging.ERROR, logger="bot.operations"):
            assert await serve_operations(operations, "127.0.0.1", taken.getsockname()[1]) is None
    assert "YO_METRICS_PORT" in caplog.text


async def test_the_chat_adapters_report_connection_and_errors() -> None:
    stand_in = SimpleNamespace(operations=Operations())
    stand_in.operations.expect("discord")
    client = YoClient(stand_in, sync_commands=False)  # type: ignore[arg-type]
    try:
        await client.on_ready()
        assert (await stand_in.operations.health())["discord"] == "ok"
        await client.on_disconnect()
        assert (await stand_in.operations.health())["discord"] == "disconnected from the gateway"
    finally:
        await client.close()
    await report_error(object(), SimpleNamespace(error=RuntimeError("network down")),  # type: ignore[arg-type]
                       assistant=stand_in)
    registry = stand_in.operations.metrics.registry
    assert registry.get_sample_value("yo_errors_total", {"platform": "telegram"}) == 1
    assert registry.get_sample_value("yo_errors_total", {"platform": "discord"}) == 0
