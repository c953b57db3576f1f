"""Concept training speed: Yo's trainer against the published recipe as written, in one run.

    python bench/train.py [--shape tiny|small|llava-7b|qwen3-vl-8b|qwen2.5-vl-7b] [--device cpu|cuda] [--seconds 20]

Both train one concept on the same model, the same photos and the same conversations
(5 photos of the subject, 250 negatives, attribute QA), for a fixed time each:

- yo: `personalization.trainer` — vision features computed once up front, padded
  batches, the questions about one photo sharing its sequence, logits at answer tokens only,
  the concept's vectors held outside the model;
- recipe: the Yo'LLaVA code's loop as written — batch 1, one (photo, question, answer) per
  step through the processor and the model's own forward (vision tower every step, logits at
  every position), AdamW over the whole input-embedding matrix and lm_head, every row but
  the concept's copied back from a saved copy after each step.

A sample is one answered question; "tokens/s (equiv)" counts, for both, the tokens the
samples hold as separate sequences (the recipe's unit), so the two columns compare the same
work. `--shape llava-7b` (or `qwen3-vl-8b`, `qwen2.5-vl-7b`) builds random weights at that
model's shapes directly on the device (no download; for a GPU) and adds the time per concept at
the paper's data volume, the language model's MFU and peak memory. The Qwen shapes train on
1280 x 960 photos (a phone photo as Telegram sends it), which Qwen reads at its own aspect ratio.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from PIL import Image, ImageDraw, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from personalization import (  # noqa: E402
    Engine,
    TrainConfig,
    data,  # noqa: E402
)
from personalization.inference import open_photo  # noqa: E402
from personalization.prompts import fill  # noqa: E402
from personalization.trainer import Trainer  # noqa: E402
from shapes import QWEN_SHAPES, llava_7b, qwen_vl  # noqa: E402  (bench/shapes.py)
from serving.protocol import TrainRequest  # noqa: E402

SHAPES: dict[str, dict[str, Any]] = {
    "tiny": {},  # build_tiny_model's defaults: 64 image tokens, text 2 x 128
    "small": {"image_size": 96, "patch_size": 8, "vision_hidden": 128, "text_hidden": 256, "text_layers": 4,
              "text_heads": 8, "text_kv_heads": 8},  # 144 image tokens
}
# The paper's data per concept per epoch: 5 photos x 30 questions, 150 hard + 100 easy negatives, 50 text QA.
PAPER_SAMPLES = 15 * (5 * 30 + 150 + 100 + 50)
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A6000": 155e12}


@dataclass
class Measured:
    samples: int = 0
    tokens_equiv: int = 0  # the samples' tokens as separate sequences
    tokens_run: int = 0  # tokens actually through the language model
    seconds: float = 0.0
    prepare_seconds: float = 0.0
    peak_mib: float = 0.0


def photo(rng: random.Random, subject: bool, size: tuple[int, int] = (256, 224)) -> bytes:
    image = Image.new("RGB", size, tuple(rng.randrange(150, 250) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    x, y, r = rng.randrange(size[0] // 12, size[0] // 2), rng.randrange(size[1] // 12, size[1] // 2), size[0] // 2.5
    colour = (190, 60, 40) if subject else tuple(rng.randrange(256) for _ in range(3))
    draw.ellipse((x, y, x + r, y + r), fill=colour)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def photo_size(shape: str) -> tuple[int, int]:
    return (1280, 960) if shape in QWEN_SHAPES else (256, 224)


def build(shape: str, device: torch.device, folder: Path, layers: int | None) -> Engine:
    if shape == "llava-7b":
        return llava_7b(device, layers)
    if shape in QWEN_SHAPES:
        return qwen_vl(shape, device, layers)
    from lab.tiny import build_tiny_model

    return Engine.load(str(build_tiny_model(folder / shape, seed=0, **SHAPES[shape])), device=str(device))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()


def peak_mib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else float("nan")


class Yo:
    """Yo's trainer, one step at a time (preparation done up front and timed on its own)."""

    def __init__(self, engine: Engine, request: TrainRequest, config: TrainConfig) -> None:
        self.device = engine.backend.device
        self.trainer = Trainer(engine, request, config, None, None)
        reset_peak(self.device)
        start = time.perf_counter()
        plan = self.trainer.prepare()  # mining, vision features of every photo and mirror image, attribute QA
        sync(self.device)
        self.prepare_seconds, self.prepare_peak_mib = time.perf_counter() - start, peak_mib(self.device)
        self.inputs, self.output = self.trainer.initial_vectors()
        self.optimizer = self.trainer.optimizer(self.inputs, self.output)
        self.examples = plan.epoch(random.Random(1))
        self.batches = data.batches(self.examples, config.batch_size, random.Random(1))
        self.counts = []  # per batch: (samples, their tokens as separate sequences, tokens as run)
        for batch in self.batches:
            rows = [self.trainer.row(e) for e in batch]
            self.counts.append((sum(len(r.branches) for r in rows),
                                sum(len(r.prefix) + len(b.ids) for r in rows for b in r.branches),
                                sum(len(r.prefix) + sum(len(b.ids) for b in r.branches) for r in rows)))
        self.parts = sum(len(self.trainer.micro_batches(b)) for b in self.batches) / len(self.batches)
        self.next = 0

    @contextmanager
    def installed(self) -> Iterator[None]:
        yield

    def step(self) -> tuple[int, int, int]:
        i, self.next = self.next % len(self.batches), self.next + 1
        self.trainer.step(self.batches[i], self.inputs, self.output, self.optimizer)
        return self.counts[i]


