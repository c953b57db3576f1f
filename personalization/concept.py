"""A concept file: the learned vectors of one subject, as safetensors bytes.

    inputs   [k+1, d]  input-embedding rows: identifier first, then the k latent tokens
    output   [d]       the identifier's lm_head row (lets the model say it)
    metadata           k, name, base model id and the base model's fingerprint;
                       generation_tokens: how many of the k latents are generation tokens

A concept of a model that draws (Yo'Chameleon, docs/method.md §4) holds two token sets among its
latents: the first `generation` are generation tokens <g…>, the rest understanding tokens <u…>,
so its prompt reads "<sks> is <g0>..<g15><u0>..<u15>.". The field is optional metadata: files
without it (LLaVA concepts, older files) have generation 0 and load as before.

Vectors only mean something inside the model they were learned on, so loading checks the
fingerprint and refuses a concept from another base model with `ConceptMismatch`.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

FORMAT = "yo-concept/1"


class ConceptMismatch(ValueError):
    """The concept was learned on another base model: it has to be taught again."""


@dataclass
class Concept:
    inputs: torch.Tensor  # [k+1, d], float32
    output: torch.Tensor  # [d], float32
    model_id: str
    fingerprint: str
    name: str = ""
    generation: int = 0  # the first `generation` latents are generation tokens, the rest understanding tokens

    @property
    def k(self) -> int:
        return self.inputs.shape[0] - 1

    @property
    def generation_latents(self) -> range:
        """Indices (among the latents) of the generation tokens."""
        return range(self.generation)

    @property
    def understanding_latents(self) -> range:
        return range(self.generation, self.k)

    def to_bytes(self) -> bytes:
        metadata = {"format": FORMAT, "k": str(self.k), "name": self.name,
                    "model_id": self.model_id, "fingerprint": self.fingerprint}
        if self.generation:
            metadata["generation_tokens"] = str(self.generation)
        tensors = {"inputs": self.inputs.detach().float().contiguous().cpu(),
                   "output": self.output.detach().float().contiguous().cpu()}
        return st_save(tensors, metadata=metadata)

    @classmethod
    def from_bytes(cls, data: bytes, expect_fingerprint: str | None = None, expect_model_id: str = "") -> "Concept":
        metadata = _metadata(data)
        if metadata.get("format") != FORMAT:
            raise ValueError("not a Yo concept file")
        tensors = st_load(data)
        concept = cls(tensors["inputs"], tensors["output"], metadata["model_id"], metadata["fingerprint"],
                      metadata.get("name", ""), int(metadata.get("generation_tokens", "0")))
        if expect_fingerprint is not None and concept.fingerprint != expect_fingerprint:
            who = concept.name or "This concept"
            raise ConceptMismatch(f"{who} was learned on {concept.model_id}; this bot runs "
                                  f"{expect_model_id or 'another model'}: teach it again")
        return concept

    def as_slot(self, device: torch.device | str, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs.to(device, dtype), self.output.to(device, dtype)


def _metadata(data: bytes) -> dict[str, str]:
    """The `__metadata__` of safetensors bytes (the format: u64 header length, JSON header)."""
    if len(data) < 8:
        raise ValueError("not a Yo concept file")
    (length,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8:8 + length])
    except ValueError as error:
        raise ValueError("not a Yo concept file") from error
    return dict(header.get("__metadata__", {}))


def fingerprint(model: Any) -> str:
    """What a concept depends on: the architecture and the weights it talks to.

    Config fields (type, sizes, vocabulary) plus a checksum of a few embedding and lm_head
    rows, rendered in bfloat16 so that the same checkpoint in fp32 (CPU), bf16 (GPU) or with a
    4-bit language model (embeddings stay unquantised) gives the same fingerprint.
    """
    config = model.config
    text = getattr(config, "text_config", config)
    fields = {
        "model_type": config.model_type,
        "hidden_size": text.hidden_size,
        "layers": text.num_hidden_layers,
        "vocab_size": text.vocab_size,
        "image_token": getattr(config, "image_token_id", None),
    }
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode())
    embed = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    for table in (embed, head):
        rows = table[: min(64, text.vocab_size)].detach().to("cpu", torch.bfloat16).contiguous()
        digest.update(rows.view(torch.int16).numpy().tobytes())
    return digest.hexdigest()[:16]
