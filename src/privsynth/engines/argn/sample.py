"""Sampling: tokens drawn one at a time in a fixed order, fixed (conditioned) tokens first.

Each step feeds the tokens known so far (fixed or already drawn; the rest as hidden vectors) to the target's
head and draws from softmax(logits / temperature) by inverse CDF with uniforms from the caller's numpy
Generator. Rows go in chunks of CHUNK, so memory is bounded and the output does not depend on the core count.
Lower temperature sharpens every conditional (more typical rows); higher flattens it (more diverse, further
from any real record).
"""

from __future__ import annotations

import numpy as np
import torch

from privsynth.engines.argn.network import ARGN

CHUNK = 8192


def _draw(logits: torch.Tensor, temperature: float, uniforms: np.ndarray) -> np.ndarray:
    probs = torch.softmax(logits.double() / temperature, dim=1).numpy()
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    return (uniforms[:, None] > cdf).sum(axis=1)


def sample_tokens(
    net: ARGN, fixed: np.ndarray, order: list[int], temperature: float, rng: np.random.Generator
) -> np.ndarray:
    """(n, T) tokens with -1 where free -> every token filled. `order` lists the token indices to draw in."""
    out = fixed.copy()
    starts = range(0, len(out), CHUNK)
    seeds = rng.integers(2**63, size=len(starts))  # one stream per chunk: memory stays bounded
    with torch.inference_mode():
        for start, seed in zip(starts, seeds, strict=True):
            rows = torch.from_numpy(out[start : start + CHUNK])
            uniforms = np.random.default_rng(seed).random((len(order), len(rows)))
            known = rows >= 0
            context = torch.where(known[..., None], net.embeddings(rows), net.hidden_token)
            for step, target in enumerate(order):
                free = ~known[:, target]
                if not bool(free.any()):
                    continue
                drawn = torch.from_numpy(_draw(net.head(target, context), temperature, uniforms[step]))
                rows[:, target] = torch.where(free, drawn, rows[:, target])
                known[:, target] = True
                context[:, target] = net.embed(rows[:, target] + net.offsets[target])
            out[start : start + CHUNK] = rows.numpy()
    return out


def sampling_order(fixed: np.ndarray) -> list[int]:
    """Token order for a sample: tokens fixed in every row first (they condition the rest), then the others
    in table order."""
    always = [t for t in range(fixed.shape[1]) if (fixed[:, t] >= 0).all()]
    return always + [t for t in range(fixed.shape[1]) if t not in always]
