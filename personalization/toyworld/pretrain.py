"""Pretrain a tiny LLaVA on the toy world, so that learning a concept can be measured on a CPU.

A tiny random model understands nothing, and a concept learned on it stays at chance. This
module teaches the whole tiny model (every parameter: this is the stand-in's own
pretraining, not a concept's training) to see the toy world's four attributes and to match
a written description against a photo, in the chat format and the phrasings the engine
uses. Then a concept — soft tokens in place of the written description — has something to
imitate.

Design (measured; see the module's report in the task notes):
- photos are prerendered once into a bank (rendering costs as much as a training step);
- a curriculum: attribute questions and descriptions first, then every task;
- the loss is on the answer only, the deciding first token weighing as much as the rest;
- AdamW at a high learning rate with warm-up and cosine decay, batches of 64.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from .questions import NAMES, TASKS, Sample, SampleMaker, vocabulary_corpus
from .world import ATTRIBUTES, Subject, all_subjects, render

# Sizes handed to build_tiny_model (keys of its DEFAULTS).
SIZES: dict[str, Any] = {
    "image_size": 64, "patch_size": 16,  # 16 image tokens; a toy spans 2×2 to 3×3 patches
    "vision_hidden": 96, "vision_layers": 3, "vision_heads": 4,  # LLaVA reads layer -2: two working layers
    "text_hidden": 128, "text_layers": 2, "text_heads": 4, "text_kv_heads": 4,
}


@dataclass(frozen=True)
class Stage:
    """A part of the curriculum: in force until `until` (a fraction of all steps)."""

    until: float
    weights: dict[str, float]  # task -> how often
    lookalike: float = 0.8  # share of "No" photos that are look-alikes, the rest any other toy
    partial: float = 0.25  # share of match questions that name only some attributes


@dataclass
class PretrainConfig:
    steps: int = 1500
    batch_size: int = 64
    lr: float = 3e-3
    warmup: int = 100
    weight_decay: float = 0.01
    photos_per_subject: int = 24  # the bank: 300 subjects × this many photos
    # (fraction of training done, task weights) — the mix in force from that point on
    curriculum: tuple[Stage, ...] = (
        Stage(0.25, {"attribute": 2, "describe": 1}),
        Stage(0.5, {"attribute": 1, "describe": 1, "match": 3, "named_text": 1}, lookalike=0.3, partial=0.6),
        Stage(1.0, {"attribute": 1, "describe": 1, "match": 2, "named_match": 2, "named_text": 1}),
    )
    eval_per_task: int = 256
    log_every: int = 100
    sizes: dict[str, Any] = field(default_factory=lambda: dict(SIZES))


# ---------------------------------------------------------------- batches


class PhotoBank:
    """`n` prerendered photos of every subject, as normalised tensors ready for the vision tower."""

    def __init__(self, subjects: list[Subject], n: int, seed: int, size: int, mean: list[float],
                 std: list[float]) -> None:
        rng = random.Random(f"bank:{seed}")
        self.index = {s: i for i, s in enumerate(subjects)}
        pixels = np.stack([np.asarray(render(s, rng, size)) for s in subjects for _ in range(n)])
        self.n = n
        self.pixels = torch.from_numpy(pixels).view(len(subjects), n, size, size, 3)  # uint8
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)

    def normalise(self, uint8: torch.Tensor) -> torch.Tensor:
        """(B, H, W, 3) uint8 -> (B, 3, H, W) float, as the CLIP image processor does it."""
        return (uint8.permute(0, 3, 1, 2).float() / 255.0 - self.mean) / self.std

    def take(self, subjects: list[Subject], rng: random.Random) -> torch.Tensor:
        rows = [self.pixels[self.index[s], rng.randrange(self.n)] for s in subjects]
        return self.normalise(torch.stack(rows))


class Encoder:
    """Turns samples into model inputs exactly as the processor and the chat template would."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.image_token = self.tokenizer.convert_tokens_to_ids("<image>")
        self.verdict_ids = torch.tensor([self.tokenizer(" yes", add_special_tokens=False)["input_ids"][-1],
                                         self.tokenizer(" no", add_special_tokens=False)["input_ids"][-1]])
        self._cache: dict[tuple[str, str, bool], tuple[list[int], int]] = {}

    def _conversation(self, sample: Sample, with_answer: bool) -> str:
        content: list[dict[str, str]] = [{"type": "image"}] if sample.photo is not None else []
        content.append({"type": "text", "text": sample.text})
        messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
        if with_answer:
            messages.append({"role": "assistant", "content": [{"type": "text", "text": sample.answer}]})
        return self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=not with_answer)

    def ids(self, sample: Sample, image_tokens: int) -> tuple[list[int], int]:
        """Token ids of the whole conversation and where the answer starts."""
        key = (sample.text, sample.answer, sample.photo is not None)
        if key not in self._cache:
            prompt, full = self._conversation(sample, False), self._conversation(sample, True)
            expand = "<image>" * image_tokens
            prompt_ids = self.tokenizer(prompt.replace("<image>", expand))["input_ids"]
            full_ids = self.tokenizer(full.replace("<image>", expand))["input_ids"]
            if full_ids[: len(prompt_ids)] != prompt_ids:
                raise ValueError(f"the answer changes the prompt's tokens: {full!r}")
            self._cache[key] = (full_ids, len(prompt_ids))
        return self._cache[key]


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    answer_start: torch.Tensor  # (B,) first answer position
    answer_end: torch.Tensor  # (B,) one past the last answer position
    scored: torch.Tensor  # (B, L) bool: the tokens the loss is on
    pixel_values: torch.Tensor | None
    tasks: list[str]  # each row's task


