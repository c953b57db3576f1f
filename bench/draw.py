"""Drawing speed: seconds per image and per concept, Yo's code against the published code's way, in one run.

    python bench/draw.py [--shape tiny|small|janus-pro-7b] [--device cpu|cuda] [--seconds 20]

Drawing (the same prompts, the same number of images, guidance 5, temperature 1):
- yo: `Engine.draw_batch` — every waiting request's images in one `generate(generation_mode="image")`
  call: a static key/value cache, concepts bound per row, guidance and sampling per row;
- published: the Janus repository's `generate` loop — one request per call (its images as the
  "parallel" batch), a dynamic cache grown one token at a time, the same guidance formula.

Training one concept (the same examples: reconstruction of 5 photos, soft positives, recognition):
- yo: `DrawingTrainer` steps — the concept's vectors outside the model, logits only where a loss
  is read (image head at image positions, lm_head at answer tokens), batches, recognition rows
  sharing their photo's cached prefix;
- published (Yo'Chameleon's way, on Janus): the model's own forward per step, the full lm_head at
  every position (Anole's head holds the image tokens too), the photo through the vision tower
  at every step, AdamW over the whole input-embedding matrix and lm_head, every row but the
  concept's copied back after each step; batch 4 for images, 1 for questions.

`--shape janus-pro-7b` builds random weights at Janus-Pro-7B's shapes on the device (no download;
for a GPU, ~16 GB in bf16 plus the published side's optimizer state over the 102400 x 4096 tables).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import train as bench_train  # noqa: E402  (bench/train.py: photos, timers)
from personalization import Engine, TrainConfig  # noqa: E402
from personalization.backends.janus import JanusBackend  # noqa: E402
from personalization.drawing import Drawing, DrawRequest, png  # noqa: E402
from personalization.drawtrainer import DrawingTrainer  # noqa: E402
from personalization.gendata import DrawingConfig, Drawn  # noqa: E402
from personalization.genbatch import DrawRow  # noqa: E402
from personalization.inference import open_photo  # noqa: E402
from serving.protocol import TrainRequest  # noqa: E402

SHAPES: dict[str, dict[str, Any]] = {
    "tiny": {},  # build_tiny_janus' defaults: 16 image tokens, text 2 x 64
    "small": {"image_size": 64, "patch_size": 8, "vision_hidden": 64, "text_hidden": 256, "text_layers": 4,
              "text_heads": 8, "text_kv_heads": 8},  # 64 image tokens
}
# One concept at Yo's defaults: 15 epochs of 5 photos x 2 reconstructions + 48 soft positives, and the
# understanding data of bench/train.py (the Yo'LLaVA paper's volume).
GENERATION_SAMPLES = 15 * (5 * 2 + 48)
UNDERSTANDING_SAMPLES = bench_train.PAPER_SAMPLES


def janus_pro_7b(device: torch.device, layers: int | None = None) -> Engine:
    """Random weights at Janus-Pro-7B's shapes: SigLIP-L/16 at 384 px, a 30-layer 4096-wide Llama,
    the 16384-code VQ-VAE; 576 image tokens. `layers` cuts both towers (a smoke run on a CPU)."""
    from transformers import JanusConfig, JanusForConditionalGeneration, JanusVisionConfig, JanusVQVAEConfig
    from transformers import LlamaConfig

    from lab.tokenizer import build_tokenizer
    from lab.tiny_janus import JANUS_SPECIALS, build_janus_processor

    tokenizer = build_tokenizer(2000, specials=JANUS_SPECIALS)
    text = LlamaConfig(vocab_size=102400, hidden_size=4096, intermediate_size=11008, num_hidden_layers=layers or 30,
                       num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=16384,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id)
    vision = JanusVisionConfig(hidden_size=1024, num_hidden_layers=layers or 24, num_attention_heads=16,
                               image_size=384, patch_size=16, projection_dim=4096, depth=2, num_image_tokens=576)
    vq = JanusVQVAEConfig(projection_dim=4096, image_token_embed_dim=4096)  # 16384 codes, 8-dim, 128 channels
    config = JanusConfig(text_config=text, vision_config=vision, vq_config=vq, tie_word_embeddings=False,
                         image_token_id=tokenizer.convert_tokens_to_ids("<image_placeholder>"))
    with torch.device(device):
        model = JanusForConditionalGeneration._from_config(config, dtype=torch.bfloat16)
    model.generation_config.pad_token_id, model.generation_config.bos_token_id = tokenizer.pad_token_id, 0
    processor = build_janus_processor(tokenizer, 384, 576)
    return Engine(JanusBackend.from_model(model, processor, "random/janus-pro-7b-shape"))


def drawer(engine: Engine) -> JanusBackend:
    assert isinstance(engine.backend, JanusBackend)
    return engine.backend


def build(shape: str, device: torch.device, folder: Path, layers: int | None) -> Engine:
    if shape == "janus-pro-7b":
        return janus_pro_7b(device, layers)
    from lab.tiny import build_tiny_model

    path = build_tiny_model(folder / shape, kind="janus", seed=0, **SHAPES[shape])
    return Engine.load(str(path), device=str(device))


# -- drawing ---------------------------------------------------------------------------------------


@torch.no_grad()
def published_draw(engine: Engine, ids: list[int], n: int, guidance: float, seed: int) -> list[bytes]:
    """The Janus repository's loop for one prompt and its n "parallel" images."""
    backend = drawer(engine)
    model, generator = backend.model, torch.Generator(backend.device).manual_seed(seed)
    tokens = torch.tensor([ids] * (2 * n), device=backend.device)
    tokens[n:, 1:-1] = backend.tokens.pad_id  # the unconditional rows keep BOS and the image start only
    embeds = model.get_input_embeddings()(tokens)
    codes = torch.zeros(n, backend.image_tokens, dtype=torch.long, device=backend.device)
    past = None
    for i in range(codes.shape[1]):
        out = model.model.language_model(inputs_embeds=embeds, use_cache=True, cache=past)
        past = out.cache
        logits = model.model.generation_head(out.last_hidden_state[:, -1]).float()
        logits = logits[n:] + guidance * (logits[:n] - logits[n:])
        chosen = torch.multinomial(logits.softmax(-1), 1, generator=generator)
        codes[:, i] = chosen[:, 0]
        embeds = backend.vq_embed(torch.cat([chosen, chosen]))
    return [png(image) for image in backend.decode(codes)]


