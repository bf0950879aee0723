"""A public schema template: the file a data custodian fills in from public knowledge for a DP fit.

`privsynth describe DATA --public-template FILE` writes each column's name and inferred kind, and nothing
measured from the values: no min/max, no categories, no null rates, no date formats, no row count. Comments
say what each kind needs for a DP fit (bounds, categories, nullable) and that every fact in the file must be
public: a kind read off the data is a suggestion the custodian checks against a codebook, not a public fact.
What is left out can be measured under DP instead with `--metadata-epsilon`.
"""

from __future__ import annotations

import pandas as pd
import yaml

from privsynth.errors import SchemaError
from privsynth.schema import Settings, infer_column, text_names

_NEEDS = {
    "numeric": ["min:          # public lower bound (e.g. from the codebook)", "max:          # public upper bound"],
    "integer": ["min:          # public lower bound (e.g. from the codebook)", "max:          # public upper bound"],
    "datetime": [
        "min:          # public earliest date, ISO 8601 (e.g. 2000-01-01)",
        "max:          # public latest date, ISO 8601",
        "datetime_format:  # how the values are written, e.g. '%Y-%m-%d'",
    ],
    "categorical": ["categories: []   # the public list of its values"],
    "boolean": [],
}
_HEADER = """\
# Public schema template for {source} ({columns} columns): names and kinds only, no values from the data.
# A differentially private fit (engines mst, aim, argn with --epsilon) takes every fact in this file as
# public knowledge, so before using it:
#  - check each kind against public documentation (a data dictionary, a codebook): the kinds below were
#    read off the data and are suggestions until you vouch for them;
#  - fill in what the comments under each column ask for, from public sources only (never from the data);
#  - nullable: true where a column may be empty, false where it never is;
#  - whatever you leave out can be measured under DP instead, at a cost in budget:
#    privsynth fit DATA --engine mst --epsilon E --schema THIS_FILE --metadata-epsilon EM
columns:
"""


def public_template(frame: pd.DataFrame, source: str) -> str:
    """The template's YAML text (see the module doc)."""
    frame = text_names(frame)
    lines = [_HEADER.format(source=source, columns=frame.shape[1])]
    settings = Settings()
    for name in frame.columns:
        lines.append(f"- name: {_scalar(name)}\n")
        try:
            kind = infer_column(name, frame[name], settings).kind
        except SchemaError as exc:
            lines.append(f"  # kind: ?     # could not be inferred ({exc.problems[0][:80]}); state it\n")
            continue
        if kind == "empty":
            lines.append("  kind: constant\n  value: null  # every value was empty here: check it is so in public\n")
            continue
        if kind == "constant":
            lines.append("  kind: constant\n  # value:     # the public single value of this column\n")
            continue
        lines.append(f"  kind: {kind}\n")
        if kind == "text":
            lines.append("  policy: drop  # free text cannot be synthesised under DP\n")
        elif kind == "identifier":
            lines.append("  # policy: surrogate  # fresh keys (or fake: realistic fakes; drop: leave it out)\n")
        else:
            lines += [f"  # {need}\n" for need in _NEEDS[kind]]
            lines.append("  # nullable:   # true if it may be empty\n")
    return "".join(lines)


def _scalar(name: str) -> str:
    """A column name as a YAML scalar (quoted when it needs to be)."""
    return yaml.safe_dump(name, default_style=None).removesuffix("\n...\n").strip()
