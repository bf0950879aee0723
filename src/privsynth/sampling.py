"""Sampling in blocks: any number of rows with memory bounded by one block, the same rows however they are
consumed (in memory, or streamed to a file in pieces).

The blocks are part of the algorithm, not a buffer size: a sample of n rows is always the blocks of
`BLOCK_ROWS` rows (the last one shorter), block k drawn with its own generators from the user's seed
(`block_rngs`: block 0 from the seed's first children, as a one-block sample always was; block k >= 1 from
the child (4, k) of the same `SeedSequence`). So `Model.sample(n)` and `Model.sample_to(path, n)` give the
same rows for the same model, seed and n, and so does reading them back whatever the writer's chunking.

What must hold across blocks does: surrogate keys, fallback keys and integer keys continue from the previous
block's count, unique fake identifiers are taken from a keyed permutation at their running count
(`replacements.draw` with one cursor per column); range conditions and row-wise constraints are met per block.
Options judged on the whole table (a `unique` constraint, `rebalance`'s exact shares) sample the n rows as one
block, as before, after checking that they fit in memory.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from privsynth.errors import ParameterError
from privsynth.governance.output import ORIGIN

if TYPE_CHECKING:
    from privsynth.model import Model

BLOCK_ROWS = 50_000
MEMORY_SHARE = 0.5  # a whole-table sample may take at most this share of the memory available now
WORKING_COPIES = 4  # a whole-table sample holds a few copies of its rows at its peak (engine, decoded, joined)


def block_sizes(n: int) -> list[int]:
    """The rows of each block of an n-row sample (BLOCK_ROWS each, the last one shorter)."""
    full, rest = divmod(n, BLOCK_ROWS)
    return [BLOCK_ROWS] * full + ([rest] if rest else [])


def block_rngs(seed: int, block: int) -> list[np.random.Generator]:
    """The four generators of one block (engine, decode, unlearned columns, conditions)."""
    root = np.random.SeedSequence(seed) if block == 0 else np.random.SeedSequence(seed, spawn_key=(4, block))
    return [np.random.default_rng(s) for s in root.spawn(4)]


def cursors(model: Model, seed: int) -> dict[str, dict]:
    """One cursor per unlearned column, carried across the blocks (see `replacements.draw`)."""
    out = {}
    for j, column in enumerate(model.schema.columns):
        if not column.learned and column.policy != "drop":
            entropy = int(np.random.SeedSequence(seed, spawn_key=(5, j)).generate_state(1, np.uint32)[0])
            out[column.name] = {"entropy": entropy}
    return out


def whole_table_reason(model: Model, rebalance) -> str | None:
    """Why these options need all n rows at once (None when they can be sampled in blocks)."""
    unique = [c for c in model.schema.constraints if c.type == "unique"]
    if unique:
        return f"the constraint {unique[0].describe()} is judged over the whole table"
    if rebalance:
        return "rebalance sets exact shares over the whole table"
    return None


@dataclasses.dataclass
class Blocks:
    """A planned sample: its rows come from `frames()`, one block at a time; `origin` is what its output's
    manifest says about it (`frame.attrs[ORIGIN]`), `stats` the redraws so far (`frame.attrs["privsynth"]`)."""

    model: Model
    n: int
    seed: int
    conditions: Any
    ranges: dict
    temperature: float | None
    rebalance: Mapping | None
    fitted: Any
    origin: dict
    stats: dict = dataclasses.field(default_factory=dict)

    @property
    def sizes(self) -> list[int]:
        return [self.n] if whole_table_reason(self.model, self.rebalance) else block_sizes(self.n)

    def frames(self) -> Iterator[pd.DataFrame]:
        """The sample's blocks, in order; each carries the origin in its attrs."""
        from privsynth.augment.enforce import enforce

        model = self.model
        column_cursors = cursors(model, self.seed)
        resolved = model._resolved(self.ranges) if self.ranges else {}
        offset = 0
        for k, size in enumerate(self.sizes):
            engine_rng, decode_rng, extra_rng, cond_rng = block_rngs(self.seed, k)
            conditions = _slice(self.conditions, offset, size)
            if self.rebalance:
                conditions = model._with_rebalance(size, self.seed, self.fitted, conditions, self.rebalance)
            fixed = model._fixed(size, conditions, cond_rng) if conditions is not None else None
            frame = model._draw(size, self.fitted, fixed, engine_rng, decode_rng, extra_rng, column_cursors)
            if resolved or model.schema.constraints:
                frame = enforce(model, frame, self.seed, self.fitted, fixed, resolved, stream=(k,) if k else ())
                _add_stats(self.stats, frame.attrs.pop("privsynth"))
            if offset:
                frame.index = pd.RangeIndex(offset, offset + size)
            frame.attrs[ORIGIN] = self.origin
            offset += size
            yield frame


