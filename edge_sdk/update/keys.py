"""Ed25519 keys for signing model updates (through the ``cryptography`` package, imported lazily).

The private key is a PKCS#8 PEM file readable by its owner only; the public key is a small JSON
document ``{"keytype": "ed25519", "scheme": "ed25519", "public": "<hex>", "keyid": "<hex>"}``.
The key id is the SHA-256 of the canonical JSON of the key without its id, as TUF computes it,
so a signature names its key and a device looks the key up among the ones it trusts.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_sdk._lazy import require
from edge_sdk.update.canonical import canonical_json
from edge_sdk.update.errors import ManifestError, SignatureError

__all__ = ["PublicKey", "SigningKey", "generate_key", "load_public_keys"]

_PURPOSE = "signing and verifying model updates"


def _ed25519() -> Any:
    return require("cryptography.hazmat.primitives.asymmetric.ed25519", _PURPOSE)


def key_id(public_hex: str) -> str:
    return hashlib.sha256(canonical_json({"keytype": "ed25519", "scheme": "ed25519", "public": public_hex})).hexdigest()


@dataclass(frozen=True)
class PublicKey:
    """A trusted Ed25519 public key."""

    public_hex: str
    name: str = ""

    @property
    def keyid(self) -> str:
        return key_id(self.public_hex)

    def to_dict(self) -> dict[str, str]:
        return {"keytype": "ed25519", "scheme": "ed25519", "public": self.public_hex, "keyid": self.keyid}

    @classmethod
    def from_file(cls, path: str | Path) -> PublicKey:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ManifestError(f"public key not found: {path}. Expected the .pub file `edge-sdk keygen` wrote") from None
        except (OSError, ValueError) as exc:
            raise ManifestError(f"{path}: expected an edge-sdk public key (JSON). Got: {exc}") from exc
        if not isinstance(data, Mapping) or data.get("keytype") != "ed25519" or not isinstance(data.get("public"), str):
            raise ManifestError(f"{path}: expected {{\"keytype\": \"ed25519\", \"public\": \"<hex>\"}}. Got: {data!r}")
        key = cls(str(data["public"]), name=path.stem)
        if len(bytes.fromhex(key.public_hex)) != 32:
            raise ManifestError(f"{path}: an Ed25519 public key is 32 bytes. Got: {len(key.public_hex) // 2}")
        if data.get("keyid") not in (None, key.keyid):
            raise ManifestError(f"{path}: keyid {data.get('keyid')} does not match the key ({key.keyid})")
        return key

    def verify(self, signature_hex: str, message: bytes) -> None:
        """Raise :class:`SignatureError` unless ``signature_hex`` signs ``message`` with this key."""
        ed25519 = _ed25519()
        exceptions = require("cryptography.exceptions", _PURPOSE)
        try:
            signature = bytes.fromhex(signature_hex)
            ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.public_hex)).verify(signature, message)
        except (ValueError, exceptions.InvalidSignature) as exc:
            raise SignatureError(f"the signature by key {self.keyid[:12]}… does not verify: the update document "
                                 "was changed after signing, or signed by another key") from exc


class SigningKey:
    """An Ed25519 private key on the host; never leaves it."""

    def __init__(self, private: Any) -> None:
        self._private = private
        raw = private.public_key().public_bytes(*_raw_public_format())
        self.public = PublicKey(raw.hex())

    @classmethod
    def from_file(cls, path: str | Path) -> SigningKey:
        serialization = require("cryptography.hazmat.primitives.serialization", _PURPOSE)
        path = Path(path)
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except FileNotFoundError:
            raise ManifestError(f"signing key not found: {path}. Make one with `edge-sdk keygen`") from None
        except (OSError, ValueError, TypeError) as exc:
            raise ManifestError(f"{path}: expected an unencrypted Ed25519 PEM private key. Got: {exc}") from exc
        if not isinstance(private, _ed25519().Ed25519PrivateKey):
            raise ManifestError(f"{path}: expected an Ed25519 key. Got: {type(private).__name__}")
        return cls(private)

    def sign(self, message: bytes) -> str:
        return str(self._private.sign(message).hex())

    def write(self, private_path: str | Path, public_path: str | Path) -> None:
        serialization = require("cryptography.hazmat.primitives.serialization", _PURPOSE)
        pem = self._private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
        private_path = Path(private_path)
        private_path.parent.mkdir(parents=True, exist_ok=True)
        # created 0600 before a byte is written: the key is never readable by others, even briefly
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        Path(public_path).write_text(json.dumps(self.public.to_dict(), indent=2) + "\n")


def generate_key() -> SigningKey:
    return SigningKey(_ed25519().Ed25519PrivateKey.generate())


def load_public_keys(paths: Iterable[str | Path]) -> dict[str, PublicKey]:
    """Trusted keys by key id."""
    keys = [PublicKey.from_file(path) for path in paths]
    return {key.keyid: key for key in keys}


def _raw_public_format() -> tuple[Any, Any]:
    serialization = require("cryptography.hazmat.primitives.serialization", _PURPOSE)
    return serialization.Encoding.Raw, serialization.PublicFormat.Raw
