"""Rows of token ids -> one padded forward pass in two phases.

A row is a shared prefix (chat start, the image's placeholder tokens, maybe a concept
prompt) followed by branches: several questions (with or without answers) about that
prefix. Each branch attends to the prefix and to itself only, and its positions continue
from the end of the prefix, so every branch computes exactly what it would alone, while
the image's hundreds of tokens go through the model once per row instead of once per
question.

The prefix up to the first concept token does not depend on any concept vector (attention
is causal), so it runs first, without gradients, into a key/value cache ("frozen" part);
only the rest ("live" part: concept prompt, questions, answers) runs with gradients. The
backward pass then never touches the image tokens. Padding is on the right of each part;
padded positions attend to nothing but themselves.

Positions are the model's own: the backend gives the frozen part's (one axis for LLaVA, three
for Qwen-VL's M-RoPE, where an image's tokens sit on a grid), and the live part, all text,
goes on from the largest of them + 1 on every axis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .backends.base import Backend, ImageTokens

IGNORE = -100


@dataclass
class Branch:
    ids: list[int]
    answer_from: int | None = None  # index in ids where the answer starts (trained); None: no answer


@dataclass
class Row:
    prefix: list[int]
    image: ImageTokens | None = None  # for the image placeholders in the prefix
    branches: list[Branch] = field(default_factory=list)


@dataclass
class Packed:
    frozen_ids: torch.Tensor  # [B, F]: prefix tokens before any concept token (holds the image placeholders)
    frozen_mask: torch.Tensor  # [B, 1, F, F] additive
    frozen_positions: torch.Tensor  # [B, F], or [axes, B, F] for multimodal rotary positions
    images: list[ImageTokens]  # in row order
    live_ids: torch.Tensor  # [B, L]
    live_mask: torch.Tensor  # [B, 1, L, F + L] additive
    live_positions: torch.Tensor  # [B, L] or [axes, B, L]
    targets: torch.Tensor  # [B, L]: the token live position t must predict, or IGNORE
    branch_ids: torch.Tensor  # [B, L]: which branch (numbered over the batch) a position is in, -1: none
    reads: list[tuple[int, int]]  # (row, live position) of each branch's last token, rows in order


def pack(backend: Backend, rows: list[Row]) -> Packed:
    tokens, slots, device, dtype = backend.tokens, backend.slots, backend.device, backend.dtype
    lo, hi = slots.first_id, slots.first_id + slots.n_slots * slots.stride
    frozen: list[list[int]] = []
    frozen_positions: list[torch.Tensor] = []  # per row: [axes, F_r]
    ids: list[list[int]] = []  # the live part, per row: ids, segments, positions, targets, branch numbers
    segments: list[list[int]] = []
    positions: list[list[int]] = []
    targets: list[list[int]] = []
    numbers: list[list[int]] = []
    reads: list[tuple[int, int]] = []
    for r, row in enumerate(rows):
        cut = next((i for i, t in enumerate(row.prefix) if lo <= t < hi), len(row.prefix))
        frozen.append(row.prefix[:cut])
        frozen_positions.append(backend.positions(row.prefix[:cut], row.image))
        shift = (int(frozen_positions[-1].max()) + 1 if cut else 0) - cut  # M-RoPE: an image takes fewer positions
        rest = row.prefix[cut:]
        seq, seg, pos = list(rest), [0] * len(rest), list(range(cut + shift, len(row.prefix) + shift))
        tgt, num = [IGNORE] * len(rest), [-1] * len(rest)
        for b, branch in enumerate(row.branches, start=1):
            start, n = len(seq), len(branch.ids)
            seq += branch.ids
            seg += [b] * n
            pos += range(len(row.prefix) + shift, len(row.prefix) + shift + n)
            tgt += [IGNORE] * n
            num += [len(reads)] * n
            if branch.answer_from is not None:  # position t predicts token t + 1 of the same branch
                for t in range(start + max(branch.answer_from, 1), len(seq)):
                    tgt[t - 1] = seq[t]
            reads.append((r, len(seq) - 1))
        for column, values in zip((ids, segments, positions, targets, numbers), (seq, seg, pos, tgt, num)):
            column.append(values)

    width_f, width_l = max(len(f) for f in frozen), max(1, max(len(x) for x in ids))

    def tensor(values: list[list[int]], width: int, fill: int) -> torch.Tensor:
        return torch.tensor([v + [fill] * (width - len(v)) for v in values], dtype=torch.long, device=device)

    frozen_ids = tensor(frozen, width_f, tokens.pad_id)
    frozen_seg = tensor([[0] * len(f) for f in frozen], width_f, -1)
    live_ids, live_seg = tensor(ids, width_l, tokens.pad_id), tensor(segments, width_l, -1)
    # One mask over [frozen | live]: causal, within the prefix (segment 0) or the same branch, no padding.
    layout = torch.cat([frozen_seg, live_seg], dim=1)
    q, k = layout[:, :, None], layout[:, None, :]
    width = width_f + width_l
    allowed = torch.ones(width, width, dtype=torch.bool, device=device).tril() & (k >= 0) & ((k == 0) | (k == q))
    allowed |= torch.eye(width, dtype=torch.bool, device=device)  # padding sees itself: no empty softmax
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill(~allowed, torch.finfo(dtype).min)
    images = [row.image for row in rows if row.image is not None]
    if int((frozen_ids == tokens.image_token_id).sum()) != sum(len(i) for i in images):
        raise ValueError("image placeholders must come before any concept token")
    axes = frozen_positions[0].shape[0]
    frozen_pos = torch.zeros(axes, len(rows), width_f, dtype=torch.long)
    for r, p in enumerate(frozen_positions):
        frozen_pos[:, r, : p.shape[1]] = p
    live_pos = tensor(positions, width_l, 0)
    if axes == 1:
        frozen_pos = frozen_pos[0].to(device)
    else:  # text: the same position on every axis
        frozen_pos, live_pos = frozen_pos.to(device), live_pos[None].expand(axes, -1, -1)
    return Packed(frozen_ids, mask[:, None, :width_f, :width_f], frozen_pos, images, live_ids,
                  mask[:, None, width_f:], live_pos, tensor(targets, width_l, IGNORE),
                  tensor(numbers, width_l, -1), reads)


def hidden_states(backend: Backend, packed: Packed) -> torch.Tensor:
    """Hidden states [B, L, d] of the live part (slot vectors must be bound)."""
    with torch.no_grad():  # the frozen part never depends on the concept: no graph, no backward
        embeds, placed = backend.embed_with_images(packed.frozen_ids, packed.images)
        cache = backend.prefill(embeds, packed.frozen_mask, packed.frozen_positions, placed)
    return backend.hidden_states(backend.embed(packed.live_ids), packed.live_mask, packed.live_positions, cache)


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


def pooled(p_yes: torch.Tensor, n: int) -> torch.Tensor:
    """One P(yes) per run of `n` consecutive branches (one photo asked `n` ways): their mean log-odds."""
    log_odds = p_yes.double().clamp(1e-12, 1 - 1e-12).logit().view(-1, n).mean(1)
    return log_odds.sigmoid().to(p_yes.dtype)


def answer_logprobs(backend: Backend, packed: Packed, hidden: torch.Tensor) -> torch.Tensor:
    """Sum of the answer tokens' log-probabilities, per branch (in `reads` order)."""
    where = packed.targets != IGNORE
    rows = torch.arange(hidden.shape[0], device=hidden.device)[:, None].expand(where.shape)[where]
    logp = backend.logits(hidden[where], rows).float().log_softmax(-1)
    picked = logp.gather(1, packed.targets[where][:, None])[:, 0]
    return torch.zeros(len(packed.reads), device=hidden.device).index_add(0, packed.branch_ids[where], picked)
