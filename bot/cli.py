"""`yo`: the command line (docs/architecture.md lists the verbs)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable, NoReturn

from .settings import Settings, load_settings


# Exit codes, the same for every verb (README: "The command line").
EXIT_FAILED = 1  # the verb could not be done: no such concept, training failed, a transport refused
EXIT_USAGE = 2  # the command line itself is wrong (argparse's own code)
EXIT_NO_MODEL = 3  # the model is not available: not downloaded, no network, cannot load, cannot draw
EXIT_BAD_INPUT = 4  # a file given is not usable: not a photo, too big, unreadable, unwritable
EXIT_STOPPED = 130  # stopped by a signal before it finished
SERVICES = ("run", "worker", "console")  # long-running: their routine start lines are logged
QUIET_LOGGERS = ("httpx", "httpcore", "discord.gateway", "discord.client", "aiohttp.access")  # per-request noise


class UsageError(Exception):
    """The command line is wrong; str() says how."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # raised, so that --json can answer as JSON
        raise UsageError(f"{message} (see {self.prog} --help)")


# The engine's verbs: the module that parses their options and runs them, and their line in `yo --help`.
PASSTHROUGH = {
    "tiny-model": ("lab.tiny_model", "write a tiny model with its processor, offline"),
    "toyworld": ("lab.toyworld.benchmark", "write a toy-world benchmark in the Yo'LLaVA layout"),
    "eval": ("lab.evaluate", "the papers' metrics on a dataset (train/<name>, test/<name>)"),
}


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="yo", description="Yo, a personal vision-and-language assistant.",
                     epilog=f"exit codes: 0 done, {EXIT_FAILED} failed, {EXIT_USAGE} bad usage, {EXIT_NO_MODEL} model "
                     f"not available, {EXIT_BAD_INPUT} bad input file, {EXIT_STOPPED} stopped")
    parser.add_argument("--version", action="version", version=f"yo {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    verbs = parser.add_subparsers(dest="verb", required=True)

    run = verbs.add_parser("run", help="start every configured chat transport (or the terminal chat)")
    console = verbs.add_parser("console", help="chat in the terminal")
    for p in (run, console):
        p.add_argument("--smoke", action="store_true", help="use a tiny random model (answers mean nothing)")

    for name, (_, help_text) in PASSTHROUGH.items():  # listed here; their modules parse their options
        verbs.add_parser(name, help=f"{help_text} (options: yo {name} --help)", add_help=False)

    worker = verbs.add_parser("worker", help="serve models to a bot on a Ray cluster (YO_RAY_ADDRESS)")
    worker.add_argument("--address", help="the Ray head (default: YO_RAY_ADDRESS)")
    worker.add_argument("--workers", type=int, default=None, help="model workers here (default: one per GPU, or one)")
    worker.add_argument("--name", help="this machine's name in the workers' names (default: the host name)")
    worker.add_argument("--join", action=argparse.BooleanOptionalAction, default=None,
                        help="start a Ray node here that joins the cluster (default: unless one runs already)")

    def one_shot(name: str, help_text: str) -> argparse.ArgumentParser:
        p = verbs.add_parser(name, help=help_text)
        p.add_argument("--user", default="local",
                       help="whose: telegram:ID, discord:ID, or a terminal user (default: local)")
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("--smoke", action="store_true", help="use a tiny random model (answers mean nothing)")
        return p

    teach = one_shot("teach", "teach a concept from photos and wait for training")
    teach.add_argument("name")
    teach.add_argument("photos", nargs="+", type=Path)
    ask = one_shot("ask", "ask a question, optionally about a photo")
    ask.add_argument("text")
    ask.add_argument("--image", type=Path)
    draw = one_shot("draw", "draw a picture")
    draw.add_argument("text")
    draw.add_argument("--out", type=Path, required=True)
    draw.add_argument("--n", type=int, choices=range(1, 5), default=1, help="how many images (1-4)")
    draw.add_argument("--seed", type=int, help="the same seed draws the same images")
    one_shot("concepts", "list your concepts")
    forget = one_shot("forget", "forget a concept, its photos and tokens")
    forget.add_argument("name")
    export = one_shot("export", "write everything kept about you to a zip")
    export.add_argument("--out", type=Path, required=True)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("yo")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _log_setup(verb: str, verbose: bool) -> None:
    """Services log their routine lines (INFO: "Telegram bot @x is up"), one-shot verbs only
    warnings; -v one step more. HTTP clients' per-request lines stay out unless asked for."""
    service = verb in SERVICES
    level = (logging.DEBUG if service else logging.INFO) if verbose else (logging.INFO if service else logging.WARNING)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose and service else logging.WARNING)