def collate(samples: list[Sample], encoder: Encoder, bank: PhotoBank, image_tokens: int,
            rng: random.Random) -> Batch:
    # photos first: the vision tower's outputs fill the image tokens in order
    order = sorted(range(len(samples)), key=lambda i: samples[i].photo is None)
    samples = [samples[i] for i in order]
    encoded = [encoder.ids(s, image_tokens) for s in samples]
    length = max(len(ids) for ids, _ in encoded)
    pad = encoder.tokenizer.pad_token_id
    input_ids = torch.full((len(samples), length), pad, dtype=torch.long)
    attention = torch.zeros((len(samples), length), dtype=torch.long)
    scored = torch.zeros((len(samples), length), dtype=torch.bool)
    verdicts = encoder.verdict_ids
    for row, ((ids, start), sample) in enumerate(zip(encoded, samples)):
        input_ids[row, : len(ids)] = torch.tensor(ids)  # right padding: positions as for a single sample
        attention[row, : len(ids)] = 1
        scored[row, start: len(ids)] = True
        if sample.task == "verify":  # only the verdicts: the words before them are the question
            scored[row] &= torch.isin(input_ids[row], verdicts)
    photos = [s.photo for s in samples if s.photo is not None]
    return Batch(input_ids, attention, torch.tensor([start for _, start in encoded]),
                 torch.tensor([len(ids) for ids, _ in encoded]), scored,
                 bank.take(photos, rng) if photos else None, [s.task for s in samples])


