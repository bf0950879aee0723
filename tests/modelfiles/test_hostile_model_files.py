"""A model file is untrusted input (issue 22): bounded reading, a checksummed manifest, validation before
anything is built, and only PrivsynthError for whatever a file holds."""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import privsynth as ps
from privsynth import modelfile, modelzip
from privsynth.errors import ModelFileError
from privsynth.governance import manifest as manifests
from tests.conftest import mixed_frame

FAKE_CLAIM = "(0.1, 1e-9)-differentially private"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return ps.fit(mixed_frame(200), "copula", seed=0).save(tmp_path_factory.mktemp("m") / "copula.psm")


def _entries(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _zip(entries: dict[str, bytes], level: int = 6) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _resealed(path, edit_manifest=None, edit_blobs=None) -> bytes:
    """The file with its parts edited and its checksums and id recomputed (what anyone can do)."""
    entries = _entries(path)
    manifest = json.loads(entries.pop("manifest.json"))
    if edit_manifest:
        edit_manifest(manifest)
    if edit_blobs:
        edit_blobs(entries)
    body = {k: v for k, v in manifest.items() if k not in ("id", "contents", "manifest_sha256")}
    return modelfile.pack(manifests.with_id(body), entries)


def test_a_huge_extra_member_is_refused_before_it_is_decompressed(model_path, tmp_path, monkeypatch):
    """Issue 22: a 2 MB model with one extra 2 GiB member took 4.5 GB and 16-22 s to refuse. Here a 64 MiB
    member (deflated to ~64 KB) over a 16 MiB cap: refused from the member list, allocating almost nothing."""
    monkeypatch.setattr(modelzip, "MAX_MEMBER_BYTES", 16 << 20)
    bomb = tmp_path / "bomb.psm"
    bomb.write_bytes(_zip({**_entries(model_path), "arrays/engine/pad.npy": bytes(64 << 20)}, level=9))
    assert bomb.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=r"'arrays/engine/pad.npy' declares 67,108,864 bytes, over"):
            ps.load(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_declared_sizes_are_checked_in_total_and_against_what_deflate_can_produce(model_path, tmp_path, monkeypatch):
    monkeypatch.setattr(modelzip, "MAX_TOTAL_BYTES", 3 << 20)
    many = tmp_path / "many.psm"
    many.write_bytes(_zip({**_entries(model_path), **{f"arrays/engine/pad{i}.npy": bytes(1 << 20) for i in range(4)}}))
    with pytest.raises(ModelFileError, match="more than 3,145,728 bytes in all"):
        ps.load(many)
    # a central directory claiming 2 GiB for a 40-byte member: a forged size, refused without reading it
    forged = tmp_path / "forged.psm"
    forged.write_bytes(_with_declared_size(model_path.read_bytes(), "model.json", 2 << 30))
    with pytest.raises(ModelFileError, match="declares 2,147,483,648 bytes"):
        ps.load(forged)


def test_reading_stops_at_the_declared_size(model_path, tmp_path):
    """A member that inflates to more than its header says is cut off and refused, never read whole."""
    data = _with_declared_size(model_path.read_bytes(), "model.json", 100)
    lying = tmp_path / "lying.psm"
    lying.write_bytes(data)
    with pytest.raises(ModelFileError, match="corrupt"):
        ps.load(lying)


def _with_declared_size(data: bytes, name: str, size: int) -> bytes:
    """The zip with `name`'s uncompressed size in the central directory set to `size`."""
    out = bytearray(data)
    start = out.find(b"PK\x01\x02")
    while start != -1:
        name_len = struct.unpack_from("<H", out, start + 28)[0]
        if out[start + 46 : start + 46 + name_len] == name.encode():
            struct.pack_into("<I", out, start + 24, size)
        start = out.find(b"PK\x01\x02", start + 46)
    return bytes(out)


@pytest.mark.parametrize("reader", ["load", "read_manifest"])
def test_an_edited_privacy_claim_is_refused(model_path, tmp_path, reader):
    """Issue 22: a re-zipped model with its claim changed loaded, sampled, and `describe` printed the claim."""
    entries = _entries(model_path)
    manifest = json.loads(entries["manifest.json"])
    manifest["privacy"] = {"mechanism": "gaussian", "guarantee": FAKE_CLAIM}
    entries["manifest.json"] = json.dumps(manifest).encode()
    edited = tmp_path / "edited.psm"
    edited.write_bytes(_zip(entries))
    with pytest.raises(ModelFileError, match="altered"):
        getattr(modelfile, reader)(edited)


def test_describe_refuses_an_edited_manifest(model_path, tmp_path, run_cli):
    entries = _entries(model_path)
    entries["manifest.json"] = entries["manifest.json"].replace(b"no formal privacy guarantee", FAKE_CLAIM.encode())
    edited = tmp_path / "edited.psm"
    edited.write_bytes(_zip(entries))
    result = run_cli("describe", edited)
    assert result.code == 2 and "altered" in result.stderr and FAKE_CLAIM not in result.stdout + result.stderr


def test_the_checksum_proves_integrity_not_authenticity(model_path, tmp_path):
    """Whoever edits a file can seal it again: the edit then loads (documented in the README)."""
    resealed = tmp_path / "resealed.psm"
    resealed.write_bytes(_resealed(model_path, lambda m: m["privacy"].update(guarantee=FAKE_CLAIM)))
    assert ps.load(resealed).manifest["privacy"]["guarantee"] == FAKE_CLAIM


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(engine="copula"), r"manifest.json: engine"),
        (lambda m: m["engine"].update(name="bogus"), "unknown to this privsynth"),
        (lambda m: m.update(seed="zero"), r"manifest.json: seed"),
    ],
)
def test_a_sealed_manifest_of_the_wrong_shape_is_refused(model_path, tmp_path, edit, message):
    """Issue 22: engine given as a string raised AttributeError."""
    bad = tmp_path / "bad.psm"
    bad.write_bytes(_resealed(model_path, edit))
    with pytest.raises(ModelFileError, match=message):
        ps.load(bad)


