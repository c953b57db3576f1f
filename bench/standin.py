"""The toy-world stand-in's spread: build it under several seeds and thread counts, print every figure.

    python bench/standin.py --seeds 0 1 --threads 1 2 4 --parallel 2 --out standin-runs
    python bench/standin.py --kind qwen3_vl --seeds 0 1 --threads 1 --parallel 2

Each run is `yo tiny-model DIR --pretrain toyworld --seed S --threads T` (another thread count sums
in another order, as another processor does; the default build uses one thread). For every run the table shows the
held-out check after the base schedule (what the recipe gave before the check existed), how many
steps the check added, and the final held-out figures the tests read; then the worst and the
median of each final figure. A one-thread build takes 15-20 minutes on two cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

FIGURES = ("attribute", "describe", "named_text", "match_lookalike", "named_match_lookalike",
           "crowd_named_match_lookalike")


def parse(line: str) -> dict[str, float]:
    return {k: float(v) for k, v in (item.split("=") for item in line.split() if "=" in item)}


def build(out: Path, seed: int, threads: int, kind: str = "llava") -> dict[str, object]:
    folder = out / f"seed{seed}-threads{threads}"
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "log.txt", "w") as log:  # written as it goes: a build takes a while
        done = subprocess.run([sys.executable, "-m", "bot.cli", "tiny-model", str(folder / "model"),
                               "--pretrain", "toyworld", "--seed", str(seed), "--threads", str(threads), "--kind", kind],
                              stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
    output = (folder / "log.txt").read_text()
    if done.returncode != 0:
        return {"seed": seed, "threads": threads, "error": output[-500:]}
    lines = output.splitlines()
    checks = [parse(line.split("check", 1)[1].split("(")[0]) for line in lines if "held-out check" in line]
    final = parse([line for line in lines if line.startswith("toyworld: seconds=")][-1].removeprefix("toyworld: "))
    return {"seed": seed, "threads": threads, "base": checks[0], "final": final}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--kind", default="llava", help="the stand-in's model family (lab/toyworld/kinds.py)")
    parser.add_argument("--parallel", type=int, default=1, help="builds at once")
    parser.add_argument("--out", type=Path, default=Path("standin-runs"))
    args = parser.parse_args()
    runs = [(s, t) for s in args.seeds for t in args.threads]
    with ThreadPoolExecutor(args.parallel) as pool:
        results = list(pool.map(lambda run: build(args.out, *run, args.kind), runs))

    short = [name[:10] for name in FIGURES]
    print("| seed | threads | base schedule: " + " / ".join(short) + " | steps | final: "
          + " | ".join(short) + " | seconds |")
    print("|" + " --- |" * (5 + len(FIGURES)))
    for r in results:
        if "error" in r:
            print(f"| {r['seed']} | {r['threads']} | failed: {r['error']!r} |")
            continue
        base, final = r["base"], r["final"]
        print(f"| {r['seed']} | {r['threads']} | " + " / ".join(f"{base[f]:.3f}" for f in FIGURES)
              + f" | {final['steps']:.0f} | " + " | ".join(f"{final[f]:.3f}" for f in FIGURES)
              + f" | {final['seconds']:.0f} |")
    finals = [r["final"] for r in results if "final" in r]
    if finals:
        for label, pick in (("worst", min), ("median", statistics.median)):
            print(f"| {label} | | | | " + " | ".join(f"{pick([f[k] for f in finals]):.3f}" for k in FIGURES) + " | |")


if __name__ == "__main__":
    main()
