"""The any-order autoregressive network: one small MLP head per token, each predicting its token from the
tokens visible to it.

Every token t has an embedding table E_t (dim `dim`); a context position k that the target may not see holds
a learned "hidden" vector H_k instead of E_k(x_k). The head of target t reads the concatenation of all T
context positions, x = [E_k(x_k) if visible else H_k]_k (T * dim numbers), and computes
    logits_t = W2_t gelu(W1_t x + b1_t) + b2_t
over its own vocabulary (padded to the largest, padding masked to -inf). Training draws a random order of
the variables for every row: target t sees exactly the tokens before it in that order, so one pass trains
every target under a different context and the model learns p(x_t | any subset): what conditional
sampling needs.
"""

from __future__ import annotations

import torch
from torch import nn


class ARGN(nn.Module):
    def __init__(self, vocab: list[int], dim: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        tokens, widest = len(vocab), max(vocab)
        self.tokens, self.dim = tokens, dim
        offsets = torch.tensor([0, *vocab[:-1]], dtype=torch.long).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)
        pad = torch.arange(widest)[None, :] >= torch.tensor(vocab)[:, None]
        self.register_buffer("padding", pad, persistent=False)
        self.embed = nn.Embedding(int(sum(vocab)), dim)
        self.hidden_token = nn.Parameter(torch.zeros(tokens, dim))
        width = tokens * dim
        self.w1 = nn.Parameter(torch.randn(tokens, width, hidden) / width**0.5)
        self.b1 = nn.Parameter(torch.zeros(tokens, hidden))
        self.w2 = nn.Parameter(torch.randn(tokens, hidden, widest) / hidden**0.5 * 0.1)
        self.b2 = nn.Parameter(torch.zeros(tokens, widest))
        self.dropout = nn.Dropout(dropout)
        nn.init.normal_(self.embed.weight, std=0.5)
        nn.init.normal_(self.hidden_token, std=0.5)

    def embeddings(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) tokens (-1 allowed where unknown) -> (B, T, dim) embeddings (unknown ones arbitrary)."""
        return self.embed(tokens.clamp(min=0) + self.offsets)

    def forward(self, tokens: torch.Tensor, rank: torch.Tensor) -> torch.Tensor:
        """Training pass: `rank` (B, T) is each token's place in the row's order; target t sees the tokens of
        lower rank. Returns (B, T, widest) logits, padding at -inf."""
        visible = rank[:, None, :] < rank[:, :, None]  # [b, target, context]
        context = torch.where(visible[..., None], self.embeddings(tokens)[:, None], self.hidden_token)
        x = context.flatten(2).transpose(0, 1)  # (T, B, T * dim)
        h = self.dropout(nn.functional.gelu(torch.baddbmm(self.b1[:, None, :], x, self.w1)))
        logits = torch.baddbmm(self.b2[:, None, :], h, self.w2).transpose(0, 1)
        return logits.masked_fill(self.padding, float("-inf"))

    def head(self, target: int, context: torch.Tensor) -> torch.Tensor:
        """Sampling step: (B, T, dim) context (hidden vectors already in place) -> (B, vocab of target) logits."""
        x = context.flatten(1)
        h = nn.functional.gelu(torch.addmm(self.b1[target], x, self.w1[target]))
        logits = torch.addmm(self.b2[target], h, self.w2[target])
        return logits[:, : int((~self.padding[target]).sum())]
