"""The operator's view of `yo run`: /healthz and /metrics over HTTP.

`yo run` serves both on YO_METRICS_HOST:YO_METRICS_PORT (127.0.0.1:9464 by default; 0 turns it off):

- `GET /healthz`: 200 and {"ok": true, "checks": {...}} when every chat transport `yo run` started
  is connected and the model worker is up; otherwise 503 and the same body with `"ok": false`, each
  failing check's value saying why ("not connected yet", "the model worker is not running …").
- `GET /metrics`: Prometheus text format (OpenMetrics when the scraper asks for it):
  `yo_updates_total{platform}`, `yo_errors_total{platform}`, `yo_answer_seconds`,
  `yo_recognition_seconds`, `yo_training_jobs_queued`, `yo_training_jobs_running`,
  `yo_training_seconds{outcome}`, `yo_worker_restarts_total`.

Every assistant keeps its own `Operations` (its own CollectorRegistry, never the global one), so
tests and several assistants in one process do not clash. The metrics say nothing about users or
what they asked: only platforms and counts. Listen on 0.0.0.0 only behind a firewall.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from serving.protocol import ModelService
from bot.training.queue import TrainingQueue

log = logging.getLogger(__name__)

# A check: None when fine, else why not (shown in /healthz). Each gets PROBE_SECONDS to say.
Probe = Callable[[], Awaitable[str | None]]
PROBE_SECONDS = 2.0
NOT_CONNECTED = "not connected yet"


class Metrics:
    """Every metric Yo exports, in one registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.updates = Counter("yo_updates", "Messages and button presses the assistant was handed, per platform",
                               ["platform"], registry=r)
        self.errors = Counter("yo_errors", "Updates that failed unexpectedly (logged with a traceback; the user "
                              "got an apology), per platform", ["platform"], registry=r)
        self.answer_seconds = Histogram(
            "yo_answer_seconds", "Seconds from a question to its whole answer shown (streamed answers included)",
            buckets=(0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300), registry=r)
        self.recognition_seconds = Histogram(
            "yo_recognition_seconds", "Seconds from a photo question ('is Bo in this?', 'who is in this?') to "
            "its answer", buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60), registry=r)
        self.queued_jobs = Gauge("yo_training_jobs_queued", "Training jobs waiting, for every process sharing "
                                 "this data folder", registry=r)
        self.running_jobs = Gauge("yo_training_jobs_running", "Training jobs running in this process", registry=r)
        self.training_seconds = Histogram(
            "yo_training_seconds", "Seconds a training job ran, by how it ended: done, cancelled, failed (run "
            "again while tries are left), lost (handed back at a stop, or its lease lost)", ["outcome"],
            buckets=(10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200), registry=r)


class _WorkerRestarts(Collector):
    """The model service's own restart count, read at each scrape (a worker process restarts on
    its own, outside any request)."""

    def __init__(self, models: ModelService) -> None:
        self.models = models

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily("yo_worker_restarts", "Times the model worker process died and was started "
                                  "again", value=int(getattr(self.models, "restarts", 0)))


def model_probe(models: ModelService) -> Probe:
    """Whether a model worker is up, without a model forward pass: the worker process is alive and
    loaded (`WorkerProcessService.healthy`), or a Ray cluster has a healthy `yo worker`. A service
    in this process (tests' fakes) has nothing to ask."""

    async def probe() -> str | None:
        healthy = getattr(models, "healthy", None)
        if callable(healthy):
            return None if healthy() else "the model worker is not running (still loading, or restarting)"
        workers = getattr(models, "workers", None)  # RayModelService: the healthy workers it knows
        if workers is not None and not workers:
            return "no model worker in the Ray cluster answers"
        return None

    return probe