def _fail(reason: str, code: int, as_json: bool) -> int:
    """One line on stderr: the reason, or with --json one JSON object."""
    if as_json:
        print(json.dumps({"error": reason, "exit_code": code}, ensure_ascii=False), file=sys.stderr)
    else:
        print(f"yo: {reason}", file=sys.stderr)
    return code


def _passthrough(module: str, argv: list[str]) -> int:
    """Verbs owned by the engine keep their own argument parsing."""
    import importlib

    return int(importlib.import_module(module).main(argv) or 0)


async def _one_shot(settings: Settings, args: argparse.Namespace) -> Any:
    from storage import Store

    from . import verbs

    if args.verb in ("concepts", "forget", "export"):  # the store alone: no model, no training queue
        store = await Store.open(settings.yo_data_dir)
        try:
            if args.verb == "concepts":
                return await verbs.concepts(store, args.user)
            if args.verb == "forget":
                return await verbs.forget(store, args.user, args.name)
            return await verbs.export(store, args.user, args.out)
        finally:
            await store.close()

    from .app import build_assistant, stop_on_signals

    stop_on_signals()  # a stopped `yo teach` hands its training back to the queue
    assistant = await build_assistant(settings, smoke=args.smoke)
    try:
        actions: dict[str, Callable[[], Awaitable[Any]]] = {
            "teach": lambda: verbs.teach(assistant, args.user, args.name, args.photos),
            "ask": lambda: verbs.ask(assistant, args.user, args.text, args.image),
            "draw": lambda: verbs.draw(assistant, args.user, args.text, args.out, args.n, args.seed),
        }
        return await actions[args.verb]()
    finally:
        await assistant.close()


def _print_human(verb: str, result: Any) -> None:
    if verb == "concepts":
        print("\n".join(f"{c['name']}\t{c['status']}" for c in result) or "no concepts yet")
    elif verb == "ask":
        print(result["answer"])
        for name, r in result.get("recognition", {}).items():
            how = ", quick look" if r.get("quick_look") else ""
            print(f"{name}: {'present' if r['present'] else 'absent'} (p={r['probability']:.2f}{how})")
    else:
        print(" ".join(f"{k}={v}" for k, v in result.items() if k != "left_out"))
        for photo in result.get("left_out", []):
            print(f"left out {photo['photo']}: {photo['reason']}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in PASSTHROUGH:
        return _passthrough(PASSTHROUGH[argv[0]][0], argv[1:])
    as_json = "--json" in argv
    try:
        args = _parser().parse_args(argv)
    except UsageError as error:
        return _fail(str(error), EXIT_USAGE, as_json)
    _log_setup(args.verb, args.verbose)
    settings = load_settings()
    from serving.protocol import ModelUnavailable
    from storage.images import BadImage

    from .app import ModelNotReady, run
    from .verbs import BadInput, VerbError

    try:
        if args.verb == "run":
            asyncio.run(run(settings, smoke=args.smoke))
            return 0
        if args.verb == "worker":
            from serving.cluster.host import serve

            return serve(settings, address=args.address, count=args.workers, name=args.name, join=args.join)
        if args.verb == "console":
            from .app import build_assistant, stop_on_signals
            from .console import chat

            async def console() -> None:
                stop_on_signals()
                assistant = await build_assistant(settings, smoke=args.smoke)
                await assistant.start()
                try:
                    with contextlib.suppress(asyncio.CancelledError):  # a signal: stop as at the end of input
                        await chat(assistant)
                finally:
                    await assistant.close()

            asyncio.run(console())
            return 0
        result = asyncio.run(_one_shot(settings, args))
    except (BadInput, BadImage) as reason:  # BadImage: `ask --image` given no photo
        return _fail(str(reason), EXIT_BAD_INPUT, as_json)
    except VerbError as reason:
        return _fail(str(reason), EXIT_FAILED, as_json)
    except ModelUnavailable as reason:
        return _fail(str(reason), EXIT_NO_MODEL, as_json)
    except OSError as error:  # e.g. --out in a folder that doesn't exist: a reason, not a traceback
        if error.filename is None:
            return _fail(str(error), EXIT_FAILED, as_json)
        doing = "write" if str(error.filename) == str(getattr(args, "out", "")) else "use"
        return _fail(f"can't {doing} {error.filename}: {error.strerror or error}", EXIT_BAD_INPUT, as_json)
    except SystemExit as stop:  # a model or a transport that could not start (ModelNotReady, a refused token)
        if isinstance(stop.code, str):
            return _fail(stop.code, EXIT_NO_MODEL if isinstance(stop, ModelNotReady) else EXIT_FAILED, as_json)
        raise
    except (KeyboardInterrupt, asyncio.CancelledError):  # a one-shot verb stopped by a signal
        return _fail("stopped", EXIT_STOPPED, as_json)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        _print_human(args.verb, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
