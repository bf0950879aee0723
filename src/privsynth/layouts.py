"""Layouts of identifier values, and fresh values in them that can never equal a real one.

A layout is what many values share: `17-000007` and `17-041536` share `17-` (a run shared by >= k rows is
kept as written) and six variable digits; `(206) 555-0143` shares brackets, a space and a dash around ten
variable digits. Only layouts used by >= k rows are learned, with their row counts; per-row values never
are. Each layout also gets a *free prefix*: leading variable characters that no real value of that layout
starts with (e.g. counters 000001-041536 never start with 9). Every generated value of the layout starts its
variable characters with a free prefix, so it cannot equal a real value: a disjoint namespace, checked at
fit time, that stores only which prefixes are unused. Values that fit no learned layout come from a marker
namespace (`S000001`...) chosen at fit time so that no real value has its form.
"""

from __future__ import annotations

import re
import string

import numpy as np
import pandas as pd

_RUN = re.compile(r"[0-9]+|[A-Z]+|[a-z]+|[^0-9A-Za-z]+")
ALPHABETS = {"9": string.digits, "A": string.ascii_uppercase, "a": string.ascii_lowercase}
LITERAL_SHARE = 0.9  # a run position is literal when its frequent values cover this share of the layout's rows
MAX_PREFIX_SPACE = 1_000_000  # longest free prefix searched: the one whose alphabet product stays below this
MAX_FREE = 16  # free prefixes kept per layout
MARKERS = ("S", "SK", "SYN", "X", "Z", "Q")


def _class(run: str) -> str:
    return "9" if "0" <= run[0] <= "9" else "A" if "A" <= run[0] <= "Z" else "a" if "a" <= run[0] <= "z" else ""


def _runs(values: pd.Series) -> pd.DataFrame:
    """One row per value: its runs of digits, upper-case letters, lower-case letters and other characters."""
    return pd.DataFrame([_RUN.findall(v) for v in values], index=values.index)


def _mask(runs: list[str]) -> str:
    """The layout's shape: variable classes repeated to their width, other characters as written."""
    return "".join(_class(r) * len(r) if _class(r) else r for r in runs)


def learn(values: pd.Series, k: int, literals: bool = True) -> dict:
    """The layouts of `values` used by >= k rows (literal runs only if `literals` and shared by >= k rows),
    each with its row count and free prefixes, plus the marker of the fallback namespace."""
    texts = values.dropna().astype(str)
    layouts = []
    if len(texts):
        masks = texts.map(lambda v: _mask(_RUN.findall(v)))
        for mask, rows in texts.groupby(masks, sort=True):
            if len(rows) < k:
                continue
            layouts.extend(_layouts_of(rows, mask, k, literals))
    return {"layouts": layouts, "marker": marker(texts)}