class Operations:
    """One assistant's metrics and the checks /healthz runs. Transports report here whether they
    are connected (`expect`, `connected`); `watch` wires the training queue and the models."""

    def __init__(self) -> None:
        self.metrics = Metrics()
        self._transports: dict[str, str | None] = {}  # platform → None when connected, else why not
        self._probes: dict[str, Probe] = {}
        self._queue: TrainingQueue | None = None

    def watch(self, queue: TrainingQueue, models: ModelService) -> None:
        metrics = self.metrics
        self._queue = queue
        queue.observe_training = lambda outcome, seconds: metrics.training_seconds.labels(outcome).observe(seconds)
        metrics.running_jobs.set_function(lambda: queue.running)
        metrics.registry.register(_WorkerRestarts(models))
        self.add_probe("model", model_probe(models))

    def add_probe(self, name: str, probe: Probe) -> None:
        self._probes[name] = probe

    # -- transports ---------------------------------------------------------------------------

    def expect(self, platform: str) -> None:
        """`yo run` starts this transport: /healthz fails until it says it is connected."""
        self._transports.setdefault(platform, NOT_CONNECTED)
        self.metrics.updates.labels(platform)  # the series exist from the start, at 0
        self.metrics.errors.labels(platform)

    def connected(self, platform: str, up: bool = True, reason: str = "disconnected") -> None:
        self._transports[platform] = None if up else reason

    # -- what the server shows -------------------------------------------------------------------

    async def health(self) -> dict[str, str]:
        """Each check's result: "ok" or why not."""
        checks = {name: reason or "ok" for name, reason in self._transports.items()}
        for name, probe in self._probes.items():
            try:
                checks[name] = await asyncio.wait_for(probe(), PROBE_SECONDS) or "ok"
            except asyncio.TimeoutError:
                checks[name] = f"no answer within {PROBE_SECONDS:g} s"
            except Exception as error:  # a broken probe is a failed check, never a 500
                checks[name] = f"{type(error).__name__}: {error}"
        return checks

    async def refresh(self) -> None:
        """Values read from the store, set just before a scrape."""
        if self._queue is None:
            return
        try:
            self.metrics.queued_jobs.set(await self._queue.waiting())
        except Exception:  # a busy database: the last value stands
            log.warning("could not count the queued training jobs", exc_info=True)


# -- what the transports call (an assistant stand-in without `operations` is left alone) ---------

def operations_of(assistant: object) -> Operations | None:
    operations = getattr(assistant, "operations", None)
    return operations if isinstance(operations, Operations) else None


def report_failure(assistant: object, platform: str) -> None:
    """An update of `platform` failed in its adapter (the user got an apology)."""
    if (operations := operations_of(assistant)) is not None:
        operations.metrics.errors.labels(platform).inc()


def report_connected(assistant: object, platform: str, up: bool = True, reason: str = "disconnected") -> None:
    if (operations := operations_of(assistant)) is not None:
        operations.connected(platform, up, reason)


@contextmanager
def connected(assistant: object, platform: str) -> Iterator[None]:
    """Connected for the duration of the block."""
    report_connected(assistant, platform)
    try:
        yield
    finally:
        report_connected(assistant, platform, False, "stopped")


# -- the HTTP server ------------------------------------------------------------------------------

class OperationsServer:
    """/healthz and /metrics from one small aiohttp app on the bot's event loop."""

    def __init__(self, operations: Operations, host: str, port: int) -> None:
        """`port` 0 picks a free one (tests); `yo run` never passes 0 (YO_METRICS_PORT=0 is off)."""
        self.operations = operations
        self.host = host
        self.port = port
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)  # a scrape every few seconds is no news

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            raise
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _healthz(self, request: web.Request) -> web.Response:
        checks = await self.operations.health()
        ok = all(value == "ok" for value in checks.values())
        return web.Response(status=200 if ok else 503, content_type="application/json",
                            text=json.dumps({"ok": ok, "checks": checks}))

    async def _metrics(self, request: web.Request) -> web.Response:
        await self.operations.refresh()
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encode(self.operations.metrics.registry), headers={"Content-Type": content_type})


async def serve_operations(operations: Operations, host: str, port: int) -> OperationsServer | None:
    """`yo run`'s operations server, started; None when turned off (port 0) or the port is taken:
    the bot runs on without it (a second bot on the same machine must not stop over a port)."""
    if not port:
        return None
    server = OperationsServer(operations, host, port)
    try:
        await server.start()
    except OSError as error:
        log.error("could not serve /healthz and /metrics on %s:%s (%s); set YO_METRICS_PORT to a free port, "
                  "or 0 to turn them off", host, port, error.strerror or error)
        return None
    log.warning("health and metrics at %s/healthz and %s/metrics", server.url, server.url)
    return server
