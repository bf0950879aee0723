"""The privacy accountant: every mechanism's spend, composed in Rényi DP and converted to (epsilon, delta).

Mechanisms are described by their Rényi-DP curve eps(alpha): a rho-zCDP mechanism (the Gaussian mechanism
with L2 sensitivity s and noise scale sigma has rho = s^2 / (2 sigma^2); the exponential mechanism with
epsilon e has rho = e^2 / 8, Cesar & Rogers 2021) has eps(alpha) = rho * alpha; DP-SGD (Opacus) gives its
curve at a grid of orders. Curves add under composition. The total converts to (epsilon, delta)-DP with
the bound of Canonne, Kamath & Steinke (2020, Prop. 12), also used by Opacus (Balle et al. 2020):

    epsilon(delta) = min over alpha > 1 of
        eps(alpha) + log((alpha - 1) / alpha) - (log(delta) + log(alpha)) / (alpha - 1)

minimised continuously over alpha when every spend is zCDP (what OpenDP's zCDP -> approx-DP map computes),
else over the orders where the curves are known. The record lists each spend (mechanism, what it measured,
its rho or curve) and never the noise.

A thresholded release (a category is published only when its noisy count passes a threshold) is
delta-approximately rho-zCDP (Bun & Steinke 2016, Def. 8.1): rho-zCDP except on an event of probability at
most delta_approx (a category only one person holds getting through). Such spends carry `delta_approx`;
deltas add under composition, and the total converts at delta minus their sum:
(epsilon_of_rho(sum rho, delta - sum delta_approx), delta)-DP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq, minimize_scalar

# Opacus' default orders, widened: where DP-SGD curves are evaluated
ORDERS: tuple[float, ...] = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(11, 64)) + [128, 256, 512])


def epsilon_of_curve(curve: np.ndarray, orders: np.ndarray, delta: float) -> float:
    """Smallest epsilon such that the Rényi curve `curve` at `orders` gives (epsilon, delta)-DP."""
    orders = np.asarray(orders, dtype=np.float64)
    eps = curve + np.log1p(-1.0 / orders) - (math.log(delta) + np.log(orders)) / (orders - 1)
    return float(max(np.nanmin(eps), 0.0))


def epsilon_of_rho(rho: float, delta: float) -> float:
    """Smallest epsilon such that rho-zCDP gives (epsilon, delta)-DP (the bound above, continuous alpha)."""
    if rho <= 0:
        return 0.0

    def bound(log_excess: float) -> float:
        alpha = 1.0 + math.exp(log_excess)
        return rho * alpha + math.log1p(-1.0 / alpha) - (math.log(delta) + math.log(alpha)) / (alpha - 1)

    # the optimum is near alpha = 1 + sqrt(log(1/delta) / rho); search log(alpha - 1) around it
    centre = 0.5 * math.log(max(math.log(1 / delta), 1e-12) / rho)
    best = minimize_scalar(bound, bounds=(centre - 12, centre + 12), method="bounded", options={"xatol": 1e-10})
    return float(max(best.fun, 0.0))


def rho_for(epsilon: float, delta: float) -> float:
    """Largest rho whose (epsilon, delta) conversion is at most `epsilon` (a budget's zCDP equivalent)."""
    if not epsilon > 0 or not 0 < delta < 1:
        raise ValueError("epsilon must be positive and delta in (0, 1)")
    high = epsilon
    while epsilon_of_rho(high, delta) < epsilon:
        high *= 2
    root = brentq(lambda r: epsilon_of_rho(r, delta) - epsilon, 1e-15, high, xtol=1e-14, rtol=1e-12)
    return root * (1 - 1e-9)  # the root's own rounding must not take the total over epsilon


def gaussian_rho(sigma: float, sensitivity: float = 1.0) -> float:
    """zCDP of the Gaussian mechanism: rho = sensitivity^2 / (2 sigma^2)."""
    return sensitivity**2 / (2.0 * sigma**2)


def exponential_rho(epsilon: float) -> float:
    """zCDP of the exponential mechanism run with privacy parameter epsilon: rho = epsilon^2 / 8."""
    return epsilon**2 / 8.0


def curve_of_record(record: dict) -> np.ndarray | None:
    """The Rényi curve at ORDERS of a privacy record's DP-SGD spends (rebuilt from their noise multiplier,
    sample rate and steps with Opacus), or None when every spend is zCDP (its rho_spent says it all)."""
    sgd = [s for s in record.get("spends", []) if s.get("renyi_curve")]
    if not sgd:
        return None
    from opacus.accountants.analysis.rdp import compute_rdp

    curves = [
        compute_rdp(q=s["sample_rate"], noise_multiplier=s["noise_multiplier"], steps=s["steps"], orders=list(ORDERS))
        for s in sgd
    ]
    return np.sum(np.asarray(curves, dtype=np.float64), axis=0)


@dataclass
class Accountant:
    """Records spends and reports the composed (epsilon, delta). `budget` is the (epsilon, delta) the fit
    was allowed; `rho_budget` its zCDP equivalent, which zCDP mechanisms split among themselves."""

    epsilon: float
    delta: float
    spends: list[dict] = field(default_factory=list)
    curves: list[np.ndarray] = field(default_factory=list)  # DP-SGD curves at ORDERS

    @property
    def delta_approx(self) -> float:
        """The delta already taken by thresholded releases (see the module doc)."""
        return float(sum(s.get("delta_approx", 0.0) for s in self.spends))

    @property
    def rho_budget(self) -> float:
        """The budget in zCDP, at the delta left once thresholded releases have taken theirs."""
        return rho_for(self.epsilon, self.delta - self.delta_approx)

    @property
    def rho_spent(self) -> float:
        return float(sum(s.get("rho", 0.0) for s in self.spends))

    @property
    def rho_left(self) -> float:
        """What a zCDP mechanism may still spend (the whole budget before anything was spent)."""
        return max(self.rho_budget - self.rho_spent, 0.0)

    def spend_rho(self, mechanism: str, what: str, rho: float, **details) -> None:
        """Record a rho-zCDP mechanism (Gaussian measurement, exponential-mechanism selection)."""
        if rho < 0 or not math.isfinite(rho):
            raise ValueError(f"invalid rho {rho}")
        self.spends.append({"mechanism": mechanism, "what": what, "rho": float(rho), **details})

    def spend_curve(self, mechanism: str, what: str, curve: np.ndarray, **details) -> None:
        """Record a mechanism by its Rényi curve at ORDERS (e.g. DP-SGD from Opacus)."""
        curve = np.asarray(curve, dtype=np.float64)
        if curve.shape != (len(ORDERS),):
            raise ValueError("a Rényi curve must be given at accountant.ORDERS")
        self.curves.append(curve)
        self.spends.append({"mechanism": mechanism, "what": what, "renyi_curve": True, **details})

    def spent(self, curve: np.ndarray | None = None) -> float:
        """The composed epsilon at this accountant's delta (with `curve`, a Rényi curve at ORDERS, added: what a
        planned DP-SGD run would bring the total to)."""
        curves = self.curves + ([np.asarray(curve, dtype=np.float64)] if curve is not None else [])
        delta = self.delta - self.delta_approx
        if not delta > 0:
            return math.inf
        if not curves:
            return epsilon_of_rho(self.rho_spent, delta)
        orders = np.asarray(ORDERS)
        return epsilon_of_curve(self.rho_spent * orders + np.sum(curves, axis=0), orders, delta)

    def check(self) -> None:
        """Raise when the spends exceed the budget (a bug in the engine, never the user's fault)."""
        used = self.spent()
        if used > self.epsilon * (1 + 1e-6):
            raise RuntimeError(f"privacy accounting error: spent epsilon {used:.6f} > budget {self.epsilon}")

    def record(self) -> dict:
        """What the manifest keeps: the budget, each spend with its share, the composed total."""
        budget = self.rho_budget
        spends = [
            {**s, **({"share": round(s["rho"] / budget, 6)} if "rho" in s and budget > 0 else {})} for s in self.spends
        ]
        return {
            "definition": "(epsilon, delta)-differential privacy, add/remove-one record neighbours",
            "accounting": "zero-concentrated / Renyi DP, converted with Canonne-Kamath-Steinke 2020",
            "epsilon_budget": self.epsilon,
            "delta": self.delta,
            "rho_budget": budget,
            "rho_spent": self.rho_spent,
            **({"delta_approx": self.delta_approx} if self.delta_approx else {}),
            "epsilon_spent": self.spent(),
            "spends": spends,
        }