def time_drawing(engine: Engine, requests: int, images: int, device: torch.device) -> tuple[float, float, float]:
    """(yo seconds per image, published seconds per image, yo peak MiB) for `requests` requests of `images`."""
    prompts = [[f"A photo of a dog number {r}."] for r in range(requests)]
    drawing = Drawing(drawer(engine), engine.inference, batch_size=requests * images)
    work: list[DrawRequest] = [(list(p), [], images, r) for r, p in enumerate(prompts)]
    ids = [drawing.prompt(list(p), [])[0] for p in prompts]
    drawing.draw_batch(work[:1])  # warm-up, not counted
    published_draw(engine, ids[0], 1, 5.0, 0)
    bench_train.reset_peak(device)
    bench_train.sync(device)
    start = time.perf_counter()
    drawing.draw_batch(work)
    bench_train.sync(device)
    ours, peak = time.perf_counter() - start, bench_train.peak_mib(device)
    start = time.perf_counter()
    for r, prompt_ids in enumerate(ids):
        published_draw(engine, prompt_ids, images, 5.0, r)
    bench_train.sync(device)
    return ours / (requests * images), (time.perf_counter() - start) / (requests * images), peak


# -- training ----------------------------------------------------------------------------------------


class Published:
    """Yo'Chameleon's way on the same model, its wrappers off while it runs (as bench/train.py's Recipe)."""

    def __init__(self, trainer: DrawingTrainer, images: list[bytes]) -> None:
        self.trainer, self.backend, self.drawer, self.images = trainer, trainer.backend, trainer.drawer, images
        model = self.backend.model
        self.slot_embedding, self.slot_head = model.get_input_embeddings(), model.lm_head
        self.embed, self.head = self.slot_embedding.base.weight, self.slot_head.base.weight
        self.saved_embed, self.saved_head = self.embed.detach().clone(), self.head.detach().clone()
        slot = self.backend.slots.ids(0, trainer.n_latents)
        self.keep = torch.ones(self.embed.shape[0], dtype=torch.bool, device=self.backend.device)
        self.keep[torch.tensor([slot.identifier, *slot.latents])] = False
        self.names = self.backend.processor.tokenizer.convert_ids_to_tokens([slot.identifier, *slot.latents])
        self.optimizer = torch.optim.AdamW([self.embed, self.head], lr=1e-3, weight_decay=1e-2)

    def installed(self, on: bool) -> None:
        model = self.backend.model
        model.set_input_embeddings(self.slot_embedding.base if on else self.slot_embedding)
        model.lm_head = self.slot_head.base if on else self.slot_head
        self.embed.requires_grad_(on)
        self.head.requires_grad_(on)

    def update(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():  # every row but the concept's back to its saved value
            self.embed[self.keep] = self.saved_embed[self.keep]
            self.head[self.keep] = self.saved_head[self.keep]

    def draw_step(self, batch: list[Drawn]) -> None:
        rows: list[DrawRow] = [self.trainer.draw_row(e) for e in batch]
        backend, model = self.backend, self.backend.model
        width = max(len(r.ids) for r in rows)
        ids = torch.tensor([[backend.tokens.pad_id] * (width - len(r.ids)) + r.ids for r in rows], device=backend.device)
        codes = torch.stack([r.codes for r in rows]).to(backend.device)
        mask = torch.cat([ids != backend.tokens.pad_id, torch.ones_like(codes[:, 1:], dtype=torch.bool)], 1)
        with backend.autocast():
            embeds = torch.cat([model.get_input_embeddings()(ids), self.drawer.vq_embed(codes[:, :-1])], 1)
            hidden = model.model.language_model(inputs_embeds=embeds, attention_mask=mask.long()).last_hidden_state
            model.lm_head(hidden)  # the model's forward: full-vocabulary logits at every position
            logits = self.drawer.vq_logits(hidden[:, width - 1:]).float()
        self.update(torch.nn.functional.cross_entropy(logits.flatten(0, 1), codes.flatten()))

    def question_step(self, image: int | None, question: str, answer: str) -> None:
        processor, sks = self.backend.processor, self.names[0]
        user = ("<image_placeholder>\n" if image is not None else "") + f"{sks} is {''.join(self.names[1:])}. "
        prompt = f"<|User|>: {user}{question.replace('{sks}', sks)}\n\n<|Assistant|>:"
        said = f" {answer.replace('{sks}', sks)}{processor.tokenizer.eos_token}"
        photo = [open_photo(self.images[image])] if image is not None else None
        inputs = processor(text=prompt + said, images=photo, return_tensors="pt").to(self.backend.device)
        n_answer = len(processor.tokenizer(said, add_special_tokens=False)["input_ids"])
        labels = torch.full_like(inputs["input_ids"], -100)
        labels[:, -n_answer:] = inputs["input_ids"][:, -n_answer:]
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.backend.dtype)
        with self.backend.autocast():
            self.update(self.backend.model(**inputs, labels=labels).loss)


