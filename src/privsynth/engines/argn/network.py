"""The any-order autoregressive network: one small MLP head per token, each predicting its token from the
tokens visible to it.

Every token t has an embedding table E_t and every position k a learned "hidden" vector H_k (width `dim`).
What target t sees is summarised as one vector, the sum over positions of E_k(x_k) where k is visible and
H_k where it is not:
    c = sum_k H_k + sum_{k visible} (E_k(x_k) - H_k)
(the embeddings are per position, so the sum still says which column holds which value; it is a linear
projection of the visible one-hot tokens, like the first layer of a concatenating network, at a cost of
O(columns) instead of O(columns^2)). The head of target t computes
    logits_t = W2_t gelu(W1_t c + b1_t) + b2_t
over exactly its own vocabulary. Training draws an order of the variables for every row (a random set of
them first, the rest in table order: see train.random_ranks): target t sees exactly the tokens before it in
that order, so one pass trains every target under a different context and the model learns p(x_t | any given
set + the columns before t): what conditional sampling needs. Sampling keeps c as a running sum,
so each drawn token costs one head evaluation and one vector addition.
"""

from __future__ import annotations

import torch
from torch import nn


class ARGN(nn.Module):
    def __init__(self, vocab: list[int], dim: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        tokens = len(vocab)
        self.tokens, self.dim = tokens, dim
        offsets = torch.tensor([0, *vocab[:-1]], dtype=torch.long).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)
        self.embed = nn.Embedding(int(sum(vocab)), dim)
        self.hidden_token = nn.Parameter(torch.zeros(tokens, dim))
        self.w1 = nn.Parameter(torch.randn(tokens, dim, hidden) / dim**0.5)
        self.b1 = nn.Parameter(torch.zeros(tokens, hidden))
        self.out = nn.ModuleList(nn.Linear(hidden, size) for size in vocab)
        self.p_drop = dropout
        scale = 1.0 / tokens**0.5  # a sum of `tokens` vectors stays of unit size
        nn.init.normal_(self.embed.weight, std=scale)
        nn.init.normal_(self.hidden_token, std=scale)
        for layer in self.out:
            nn.init.normal_(layer.weight, std=0.1 / hidden**0.5)
            nn.init.zeros_(layer.bias)

    def embeddings(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) tokens (-1 allowed where unknown) -> (B, T, dim) embeddings (unknown ones arbitrary)."""
        return self.embed(tokens.clamp(min=0) + self.offsets)

    def start(self, rows: int) -> torch.Tensor:
        """The context of a row with nothing visible: (rows, dim)."""
        return self.hidden_token.sum(0).expand(rows, -1).clone()

    def reveal(self, tokens: torch.Tensor, position: int) -> torch.Tensor:
        """What revealing `tokens` (B,) at `position` adds to the context: E(x) - H."""
        return self.embed(tokens + self.offsets[position]) - self.hidden_token[position]

    def forward(self, tokens: torch.Tensor, rank: torch.Tensor) -> list[torch.Tensor]:
        """Training pass: `rank` (B, T) is each token's place in the row's order; target t sees the tokens of
        lower rank. Returns every target's (B, vocab_t) logits."""
        visible = (rank[:, None, :] < rank[:, :, None]).to(self.embed.weight.dtype)  # [b, target, context]
        delta = self.embeddings(tokens) - self.hidden_token  # (B, T, dim)
        context = torch.bmm(visible, delta) + self.hidden_token.sum(0)  # (B, T, dim)
        h = nn.functional.gelu(torch.baddbmm(self.b1[:, None, :], context.transpose(0, 1), self.w1))  # (T, B, hidden)
        if self.training and self.p_drop > 0:  # one dropout mask per row shared by the heads: T times fewer draws
            h = h * (torch.rand(1, *h.shape[1:]) >= self.p_drop).to(h.dtype) / (1 - self.p_drop)
        # unbind, not h[t]: each indexing's backward would allocate and fill a zero gradient of all of h
        return [layer(h_t) for h_t, layer in zip(h.unbind(0), self.out, strict=True)]

    def head(self, target: int, context: torch.Tensor) -> torch.Tensor:
        """Sampling step: (B, dim) context -> (B, vocab of target) logits."""
        h = nn.functional.gelu(torch.addmm(self.b1[target], context, self.w1[target]))
        return self.out[target](h)