def _edit_model_json(edit):
    def apply(entries):
        body = json.loads(entries["model.json"])
        edit(body)
        entries["model.json"] = json.dumps(body).encode()

    return apply


def test_deep_json_is_refused_without_recursion_error(model_path, tmp_path):
    deep = tmp_path / "deep.psm"
    deep.write_bytes(
        _resealed(model_path, edit_blobs=lambda e: e.update({"model.json": b"[" * 200_000 + b"]" * 200_000}))
    )
    with pytest.raises(ModelFileError, match="nests deeper than 64 levels"):
        ps.load(deep)


def test_an_npy_header_claiming_1e11_elements_is_refused_before_allocation(model_path, tmp_path):
    def huge(entries):
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": (10**11,)})
        entries["arrays/engine/corr.npy"] = buffer.getvalue() + bytes(64)

    bad = tmp_path / "huge.psm"
    bad.write_bytes(_resealed(model_path, edit_blobs=huge))
    with pytest.raises(ModelFileError, match="header declares 100,000,000,000 elements"):
        ps.load(bad)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda b: b["engine_state"].update(cardinality=[0, 0, 3, 2, 0, 0, 10**30]), "engine_state|cardinality"),
        (lambda b: b["engine_state"].update(names="age"), "names"),
        (lambda b: b["encoder"]["columns"][2]["params"].update(other="yes"), "'other' category"),
        (lambda b: b["schema"]["columns"][0].update(dtype="V1000000000"), "'V1000000000' is not supported"),
        (lambda b: b.update(extras={"nope": {}}), "unknown column"),
    ],
)
def test_model_json_is_validated_before_anything_is_built(model_path, tmp_path, edit, message):
    bad = tmp_path / "bad.psm"
    bad.write_bytes(_resealed(model_path, edit_blobs=_edit_model_json(edit)))
    with pytest.raises(ModelFileError, match=message):
        ps.load(bad)


def test_arrays_must_fit_the_declared_variables(model_path, tmp_path):
    def short_corr(entries):
        buffer = io.BytesIO()
        np.save(buffer, np.eye(3))
        entries["arrays/engine/corr.npy"] = buffer.getvalue()

    bad = tmp_path / "short.psm"
    bad.write_bytes(_resealed(model_path, edit_blobs=short_corr))
    with pytest.raises(ModelFileError, match=r"correlation matrix is \(3, 3\), not 7 x 7"):
        ps.load(bad)


def test_a_file_that_loads_but_cannot_sample_names_the_file(model_path, tmp_path):
    """A correlation matrix that is not positive definite passes the shape checks; sampling it fails inside
    numpy, and that becomes one line naming the file (a model fitted in process would re-raise)."""

    def negative(entries):
        buffer = io.BytesIO()
        np.save(buffer, -np.eye(7))
        entries["arrays/engine/corr.npy"] = buffer.getvalue()

    bad = tmp_path / "negative.psm"
    bad.write_bytes(_resealed(model_path, edit_blobs=negative))
    model = ps.load(bad)
    with pytest.raises(ModelFileError, match=r"negative.psm is corrupt: sampling it failed \(LinAlgError"):
        model.sample(20, seed=0)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
        max_leaves=40,
    )
)
def test_json_depth_matches_the_parsed_structure(value):
    def depth(v):
        return (
            1 + max((depth(x) for x in (v.values() if isinstance(v, dict) else v)), default=0)
            if isinstance(v, dict | list)
            else 0
        )

    assert modelzip.json_depth(json.dumps(value).encode()) == depth(value)
