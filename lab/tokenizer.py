"""What every tiny checkpoint shares: a byte-level BPE tokenizer trained here on a small English
corpus that covers the engine's own phrasings, and processors saved under the Hub's names."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from personalization import phrasings

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
    """A tokenizer's special tokens: LLaVA's by default; the Janus and Qwen tiny models name their own."""

    bos: str | None = "<s>"  # None: no BOS (Qwen's tokenizers add none)
    eos: str = "</s>"
    unk: str = "<unk>"
    pad: str = "<pad>"
    named: tuple[tuple[str, str], ...] = (("image_token", "<image>"),)  # extra_special_tokens

    @property
    def all(self) -> list[str]:
        listed = [self.bos, self.eos, self.unk, self.pad, *(token for _, token in self.named)]
        return list(dict.fromkeys(t for t in listed if t is not None))


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
    if specials.bos is not None:
        bos = tok.token_to_id(specials.bos)
        tok.post_processor = processors.TemplateProcessing(  # a BOS in front, like Llama's tokenizer
            single=f"{specials.bos} $A", pair=f"{specials.bos} $A {specials.bos} $B",
            special_tokens=[(specials.bos, bos)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=specials.bos, eos_token=specials.eos, unk_token=specials.unk,
        pad_token=specials.pad, extra_special_tokens=dict(specials.named), padding_side="left",
        model_max_length=4096)


def name_image_processor_like_the_hub(out_dir: Path) -> None:
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
