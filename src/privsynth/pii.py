"""Direct identifiers: detect them, and make replacements that carry nothing of the real values.

A column flagged here is never shown to an encoder or engine unless the user sets `policy: keep`.
Policies: `fake` (format-preserving fakes), `surrogate` (fresh keys in the real keys' layout), `drop` (column
left out of the output), `keep` (learned like any other column: the user's choice). The replacement values,
which never equal a real value, are made by `privsynth.replacements`.
"""

from __future__ import annotations

import ipaddress
import re

import numpy as np
import pandas as pd

POLICIES = ("keep", "fake", "surrogate", "drop")
PII_KINDS = (
    "email",
    "phone",
    "person_name",
    "national_id",
    "credit_card",
    "ip_address",
    "street_address",
    "key",
)

_EMAIL = re.compile(r"^[\w.+'-]+@[\w-]+(\.[\w-]+)+$")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,20}(\s*(x|ext\.?)\s*\d{1,6})?$", re.IGNORECASE)
_PHONE_LAYOUT = re.compile(
    r"^\+|[\s()-]|^\d{2,4}\.\d{2,4}\.\d{2,4}$"
)  # a phone written for people has a +, a space, brackets or dashes
_ZIP4 = re.compile(r"^\d{5}-\d{4}$")  # a US ZIP+4 postal code, never a phone
_COUNTER = re.compile(r"^(.*[^0-9])?([0-9]+)([^0-9]*)$")
_SSN = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_CARD = re.compile(r"^\d{4}([ -]?\d{4}){2}[ -]?\d{1,7}$")
_SUFFIXES = (
    "alley|annex|arcade|avenue|ave|bayou|beach|bend|bluffs?|bottom|boulevard|blvd|branch|bridge|brooks?|burgs?|"
    "bypass|camp|canyon|cape|causeway|centers?|circles?|cir|cliffs?|club|commons?|corners?|course|courts?|ct|"
    "coves?|creek|crescent|crest|crossing|curve|dale|dam|divide|drives?|dr|estates?|expressway|extensions?|"
    "falls?|ferry|fields?|flats?|fords?|forest|forges?|forks?|fort|freeway|gardens?|gateway|glens?|greens?|"
    "groves?|harbors?|haven|heights|highway|hwy|hills?|hollow|inlet|islands?|isle|junctions?|keys?|knolls?|"
    "lakes?|land|landing|lane|ln|lights?|loaf|locks?|lodge|loop|mall|manors?|meadows?|mews|mills?|mission|"
    "motorway|mount|mountains?|neck|orchard|oval|overpass|parks?|parkways?|pkwy|pass|passage|path|pike|pines?|"
    "place|pl|plains?|plaza|points?|ports?|prairie|radial|ramp|ranch|rapids?|rest|ridges?|river|roads?|rd|route|"
    "row|rue|run|shoals?|shores?|skyway|springs?|spurs?|squares?|sq|station|stravenue|stream|streets?|st|summit|"
    "terrace|throughway|trace|track|trafficway|trail|trailer|tunnel|turnpike|underpass|unions?|valleys?|via|"
    "viaduct|views?|villages?|ville|vista|walks?|wall|ways?|wells?"
)
_STREET = re.compile(rf"^\d+[A-Za-z]?\s+([\w.'-]+\s+){{0,4}}({_SUFFIXES})\b\.?", re.IGNORECASE)
_PERSON_WORDS = re.compile(r"^[A-Z][a-zA-Z'.-]+( [A-Z][a-zA-Z'.-]+){0,3}$")
_NAME_HINTS = {
    "email": re.compile(r"e_?mail", re.I),
    "phone": re.compile(r"(phone|mobile|cell|tel(ephone)?|fax)", re.I),
    "person_name": re.compile(
        r"^((first|last|full|sur|given|family|middle|maiden|customer|patient|person|user|employee|contact)"
        r"[ _]?)?name$|^(surname|forename|firstname|lastname)$",
        re.I,
    ),
    "national_id": re.compile(r"(ssn|social_?security|national_?id|passport|tax_?id|nino|sin$)", re.I),
    "credit_card": re.compile(r"(card_?(number|no|num)|credit_?card|^pan$|^cc_?num)", re.I),
    "ip_address": re.compile(r"(^ip$|ip_?addr|ipv[46])", re.I),
    "street_address": re.compile(r"(street|address|addr)", re.I),
}
KEY_NAME = re.compile(r"(^id$|_id$|^id_|uuid|guid|^key$|_key$|rownames|^index$|^row_?(id|num|number)$)", re.I)


def _luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _share(texts: pd.Series, test) -> float:
    return float(np.mean([bool(test(t)) for t in texts])) if len(texts) else 0.0


def detect(name: str, values: pd.Series, sample: int = 500) -> tuple[str, str] | None:
    """(pii kind, reason) when a text column holds direct identifiers, by content and name; else None.

    Content rules need 90% of up to `sample` non-null values to match; person names also need a
    name-like column name, because capitalised words alone (cities, brands) are not names.
    """
    texts = values.dropna()
    texts = texts.iloc[:: max(1, len(texts) // sample)][:sample].astype(str).str.strip()  # sample first
    texts = texts[texts != ""]
    if texts.empty:
        return None
    checks = (
        ("email", lambda t: _EMAIL.match(t)),
        ("national_id", lambda t: _SSN.match(t)),
        ("credit_card", lambda t: _CARD.match(t) and _luhn_ok(re.sub(r"\D", "", t))),
        ("ip_address", _is_ip),
        ("street_address", lambda t: _STREET.match(t)),
        (
            "phone",
            lambda t: (
                _PHONE.match(t)
                and not _ZIP4.match(t)
                and 7 <= len(re.sub(r"\D", "", re.sub(r"(?i)(x|ext\.?)\s*\d+$", "", t))) <= 15
                and (_PHONE_LAYOUT.search(t) or _NAME_HINTS["phone"].search(name))
            ),
        ),
    )
    for kind, test in checks:
        share = _share(texts, test)
        if share >= 0.9:
            return kind, f"{share:.0%} of sampled values look like {kind.replace('_', ' ')}"
    named = _NAME_HINTS["person_name"].search(name) and _share(texts, _PERSON_WORDS.match) >= 0.9
    if named and texts.nunique() >= min(20, len(texts)) * 0.5:
        return "person_name", "column name and capitalised-word values suggest person names"
    return None


WEAK_KINDS = ("phone", "national_id")  # digit layouts: a key can look like one; a column name decides


def named(kind: str, name: str) -> bool:
    """True when the column name says it holds `kind` (e.g. `mobile` for phone, `ssn` for national id)."""
    hint = _NAME_HINTS.get(kind)
    return bool(hint and hint.search(name))


def counter_share(texts: pd.Series, least: int = 20, spread: int = 10) -> float:
    """Share of the distinct values `texts` that are counters: values that differ only in their last digit
    run, in groups of >= `least` whose numbers span at most `spread` times their count (`17-000007`,
    `17-000008`, ...). Phone numbers and national ids spread their digits over their whole range."""
    parts = texts.astype(str).str.extract(_COUNTER)
    found = parts[1].notna()
    if not found.any():
        return 0.0
    parts = parts[found]
    numbers = parts[1].str[-15:].astype("int64")
    groups = numbers.groupby([parts[0].fillna(""), parts[2], parts[1].str.len()])
    stats = groups.agg(["min", "max", "nunique"])
    dense = stats[(stats["nunique"] >= least) & (stats["max"] - stats["min"] + 1 <= spread * stats["nunique"])]
    return float(dense["nunique"].sum() / len(texts))