def _layouts_of(rows: pd.Series, mask: str, k: int, literals: bool) -> list[dict]:
    runs = _runs(rows)
    classed = [j for j in runs.columns if _class(runs[j].iloc[0])]
    counter = max(classed, key=lambda j: runs[j].nunique()) if classed else None  # always drawn afresh
    literal = []
    for j in runs.columns:
        counts = runs[j].value_counts()
        frequent = counts[counts >= k]
        if j not in classed or (literals and j != counter and frequent.sum() >= LITERAL_SHARE * len(rows)):
            literal.append(j)
    variable = [j for j in runs.columns if j not in literal]
    if not variable:
        return []  # every run as written: the values themselves, nothing fresh to draw
    out = []
    groups = runs.groupby(literal, sort=True) if literal else [((), runs)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        if len(group) < k:
            continue
        parts, fixed = [], dict(zip(literal, key, strict=True))
        for j in runs.columns:
            run = group[j].iloc[0]
            parts.append(["lit", fixed[j]] if j in fixed else [_class(run), len(run)])
        alphabet = "".join(cls * width for cls, width in parts if cls != "lit")
        chars = (
            group[variable[0]].str.cat([group[j] for j in variable[1:]]) if len(variable) > 1 else group[variable[0]]
        )
        free = free_prefixes(chars, alphabet)
        if free:
            out.append({"parts": parts, "rows": len(group), "free": free})
    return out


def free_prefixes(chars: pd.Series, alphabet: str) -> list[str]:
    """Prefixes of the shortest length that some prefix of `alphabet` (class per position) is unused by
    `chars`; the largest MAX_FREE of them (e.g. counters starting 0 leave 9, 8, ...). Empty if none."""
    space = 1
    for length in range(1, len(alphabet) + 1):
        space *= len(ALPHABETS[alphabet[length - 1]])
        if space > MAX_PREFIX_SPACE:
            return []
        used = set(chars.str[:length])
        if len(used) < space:
            free = []
            for index in range(space - 1, -1, -1):
                prefix = _spell(index, alphabet[:length])
                if prefix not in used:
                    free.append(prefix)
                    if len(free) == MAX_FREE:
                        break
            return free
    return []


def _spell(index: int, classes: str) -> str:
    """The `index`-th string over the per-position alphabets of `classes` (mixed radix, last digit fastest)."""
    out = []
    for cls in reversed(classes):
        letters = ALPHABETS[cls]
        index, rest = divmod(index, len(letters))
        out.append(letters[rest])
    return "".join(reversed(out))


def marker(texts: pd.Series) -> str:
    """A prefix M such that no value of `texts` is M followed by digits only: fallback keys `M000001` are
    then never real values."""
    for length in range(1, 100):
        for base in MARKERS:
            candidate = base * length
            if not texts.str.fullmatch(rf"{re.escape(candidate)}\d+").any():
                return candidate
    raise AssertionError("unreachable: a finite column cannot hold every marker")


def capacity(layout: dict) -> int:
    """How many distinct values the layout's free namespace holds."""
    classes = "".join(cls * width for cls, width in layout["parts"] if cls != "lit")
    rest = classes[len(layout["free"][0]) :]
    return len(layout["free"]) * int(np.prod([len(ALPHABETS[c]) for c in rest], dtype=object))


def generate(
    state: dict,
    n: int,
    rng: np.random.Generator,
    *,
    unique: bool,
    sequential: bool,
    cursor: dict | None = None,
    step: int = 1,
) -> np.ndarray:
    """`n` values in the learned layouts (in proportion to their rows), never equal to a real value.

    `sequential` numbers each layout's values 1, 2, ... within its free namespace (surrogate keys); otherwise
    they are drawn at random, without repeats when `unique`. Values beyond a layout's namespace, or all of
    them when no layout was learned, are fallback keys in the marker namespace. A `cursor` (a dict kept by
    the caller across calls, see `privsynth.sampling`) continues the numbering where the previous call left
    it, so the values of consecutive blocks of one sample stay distinct: unique draws are then a keyed
    permutation of the namespace (`permuted`) taken at the layout's running count, not a fresh draw. With
    `step` (unique draws with a cursor), only every step-th index is used: card numbers keep their last
    digit free for the check digit, so setting it cannot make two distinct draws equal."""
    layouts = state.get("layouts") or []
    out = np.empty(n, dtype=object)
    if n == 0:
        return out
    spill = np.arange(n)
    if layouts:
        weights = np.array([lay["rows"] for lay in layouts], dtype="float64")
        which = rng.choice(len(layouts), size=n, p=weights / weights.sum())
        counts = cursor.setdefault("counts", [0] * len(layouts)) if cursor is not None else [0] * len(layouts)
        spill = []
        for i, layout in enumerate(layouts):
            rows = np.flatnonzero(which == i)
            room = capacity(layout)
            stepped = step if step > 1 and unique and cursor is not None and _tail(layout) else 1
            room //= stepped
            if unique or sequential:
                left = max(room - counts[i], 0)
                spill.extend(rows[left:])
                rows = rows[:left]
            if sequential:
                indices = (counts[i] + np.arange(1, len(rows) + 1)) % room
            elif unique and cursor is not None:
                indices = permuted(_key(cursor, i), room, counts[i] + np.arange(len(rows))) * stepped
            elif unique:
                indices = distinct_integers(rng, room, len(rows))
            else:
                indices = rng.integers(0, min(room, 2**62), size=len(rows))
            counts[i] += len(rows)
            if len(rows):
                out[rows] = _values(layout, indices)
        spill = np.asarray(spill, dtype=int)
    start = cursor.get("fallback", 0) if cursor is not None else 0
    taken = set(out[out != None])  # noqa: E711
    out[spill] = fallback(state.get("marker", MARKERS[0]), len(spill), taken=taken, start=start)
    if cursor is not None:
        cursor["fallback"] = start + len(spill) + len(taken)  # past every number this call could have used
    return out


def _tail(layout: dict) -> str:
    """The layout's variable characters after its free prefix (drawn in mixed radix)."""
    classes = "".join(cls * width for cls, width in layout["parts"] if cls != "lit")
    return classes[len(layout["free"][0]) :]


def _key(cursor: dict, part: int) -> np.ndarray:
    """Round keys of the permutation for one part (layout) of a column, from the cursor's entropy."""
    return np.random.SeedSequence(cursor.get("entropy", 0), spawn_key=(part,)).generate_state(ROUNDS, np.uint64)


ROUNDS = 6


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a fast, well-spread 64-bit mixing function (uint64 arithmetic wraps)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def permuted(keys: np.ndarray, room: int, indices: np.ndarray) -> np.ndarray:
    """The images of `indices` (distinct integers in [0, room)) under a keyed bijection of [0, room): a
    balanced Feistel network over the smallest even number of bits that holds `room`, cycle-walked back into
    [0, room). Distinct indices give distinct images, with memory in len(indices), whatever `room`
    (up to 2**62): so block k of a sample can take indices counted from where block k-1 stopped."""
    indices = np.asarray(indices, dtype=np.uint64)
    if room <= 1:
        return np.zeros(len(indices), dtype="int64")
    half = max(1, (int(room - 1).bit_length() + 1) // 2)
    mask = np.uint64((1 << half) - 1)
    shift = np.uint64(half)

    def encrypt(x: np.ndarray) -> np.ndarray:
        left, right = x >> shift, x & mask
        for key in keys:
            left, right = right, left ^ (_mix(right ^ key) & mask)
        return (left << shift) | right

    with np.errstate(over="ignore"):
        out = encrypt(indices)
        outside = out >= np.uint64(room)
        while outside.any():  # cycle-walking: a permutation of the bigger square restricted to [0, room)
            out[outside] = encrypt(out[outside])
            outside = out >= np.uint64(room)
    return out.astype("int64")


def distinct_integers(rng: np.random.Generator, room: int, size: int) -> np.ndarray:
    """`size` distinct integers in [0, room), uniformly; memory in `size`, not `room`."""
    if room <= max(1_000_000, 10 * size):
        return rng.permutation(room)[:size]
    top = min(room, 2**62)
    drawn = np.unique(rng.integers(0, top, size=size + 16))
    while len(drawn) < size:
        drawn = np.unique(np.concatenate([drawn, rng.integers(0, top, size=size)]))
    return rng.permutation(drawn)[:size]


def _values(layout: dict, indices: np.ndarray) -> np.ndarray:
    """The `indices`-th values of the layout's free namespace: a free prefix (index // rest's size), then the
    rest in mixed radix (index % rest's size), poured into the layout's runs; vectorised over rows."""
    free = layout["free"]
    classes = "".join(cls * width for cls, width in layout["parts"] if cls != "lit")
    tail = classes[len(free[0]) :]
    tail_space = int(np.prod([len(ALPHABETS[c]) for c in tail], dtype=object))
    indices = np.asarray(indices, dtype="int64")
    if tail_space > 2**62:  # indices stay below 2**62: the first free prefix holds them all
        which, rest = np.zeros_like(indices), indices
    else:
        which, rest = np.divmod(indices, tail_space)
    positions = [np.array([p[j] for p in free])[which % len(free)] for j in range(len(free[0]))]
    digits = []
    for cls in reversed(tail):
        letters = np.array(list(ALPHABETS[cls]))
        rest, at = np.divmod(rest, len(letters))
        digits.append(letters[at])
    positions += digits[::-1]
    out, at = np.full(len(indices), "", dtype=object), 0
    for cls, payload in layout["parts"]:
        if cls == "lit":
            out = out + payload
        else:
            for column in positions[at : at + payload]:
                out = out + column.astype(object)
            at += payload
    return out


def fallback(mark: str, n: int, width: int = 6, taken: set | None = None, start: int = 0) -> list[str]:
    """`n` distinct keys `<mark>000001`, ... (never real: see `marker`), skipping any in `taken`; numbered
    from `start` + 1 (a later block of one sample continues where the previous one stopped)."""
    taken = taken or set()
    digits = max(width, len(str(start + n + len(taken))))
    out, k = [], start
    while len(out) < n:
        k += 1
        key = f"{mark}{k:0{digits}d}"
        if key not in taken:
            out.append(key)
    return out
