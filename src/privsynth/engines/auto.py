"""`engine="auto"`, the default: `argn` when enough of its training fits the time budget, else `copula`.

Why: on real tables the copula breaks relationships users check first (a category that is a function of
another, conditional shares); argn keeps them (benchmarks/RESULTS.md, "Which engine by default"). argn
costs seconds to minutes where the copula costs a second, so auto estimates argn's epoch time from the
encoded table's shape (`argn.train.epoch_seconds`, for a 2-core machine at rest) and takes argn when
`MIN_EPOCHS` epochs fit the budget (`max_time`, default `BUDGET`); argn then trains under that limit. The
choice is a function of the data's shape and the parameters only, never of a clock, so the same data and
seed give the same model on every machine; a slower machine reaches the limit sooner and says so.
"""

from __future__ import annotations

import math

from privsynth.engines.argn import Argn
from privsynth.errors import ParameterError
from privsynth.transforms.encoder import Encoded

NAME = "auto"
BUDGET = 600.0  # seconds: argn's own default max_time
MIN_EPOCHS = 10  # argn learns most of a table's dependence in its first epochs; fewer is a gamble
START_SECONDS = 5.0  # importing torch and warming its kernels up
PARAMS = ("max_time", "max_epochs")


def check_params(params: dict) -> None:
    """auto takes the time limit and the epoch limit (argn's; ignored when the copula is chosen)."""
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise ParameterError(
            f"engine 'auto' has no parameter {', '.join(map(repr, unknown))} (it takes max_time and max_epochs; "
            "name an engine, e.g. engine='argn', for its other parameters, or a DP engine for epsilon)"
        )
    try:
        Argn(**{k: v for k, v in params.items() if v is not None})  # the same checks as argn's own
    except ValueError as exc:
        raise ParameterError(f"engine 'auto': {exc}") from None


def choose(data: Encoded, params: dict) -> tuple[str, dict, dict]:
    """(engine name, its parameters, the record of why) for a fit of `data` with auto's `params`."""
    check_params(params)
    budget = params.get("max_time", BUDGET)
    budget = math.inf if budget is None else float(budget)  # max_time=None: no limit, so argn
    max_epochs = params.get("max_epochs") or Argn.max_epochs
    per_epoch = Argn().epoch_seconds(data)
    needed = min(MIN_EPOCHS, max_epochs)
    estimate = START_SECONDS + needed * per_epoch
    record = {
        "params": dict(params),  # what auto was given: a refit (privsynth reproduce) chooses again from them
        "budget_seconds": None if budget == math.inf else budget,
        "argn_epoch_seconds_estimate": round(per_epoch, 3),
        "min_epochs": needed,
    }
    if estimate <= budget:
        argn_params = {
            "max_time": params.get("max_time", BUDGET),
            **{k: params[k] for k in ("max_epochs",) if k in params},
        }
        epochs = max_epochs if budget == math.inf else min(max_epochs, int((budget - START_SECONDS) / per_epoch))
        reason = (
            f"argn: about {per_epoch:.2g} s per epoch on a 2-core machine, so {needed} epochs fit the {budget:g} s "
            f"budget (up to {epochs:,} epochs; it stops earlier when the validation loss stops falling)"
        )
        return "argn", argn_params, {**record, "chosen": "argn", "reason": reason}
    reason = (
        f"copula: argn would need about {per_epoch:.2g} s per epoch on a 2-core machine, {estimate:.0f} s for "
        f"start-up and {needed} epochs, over the {budget:g} s budget; the copula fits in seconds but keeps only "
        "pairwise correlations (raise max_time / --max-time for argn)"
    )
    return "copula", {}, {**record, "chosen": "copula", "reason": reason}
