"""A tiny random LLaVA with its processor, built offline, loadable like a real checkpoint.

`build_tiny_model(dir)` writes what `llava-hf/llava-1.5-7b-hf` has on the Hub, at toy size:
config + safetensors weights (CLIP vision tower, projector, Llama text model), a byte-level
BPE tokenizer trained here on a small built-in English corpus (special tokens <s>, </s>,
<unk>, <pad>, <image>), a CLIP image processor and the LLaVA-1.5 chat template. Then

    AutoProcessor.from_pretrained(dir); LlavaForConditionalGeneration.from_pretrained(dir)

load it through the same code path as the real model.
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch

from . import phrasings

# LLaVA-1.5's chat template, verbatim as llava-hf ships it: "USER: <image>\n{text} ASSISTANT:".
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}"
    "{% endif %}{# Render all images first #}{% for content in message['content'] | selectattr('type', "
    "'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != "
    "'assistant' %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', "
    "'equalto', 'text') %}{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

DEFAULTS: dict[str, Any] = {
    "image_size": 64, "patch_size": 8,  # 64 image tokens per photo
    "vision_hidden": 64, "vision_layers": 2, "vision_heads": 4,
    "text_hidden": 128, "text_layers": 2, "text_heads": 4, "text_kv_heads": 4,
    "vocab_size": 2000, "max_positions": 1024,
}

_COLOURS = "red orange yellow green blue purple pink brown black white grey gray golden silver".split()
_KINDS = ("dog cat bird fish rabbit horse cow person man woman boy girl child baby cup mug bottle toy "
          "ball hat shoe bag chair table car bike house tree flower book phone lamp clock robot doll "
          "statue building bridge tower square circle triangle star heart shape object animal thing").split()
_WORDS = ("a an the this that it is are was has have with and or of in on at to from by for big small "
          "large tiny tall short round long striped spotted plain wooden metal plastic glass fur curly "
          "straight hair glasses beard smiling happy sad left right top bottom middle center background "
          "photo picture image one two three four many some no not yes there here I you we see can "
          "sitting standing lying next near under above inside outside indoors outdoors grass floor sky "
          "water wearing jacket shirt dress collar young old cute fluffy shiny bright dark light").split()


def corpus() -> list[str]:
    """English lines covering the phrasings the engine trains and asks with."""
    names = ["<sks>", "Bo", "Kiwi", "Mia", "Rex"]
    lines: list[str] = []
    for template, name in itertools.product(
            phrasings.RECOGNITION_QUESTIONS + phrasings.YES_ANSWERS + phrasings.NO_ANSWERS, names):
        lines.append(template.format(sks=name))
    for ask, train in phrasings.THING_QUESTIONS + phrasings.PERSON_QUESTIONS:
        for kind in _KINDS[:12]:
            lines.append(ask.replace("{kind}", kind))
            lines.append(train.replace("{kind}", kind).format(sks="Bo"))
    for colour, kind in itertools.product(_COLOURS, _KINDS):
        lines.append(f"A {colour} {kind}. The {kind} is {colour}. It is a {colour} {kind}.")
    for question, answer in itertools.product(phrasings.RECOGNITION_QUESTIONS[:4],
                                              phrasings.YES_ANSWERS + phrasings.NO_ANSWERS):
        lines.append(f"USER: {question.format(sks='Bo')} ASSISTANT: {answer.format(sks='Bo')}")
    lines.append(" ".join(_WORDS))
    lines.append(phrasings.DESCRIBE_QUESTION)
    lines.append("USER: ASSISTANT: Facts about Bo: Bo is a dog.")
    return lines


@dataclass(frozen=True)
class Specials:
    """A tokenizer's special tokens: LLaVA's by default; the Janus tiny model names its own."""

    bos: str = "<s>"
    eos: str = "</s>"
    unk: str = "<unk>"
    pad: str = "<pad>"
    named: tuple[tuple[str, str], ...] = (("image_token", "<image>"),)  # extra_special_tokens

    @property
    def all(self) -> list[str]:
        return [self.bos, self.eos, self.unk, self.pad, *(token for _, token in self.named)]


def build_tokenizer(vocab_size: int, extra_corpus: Iterable[str] = (), specials: Specials = Specials()) -> Any:
    """A byte-level BPE (any text encodes, nothing is <unk>) wrapped as a fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials.all,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(itertools.chain(corpus(), extra_corpus), trainer=trainer)
    bos = tok.token_to_id(specials.bos)
    tok.post_processor = processors.TemplateProcessing(  # a BOS in front, like Llama's tokenizer
        single=f"{specials.bos} $A", pair=f"{specials.bos} $A {specials.bos} $B", special_tokens=[(specials.bos, bos)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=specials.bos, eos_token=specials.eos, unk_token=specials.unk,
        pad_token=specials.pad, extra_special_tokens=dict(specials.named), padding_side="left",
        model_max_length=4096)


def build_config(tokenizer: Any, sizes: dict[str, Any]) -> Any:
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    vision = CLIPVisionConfig(
        hidden_size=sizes["vision_hidden"], intermediate_size=4 * sizes["vision_hidden"],
        num_hidden_layers=sizes["vision_layers"], num_attention_heads=sizes["vision_heads"],
        image_size=sizes["image_size"], patch_size=sizes["patch_size"], projection_dim=sizes["vision_hidden"])
    text = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=sizes["text_hidden"], intermediate_size=4 * sizes["text_hidden"],
        num_hidden_layers=sizes["text_layers"], num_attention_heads=sizes["text_heads"],
        num_key_value_heads=sizes["text_kv_heads"], max_position_embeddings=sizes["max_positions"],
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)
    n_patches = (sizes["image_size"] // sizes["patch_size"]) ** 2
    return LlavaConfig(
        vision_config=vision, text_config=text, image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=n_patches, vision_feature_layer=-2, vision_feature_select_strategy="default",
        tie_word_embeddings=False)


def build_processor(tokenizer: Any, image_size: int, patch_size: int) -> Any:
    """LLaVA-1.5's processor: CLIP preprocessing at `image_size`, the chat template, <image> expansion."""
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    crop = {"height": image_size, "width": image_size}
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": image_size}, crop_size=crop)
    return LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=patch_size,
                          vision_feature_select_strategy="default", num_additional_image_tokens=1,
                          chat_template=LLAVA_CHAT_TEMPLATE)


