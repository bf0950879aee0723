"""Manifests on models and outputs: what they record, content-addressed ids, same seed same bytes, and the
checks that find an edited file or manifest."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import privsynth as ps
from privsynth import io
from privsynth.fingerprint import fingerprint
from privsynth.governance import manifest as manifests
from privsynth.governance.output import check_file, id_matches, read_manifest
from tests.conftest import mixed_frame


@pytest.fixture(scope="module")
def model():
    return ps.fit(mixed_frame(400), "copula", seed=0)


def test_model_manifest_records_lineage_versions_and_no_values(model):
    m = model.manifest
    assert m["kind"] == "model" and m["id"].startswith("mdl-") and id_matches(m)
    assert m["parents"] == [{"id": manifests.source_id(m["source"]), "role": "source", "kind": "source"}]
    assert m["source"] == fingerprint(mixed_frame(400))
    assert m["author"] and m["operation"] == {"command": "fit"}
    assert m["versions"]["numpy"] == np.__version__ and m["versions"]["pandas"] == pd.__version__
    assert m["schema_sha256"] == manifests.schema_sha256(model.schema)
    assert m["privacy"]["guarantee"].startswith("none: no formal privacy guarantee")
    text = json.dumps(m)
    assert "retail" not in text and "premium" not in text  # no raw values, not even categories


def test_ids_are_content_addresses(model, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    a = ps.fit(mixed_frame(400), "copula", seed=0).manifest["id"]
    assert ps.fit(mixed_frame(400), "copula", seed=0).manifest["id"] == a
    assert ps.fit(mixed_frame(400), "copula", seed=1).manifest["id"] != a
    with manifests.pinned(author="alice"):
        assert ps.fit(mixed_frame(400), "copula", seed=0).manifest["id"] != a
    edited = {**model.manifest, "seed": 99}
    assert not id_matches(edited)


def test_same_seed_same_bytes_with_manifest(model, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    paths = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        for suffix in (".parquet", ".csv"):
            path = tmp_path / f"{name}{suffix}"
            ps.write(model.sample(300, seed=seed), path)
            paths.append(path)
    a_pq, a_csv, b_pq, b_csv, c_pq, _ = paths
    assert a_pq.read_bytes() == b_pq.read_bytes() and a_csv.read_bytes() == b_csv.read_bytes()
    assert (tmp_path / "a.csv.manifest.json").read_bytes() == (tmp_path / "b.csv.manifest.json").read_bytes()
    assert read_manifest(c_pq)["id"] != read_manifest(a_pq)["id"]


def test_parquet_metadata_marks_synthetic_and_records_the_sample(model, tmp_path):
    path = tmp_path / "s.parquet"
    frame = model.sample(200, seed=5, conditions={"segment": "retail", "age": ps.Range(30, 50)})
    ps.write(frame, path)
    metadata = pq.read_schema(path).metadata
    assert metadata[b"privsynth.synthetic"] == b"true"
    m = json.loads(metadata[b"privsynth.manifest"])
    assert m == read_manifest(path) and m["kind"] == "synthetic" and id_matches(m)
    assert m["parents"] == [{"id": model.manifest["id"], "role": "model", "kind": "model"}]
    params = m["operation"]["params"]
    assert params["rows"] == 200 and params["seed"] == 5 and params["conditions"]["segment"] == "retail"
    assert params["conditions"]["age"] == {"range": {"low": 30, "high": 50, "low_strict": False, "high_strict": False}}
    assert m["content"] == fingerprint(frame) and m["engine"]["name"] == "copula"
    assert "reproducible" not in params
    per_row = model.sample(3, seed=1, conditions=pd.DataFrame({"segment": ["retail", "business", "retail"]}))
    ps.write(per_row, tmp_path / "rows.parquet")
    assert read_manifest(tmp_path / "rows.parquet")["operation"]["params"]["reproducible"] is False


def test_checks_find_edited_files_and_manifests(model, tmp_path):
    frame = model.sample(100, seed=0)
    csv, parquet = tmp_path / "s.csv", tmp_path / "s.parquet"
    ps.write(frame, csv)
    ps.write(frame, parquet)
    assert check_file(csv) == [] and check_file(parquet) == []
    csv.write_text(csv.read_text().replace("retail", "premium", 1))
    assert any("bytes do not match" in p for p in check_file(csv))
    edited = frame.copy()
    edited.loc[0, "age"] = 200
    meta = pq.read_schema(parquet).metadata
    # keep the manifest, change a value
    pq.write_table(pa.Table.from_pandas(edited, preserve_index=False).replace_schema_metadata(meta), parquet)
    assert any("rows do not match" in p for p in check_file(parquet))
    sidecar = tmp_path / "s.csv.manifest.json"
    body = json.loads(sidecar.read_text())
    body["author"] = "mallory"
    sidecar.write_text(json.dumps(body))
    assert any("manifest was edited" in p for p in check_file(csv))


def test_dp_model_withholds_its_source_and_differs_per_fit(tmp_path):
    schema = tmp_path / "public.yaml"
    schema.write_text(
        "columns:\n"
        "  - {name: segment, kind: categorical, categories: [retail, business, premium]}\n"
        "  - {name: age, kind: integer, min: 18, max: 90}\n"
    )
    frame = mixed_frame(400)[["segment", "age"]]
    a = ps.fit(frame, "mst", schema=schema, seed=0, epsilon=1.0, ledger=False).manifest
    b = ps.fit(frame, "mst", schema=schema, seed=0, epsilon=1.0, ledger=False).manifest
    assert a["parents"] == [] and a["source"]["sha256"] is None
    assert a["id"] != b["id"] and id_matches(a)  # same settings, different noise: never the same id
    assert fingerprint(frame)["sha256"][:20] not in json.dumps(a)
    assert "mbi" in a["versions"] and "jax" in a["versions"]


frames = st.integers(1, 60).flatmap(
    lambda n: st.fixed_dictionaries(
        {
            "i": st.lists(st.integers(-(2**40), 2**40), min_size=n, max_size=n),
            "f": st.lists(st.floats(allow_nan=True, allow_infinity=False, width=64), min_size=n, max_size=n),
            "s": st.lists(st.one_of(st.none(), st.text(max_size=6)), min_size=n, max_size=n),
            "b": st.lists(st.booleans(), min_size=n, max_size=n),
            "t": st.lists(
                st.datetimes(min_value=dt.datetime(1700, 1, 1), max_value=dt.datetime(2200, 1, 1)),
                min_size=n,
                max_size=n,
            ),
        }
    )
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames)
def test_parquet_content_fingerprint_survives_the_round_trip(tmp_path, columns):
    """`verify` recomputes a Parquet output's fingerprint from the file as read: it must equal the one
    recorded at write time for every column type, or intact files would be reported as edited."""
    frame = pd.DataFrame(columns)
    frame["t"] = pd.to_datetime(frame["t"])
    origin = {"kind": "synthetic", "operation": {"command": "test"}, "parents": []}
    path = tmp_path / "x.parquet"
    _, manifest = ps.write(frame, path, origin=origin)
    assert manifest["content"] == fingerprint(io.read(path))
    assert check_file(path) == []


def test_per_row_conditions_of_any_shape_are_marked_not_reproducible(model):
    """Arrays, lists longer than a manifest holds, and mappings of them are fingerprinted, never recorded."""
    from privsynth.governance.recipes import plain_params

    n = 1500
    recorded = plain_params({"conditions": {"segment": np.array(["retail"] * n, dtype=object)}, "rows": n})
    assert recorded["reproducible"] is False and recorded["rows"] == n
    assert len(recorded["conditions"]["sha256"]) == 64
    frame = model.sample(n, seed=0, conditions={"segment": np.array(["retail"] * n, dtype=object)})
    assert frame.attrs["privsynth_origin"]["operation"]["params"]["reproducible"] is False


def test_a_model_file_from_before_ids_still_loads_samples_and_writes(model, tmp_path):
    import zipfile

    old, new = tmp_path / "old.psm", tmp_path / "again.psm"
    model.save(new)
    with zipfile.ZipFile(new) as src, zipfile.ZipFile(old, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "manifest.json":
                legacy = json.loads(data)
                for key in ("id", "kind", "author", "schema_sha256", "parents", "operation", "versions"):
                    legacy.pop(key)
                legacy.pop("manifest_sha256")  # format 1: no checksum over the manifest
                legacy["format_version"] = 1
                data = json.dumps(legacy).encode()
            dst.writestr(name, data)
    loaded = ps.load(old)
    assert loaded.manifest["id"].startswith("mdl-") and id_matches(loaded.manifest)
    _, manifest = ps.write(loaded.sample(50, seed=0), tmp_path / "s.parquet")
    assert manifest["parents"][0]["id"] == loaded.manifest["id"]


def test_card_lists_constraints_replaced_identifiers_and_a_missing_evaluation(tmp_path):
    from privsynth.governance.card import card_context, render

    frame = mixed_frame(300).assign(customer_email=[f"user{i}@example.org" for i in range(300)])
    schema = tmp_path / "schema.yaml"
    schema.write_text(
        "constraints:\n  - {type: inequality, low: age, high: score}\n  - {type: range, column: age, min: 18}\n"
    )
    fitted = ps.fit(frame, "copula", seed=0, schema=schema)
    text = render(card_context(fitted.manifest, None, fitted, purpose="churn model tests"), "md")
    assert "churn model tests" in text and "No evaluation is recorded" in text
    assert "Constraint applied to every row (inequality): score >= age." in text
    assert "Constraint applied to every row (range): 18" in text
    assert "Column customer_email: replaced by fake values" in text
