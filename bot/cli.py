"""`yo`: the command line (DESIGN.md lists the verbs)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable

from .settings import Settings, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yo", description="Yo, a personal vision-and-language assistant.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    verbs = parser.add_subparsers(dest="verb", required=True)

    run = verbs.add_parser("run", help="start every configured chat transport (or the terminal chat)")
    console = verbs.add_parser("console", help="chat in the terminal")
    for p in (run, console):
        p.add_argument("--smoke", action="store_true", help="use a tiny random model (answers mean nothing)")

    tiny = verbs.add_parser("tiny-model", help="write a tiny model with its processor, offline")
    tiny.add_argument("dir", type=Path)
    tiny.add_argument("--kind", choices=["llava", "janus"], default="llava")
    tiny.add_argument("--pretrain", choices=["toyworld"], default=None)
    tiny.add_argument("--seed", type=int, default=0)

    toy = verbs.add_parser("toyworld", help="write a toy-world benchmark in the Yo'LLaVA layout")
    toy.add_argument("dir", type=Path)
    toy.add_argument("--seed", type=int, default=0)

    worker = verbs.add_parser("worker", help="serve models to a bot on a Ray cluster (YO_RAY_ADDRESS)")
    worker.add_argument("--address", help="the Ray head (default: YO_RAY_ADDRESS)")
    worker.add_argument("--workers", type=int, default=None, help="model workers here (default: one per GPU, or one)")
    worker.add_argument("--name", help="this machine's name in the workers' names (default: the host name)")
    worker.add_argument("--join", action=argparse.BooleanOptionalAction, default=None,
                        help="start a Ray node here that joins the cluster (default: unless one runs already)")

    evaluate = verbs.add_parser("eval", help="the papers' metrics on a dataset (train/<name>, test/<name>)")
    evaluate.add_argument("dataset", type=Path)

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
            print(f"{name}: {'present' if r['present'] else 'absent'} (p={r['probability']:.2f})")
    else:
        print(" ".join(f"{k}={v}" for k, v in result.items() if k != "left_out"))
        for photo in result.get("left_out", []):
            print(f"left out {photo['photo']}: {photo['reason']}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The engine's verbs parse their own options.
    passthrough = {"tiny-model": "personalization.engine.tiny", "toyworld": "personalization.toyworld.benchmark",
                   "eval": "personalization.engine.evaluate"}
    if argv and argv[0] in passthrough:
        return _passthrough(passthrough[argv[0]], argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    from personalization.protocol import ModelUnavailable
    from storage.images import BadImage

    from .app import run
    from .verbs import VerbError

    try:
        if args.verb == "run":
            asyncio.run(run(settings, smoke=args.smoke))
            return 0
        if args.verb == "worker":
            from personalization.cluster.host import serve

            return serve(settings, address=args.address, count=args.workers, name=args.name, join=args.join)
        if args.verb == "console":
            from .app import build_assistant, stop_on_signals
            from .console import chat

            async def console() -> None:
                stop_on_signals()
                assistant = await build_assistant(settings, smoke=args.smoke)
                await assistant.start()
                try:
                    await chat(assistant)
                except asyncio.CancelledError:
                    pass  # a signal: stop as at the end of input
                finally:
                    await assistant.close()

            asyncio.run(console())
            return 0
        result = asyncio.run(_one_shot(settings, args))
    except (VerbError, ModelUnavailable, BadImage) as reason:  # BadImage: `ask --image` given no photo
        print(f"yo: {reason}", file=sys.stderr)
        return 1
    except OSError as error:  # e.g. --out in a folder that doesn't exist: a reason, not a traceback
        if error.filename is None:
            print(f"yo: {error}", file=sys.stderr)
        else:
            doing = "write" if str(error.filename) == str(getattr(args, "out", "")) else "use"
            print(f"yo: can't {doing} {error.filename}: {error.strerror or error}", file=sys.stderr)
        return 1
    except SystemExit as stop:  # a model or a transport that could not start (ModelNotReady, a refused token)
        if isinstance(stop.code, str):
            print(f"yo: {stop.code}", file=sys.stderr)
            return 2
        raise
    except (KeyboardInterrupt, asyncio.CancelledError):  # a one-shot verb stopped by a signal
        print("yo: stopped", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        _print_human(args.verb, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
