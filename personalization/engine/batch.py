"""Rows of token ids -> one padded forward pass.

A row is a shared prefix (chat start, the image's placeholder tokens, maybe a concept
prompt) followed by branches: several questions (with or without answers) about that
prefix. Each branch attends to the prefix and to itself only, and its positions continue
from the end of the prefix, so every branch computes exactly what it would alone, while
the image's hundreds of tokens go through the model once per row instead of once per
question. Padding is on the right; padded positions attend to nothing but themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .backends.base import Backend

IGNORE = -100


@dataclass
class Branch:
    ids: list[int]
    answer_from: int | None = None  # index in ids where the answer starts (trained); None: no answer


@dataclass
class Row:
    prefix: list[int]
    image: torch.Tensor | None = None  # [n_image_tokens, hidden] for the image placeholders in the prefix
    branches: list[Branch] = field(default_factory=list)


@dataclass
class Packed:
    input_ids: torch.Tensor  # [B, T]
    image_mask: torch.Tensor  # [B, T] where image tokens go
    images: torch.Tensor | None  # [n, hidden]: image tokens in row order
    attention_mask: torch.Tensor  # [B, 1, T, T] additive
    position_ids: torch.Tensor  # [B, T]
    targets: torch.Tensor  # [B, T]: the token position t must predict, or IGNORE
    branch_ids: torch.Tensor  # [B, T]: which branch (numbered over the batch) a position is in, -1: none
    reads: list[tuple[int, int]]  # (row, position) of each branch's last token, rows in order

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.input_ids.shape)  # type: ignore[return-value]


def pack(rows: list[Row], pad_id: int, image_token_id: int, device: torch.device, dtype: torch.dtype) -> Packed:
    ids: list[list[int]] = []
    segments: list[list[int]] = []
    positions: list[list[int]] = []
    targets: list[list[int]] = []
    reads: list[tuple[int, int]] = []
    numbers: list[list[int]] = []
    for r, row in enumerate(rows):
        seq, seg, pos = list(row.prefix), [0] * len(row.prefix), list(range(len(row.prefix)))
        tgt = [IGNORE] * len(row.prefix)
        number = [-1] * len(row.prefix)
        for b, branch in enumerate(row.branches, start=1):
            start = len(seq)
            seq += branch.ids
            seg += [b] * len(branch.ids)
            pos += range(len(row.prefix), len(row.prefix) + len(branch.ids))
            tgt += [IGNORE] * len(branch.ids)
            number += [len(reads)] * len(branch.ids)
            if branch.answer_from is not None:  # position t predicts token t + 1 of the same branch
                for t in range(start + max(branch.answer_from, 1), len(seq)):
                    tgt[t - 1] = seq[t]
            reads.append((r, len(seq) - 1))
        ids.append(seq)
        segments.append(seg)
        positions.append(pos)
        targets.append(tgt)
        numbers.append(number)

    width = max(len(s) for s in ids)

    def pad(rows_: list[list[int]], value: int) -> torch.Tensor:
        return torch.tensor([x + [value] * (width - len(x)) for x in rows_], dtype=torch.long, device=device)

    input_ids, seg, position_ids = pad(ids, pad_id), pad(segments, -1), pad(positions, 0)
    q, k = seg[:, :, None], seg[:, None, :]
    causal = torch.ones(width, width, dtype=torch.bool, device=device).tril()
    allowed = causal & (k >= 0) & ((k == 0) | (k == q))
    allowed |= torch.eye(width, dtype=torch.bool, device=device)  # padding sees itself: no empty softmax
    attention = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill(~allowed, torch.finfo(dtype).min)
    images = [row.image for row in rows if row.image is not None]
    return Packed(input_ids, input_ids == image_token_id, torch.cat(images) if images else None,
                  attention[:, None], position_ids, pad(targets, IGNORE), pad(numbers, -1), reads)


def hidden_states(backend: Backend, packed: Packed) -> torch.Tensor:
    """Run the frozen model on a packed batch (slot vectors must be bound): [B, T, d]."""
    embeds = backend.embed(packed.input_ids)
    if packed.images is not None:
        embeds = embeds.masked_scatter(packed.image_mask[..., None], packed.images.to(embeds.dtype))
    return backend.hidden_states(embeds, packed.attention_mask, packed.position_ids)


def answer_loss(backend: Backend, packed: Packed, hidden: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over answer tokens only (logits computed at those positions only)."""
    where = packed.targets != IGNORE
    rows = torch.arange(hidden.shape[0], device=hidden.device)[:, None].expand(where.shape)[where]
    logits = backend.logits(hidden[where], rows)
    return F.cross_entropy(logits.float(), packed.targets[where])


def yes_probability(backend: Backend, packed: Packed, hidden: torch.Tensor) -> torch.Tensor:
    """P(yes) at every branch's last token: softmax over the "Yes" and "No" logits only."""
    rows = torch.tensor([r for r, _ in packed.reads], device=hidden.device)
    cols = torch.tensor([t for _, t in packed.reads], device=hidden.device)
    logits = backend.logits(hidden[rows, cols], rows)
    pair = logits[:, [backend.tokens.yes_id, backend.tokens.no_id]].float()
    return pair.softmax(-1)[:, 0]


def answer_logprobs(backend: Backend, packed: Packed, hidden: torch.Tensor) -> torch.Tensor:
    """Sum of the answer tokens' log-probabilities, per branch (in `reads` order)."""
    where = packed.targets != IGNORE
    rows = torch.arange(hidden.shape[0], device=hidden.device)[:, None].expand(where.shape)[where]
    logp = backend.logits(hidden[where], rows).float().log_softmax(-1)
    picked = logp.gather(1, packed.targets[where][:, None])[:, 0]
    return torch.zeros(len(packed.reads), device=hidden.device).index_add(0, packed.branch_ids[where], picked)