class Recipe:
    """The published loop, on the same model: its wrappers come off while it runs."""

    def __init__(self, engine: Engine, yo: Yo, images: list[bytes]) -> None:
        self.backend, self.images = engine.backend, images
        model = self.backend.model
        self.slot_embedding, self.slot_head = model.get_input_embeddings(), model.lm_head
        self.embed, self.head = self.slot_embedding.base.weight, self.slot_head.base.weight
        # The "orig_embeds_params" copies every row but the concept's is restored from.
        self.saved_embed, self.saved_head = self.embed.detach().clone(), self.head.detach().clone()
        slot = self.slot = self.backend.slots.ids(0, yo.trainer.config.k)
        self.keep = torch.ones(self.embed.shape[0], dtype=torch.bool, device=self.backend.device)
        self.keep[torch.tensor([slot.identifier, *slot.latents])] = False
        self.samples = [(e, t) for e in yo.examples for t in e.turns]
        random.Random(2).shuffle(self.samples)
        self.optimizer = torch.optim.AdamW([self.embed, self.head], lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-2)
        self.next = 0

    @contextmanager
    def installed(self) -> Iterator[None]:
        model = self.backend.model
        model.set_input_embeddings(self.slot_embedding.base)
        model.lm_head = self.slot_head.base
        self.embed.requires_grad_(True)
        self.head.requires_grad_(True)
        try:
            yield
        finally:
            self.embed.requires_grad_(False)
            self.head.requires_grad_(False)
            model.set_input_embeddings(self.slot_embedding)
            model.lm_head = self.slot_head

    def restore(self) -> None:
        with torch.no_grad():
            self.embed.copy_(self.saved_embed)
            self.head.copy_(self.saved_head)

    def step(self) -> tuple[int, int, int]:
        example, turn = self.samples[self.next % len(self.samples)]
        self.next += 1
        backend, tokens = self.backend, self.backend.tokens
        extra: dict[str, torch.Tensor] = {}
        n_image = None
        if example.image is not None:  # the data loader decodes (and flips) the photo every time
            image = open_photo(self.images[example.image])
            image = ImageOps.mirror(image) if example.flip else image
            extra = dict(backend.processor.image_processor(images=[image], return_tensors="pt"))
            grid = extra.get("image_grid_thw")  # Qwen: tokens from the photo's own grid; LLaVA: a fixed count
            n_image = (int(grid.prod()) // backend.merge ** 2 if grid is not None
                       else backend.model.config.image_seq_length)
        # "<sks> is <t0>...<t15>. {question}" and its answer: the ids its processor would make from the text
        sks = (self.slot.identifier,)
        asked = tokens.start(n_image).user([sks, " is ", self.slot.latents, ". ",
                                            *fill(turn.question, sks)]).assistant()
        said = asked.answer(fill(turn.answer, sks))
        input_ids = torch.tensor([said.ids], device=backend.device)
        labels = torch.full_like(input_ids, -100)  # loss on the answer only
        labels[:, len(asked.ids):] = input_ids[:, len(asked.ids):]
        extra = {k: v.to(backend.device) for k, v in extra.items()}
        if "pixel_values" in extra:
            extra["pixel_values"] = extra["pixel_values"].to(backend.dtype)
        if "image_grid_thw" in extra:
            extra["mm_token_type_ids"] = (input_ids == tokens.image_token_id).int()
        with backend.autocast():
            loss = backend.model(input_ids=input_ids, labels=labels, **extra).loss  # vision tower + logits everywhere
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():  # every row but the concept's back to its saved value
            self.embed[self.keep] = self.saved_embed[self.keep]
            self.head[self.keep] = self.saved_head[self.keep]
        n = input_ids.shape[1]
        return 1, n, n