def time_training(engine: Engine, seconds: float, device: torch.device) -> dict[str, float]:
    rng = random.Random(0)
    positives = [bench_train.photo(rng, True) for _ in range(5)]
    negatives = [bench_train.photo(rng, False) for _ in range(60)]
    config = TrainConfig(batch_size=4, views=0, drawing=DrawingConfig(lookalikes=0))  # views: as bench/train.py
    request = TrainRequest(name="Bo", positives=positives, negatives=negatives, category="ball")
    trainer = DrawingTrainer(engine, request, config, None, None)
    start = time.perf_counter()
    plan = trainer.prepare()
    bench_train.sync(device)
    out = {"prepare": time.perf_counter() - start}
    inputs, output = trainer.initial_vectors()
    optimizer = trainer.optimizer(inputs, output)
    batches = trainer.batches(plan, random.Random(1))
    drawings = [b for b in batches if isinstance(b[0], Drawn)]
    questions = [b for b in batches if not isinstance(b[0], Drawn)]
    published = Published(trainer, positives + negatives)
    samples = [(e.image, t.question, t.answer) for b in questions for e in b for t in e.turns]
    for label, work in (("yo draw", lambda i: trainer.step(drawings[i % len(drawings)], inputs, output, optimizer)),
                        ("yo ask", lambda i: trainer.step(questions[i % len(questions)], inputs, output, optimizer)),
                        ("published draw", lambda i: published.draw_step(drawings[i % len(drawings)])),
                        ("published ask", lambda i: published.question_step(*samples[i % len(samples)]))):
        published.installed(label.startswith("published"))
        work(0)  # warm-up
        count, start, i = 0, time.perf_counter(), 1
        while time.perf_counter() - start < seconds or i < 2:
            work(i)
            count += len(drawings[i % len(drawings)]) if "draw" in label else (
                1 if "published" in label else sum(len(e.turns) for e in questions[i % len(questions)]))
            i += 1
        bench_train.sync(device)
        out[label] = count / (time.perf_counter() - start)  # samples per second
        published.installed(False)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=[*SHAPES, "janus-pro-7b"], default="tiny")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed training per side and kind")
    parser.add_argument("--requests", type=int, default=4, help="drawing requests waiting at once")
    parser.add_argument("--images", type=int, default=4, help="images per drawing request")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (the machine may be shared)")
    parser.add_argument("--layers", type=int, default=None, help="janus-pro-7b with fewer layers (a CPU smoke run)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as folder:
        engine = build(args.shape, device, Path(folder), args.layers)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"cpu, {torch.get_num_threads()} thread(s)"
    text = engine.backend.model.config.text_config
    print(f"shape {args.shape} (text {text.num_hidden_layers} x {text.hidden_size}, "
          f"{drawer(engine).image_tokens} image tokens) on {name}")

    ours, theirs, peak = time_drawing(engine, args.requests, args.images, device)
    memory = f", peak {peak:.0f} MiB" if device.type == "cuda" else ""
    print(f"drawing, {args.requests} requests x {args.images} images: yo {ours:.3f} s/image{memory}, "
          f"published loop {theirs:.3f} s/image; speed-up {theirs / ours:.1f}x")

    rates = time_training(engine, args.seconds, device)
    print(f"{'training samples/s':28}{'yo':>10}{'published':>12}{'speed-up':>10}")
    for kind in ("draw", "ask"):
        yo, pub = rates[f"yo {kind}"], rates[f"published {kind}"]
        print(f"{kind:28}{yo:10.2f}{pub:12.2f}{yo / pub:9.1f}x")
    per_concept = {side: GENERATION_SAMPLES / rates[f"{side} draw"] + UNDERSTANDING_SAMPLES / rates[f"{side} ask"]
                   for side in ("yo", "published")}
    print(f"time per concept ({GENERATION_SAMPLES} image + {UNDERSTANDING_SAMPLES} question samples; per-epoch "
          f"checks not counted): yo {rates['prepare'] + per_concept['yo']:.0f} s (preparation "
          f"{rates['prepare']:.1f} s included), published {per_concept['published']:.0f} s; "
          f"speed-up {per_concept['published'] / (rates['prepare'] + per_concept['yo']):.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