def _slice(conditions, offset: int, size: int):
    """The conditions of rows offset..offset+size: per-row values sliced, single values as they are."""
    if conditions is None:
        return None
    if isinstance(conditions, pd.DataFrame):
        return conditions.iloc[offset : offset + size].reset_index(drop=True)
    return {k: (v[offset : offset + size] if np.ndim(v) else v) for k, v in conditions.items()}


def check_lengths(conditions, n: int) -> None:
    """Per-row conditions must give one value per row (checked once, before the first block)."""
    if conditions is None:
        return
    lengths = (
        [len(conditions)]
        if isinstance(conditions, pd.DataFrame)
        else [len(v) for v in conditions.values() if np.ndim(v)]
    )
    wrong = [length for length in lengths if length != n]
    if wrong:
        raise ParameterError(f"conditions have {wrong[0]} rows but {n} were asked for")


def _add_stats(total: dict, block: dict) -> None:
    total["rows"] = total.get("rows", 0) + block["rows"]
    total["drawn"] = total.get("drawn", 0) + block["drawn"]
    total["rejection_rate"] = float(1 - total["rows"] / total["drawn"]) if total["drawn"] else 0.0
    rejected = total.setdefault("rejected_by", {})
    for rule, count in block["rejected_by"].items():
        rejected[rule] = rejected.get(rule, 0) + count


def available_memory() -> int | None:
    """Bytes of physical memory available now (Linux), or None where the system does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(blocks: Blocks, what: str) -> None:
    """Refuse, before drawing them, `blocks.n` rows held in memory at once (`what`: why they must be) when
    they would take more than MEMORY_SHARE of the memory available: a rough bound from the column types
    first, and when that is not clearly small, a 1,000-row pilot's bytes per row."""
    if blocks.n <= BLOCK_ROWS:
        return
    columns = [c for c in blocks.model.schema.columns if c.policy != "drop"]
    rough = sum(8 if c.dtype != "object" else 64 for c in columns)
    available = available_memory()
    if available is None or blocks.n * rough * WORKING_COPIES < 0.1 * available:
        return
    pilot_rngs = block_rngs(blocks.seed, 0)[:3]  # the pilot's rows are measured, never used
    pilot = blocks.model._draw(1_000, blocks.fitted, None, *pilot_rngs)
    per_row = float(pilot.memory_usage(deep=True, index=False).sum()) / len(pilot)
    refuse_beyond_memory(blocks.n, per_row, what, available)


def refuse_beyond_memory(rows: int, per_row: float, what: str, available: int | None = None) -> None:
    """Refuse `rows` rows of `per_row` bytes held at once (`what` says why) beyond MEMORY_SHARE of the memory
    available (a few working copies of them counted)."""
    available = available_memory() if available is None else available
    needed = per_row * rows * WORKING_COPIES
    if available is not None and needed > MEMORY_SHARE * available:
        raise ParameterError(
            f"{rows:,} rows cannot be sampled: {what}, so they are held in memory at once, about "
            f"{gib(needed)} where {gib(available)} is available; sample fewer rows"
        )


def gib(size: float) -> str:
    """A byte count for people: '3.2 GiB', '512 MiB'."""
    if size >= 2**30:
        return f"{size / 2**30:,.1f} GiB"
    return f"{size / 2**20:,.0f} MiB"
