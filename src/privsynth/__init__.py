"""privsynth: privacy-protected synthetic twins of sensitive tables.

import privsynth as ps
model = ps.fit(df, engine="copula", seed=0)
synthetic = model.sample(1000, seed=0)
model.save("model.psm"); model = ps.load("model.psm")
histories = ps.fit_sequences(events, entity="card_id", time="ts").sample(500, seed=0)
ps.write(synthetic, "synthetic.parquet")   # with its manifest (lineage, seed, versions) in the file
"""

__version__ = "0.1.0"

from privsynth.augment.conditions import Range
from privsynth.augment.perturb import perturb
from privsynth.augment.rebalance import augment
from privsynth.augment.simulate import simulate
from privsynth.errors import PrivsynthError
from privsynth.evaluate.run import evaluate
from privsynth.governance.catalog import Catalog
from privsynth.governance.output import read_manifest, write
from privsynth.governance.reproduce import reproduce
from privsynth.governance.tracking import log_to_mlflow
from privsynth.model import Model, fit, load
from privsynth.schema import Schema
from privsynth.sequence import SequenceModel, fit_sequences

__all__ = [
    "Catalog",
    "Model",
    "PrivsynthError",
    "Range",
    "Schema",
    "SequenceModel",
    "__version__",
    "augment",
    "evaluate",
    "fit",
    "fit_sequences",
    "load",
    "log_to_mlflow",
    "perturb",
    "read_manifest",
    "reproduce",
    "simulate",
    "write",
]
