"""Regex constraints run on RE2 (linear time), because a model file is untrusted: `(a+)+` on a 27-character
value made `sample -n 50` run 99 s with Python's backtracking engine (issue 22)."""

from __future__ import annotations

import json
import re
import signal
import zipfile
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import privsynth as ps
from privsynth.augment.constraints import Regex, compiled_pattern, violations
from privsynth.errors import ParameterError, PrivsynthError
from privsynth.schema import SchemaFile

EVIL = ["(a+)+", "(a|a)+", "(a*)*b", "(a|aa)+", "((a+)+)+c"]


@contextmanager
def work_bound(seconds: int):
    """Fail (instead of hanging for hours) if the block has not finished after `seconds`: a bound on the
    work, generous enough for a loaded machine (the work below takes milliseconds with RE2)."""

    def stop(*_):
        raise TimeoutError(f"still matching after {seconds} s: the regex engine backtracks")

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("pattern", EVIL)
def test_nested_quantifiers_on_long_values_are_linear(pattern):
    values = pd.DataFrame({"code": ["a" * n + "!" for n in range(27, 60)] * 30})  # 990 rows, 33 distinct
    rule = Regex(type="regex", column="code", pattern=pattern)
    with work_bound(30):  # Python's re needs about 2**40 steps for the 40-character values alone
        bad = violations(values, [rule], {"code": "categorical"}, {})
    assert bad[rule.describe()].all()


def test_sampling_from_a_model_with_an_evil_pattern_finishes():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"code": rng.choice(["a" * 27 + "!", "a" * 28 + "?", "a" * 30 + "#"], 300), "x": rng.normal(0, 1, 300)}
    )
    model = ps.fit(
        frame,
        engine="independent",
        seed=0,
        schema=SchemaFile(constraints=[{"type": "regex", "column": "code", "pattern": "(a+)+"}]),
    )
    with work_bound(60), pytest.raises(ParameterError, match=r"cannot satisfy .code matches"):
        model.sample(50, seed=0)  # every draw breaks the rule: 215,000 values matched, then a clear error


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", "escape"),
        (r"(?=a)a", "perl operator"),
        (r"(?<=a)b", "perl operator"),
        (r"(?!a)b", "perl operator"),
        (r"(?<!a)b", "perl operator"),
        ("a{1001}", "repetition"),
        ("(", "missing"),
        ("a" * 1_001, "at most 1,000"),
    ],
)
def test_patterns_re2_cannot_run_are_refused_at_validation(pattern, reason):
    with pytest.raises(ValueError, match=reason):
        Regex(type="regex", column="code", pattern=pattern)
    with pytest.raises(ValueError, match="constraints"):
        SchemaFile(constraints=[{"type": "regex", "column": "code", "pattern": pattern}])


def test_the_cli_names_the_constraint_in_one_line(tmp_path, run_cli):
    data = tmp_path / "d.csv"
    pd.DataFrame({"code": ["ab", "cd"] * 30, "x": np.arange(60.0)}).to_csv(data, index=False)
    schema = tmp_path / "schema.yaml"
    schema.write_text(yaml.safe_dump({"constraints": [{"type": "regex", "column": "code", "pattern": r"(.)\1"}]}))
    done = run_cli("fit", "--engine", "independent", data, "-o", tmp_path / "m.psm", "--schema", schema)
    assert done.code == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "constraints" in done.stderr and "backreferences" in done.stderr
    assert not (tmp_path / "m.psm").exists()


def test_a_crafted_model_file_with_a_lookaround_pattern_is_refused_at_load(tmp_path):
    from privsynth import modelfile

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"code": rng.choice(["AB-1", "CD-2"], 200), "x": rng.normal(0, 1, 200)})
    schema = SchemaFile(constraints=[{"type": "regex", "column": "code", "pattern": "[A-Z]{2}-[0-9]"}])
    ps.fit(frame, engine="independent", seed=0, schema=schema).save(tmp_path / "m.psm")
    with zipfile.ZipFile(tmp_path / "m.psm") as zf:
        blobs = {n: zf.read(n) for n in zf.namelist() if n != "manifest.json"}
        manifest = json.loads(zf.read("manifest.json"))
    body = json.loads(blobs["model.json"])
    body["schema"]["constraints"][0]["pattern"] = "(?=[A-Z])(.)\\1"
    blobs["model.json"] = json.dumps(body).encode()
    manifest.pop("contents", None)
    (tmp_path / "crafted.psm").write_bytes(modelfile.pack(manifest, blobs))
    with pytest.raises(PrivsynthError, match="linear time"):
        ps.load(tmp_path / "crafted.psm")


SAFE = st.sampled_from(["[A-Z]{2}-[0-9]+", "a+b*", "(ab|cd)+", "x?[0-9]{1,3}", "[a-c]*z", r"\d+(\.\d+)?"])


@settings(max_examples=60, deadline=None)
@given(SAFE, st.lists(st.text(alphabet="abcdxzAB-0123.", max_size=12), min_size=1, max_size=30))
def test_re2_agrees_with_python_re_on_patterns_both_run(pattern, texts):
    """For the patterns both engines accept (no backtracking-only features), the verdict is the same."""
    frame = pd.DataFrame({"code": texts})
    rule = Regex(type="regex", column="code", pattern=pattern)
    got = violations(frame, [rule], {"code": "categorical"}, {}).get(rule.describe(), np.zeros(len(texts), bool))
    want = [re.fullmatch(pattern, t) is None for t in texts]
    assert got.tolist() == want
    assert compiled_pattern(pattern) is compiled_pattern(pattern)  # compiled once, cached


def test_nulls_satisfy_a_regex_constraint():
    frame = pd.DataFrame({"code": ["AB", None, "zz", np.nan]})
    rule = Regex(type="regex", column="code", pattern="[A-Z]+")
    assert violations(frame, [rule], {"code": "categorical"}, {})[rule.describe()].tolist() == [
        False,
        False,
        True,
        False,
    ]
