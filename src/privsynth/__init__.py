"""privsynth: privacy-protected synthetic twins of sensitive tables.

import privsynth as ps
model = ps.fit(df, engine="copula", seed=0)
synthetic = model.sample(1000, seed=0)
model.save("model.psm"); model = ps.load("model.psm")
"""

__version__ = "0.1.0"

from privsynth.augment.conditions import Range
from privsynth.augment.perturb import perturb
from privsynth.augment.rebalance import augment
from privsynth.augment.simulate import simulate
from privsynth.errors import PrivsynthError
from privsynth.evaluate.run import evaluate
from privsynth.model import Model, fit, load
from privsynth.schema import Schema

__all__ = [
    "Model",
    "PrivsynthError",
    "Range",
    "Schema",
    "__version__",
    "augment",
    "evaluate",
    "fit",
    "load",
    "perturb",
    "simulate",
]
