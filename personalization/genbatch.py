"""Rows of (prompt ids, VQ tokens of an image) -> one padded forward pass -> reconstruction loss.

A row is a text prompt ending with the image-start token, then the image: its VQ tokens read
back in through the model's image-generation embeddings. Position t predicts token t+1: the
image-start position predicts the first VQ token, and so on (teacher forcing), through the
image head, not the text lm_head. Prompts are left-padded so that every row's image sits at
the same columns; padding attends to nothing but itself, and positions skip it.

Unlike the understanding rows (batch.py) nothing is cached up front: the image comes after the
concept tokens, so all of it runs with gradients flowing back to them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .backends.base import DrawingBackend


@dataclass
class DrawRow:
    ids: list[int]  # the prompt, ending with the image-start token
    codes: torch.Tensor  # [image_tokens] the image's VQ tokens: what follows, and what is predicted


def image_hidden(backend: DrawingBackend, rows: list[DrawRow]) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden states [B, N, d] at the positions that predict the N image tokens, and the targets [B, N]."""
    device, dtype = backend.device, backend.dtype
    width = max(len(r.ids) for r in rows)
    ids = torch.tensor([[backend.tokens.pad_id] * (width - len(r.ids)) + r.ids for r in rows], device=device)
    codes = torch.stack([r.codes for r in rows]).to(device)
    n = codes.shape[1]
    valid = torch.tensor([[False] * (width - len(r.ids)) + [True] * (len(r.ids) + n - 1) for r in rows],
                         device=device)
    with torch.no_grad():  # the image's embeddings are constants: frozen tables, given tokens
        image = backend.vq_embed(codes[:, :-1])
    embeds = torch.cat([backend.embed(ids), image.to(dtype)], dim=1)  # slot vectors bound: gradients flow
    length = embeds.shape[1]
    allowed = torch.ones(length, length, dtype=torch.bool, device=device).tril() & valid[:, None, :]
    allowed |= torch.eye(length, dtype=torch.bool, device=device)  # padding sees itself: no empty softmax
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill(~allowed, torch.finfo(dtype).min)
    positions = (valid.long().cumsum(1) - 1).clamp(min=0)
    hidden = backend.hidden_states(embeds, mask[:, None], positions)
    return hidden[:, width - 1:], codes


def reconstruction(backend: DrawingBackend, rows: list[DrawRow]) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean cross-entropy over the image tokens, fraction of them predicted exactly)."""
    hidden, codes = image_hidden(backend, rows)
    logits = backend.vq_logits(hidden).float()
    loss = F.cross_entropy(logits.flatten(0, 1), codes.flatten())
    return loss, (logits.argmax(-1) == codes).float().mean()
