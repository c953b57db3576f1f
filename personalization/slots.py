"""Concept slots: reserved tokens whose vectors come from outside the frozen model.

A fixed pool of S slots, each one identifier token `<yo_cS>` and k latent tokens
`<yo_cS_tJ>`, is added to the tokenizer once at load time (the embedding table is resized
once). The learned vectors never enter the model's tables. Two thin wrappers do the work:

- `SlotEmbedding` (installed as the input embeddings) looks up the frozen table, then
  substitutes the rows of slot tokens with the vectors bound to that slot *for that row of
  the batch*, so one batch mixes concepts of different users;
- `SlotHead` (installed as lm_head) computes the frozen logits, masks every slot column,
  and fills each bound identifier's column with `hidden · output_vector`, so the model can
  say the identifier. Latent tokens get no output row: the paper trains only the
  identifier's (the published code also trains the latents'), and an answer never needs
  to say a latent token, so they stay masked and can never be generated.

Binding a batch (`SlotPool.bind`) only stores references to small tensors: swapping
concepts costs microseconds and never touches the big tables.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import nn


@dataclass(frozen=True)
class SlotIds:
    identifier: int
    latents: tuple[int, ...]


class SlotEmbedding(nn.Module):
    def __init__(self, base: nn.Embedding, pool: "SlotPool") -> None:
        super().__init__()
        self.base = base
        self.pool = pool  # plain attribute: the pool is not a module

    @property
    def weight(self) -> torch.Tensor:  # code that inspects input embeddings still finds the table
        return self.base.weight

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        embeds = self.base(input_ids)
        inputs = self.pool.bound_inputs  # [B, S_bound * (k+1), d] or None
        if inputs is None:
            return embeds
        rel = input_ids - self.pool.first_id
        hit = (rel >= 0) & (rel < inputs.shape[1])
        if not bool(hit.any()):
            return embeds
        rows = torch.arange(input_ids.shape[0], device=input_ids.device)[:, None].expand_as(input_ids)
        embeds = embeds.clone()  # the frozen lookup's output, never the table
        embeds[hit] = inputs[rows[hit], rel[hit]].to(embeds.dtype)
        return embeds


class SlotHead(nn.Module):
    def __init__(self, base: nn.Module, pool: "SlotPool") -> None:
        super().__init__()
        self.base = base
        self.pool = pool

    @property
    def weight(self) -> torch.Tensor:
        return self.base.weight  # type: ignore[return-value]

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden [B, T, d] -> logits [B, T, V]; rows are the bound batch rows."""
        rows = torch.arange(hidden.shape[0], device=hidden.device)[:, None].expand(hidden.shape[:2])
        return self.logits(hidden.reshape(-1, hidden.shape[-1]), rows.reshape(-1)).view(*hidden.shape[:2], -1)

    def logits(self, hidden: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """hidden [N, d] at positions of batch rows `rows` [N] -> logits [N, V].

        Training asks for the answer positions only: the big vocabulary projection then runs
        over a few dozen positions instead of every image token.
        """
        pool = self.pool
        logits = self.base(hidden)
        lo, hi = pool.first_id, pool.first_id + pool.n_slots * pool.stride
        block = torch.full((hidden.shape[0], hi - lo), torch.finfo(logits.dtype).min,
                           dtype=logits.dtype, device=logits.device)
        outputs = pool.bound_outputs  # [B, S_bound, d] or None
        if outputs is not None:
            said = (hidden.unsqueeze(1) * outputs[rows].to(hidden.dtype)).sum(-1)  # [N, S_bound]
            cols = torch.arange(outputs.shape[1], device=logits.device) * pool.stride
            block = block.index_copy(1, cols, said.to(logits.dtype))
        return torch.cat([logits[:, :lo], block, logits[:, hi:]], dim=1)


class SlotPool:
    """The reserved tokens of one loaded model and the concept vectors bound to them."""

    def __init__(self, first_id: int, n_slots: int, k: int, hidden_size: int) -> None:
        self.first_id, self.n_slots, self.k, self.hidden_size = first_id, n_slots, k, hidden_size
        self.stride = k + 1
        self.bound_inputs: torch.Tensor | None = None
        self.bound_outputs: torch.Tensor | None = None

    @staticmethod
    def token_names(n_slots: int, k: int) -> list[str]:
        return [name for s in range(n_slots) for name in [f"<yo_c{s}>"] + [f"<yo_c{s}_t{j}>" for j in range(k)]]

    @classmethod
    def install(cls, model: Any, tokenizer: Any, n_slots: int = 8, k: int = 16) -> "SlotPool":
        """Add the slot tokens (once), resize the tables (once), install the wrappers."""
        names = cls.token_names(n_slots, k)
        tokenizer.add_tokens(names, special_tokens=True)
        ids = tokenizer.convert_tokens_to_ids(names)
        if ids != list(range(ids[0], ids[0] + len(ids))):
            raise RuntimeError("the concept slot tokens did not get consecutive ids")
        if model.get_input_embeddings().weight.shape[0] < ids[-1] + 1:
            # New rows are never read (substituted on input, masked on output): no mean init needed.
            model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        hidden = model.get_input_embeddings().weight.shape[1]
        pool = cls(ids[0], n_slots, k, hidden)
        model.set_input_embeddings(SlotEmbedding(model.get_input_embeddings(), pool))
        model.lm_head = SlotHead(model.lm_head, pool)
        return pool

    def ids(self, slot: int, k: int | None = None) -> SlotIds:
        if not 0 <= slot < self.n_slots:
            raise ValueError(f"only {self.n_slots} concepts fit in one request")
        base = self.first_id + slot * self.stride
        return SlotIds(base, tuple(range(base + 1, base + 1 + (self.k if k is None else k))))

    def is_identifier(self, token_id: int) -> int | None:
        """The slot whose identifier this is, else None."""
        rel = token_id - self.first_id
        if 0 <= rel < self.n_slots * self.stride and rel % self.stride == 0:
            return rel // self.stride
        return None

    def is_slot_token(self, token_id: int) -> bool:
        return 0 <= token_id - self.first_id < self.n_slots * self.stride

    def pack(self, rows: list[list[tuple[torch.Tensor, torch.Tensor] | None]], device: torch.device | str,
             dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Per batch row, per slot: (inputs [k'+1, d], output [d]) or None -> bound tensors.

        Concepts with fewer latents than the pool's k leave the rest zero (never referenced).
        """
        width = max(1, max((len(r) for r in rows), default=1))
        if width > self.n_slots:
            raise ValueError(f"only {self.n_slots} concepts fit in one request")
        inputs = torch.zeros(len(rows), width, self.stride, self.hidden_size, device=device, dtype=dtype)
        outputs = torch.zeros(len(rows), width, self.hidden_size, device=device, dtype=dtype)
        for b, row in enumerate(rows):
            for s, vectors in enumerate(row):
                if vectors is not None:
                    inputs[b, s, : vectors[0].shape[0]] = vectors[0]
                    outputs[b, s] = vectors[1]
        return inputs.flatten(1, 2), outputs

    @contextmanager
    def bind(self, inputs: torch.Tensor | None, outputs: torch.Tensor | None) -> Iterator[None]:
        """Bind [B, S*(k+1), d] input and [B, S, d] output vectors for the forward passes inside."""
        saved = self.bound_inputs, self.bound_outputs
        self.bound_inputs, self.bound_outputs = inputs, outputs
        try:
            yield
        finally:
            self.bound_inputs, self.bound_outputs = saved
