"""Optional Ed25519 signatures (issue 22): checksums give integrity; a signature by a trusted key gives
authenticity, so an edited and re-sealed file is refused where one is asked for."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import privsynth as ps
from privsynth import modelfile, modelsign
from privsynth.errors import ModelFileError, ParameterError
from privsynth.governance import manifest as manifests
from tests.conftest import mixed_frame

FAKE_CLAIM = "(0.1, 1e-9)-differentially private"


def _keypair(folder, name):
    key = Ed25519PrivateKey.generate()
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


@pytest.fixture
def keys(tmp_path):
    return {name: _keypair(tmp_path, name) for name in ("alice", "mallory")}


@pytest.fixture(scope="module")
def model():
    return ps.fit(mixed_frame(200), "copula", seed=0)


def _resealed_keeping_signature(path, out):
    """The privacy claim edited, checksums and id recomputed, the old signature.json put back."""
    with zipfile.ZipFile(path) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(entries.pop("manifest.json"))
    signature = entries.pop(modelsign.ENTRY)
    manifest["privacy"]["guarantee"] = FAKE_CLAIM
    body = {k: v for k, v in manifest.items() if k not in ("id", "contents", "manifest_sha256")}
    data = modelfile.pack(manifests.with_id(body), entries)
    with zipfile.ZipFile(path.parent / "tmp.zip", "w") as dst, zipfile.ZipFile(io.BytesIO(data)) as src:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
            if name == "manifest.json":
                dst.writestr(modelsign.ENTRY, signature)
    (path.parent / "tmp.zip").rename(out)
    return out


def test_a_signed_file_loads_only_under_a_trusted_key(model, keys, tmp_path, monkeypatch):
    monkeypatch.setenv(modelsign.SIGN_ENV, str(keys["alice"][0]))
    signed = model.save(tmp_path / "signed.psm")
    assert signed.read_bytes() == model.save(tmp_path / "again.psm").read_bytes()  # Ed25519 is deterministic
    monkeypatch.delenv(modelsign.SIGN_ENV)
    unsigned = model.save(tmp_path / "unsigned.psm")
    assert modelsign.ENTRY in zipfile.ZipFile(signed).namelist()
    assert modelsign.ENTRY not in zipfile.ZipFile(unsigned).namelist()
    ps.load(signed).sample(5, seed=0)  # no trust asked: a signature is checked against its own key
    monkeypatch.setenv(modelsign.TRUST_ENV, str(keys["alice"][1]))
    assert ps.load(signed).manifest["id"] == model.manifest["id"]
    with pytest.raises(ModelFileError, match="is not signed"):
        ps.load(unsigned)
    with pytest.raises(ModelFileError, match="is not signed"):
        modelfile.read_manifest(unsigned)  # what describe and verify read
    monkeypatch.setenv(modelsign.TRUST_ENV, str(keys["mallory"][1]))
    with pytest.raises(ModelFileError, match="does not trust"):
        ps.load(signed)


def test_a_resealed_edit_of_a_signed_file_is_refused(model, keys, tmp_path, monkeypatch):
    monkeypatch.setenv(modelsign.SIGN_ENV, str(keys["alice"][0]))
    signed = model.save(tmp_path / "signed.psm")
    monkeypatch.delenv(modelsign.SIGN_ENV)
    edited = _resealed_keeping_signature(signed, tmp_path / "edited.psm")
    with pytest.raises(ModelFileError, match="signature does not match"):
        ps.load(edited)
    # signed again by another key: its signature is valid, but the key is not trusted
    monkeypatch.setenv(modelsign.SIGN_ENV, str(keys["mallory"][0]))
    forged = ps.load(signed)
    forged.manifest = {**forged.manifest, "privacy": {**forged.manifest["privacy"], "guarantee": FAKE_CLAIM}}
    forged.save(tmp_path / "forged.psm")
    monkeypatch.delenv(modelsign.SIGN_ENV)
    monkeypatch.setenv(modelsign.TRUST_ENV, str(keys["alice"][1]))
    with pytest.raises(ModelFileError, match="does not trust"):
        ps.load(tmp_path / "forged.psm")


def test_a_signed_history_model_loads_under_trust(keys, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    events = pd.DataFrame(
        {
            "k": np.repeat(np.arange(20), 3),
            "t": np.tile(np.arange(3), 20),
            "v": rng.normal(size=60).round(2),
            "g": np.repeat(rng.choice(list("xy"), 20), 3),
        }
    )
    monkeypatch.setenv(modelsign.SIGN_ENV, str(keys["alice"][0]))
    path = ps.fit_sequences(events, "k", "t", engine="copula", seed=0).save(tmp_path / "h.psm")
    monkeypatch.delenv(modelsign.SIGN_ENV)
    monkeypatch.setenv(modelsign.TRUST_ENV, str(keys["alice"][1]))
    assert len(ps.load(path).sample(5, seed=0)) > 0


def test_bad_key_files_are_our_error(model, tmp_path, monkeypatch):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    monkeypatch.setenv(modelsign.SIGN_ENV, str(junk))
    with pytest.raises(ParameterError, match="cannot read the signing key"):
        model.save(tmp_path / "m.psm")
    monkeypatch.delenv(modelsign.SIGN_ENV)
    path = model.save(tmp_path / "m.psm")
    monkeypatch.setenv(modelsign.TRUST_ENV, str(junk))
    with pytest.raises(ParameterError, match="cannot read the trusted key"):
        ps.load(path)