def build_tiny_model(out_dir: Path, kind: str = "llava", seed: int = 0, **overrides: Any) -> Path:
    """Write a tiny random model and its processor to `out_dir`; returns `out_dir`.

    `kind`: "llava" (this module) or "janus" (tiny_janus.py: understands and draws).
    `overrides` change sizes (keys of DEFAULTS) or add tokenizer text (`corpus=[lines]`).
    """
    if kind == "janus":
        from .tiny_janus import build_tiny_janus

        return build_tiny_janus(Path(out_dir), seed=seed, **overrides)
    if kind != "llava":
        raise ValueError(f"unknown tiny model kind {kind!r} (known: llava, janus)")
    from transformers import LlavaForConditionalGeneration

    extra_corpus = overrides.pop("corpus", ())
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown tiny-model sizes: {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    sizes = {**DEFAULTS, **overrides}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(seed)
    tokenizer = build_tokenizer(sizes["vocab_size"], extra_corpus)
    config = build_config(tokenizer, sizes)
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out_dir)

    build_processor(tokenizer, sizes["image_size"], sizes["patch_size"]).save_pretrained(out_dir)
    _name_image_processor_like_the_hub(out_dir)
    return out_dir


def _name_image_processor_like_the_hub(out_dir: Path) -> None:
    """Real checkpoints say "CLIPImageProcessor" (or "JanusImageProcessor"), not the PIL backend's
    name; transformers picks the backend it has at load time."""
    for name in ("preprocessor_config.json", "processor_config.json"):
        path = out_dir / name
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        holder = data.get("image_processor", data)
        kind = holder.get("image_processor_type", "")
        if kind.endswith("ImageProcessorPil"):
            holder["image_processor_type"] = kind[: -len("Pil")]
            path.write_text(json.dumps(data, indent=2))


def build_tiny_clip(out_dir: Path, seed: int = 0, image_size: int = 32) -> Path:
    """A tiny random CLIP (model + processor) saved like `openai/clip-vit-*`: CLIP-I's scorer in tests."""
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(600)
    small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = CLIPConfig(text_config={**small, "vocab_size": len(tokenizer), "max_position_embeddings": 77},
                        vision_config={**small, "image_size": image_size, "patch_size": 8}, projection_dim=32)
    CLIPModel(config).eval().save_pretrained(out_dir)
    crop = {"height": image_size, "width": image_size}
    images = CLIPImageProcessorPil(size={"shortest_edge": image_size}, crop_size=crop)
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(out_dir)
    _name_image_processor_like_the_hub(out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="yo tiny-model", description="write a tiny model + processor, offline")
    parser.add_argument("dir", type=Path)
    parser.add_argument("--kind", default="llava", choices=["llava", "janus"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pretrain", choices=["toyworld"], default=None,
                        help="pretrain it on the procedural toy world so that learning can be measured")
    parser.add_argument("--steps", type=int, default=None, help="toy-world pretraining steps (default 2200)")
    parser.add_argument("--vision-steps", type=int, default=None,
                        help="steps of the toy-world vision stage before them (default 3000)")
    parser.add_argument("--extra-rounds", type=int, default=None,
                        help="rounds of 500 more steps the held-out check may add (default 4; 0: none)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for the toy-world pretraining (default 1: the same sums whatever the cores)")
    args = parser.parse_args(argv)
    try:
        if args.pretrain == "toyworld" and args.kind != "llava":
            raise ValueError("toy-world pretraining is written for the tiny LLaVA (--kind llava)")
        if args.pretrain == "toyworld":
            from personalization.toyworld.pretrain import PretrainConfig, pretrain_tiny_model

            config = PretrainConfig()
            if args.vision_steps is not None:
                config.vision_steps = args.vision_steps
            if args.threads is not None:
                config.threads = args.threads
            if args.extra_rounds is not None:
                config.extra_rounds = args.extra_rounds
            pretrain_tiny_model(args.dir, seed=args.seed, steps=args.steps, config=config)
        else:
            build_tiny_model(args.dir, kind=args.kind, seed=args.seed)
    except (ValueError, ImportError) as error:
        print(f"yo tiny-model: {error}", file=__import__("sys").stderr)
        return 2
    print(args.dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
