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


def _draw(logits: torch.Tensor, temperature: float, uniforms: np.ndarray) -> torch.Tensor:
    """Inverse-CDF draws from softmax(logits / temperature), one uniform per row: the unnormalised cumulative
    sums of exp((logits - max) / temperature) are searched for u x their total (no division per entry)."""
    if temperature != 1.0:
        logits = logits / temperature
    cdf = (logits - logits.amax(dim=1, keepdim=True)).exp_().cumsum_(dim=1)
    wanted = torch.from_numpy(uniforms.astype(np.float32))[:, None] * cdf[:, -1:]
    drawn = torch.searchsorted(cdf, wanted, right=True)[:, 0]
    return drawn.clamp_(max=cdf.shape[1] - 1)


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
            context = net.start(len(rows))
            for position in range(rows.shape[1]):  # fixed tokens are visible from the start
                if bool(known[:, position].any()):
                    given = known[:, position, None]
                    context += torch.where(given, net.reveal(rows[:, position].clamp(min=0), position), 0.0)
            for step, target in enumerate(order):
                free = ~known[:, target]
                if not bool(free.any()):
                    continue
                drawn = _draw(net.head(target, context), temperature, uniforms[step])
                context += torch.where(free[:, None], net.reveal(drawn, target), 0.0)
                rows[:, target] = torch.where(free, drawn, rows[:, target])
                known[:, target] = True
            out[start : start + CHUNK] = rows.numpy()
    return out


def sampling_order(fixed: np.ndarray) -> list[int]:
    """Token order for a sample: tokens fixed in every row first (they condition the rest), then the others
    in table order."""
    always = [t for t in range(fixed.shape[1]) if (fixed[:, t] >= 0).all()]
    return always + [t for t in range(fixed.shape[1]) if t not in always]
