"""Replacement values for identifier columns that never equal a real value, and keys that stay unique.

`learn(column, values, k)` runs at fit time and returns a small JSON state holding no real value: layouts
shared by >= k rows and the free namespace each replacement draws from (a prefix no real value starts with,
an e-mail domain or address block no real value uses, a name form no real value has). `draw(column, state,
n, rng)` makes the values at sample time. Because every replacement carries a mark that no real value of the
column carries, none can equal a real value, whatever the seed or the number of rows; replacements of a
column whose real values were all distinct are all distinct too.

| pii kind | replacement | namespace no real value is in |
|---|---|---|
| key (surrogate), text | counters in the shared layouts (`17-900001`) | a free leading character of the counter |
| key (surrogate), integers | start, start + 1, ... | start = the first power of ten above every real key |
| phone, national id, card | digits redrawn in the real layouts (cards: a valid Luhn digit) | a free leading digit |
| email | Faker user names at a reserved domain | a domain no real address uses |
| ip address | addresses in a reserved IPv4 block | a block holding no real address |
| street address | Faker streets | a house-number width and leading digits no real address has |
| person name | Faker names with middle initials | a count of initials no real name has |
"""

from __future__ import annotations

import ipaddress
import math
import re

import numpy as np
import pandas as pd

from privsynth import layouts

DIGIT_KINDS = ("phone", "national_id", "credit_card")
DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "users.example", "synthetic.invalid")
BLOCKS = ("240.0.0.0/4", "198.18.0.0/15", "203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/24")
_INITIAL = re.compile(r"^[A-Z]\.?$")
_HOUSE = re.compile(r"^\s*(\d+)")


def learn(kind: str, policy: str, values: pd.Series, k: int) -> dict:
    """Fit-time state for replacing a column of pii `kind` under `policy` (surrogate or fake)."""
    present = values.dropna()
    texts = present.astype(str).str.strip()
    state: dict = {"unique": bool(len(present) > 1 and present.is_unique)}
    if kind == "key" and pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        biggest = float(np.abs(present.to_numpy(dtype="float64")).max()) if len(present) else 0.0
        state["start"] = 10 ** max(1, math.ceil(math.log10(biggest + 1.5)))
    elif kind == "key" or kind in DIGIT_KINDS:
        state.update(layouts.learn(texts, k, literals=kind == "key"))
    elif kind == "email":
        used = set(texts.str.rsplit("@", n=1).str[-1].str.lower())
        state["domain"] = next((d for d in DOMAINS if d not in used), _free_label(used, "synthetic", ".invalid"))
    elif kind == "ip_address":
        state["block"] = next((b for b in BLOCKS if not _any_in(texts, b)), None)
    elif kind == "street_address":
        state.update(_house_numbers(texts))
    elif kind == "person_name":
        counts = set(texts.map(lambda t: sum(bool(_INITIAL.match(w)) for w in t.split())))
        state["initials"] = next(t for t in range(1, len(counts) + 2) if t not in counts)
    state["marker"] = layouts.marker(texts)
    return state


def _free_label(used: set, stem: str, suffix: str) -> str:
    n = 1
    while f"{stem}{n}{suffix}" in used:
        n += 1
    return f"{stem}{n}{suffix}"


def _any_in(texts: pd.Series, block: str) -> bool:
    network = ipaddress.ip_network(block)
    for text in texts:
        try:
            if ipaddress.ip_address(text) in network:
                return True
        except ValueError:
            continue
    return False


def _house_numbers(texts: pd.Series) -> dict:
    """A house-number width and a two-digit start that no real address's leading number has."""
    numbers = texts.str.extract(_HOUSE, expand=False).dropna()
    for width in (4, 3, 5, 6, 7):
        used = set(numbers[numbers.str.len() == width].str[:2])
        free = [f"{p:02d}" for p in range(99, 9, -1) if f"{p:02d}" not in used]
        if free:
            return {"house_width": width, "house_starts": free[:8]}
    return {"house_width": 8, "house_starts": ["99"]}  # no real number has 8 digits after the widths above


