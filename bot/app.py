"""Wiring: settings → store, models, assistant → the transports that are configured."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from pathlib import Path

from serving.availability import SMOKE_HINT, problems
from serving.protocol import ModelService, ModelUnavailable
from serving.client import WorkerProcessService
from storage import Store

from .assistant import Assistant
from .assistant.relearn import relearn_on_this_model
from .operations import OperationsServer, serve_operations
from .settings import Settings

log = logging.getLogger(__name__)

SMOKE_LABEL = "smoke run: a tiny random model, answers mean nothing"
# How long a stop may take before the process exits anyway: under systemd's TimeoutStopSec and
# compose's stop_grace_period (deploy/), so that they never have to SIGKILL a stop in progress.
STOP_SECONDS = 25.0


class ModelNotReady(SystemExit):
    """`yo run` cannot start: the message says what is missing and what to do."""


def smoke_model(data_dir: Path) -> Path:
    """A tiny random model under the data folder, built once, for smoke runs."""
    folder = data_dir / "smoke-model"
    if not (folder / "config.json").exists():
        from lab.tiny import build_tiny_model

        build_tiny_model(folder, kind="llava", seed=0)
    return folder


def model_service(settings: Settings, *, smoke: bool = False) -> ModelService:
    if smoke:
        return WorkerProcessService(str(smoke_model(settings.yo_data_dir)), device="cpu", label=SMOKE_LABEL)
    if settings.yo_ray_address:  # scale-out: the model lives on `yo worker` machines, not here
        from serving.cluster import RayModelService

        try:
            return RayModelService(settings.yo_ray_address, settings.yo_model).connect(settings.yo_ray_wait_seconds)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise ModelNotReady(f"I couldn't join the Ray cluster at {settings.yo_ray_address}: {error}") from error
    errors, warnings = problems(settings.yo_model, settings.yo_device)
    for warning in warnings:
        log.warning(warning)
    if errors:
        raise ModelNotReady("\n".join(errors + [SMOKE_HINT]))
    return WorkerProcessService(settings.yo_model, device=settings.yo_device or None,
                                load_in_4bit=settings.yo_load_in_4bit)


async def build_assistant(settings: Settings, models: ModelService | None = None, *,
                          smoke: bool = False) -> Assistant:
    """The assistant over the store in settings.yo_data_dir; call `start()` to run training."""
    models = models or model_service(settings, smoke=smoke)
    store = await Store.open(settings.yo_data_dir)
    return Assistant(store, models, settings)


def stop_on_signals() -> None:
    """SIGTERM (systemctl stop, docker stop) and SIGINT (Ctrl-C) stop the calling task the same way:
    it is cancelled, so every `finally` runs — transports stop taking updates, a training job goes
    back to the queue, the model worker shuts down, the database closes (its WAL checkpointed).
    A stop that takes longer than STOP_SECONDS ends the process anyway; a second signal is noted."""
    task, loop = asyncio.current_task(), asyncio.get_running_loop()
    assert task is not None

    def stop(signum: int) -> None:
        if task.cancelling():
            log.warning("already stopping (%s again)", signal.Signals(signum).name)
            return
        log.warning("%s: stopping", signal.Signals(signum).name)
        task.cancel()
        timer = threading.Timer(STOP_SECONDS, _stop_overdue)
        timer.daemon = True
        timer.start()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)


def _stop_overdue() -> None:
    log.error("the stop took longer than %.0f s; exiting without finishing it", STOP_SECONDS)
    os._exit(1)


async def run(settings: Settings, *, smoke: bool = False) -> None:
    """Every configured transport until stopped (SIGTERM, Ctrl-C); the terminal chat when none is.
    Returns normally after a stop."""
    stop_on_signals()
    with contextlib.suppress(asyncio.CancelledError):  # only a signal cancels this task: the stop is done
        await _run(settings, smoke=smoke)


async def _run(settings: Settings, *, smoke: bool) -> None:
    assistant = await build_assistant(settings, smoke=smoke)
    models = assistant.services.models
    if isinstance(models, WorkerProcessService):
        log.warning("loading %s…", models.model_id)
        try:
            await models.start()  # load now: a model that can't load should say so before users ask
        except ModelUnavailable as reason:
            await assistant.close()
            raise ModelNotReady(f"{reason}\n{SMOKE_HINT}") from reason
    await relearn_on_this_model(assistant.services)  # YO_MODEL changed: learn the concepts again
    await assistant.start()
    server: OperationsServer | None = None  # operations: /healthz and /metrics (bot/operations.py)
    try:
        server = await serve_operations(assistant.operations, settings.yo_metrics_host,  # operations
                                        settings.yo_metrics_port)
        transports = []
        if settings.telegram_bot_token:
            from .telegram.app import run_telegram

            assistant.operations.expect("telegram")  # operations: /healthz waits for it to connect
            transports.append(run_telegram(settings, assistant))
        if settings.discord_bot_token:
            from .discord.app import run_discord

            assistant.operations.expect("discord")  # operations: /healthz waits for it to connect
            transports.append(run_discord(settings, assistant))
        if not transports:
            from .console import chat

            log.info("no TELEGRAM_BOT_TOKEN or DISCORD_BOT_TOKEN set: starting the terminal chat")
            transports.append(chat(assistant))
        await asyncio.gather(*transports)
    finally:
        if server is not None:  # operations
            await server.stop()
        await assistant.close()
