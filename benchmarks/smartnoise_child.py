"""Run SmartNoise's MST or AIM once (in SmartNoise's own virtualenv): bench_dp.py's peer child.

Input: one JSON argument (train parquet, engine, epsilon, delta, rows, bins, public domain per column).
Output: the synthetic rows as parquet, and {"fit_seconds": ...} on stdout. The public domain is given to
SmartNoise's transformers (bounds for BinTransformer, categories through LabelTransformer), so no budget
is spent on preprocessing, as on privsynth's side.
"""

import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")

import pandas as pd  # noqa: E402
from snsynth import Synthesizer  # noqa: E402
from snsynth.transform import BinTransformer, LabelTransformer, TableTransformer  # noqa: E402

spec = json.loads(sys.argv[1])
frame = pd.read_parquet(spec["train"])
transformers = []
for name in frame.columns:
    column = spec["columns"][name]
    if column["kind"] in ("numeric", "integer"):
        transformers.append(BinTransformer(bins=spec["bins"], lower=column["min"], upper=column["max"], nullable=False))
    else:
        transformers.append(LabelTransformer(nullable=False))
started = time.perf_counter()
synthesizer = Synthesizer.create(spec["engine"], epsilon=spec["epsilon"], delta=spec["delta"])
synthesizer.fit(frame, transformer=TableTransformer(transformers), preprocessor_eps=0.0)
fit_seconds = time.perf_counter() - started
out = synthesizer.sample(spec["rows"])
for name, column in spec["columns"].items():  # SmartNoise decodes bins to their centres: integers rounded back
    if column["kind"] == "integer":
        out[name] = out[name].round().astype("int64")
out.to_parquet(spec["out"])
print(json.dumps({"fit_seconds": fit_seconds}))