def answer_loss(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """(B,) per sample: the summed loss of the answer's tokens (each attribute word counts)."""
    targets = batch.input_ids[:, 1:]
    token_loss = F.cross_entropy(logits[:, :-1].transpose(1, 2).float(), targets, reduction="none")
    return (token_loss * batch.scored[:, 1:]).sum(1)


def _stage(config: PretrainConfig, fraction: float) -> Stage:
    for stage in config.curriculum:
        if fraction < stage.until:
            return stage
    return config.curriculum[-1]


def attribute_word_ids(tokenizer: Any) -> dict[str, list[int]]:
    """attribute -> the token id of each of its values as a word inside a sentence (" red")."""
    out = {}
    for name, values in ATTRIBUTES.items():
        ids = [tokenizer(" " + v, add_special_tokens=False)["input_ids"] for v in values]
        if any(len(i) != 1 for i in ids):
            raise ValueError(f"the tokenizer splits some {name} words: {values}")
        out[name] = [i[0] for i in ids]
    return out


def pretrain_vision(model: Any, bank: PhotoBank, word_ids: dict[str, list[int]], steps: int, lr: float,
                    batch_size: int, rng: random.Random, log: Callable[[str], None], started: float) -> None:
    """Align the image tokens with the attribute words, as CLIP-style pretraining would.

    The image tokens LLaVA hands to its language model (vision tower, then projector),
    averaged over the photo, must name each attribute of the toy, scored against the
    language model's own input embeddings of the attribute words: "red" in a question and
    a red toy in the photo then start out as the same direction. Without this, matching a
    description against a photo sits on a long plateau (yes/no depends only on whether two
    codes agree, so no single feature predicts it); with it, it is learned quickly. Far
    cheaper per step than going through the language model, too.
    """
    tower, projector = model.model.vision_tower, model.model.multi_modal_projector
    embeddings = model.get_input_embeddings().weight
    layer = model.config.vision_feature_layer
    scale = torch.nn.Parameter(torch.tensor(10.0))
    parameters = list(tower.parameters()) + list(projector.parameters()) + [embeddings, scale]
    optimizer = torch.optim.AdamW(parameters, lr=lr, betas=(0.9, 0.98), weight_decay=0.0)
    subjects = all_subjects()
    running = None
    for step in range(steps):
        batch = [rng.choice(subjects) for _ in range(batch_size)]
        features = tower(pixel_values=bank.take(batch, rng), output_hidden_states=True).hidden_states[layer]
        tokens = projector(features[:, 1:])  # the patches, without the class token ("default" strategy)
        pooled = F.normalize(tokens.mean(1), dim=-1)
        loss = torch.zeros(())
        for name, ids in word_ids.items():
            words = F.normalize(embeddings[ids], dim=-1)
            target = torch.tensor([ATTRIBUTES[name].index(getattr(s, name)) for s in batch])
            loss = loss + F.cross_entropy(scale * pooled @ words.T, target)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if (step + 1) % 100 == 0 or step + 1 == steps:
            log(f"toyworld: vision step {step + 1}/{steps} loss {running:.3f} ({time.perf_counter() - started:.0f}s)")


def train(model: Any, encoder: Encoder, bank: PhotoBank, config: PretrainConfig, rng: random.Random,
          image_tokens: int, log: Callable[[str], None], started: float) -> None:
    """Every parameter of `model`, `config.steps` steps through the curriculum."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.98),
                                  weight_decay=config.weight_decay)

    def lr_at(step: int) -> float:
        if step < config.warmup:
            return (step + 1) / config.warmup
        progress = (step - config.warmup) / max(1, config.steps - config.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    running: dict[str, float] = {}
    for step in range(config.steps):
        stage = _stage(config, step / config.steps)
        maker = SampleMaker(negatives_lookalike=stage.lookalike, partial=stage.partial)
        tasks = rng.choices(list(stage.weights), weights=list(stage.weights.values()), k=config.batch_size)
        samples = [maker(t, rng) for t in tasks]
        batch = collate(samples, encoder, bank, image_tokens, rng)
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                       pixel_values=batch.pixel_values).logits
        losses = answer_loss(logits, batch)
        losses.mean().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        for task, loss in zip(batch.tasks, losses.tolist()):
            running[task] = 0.98 * running.get(task, loss) + 0.02 * loss
        if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
            log(f"toyworld: step {step + 1}/{config.steps} loss "
                + " ".join(f"{t}={v:.2f}" for t, v in running.items())
                + f" ({time.perf_counter() - started:.0f}s)")


# ---------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(model: Any, encoder: Encoder, seed: int, per_task: int, image_tokens: int, size: int,
             mean: list[float], std: list[float]) -> dict[str, float]:
    """Held-out accuracy on fresh photos: exact greedy answers for questions, Yes/No for matching.

    "match_lookalike" and "named_match_lookalike" use only look-alike negatives (one attribute
    differs), half the questions having "Yes" for an answer.
    """
    model.eval()
    rng = random.Random(f"eval:{seed}")
    maker = SampleMaker(negatives_lookalike=1.0, partial=0.0)
    bank = _FreshPhotos(rng, size, mean, std)
    results: dict[str, float] = {}
    for task, key in (("attribute", "attribute"), ("describe", "describe"), ("named_text", "named_text"),
                      ("match", "match_lookalike"), ("named_match", "named_match_lookalike")):
        samples = [maker(task, rng) for _ in range(per_task)]
        correct = 0
        for i in range(0, per_task, 64):
            chunk = samples[i:i + 64]
            batch = collate(chunk, encoder, bank, image_tokens, rng)
            logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                           pixel_values=batch.pixel_values).logits
            # collate keeps the order when every sample has a photo, or none has
            predicted = logits[:, :-1].argmax(-1)
            targets = batch.input_ids[:, 1:]
            for row in range(len(chunk)):
                start, end = int(batch.answer_start[row]), int(batch.answer_end[row])
                if task in ("match", "named_match"):
                    end = start + 1  # the Yes/No word decides
                correct += bool((predicted[row, start - 1:end - 1] == targets[row, start - 1:end - 1]).all())
        results[key] = correct / per_task
    model.train()
    return results


class _FreshPhotos(PhotoBank):
    """Photos rendered on demand: evaluation never sees a training photo."""

    def __init__(self, rng: random.Random, size: int, mean: list[float], std: list[float]) -> None:
        self.rng, self.size = rng, size
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)

    def take(self, subjects: list[Subject], rng: random.Random) -> torch.Tensor:
        return self.normalise(torch.stack([torch.from_numpy(np.asarray(render(s, self.rng, self.size)))
                                           for s in subjects]))


# ---------------------------------------------------------------- the whole run


def pretrain_tiny_model(out_dir: Path, seed: int = 0, steps: int | None = None,
                        log: Callable[[str], None] = print, config: PretrainConfig | None = None) -> dict[str, Any]:
    """Build the tiny LLaVA (personalization.engine.tiny), pretrain it on the toy world, save it.

    Returns {"seconds": pretraining time, "steps": ..., and held-out accuracies per task}.
    Deterministic for a seed (on one machine and thread count).
    """
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    from personalization.engine.tiny import build_tiny_model

    config = config or PretrainConfig()
    if steps is not None:
        config.steps = steps
    started = time.perf_counter()
    out_dir = Path(out_dir)
    build_tiny_model(out_dir, kind="llava", seed=seed, corpus=vocabulary_corpus(), **config.sizes)
    processor = AutoProcessor.from_pretrained(out_dir)
    model = LlavaForConditionalGeneration.from_pretrained(out_dir)
    model.train()

    size = config.sizes["image_size"]
    image_tokens = (size // config.sizes["patch_size"]) ** 2
    mean, std = processor.image_processor.image_mean, processor.image_processor.image_std
    torch.manual_seed(seed)
    rng = random.Random(f"pretrain:{seed}")
    bank = PhotoBank(all_subjects(), config.photos_per_subject, seed, size, mean, std)
    encoder = Encoder(processor)
    log(f"toyworld: photo bank ready ({time.perf_counter() - started:.0f}s)")

    train(model, encoder, bank, config, rng, image_tokens, log, started)
    train_seconds = time.perf_counter() - started

    model.eval()
    accuracy = evaluate(model, encoder, seed, config.eval_per_task, image_tokens, size, mean, std)
    model.save_pretrained(out_dir)  # the processor is build_tiny_model's, already there
    report: dict[str, Any] = {"seconds": round(train_seconds, 1), "steps": config.steps, **accuracy}
    log("toyworld: " + " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in report.items()))
    return report
