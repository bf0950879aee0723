"""Optional Ed25519 signatures on model files: authenticity, where the checksums only give integrity.

Anyone who edits a model file can recompute its checksums; nobody without the private key can sign it.
  PRIVSYNTH_SIGN_KEY=key.pem          every model file written is signed: `signature.json` holds the public
                                      key and an Ed25519 signature over the exact bytes of manifest.json
                                      (which lists the SHA-256 of every other entry, so it covers them all)
  PRIVSYNTH_TRUST_KEYS=a.pub:b.pub    every model file read (load, sample, describe, verify) must carry a
                                      valid signature by one of these public keys (PEM or OpenSSH format)
Keys: `openssl genpkey -algorithm ed25519 -out key.pem` and `openssl pkey -in key.pem -pubout -out key.pub`.
A signature present in a file is always checked against the key it names, trusted or not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from privsynth.errors import ModelFileError, ParameterError

SIGN_ENV = "PRIVSYNTH_SIGN_KEY"
TRUST_ENV = "PRIVSYNTH_TRUST_KEYS"
ENTRY = "signature.json"


def _raw(public_key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def signing_key():
    """The private key named by $PRIVSYNTH_SIGN_KEY, or None when it is not set."""
    path = os.environ.get(SIGN_ENV)
    if not path:
        return None
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ParameterError(f"cannot read the signing key {path} (${SIGN_ENV}): {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ParameterError(f"the signing key {path} (${SIGN_ENV}) is not an Ed25519 key")
    return key


def trusted_keys() -> list[bytes] | None:
    """Raw public keys named by $PRIVSYNTH_TRUST_KEYS (paths separated by os.pathsep), or None when unset."""
    paths = [p for p in os.environ.get(TRUST_ENV, "").split(os.pathsep) if p]
    if not paths:
        return None
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    keys = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
            key = (
                serialization.load_ssh_public_key(data)
                if data.startswith(b"ssh-")
                else serialization.load_pem_public_key(data)
            )
        except (OSError, ValueError, TypeError) as exc:
            raise ParameterError(f"cannot read the trusted key {path} (${TRUST_ENV}): {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ParameterError(f"the trusted key {path} (${TRUST_ENV}) is not an Ed25519 key")
        keys.append(_raw(key))
    return keys


def signature(manifest: bytes) -> bytes | None:
    """signature.json for these manifest bytes, signed with $PRIVSYNTH_SIGN_KEY (None when it is not set)."""
    key = signing_key()
    if key is None:
        return None
    body = {"algorithm": "ed25519", "public_key": _raw(key.public_key()).hex(), "signature": key.sign(manifest).hex()}
    return json.dumps(body, indent=1).encode()


def check(manifest: bytes, entry: bytes | None, label) -> None:
    """A present signature must verify against the key it names; with $PRIVSYNTH_TRUST_KEYS, one of those
    keys must have made it."""
    trusted = trusted_keys()
    if entry is None:
        if trusted is not None:
            raise ModelFileError(f"model file {label} is not signed, and ${TRUST_ENV} asks for a trusted signature")
        return
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        body = json.loads(entry)
        public, sig = bytes.fromhex(body["public_key"]), bytes.fromhex(body["signature"])
        if body.get("algorithm") != "ed25519":
            raise ValueError("not ed25519")
        Ed25519PublicKey.from_public_bytes(public).verify(sig, manifest)
    except InvalidSignature:
        raise ModelFileError(f"model file {label} was altered (its signature does not match its manifest)") from None
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError):
        raise ModelFileError(
            f"model file {label} is corrupt (its signature entry is malformed); fit it again"
        ) from None
    if trusted is not None and public not in trusted:
        raise ModelFileError(
            f"model file {label} is signed by key {public.hex()[:16]}..., which ${TRUST_ENV} does not trust"
        )