def timed(side: Yo | Recipe, seconds: float, out: Measured) -> None:
    """Steps of one side for about `seconds`, added to `out` (at least one step)."""
    device = side.trainer.backend.device if isinstance(side, Yo) else side.backend.device
    with side.installed():
        sync(device)
        start = time.perf_counter()
        while True:
            samples, equiv, run = side.step()
            out.samples, out.tokens_equiv, out.tokens_run = (out.samples + samples, out.tokens_equiv + equiv,
                                                             out.tokens_run + run)
            if time.perf_counter() - start >= seconds:
                break
        sync(device)
        out.seconds += time.perf_counter() - start
        out.peak_mib = max(out.peak_mib, peak_mib(device))


def lm_parameters(engine: Engine) -> int:
    language_model = engine.backend.model.model.language_model
    return sum(p.numel() for n, p in language_model.named_parameters() if "embed_tokens" not in n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=[*SHAPES, "llava-7b", *QWEN_SHAPES], default="tiny")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seconds", type=float, default=20.0, help="timed training per side")
    parser.add_argument("--rounds", type=int, default=5, help="alternations between the two sides")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (the machine may be shared)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--layers", type=int, default=None,
                        help="a real shape with fewer layers (a CPU smoke run)")
    parser.add_argument("--negatives", type=int, default=250, help="negative photos (the paper: 150 hard + 100 easy)")
    parser.add_argument("--step-memory-mb", type=int, default=TrainConfig.step_memory_mb,
                        help="the trainer's activation budget per step (bigger: fewer micro-batches, more memory)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)

    with tempfile.TemporaryDirectory() as folder:
        engine = build(args.shape, device, Path(folder), args.layers)
    # No extra views: the recipe's side reads the request's photos by index (the speed per sample is the same).
    config = TrainConfig(batch_size=args.batch_size, views=0, step_memory_mb=args.step_memory_mb)
    rng = random.Random(0)
    positives = [photo(rng, True, photo_size(args.shape)) for _ in range(5)]
    negatives = [photo(rng, False, photo_size(args.shape)) for _ in range(args.negatives)]
    request = TrainRequest(name="Bo", positives=positives, negatives=negatives, category="ball")
    yo = Yo(engine, request, config)
    recipe = Recipe(engine, yo, positives + negatives)
    ours, theirs = Measured(prepare_seconds=yo.prepare_seconds), Measured()
    for side in (yo, recipe):  # warm-up, not counted
        timed(side, 0.0, Measured())
    # Short turns, alternating, so that both sides see the same machine (it may be shared).
    for _ in range(args.rounds):
        for side, out in ((yo, ours), (recipe, theirs)):
            reset_peak(device)
            timed(side, args.seconds / args.rounds, out)
    recipe.restore()

    name = torch.cuda.get_device_name() if device.type == "cuda" else f"cpu, {torch.get_num_threads()} thread(s)"
    model = engine.backend.model.config
    image_tokens = yo.trainer.bank.length(0)
    print(f"concept training, shape {args.shape} (text {model.text_config.num_hidden_layers} x "
          f"{model.text_config.hidden_size}, {image_tokens} image tokens/photo) on {name}")
    print(f"{'':34}{'samples/s':>10}{'tokens/s equiv':>16}{'tokens/s run':>14}{'peak MiB':>10}")
    for label, m in ((f"yo trainer (batch {config.batch_size})", ours), ("recipe as written (batch 1)", theirs)):
        memory = f"{m.peak_mib:10.0f}" if device.type == "cuda" else f"{'n/a':>10}"
        print(f"{label:34}{m.samples / m.seconds:10.1f}{m.tokens_equiv / m.seconds:16.0f}"
              f"{m.tokens_run / m.seconds:14.0f}{memory}")
    ratio = (ours.samples / ours.seconds) / (theirs.samples / theirs.seconds)
    print(f"speed-up, samples/s: {ratio:.1f}x (yo's one-off preparation: {ours.prepare_seconds:.1f} s)")
    if device.type == "cuda":
        print(f"yo's peak during preparation (mining, encoding, attribute QA): {yo.prepare_peak_mib:.0f} MiB; "
              f"micro-batches per batch under step_memory_mb={config.step_memory_mb}: {yo.parts:.2f}")
    per_concept_yo = ours.prepare_seconds + PAPER_SAMPLES / (ours.samples / ours.seconds)
    per_concept_recipe = PAPER_SAMPLES / (theirs.samples / theirs.seconds)
    print(f"time per concept at the paper's data volume ({PAPER_SAMPLES} samples; per-epoch recognition checks "
          f"not counted for either): yo {per_concept_yo:.0f} s (preparation included), recipe {per_concept_recipe:.0f} s")
    peak = next((v for k, v in PEAK_BF16.items() if device.type == "cuda" and k in name), None)
    if peak:  # forward + activation-gradient backward of the frozen language model: 4 x N x tokens
        n = lm_parameters(engine)
        for label, m in (("yo", ours), ("recipe", theirs)):
            print(f"MFU ({label}, language model, 4·N·T): {4 * n * m.tokens_run / m.seconds / peak:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