def draw(
    kind: str,
    policy: str,
    state: dict,
    n: int,
    rng: np.random.Generator,
    dtype: str = "object",
    cursor: dict | None = None,
) -> np.ndarray:
    """`n` replacement values; none equals a real value of the column the state was learned from. An empty
    state (differentially private fits, which measure nothing outside their mechanism) gives marker keys,
    or integer keys 1..n for a numeric `dtype`: unchecked against the data, as nothing was measured.

    A `cursor` (one dict per column, kept by the caller across the blocks of one sample: `privsynth.sampling`)
    makes block k continue where block k-1 stopped: integer keys and counters from the rows drawn so far,
    unique draws from a keyed permutation at the running count, unique e-mail addresses tagged `+k`. Values
    that must be distinct then stay distinct across blocks, with memory independent of the rows drawn."""
    at = 0
    if cursor is not None:
        at = cursor.get("rows", 0)
        cursor["rows"] = at + n
    if state.get("layouts") and not isinstance(state["layouts"][0], dict):
        state = {k: v for k, v in state.items() if k != "layouts"}  # a model file from before free namespaces
    if kind == "key" and "start" in state:
        return np.arange(state["start"] + at, state["start"] + at + n)
    numeric = dtype != "object" and pd.api.types.is_numeric_dtype(pd.api.types.pandas_dtype(dtype))
    if kind == "key" and numeric and not state.get("layouts"):
        return np.arange(at + 1, at + n + 1)
    unique = state.get("unique", policy == "surrogate")
    if kind == "key" or kind in DIGIT_KINDS:
        if not state.get("layouts") and kind != "key":
            return np.array(layouts.fallback(state.get("marker", "S"), n, start=at), dtype=object)
        unique = unique or kind == "key"
        if kind == "credit_card" and unique and cursor is not None:
            return _cards(state, n, rng, cursor)
        values = layouts.generate(state, n, rng, unique=unique, sequential=policy == "surrogate", cursor=cursor)
        if kind == "credit_card":
            values = np.array([_luhn(v) for v in values], dtype=object)
            while unique and pd.Series(values).duplicated().any():  # a check digit can make two draws equal
                again = pd.Series(values).duplicated().to_numpy()
                redrawn = layouts.generate(state, int(again.sum()), rng, unique=True, sequential=False)
                values[again] = [_luhn(v) for v in redrawn]
        return values
    faker = _faker(rng)
    if kind == "email":
        domain = state.get("domain", "synthetic.invalid")
        block = cursor.get("blocks", 0) if cursor is not None else 0
        if cursor is not None:
            cursor["blocks"] = block + 1
        tag = f"+{block}" if block else ""  # faker's user names hold no '+': blocks never share an address
        return _distinct([f"{faker.user_name()}{tag}@{domain}" for _ in range(n)], unique, "@" if not tag else "+")
    if kind == "ip_address":
        network = ipaddress.ip_network(state.get("block") or BLOCKS[0])
        room = network.num_addresses - 2
        if state.get("block") is None:
            return np.array(layouts.fallback(state.get("marker", "S"), n, start=at), dtype=object)
        if unique and cursor is not None and at + n <= room:
            picks = layouts.permuted(layouts._key(cursor, 0), room, at + np.arange(n))
        elif unique and cursor is None and n <= room:
            picks = layouts.distinct_integers(rng, room, n)
        else:
            picks = rng.integers(0, room, size=n)
        return np.array([str(network.network_address + 1 + int(p)) for p in picks], dtype=object)
    if kind == "street_address":
        width, starts = state.get("house_width", 8), state.get("house_starts", ["99"])
        numbers = [
            starts[rng.integers(len(starts))] + "".join(map(str, rng.integers(0, 10, width - 2))) for _ in range(n)
        ]
        return np.array([f"{number} {faker.street_name()}" for number in numbers], dtype=object)
    if kind == "person_name":
        initials = state.get("initials", 1)
        letters = "ABCDEFGHJKLMNPRSTW"
        out = []
        for _ in range(n):
            middle = " ".join(f"{letters[rng.integers(len(letters))]}." for _ in range(initials))
            out.append(f"{faker.first_name()} {middle} {faker.last_name()}")
        return np.array(out, dtype=object)
    return np.array(layouts.fallback(state.get("marker", "S"), n, start=at), dtype=object)


def _cards(state: dict, n: int, rng: np.random.Generator, cursor: dict) -> np.ndarray:
    """Unique card numbers for one block of a sample: the check digit is the last variable digit, so the
    namespace is drawn with that digit 0 (index x 10, from the permutation of a tenth of the namespace) and
    then set by Luhn; distinct draws stay distinct, within the block and across blocks."""
    values = layouts.generate(state, n, rng, unique=True, sequential=False, cursor=cursor, step=10)
    return np.array([_luhn(v) for v in values], dtype=object)


def _faker(rng: np.random.Generator):
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(int(rng.integers(0, 2**31 - 1)))
    return fake


def _distinct(values: list[str], unique: bool, at: str) -> np.ndarray:
    """`values`, with each repeat's part before `at` numbered (`ann.lee2@...`) when all must differ."""
    if unique:
        seen: set[str] = set()
        for i, value in enumerate(values):
            head, _, tail = value.partition(at)
            number = 1
            while value in seen:
                number += 1
                value = f"{head}{number}{at}{tail}"
            seen.add(value)
            values[i] = value
    return np.array(values, dtype=object)


def _luhn(value: str) -> str:
    """`value` with its last digit replaced so that its digits pass the Luhn check (as real cards do)."""
    digits = [int(c) for c in value if c.isdigit()]
    if len(digits) < 2:
        return value
    total = 0
    for i, d in enumerate(reversed(digits[:-1])):
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    check = str((10 - total % 10) % 10)
    at = max(i for i, c in enumerate(value) if c.isdigit())
    return value[:at] + check + value[at + 1 :]
