"""`copula`: a Gaussian copula over the encoded variables, for mixed types.

Each variable is mapped to a standard normal score: z = Phi^-1(u) for continuous uniform scores, and for
discrete codes the distributional transform z = Phi^-1(F(c-1) + v * p(c)), v ~ U(0, 1), which makes a
discrete variable's scores exactly normal. The model is the correlation matrix R of those scores.
The noise of the distributional transform attenuates correlations with discrete variables: for a latent
normal L cut into codes, Cov(z_DT, Y) = rho * v with v = Var(E[L | code]) = sum_c p_c m_c^2, where
m_c = (phi(a_c) - phi(b_c)) / p_c is the mean of L on the code's interval [a_c, b_c]. So R is estimated as
r_ij / (v_i v_j) (v = 1 for continuous variables; first order for two discrete ones), which is the
latent correlation that sampling by thresholds needs (the polyserial correction).
Sampling draws z ~ N(0, R) and maps back (u = Phi(z); a code is the CDF step that u falls in).
Conditioning on fixed variables uses the Gaussian conditional
    z_r | z_f ~ N(R_rf R_ff^-1 z_f, R_rr - R_rf R_ff^-1 R_fr),
with fixed discrete codes given a score drawn uniformly within their CDF step.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.special import ndtr, ndtri

from privsynth.engines.base import code_frequencies, register, with_fixed
from privsynth.transforms.encoder import Encoded

_EPS = 1e-9
_CHUNK = 1 << 17  # rows per sampling chunk: fixed, so output does not depend on the core count


def _cdfs(freqs: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    return [np.concatenate([[0.0], np.cumsum(f)]) if f.size else f for f in freqs]


def normal_scores(
    values: np.ndarray, cardinality: tuple[int, ...], cdfs: list[np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    """z-scores of encoded values (NaN stays NaN). Discrete codes get a uniform draw within their step."""
    z = np.empty(values.shape)
    for j, k in enumerate(cardinality):
        col = values[:, j]
        if k == 0:
            u = col
        else:
            ok = ~np.isnan(col)
            codes = np.where(ok, col, 0).astype("int64")
            lo, hi = cdfs[j][codes], cdfs[j][codes + 1]
            u = np.where(ok, lo + rng.random(col.size) * (hi - lo), np.nan)
        z[:, j] = ndtri(np.clip(u, _EPS, 1 - _EPS))
    return z


def explained_variance(freq: np.ndarray) -> float:
    """v = Var(E[L | code]) for a standard normal L cut at the CDF steps of `freq` (1 for continuous)."""
    if freq.size == 0:
        return 1.0
    edges = ndtri(np.clip(np.concatenate([[0.0], np.cumsum(freq)]), 0, 1))
    dens = np.exp(-0.5 * np.nan_to_num(edges, posinf=np.inf, neginf=-np.inf) ** 2) / np.sqrt(2 * np.pi)
    dens[~np.isfinite(edges)] = 0.0
    present = freq > 0
    means = np.zeros_like(freq)
    means[present] = (dens[:-1] - dens[1:])[present] / freq[present]
    return float(max(np.sum(freq * means**2), 1e-3))


def correlation(z: np.ndarray, attenuation: np.ndarray | None = None) -> np.ndarray:
    """Latent correlation of normal scores: Pearson r_ij / (a_i a_j) with a = `attenuation`, clipped,
    made positive definite and rounded to 12 decimals so that the stored matrix does not depend on the
    BLAS thread count."""
    m = z.shape[1]
    if m == 0:
        return np.empty((0, 0))
    centred = z - z.mean(axis=0)
    sd = centred.std(axis=0)
    sd[sd == 0] = 1.0
    centred /= sd
    corr = (centred.T @ centred) / z.shape[0]
    if attenuation is not None:
        corr = np.clip(corr / np.outer(attenuation, attenuation), -0.995, 0.995)
    np.fill_diagonal(corr, 1.0)
    vals, vecs = np.linalg.eigh((corr + corr.T) / 2)
    vals = np.clip(vals, 1e-6, None)
    corr = (vecs * vals) @ vecs.T
    d = np.sqrt(np.diag(corr))
    corr = corr / np.outer(d, d)
    return np.round(corr, 12)


@dataclass(frozen=True)
class FittedCopula:
    names: tuple[str, ...]
    cardinality: tuple[int, ...]
    frequencies: tuple[np.ndarray, ...]
    corr: np.ndarray

    def sample(self, n: int, rng: np.random.Generator, fixed: Encoded | None = None) -> Encoded:
        m = len(self.names)
        cdfs = _cdfs(self.frequencies)
        out = np.empty((n, m), order="F")  # column-major: decoding reads whole columns
        if fixed is None or not (~np.isnan(fixed.values)).any():
            self._unconditional(out, rng, cdfs)
        else:
            out[:] = self._to_encoded(ndtr(self._conditional(n, rng, fixed, cdfs)), cdfs)
        return Encoded(self.names, self.cardinality, with_fixed(out, fixed))

    def _unconditional(self, out: np.ndarray, rng: np.random.Generator, cdfs) -> None:
        """Fill `out` with z ~ N(0, R) mapped to encoded values, in fixed-size chunks of rows with one
        generator each (spawned from `rng`), run on the available cores. The chunking does not depend
        on the core count, so the result is the same on any machine."""
        n, m = out.shape
        chol = np.linalg.cholesky(self.corr) if m else np.empty((0, 0))
        seeds = np.random.SeedSequence(int(rng.integers(2**63))).spawn(max(1, -(-n // _CHUNK)))

        def chunk(i: int) -> None:
            lo, hi = i * _CHUNK, min(n, (i + 1) * _CHUNK)
            z = np.random.default_rng(seeds[i]).standard_normal((hi - lo, m)) @ chol.T
            out[lo:hi] = self._to_encoded(ndtr(z), cdfs)

        workers = min(len(seeds), os.cpu_count() or 1, 4)
        if workers == 1:
            for i in range(len(seeds)):
                chunk(i)
        else:  # numpy and scipy release the GIL in these loops, so threads use every core
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
                list(pool.map(chunk, range(len(seeds))))  # one BLAS thread each: no oversubscription

    def _to_encoded(self, u: np.ndarray, cdfs) -> np.ndarray:
        """Uniform scores to encoded values: kept for continuous variables, CDF steps for discrete ones."""
        for j, k in enumerate(self.cardinality):
            if k == 0:
                np.clip(u[:, j], _EPS, 1 - _EPS, out=u[:, j])
            else:
                u[:, j] = np.clip(np.searchsorted(cdfs[j], u[:, j], side="right") - 1, 0, k - 1)
        return u

    def _conditional(self, n: int, rng: np.random.Generator, fixed: Encoded, cdfs) -> np.ndarray:
        z_fixed = normal_scores(fixed.values, self.cardinality, cdfs, rng)
        z = np.empty((n, len(self.names)))
        patterns, inverse = np.unique(~np.isnan(fixed.values), axis=0, return_inverse=True)
        for p, pattern in enumerate(patterns):
            rows = np.flatnonzero(inverse.ravel() == p)
            f, r = np.flatnonzero(pattern), np.flatnonzero(~pattern)
            z[np.ix_(rows, f)] = z_fixed[np.ix_(rows, f)]
            if r.size == 0:
                continue
            if f.size == 0:
                z[np.ix_(rows, r)] = (
                    rng.standard_normal((rows.size, r.size)) @ np.linalg.cholesky(self.corr[np.ix_(r, r)]).T
                )
                continue
            gain = np.linalg.solve(self.corr[np.ix_(f, f)], self.corr[np.ix_(f, r)])
            cov = self.corr[np.ix_(r, r)] - self.corr[np.ix_(r, f)] @ gain
            chol = np.linalg.cholesky((cov + cov.T) / 2 + 1e-9 * np.eye(r.size))
            z[np.ix_(rows, r)] = z_fixed[np.ix_(rows, f)] @ gain + rng.standard_normal((rows.size, r.size)) @ chol.T
        return z

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        arrays = {f"freq/{j}": f for j, f in enumerate(self.frequencies) if f.size}
        arrays["corr"] = self.corr
        return {"names": list(self.names), "cardinality": list(self.cardinality)}, arrays

    @classmethod
    def from_state(cls, params: dict, arrays: dict[str, np.ndarray]) -> FittedCopula:
        freqs = tuple(arrays.get(f"freq/{j}", np.empty(0)) for j in range(len(params["names"])))
        return cls(tuple(params["names"]), tuple(params["cardinality"]), freqs, arrays["corr"])


@register
@dataclass(frozen=True, kw_only=True)
class Copula:
    name: ClassVar[str] = "copula"
    fitted: ClassVar[type] = FittedCopula

    def fit(self, data: Encoded, rng: np.random.Generator) -> FittedCopula:
        freqs = tuple(
            code_frequencies(data.values[:, j], k) if k else np.empty(0) for j, k in enumerate(data.cardinality)
        )
        z = normal_scores(data.values, data.cardinality, _cdfs(freqs), rng)
        attenuation = np.array([explained_variance(f) for f in freqs])
        return FittedCopula(data.names, data.cardinality, freqs, correlation(z, attenuation))
