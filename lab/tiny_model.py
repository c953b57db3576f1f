"""`yo tiny-model DIR`: a tiny random checkpoint (lab/tiny.py, lab/tiny_janus.py, lab/tiny_qwen.py), or with
`--pretrain toyworld` the toy-world stand-in (lab/toyworld/pretrain.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .tiny import KINDS, build_tiny_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="yo tiny-model", description="write a tiny model + processor, offline")
    parser.add_argument("dir", type=Path)
    parser.add_argument("--kind", default="llava", choices=KINDS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pretrain", choices=["toyworld"], default=None,
                        help="pretrain it on the procedural toy world so that learning can be measured")
    parser.add_argument("--steps", type=int, default=None, help="toy-world pretraining steps (default 2200)")
    parser.add_argument("--vision-steps", type=int, default=None,
                        help="steps of the toy-world vision stage before them (default 3000)")
    parser.add_argument("--extra-rounds", type=int, default=None,
                        help="rounds of 500 more steps the held-out check may add (default 4; 0: none)")
    parser.add_argument("--crowds", type=int, default=None,
                        help="prerendered crowded photos the toy-world pretraining asks about too (default 0: none)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for the toy-world pretraining (default 1: the same sums whatever the cores)")
    args = parser.parse_args(argv)
    try:
        if args.pretrain == "toyworld":
            from lab.toyworld.pretrain import PretrainConfig, pretrain_tiny_model

            config = PretrainConfig()
            if args.vision_steps is not None:
                config.vision_steps = args.vision_steps
            if args.threads is not None:
                config.threads = args.threads
            if args.extra_rounds is not None:
                config.extra_rounds = args.extra_rounds
            if args.crowds is not None:
                if args.crowds < 0:
                    raise ValueError("--crowds is a number of photos, 0 or more")
                config.crowds = args.crowds
            pretrain_tiny_model(args.dir, seed=args.seed, steps=args.steps, config=config, kind=args.kind)
        else:
            build_tiny_model(args.dir, kind=args.kind, seed=args.seed)
    except (ValueError, ImportError) as error:
        print(f"yo tiny-model: {error}", file=sys.stderr)
        return 2
    print(args.dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
