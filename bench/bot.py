"""Telegram adapter throughput and latency, against an echo bot measured in the same run.

    python bench/bot.py [--users 200] [--rounds 5] [--http] [--telegram-limits]

Each round, every one of N simulated users sends one message at the same moment: for Yo
"/help" or "/concepts" (replies that need no model: the adapter, the assistant and its
SQLite store), for the baseline a plain python-telegram-bot echo bot that answers with the
same text. A third row, "adapter", is Yo's Telegram adapter in front of a stand-in
assistant that answers at once: the adapter's own cost, without the assistant's. Both bots run the real PTB Application and Updater against the same fake Bot API
(tests/fakes/telegram_api.py: in-process, or over HTTP on 127.0.0.1 with --http), with the
same concurrency (PTB's concurrent updates) and the same rate limiter settings. Latency is
from the moment an update is queued at the fake Telegram to the moment the bot's reply
reaches it. The first round of each bot is a warm-up (users are created) and not counted.

By default Telegram's flood limits (30 messages/s overall) are off for both bots so the
numbers show the software, not the limiter; --telegram-limits turns them on for both.
Target: Yo's p50 and p99 latency at most 2x the echo bot's.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telegram import Update  # noqa: E402
from telegram.ext import AIORateLimiter, Application, ContextTypes, MessageHandler, filters  # noqa: E402

from bot.app import build_assistant  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.telegram import build_application, serving  # noqa: E402
from tests.fakes.models import FakeModelService  # noqa: E402
from bot.assistant.messages import Channel, Message, Reply  # noqa: E402
from tests.fakes.telegram_api import FakeBotAPI, FakeBotAPIServer  # noqa: E402
from tests.fakes.telegram_bot import RecordingAssistant  # noqa: E402

TOKEN = "123456:BENCH-token"
FIRST_USER = 1_000_000


def limiter(telegram_limits: bool) -> AIORateLimiter:
    if telegram_limits:
        return AIORateLimiter(max_retries=3)
    return AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=3)


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(update.message.text)


def echo_application(api: FakeBotAPI, base_url: str | None, telegram_limits: bool) -> Application:  # type: ignore[type-arg]
    builder = Application.builder().token(TOKEN).concurrent_updates(True).rate_limiter(limiter(telegram_limits))
    if base_url is None:
        builder = builder.request(api.request()).get_updates_request(api.request())
    else:
        builder = builder.base_url(base_url)
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    return application


@asynccontextmanager
async def fake_telegram(http: bool) -> AsyncIterator[tuple[FakeBotAPI, str | None]]:
    api = FakeBotAPI()
    if not http:
        yield api, None
        return
    async with FakeBotAPIServer(api) as server:
        yield api, server.base_url


async def one_round(api: FakeBotAPI, users: int, text_for: Callable[[int], str]) -> tuple[list[float], float]:
    """Every user sends at once; (latency of each reply in seconds, replies per second)."""
    first_call = len(api.calls)
    queued: dict[int, float] = {}
    for n in range(users):
        user = api.users.get(FIRST_USER + n) or api.user(FIRST_USER + n)
        queued[user["id"]] = time.monotonic()
        api.text(user, text_for(n))

    def answered() -> dict[int, float]:
        out: dict[int, float] = {}
        for call in api.calls[first_call:]:
            if call.method == "sendMessage" and call.params.get("chat_id") in queued:
                out.setdefault(call.params["chat_id"], call.at)
        return out

    await api.wait_for(lambda: len(answered()) >= users, timeout=120, what="every reply")
    replies = answered()
    latencies = [replies[chat] - queued[chat] for chat in queued]
    span = max(replies.values()) - min(queued.values())
    return latencies, users / span


async def measure(name: str, application: Application, settings: Settings, api: FakeBotAPI,  # type: ignore[type-arg]
                  users: int, rounds: int, text_for: Callable[[int], str]) -> dict[str, Any]:
    latencies: list[float] = []
    rates: list[float] = []
    async with serving(application, settings, poll_timeout=1.0):
        await one_round(api, users, text_for)  # warm-up
        for _ in range(rounds):
            lat, rate = await one_round(api, users, text_for)
            latencies += lat
            rates.append(rate)
    latencies.sort()
    return {
        "name": name,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "updates_per_s": statistics.median(rates),
    }


async def instant_help(message: Message, channel: Channel) -> None:
    await channel.send(Reply("I'm Yo. Show me someone or something a few times and I'll know them."))


async def main(users: int, rounds: int, http: bool, telegram_limits: bool) -> int:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        async with AsyncExitStack() as stack:
            echo_api, echo_url = await stack.enter_async_context(fake_telegram(http))
            yo_api, yo_url = await stack.enter_async_context(fake_telegram(http))
            adapter_api, adapter_url = await stack.enter_async_context(fake_telegram(http))
            settings = Settings(yo_data_dir=Path(tmp) / "data", telegram_bot_token=TOKEN,  # type: ignore[call-arg]
                                _env_file=None)
            if yo_url:
                settings = settings.model_copy(update={"telegram_api_url": yo_url})
            assistant = await build_assistant(settings, FakeModelService())
            await assistant.start()
            stack.push_async_callback(assistant.close)

            def yo_app(api: FakeBotAPI, helper: Any, bot_settings: Settings) -> Application:  # type: ignore[type-arg]
                return build_application(bot_settings, helper, rate_limiter=limiter(telegram_limits),
                                         request=None if http else api.request(),
                                         updates_request=None if http else api.request())

            adapter_settings = settings.model_copy(update={"telegram_api_url": adapter_url} if adapter_url else {})
            echo_settings = settings.model_copy(update={"telegram_api_url": echo_url} if echo_url else {})
            results = []
            commands: Callable[[int], str] = lambda n: "/help" if n % 2 else "/concepts"  # noqa: E731
            # Interleave the bots so that all see the same machine (half the rounds each, twice).
            for half in (rounds - rounds // 2, rounds // 2):
                if half == 0:
                    continue
                results.append(await measure("echo", echo_application(echo_api, echo_url, telegram_limits),
                                             echo_settings, echo_api, users, half, lambda n: f"hello {n}"))
                results.append(await measure("adapter", yo_app(adapter_api, RecordingAssistant(instant_help), adapter_settings),
                                             adapter_settings, adapter_api, users, half, commands))
                results.append(await measure("yo", yo_app(yo_api, assistant, settings), settings, yo_api, users, half,
                                             commands))

    def merged(name: str) -> dict[str, float]:
        rows = [r for r in results if r["name"] == name]
        return {key: statistics.mean(r[key] for r in rows) for key in ("p50_ms", "p99_ms", "updates_per_s")}

    rows = {name: merged(name) for name in ("echo", "adapter", "yo")}
    transport = "HTTP on 127.0.0.1" if http else "in-process fake Bot API"
    limits = "Telegram's flood limits on" if telegram_limits else "flood limits off"
    print(f"Telegram, {users} users at once, {rounds} rounds, {transport}, {limits}")
    print(f"{'bot':<9}{'updates/s':>12}{'p50 ms':>10}{'p99 ms':>10}")
    for name, row in rows.items():
        print(f"{name:<9}{row['updates_per_s']:>12.0f}{row['p50_ms']:>10.1f}{row['p99_ms']:>10.1f}")
    echo = rows["echo"]
    for name in ("adapter", "yo"):
        row = rows[name]
        p50, p99 = row["p50_ms"] / echo["p50_ms"], row["p99_ms"] / echo["p99_ms"]
        rate = row["updates_per_s"] / echo["updates_per_s"]
        print(f"ratio {name}/echo: p50 {p50:.2f}x, p99 {p99:.2f}x, throughput {rate:.2f}x "
              f"(target: latency <= 2x) -> {'OK' if max(p50, p99) <= 2 else 'OVER TARGET'}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--http", action="store_true", help="talk to the fake Bot API over HTTP on 127.0.0.1")
    parser.add_argument("--telegram-limits", action="store_true", help="Telegram's 30 messages/s, for both bots")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.users, args.rounds, args.http, args.telegram_limits)))
