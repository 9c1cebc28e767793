"""The signed update document: what a device must check before it trusts a bundle.

::

    {"signed": {"_type": "edge_sdk.model-update", "schema": 1, "model": "seek", "version": 3,
                "bundle": {"sha256": "…", "size": 195801},
                "compat": {"signature": null, "inputs": [{"name": "image", "role": "image",
                                                           "shape": [1, 64, 64, 3], "dtype": "uint8"}, …]},
                "issued": "2026-12-02T16:00:00Z", "expires": "2026-12-09T16:00:00Z"},
     "signatures": [{"keyid": "…", "sig": "<hex Ed25519 over canonical_json(signed)>"}]}

One document per bundle, signed by one offline key (SWUpdate's model: one signed description
holding the image's hash); the version only goes up and the expiry bounds how long a captured
document can be replayed (TUF's rollback and freeze protections). See docs/updates.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from edge_sdk.bundle import Manifest, read_bundle
from edge_sdk.update.canonical import canonical_json
from edge_sdk.update.errors import ManifestError, SignatureError, UnknownKeyError
from edge_sdk.update.keys import PublicKey, SigningKey

__all__ = ["DOCUMENT_TYPE", "SignedUpdate", "UpdateInfo", "compat_of", "document_path", "sign_bundle"]

DOCUMENT_TYPE = "edge_sdk.model-update"
DOCUMENT_SCHEMA = 1
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def compat_of(manifest: Manifest, signature: str | None = None) -> dict[str, Any]:
    """What a device checks the bundle against: its served signature's inputs (name, role, shape, dtype)."""
    spec = manifest.signature(signature) if signature else manifest.primary
    inputs = [{"name": i.name, "role": i.role, "shape": list(i.shape), "dtype": i.dtype} for i in spec.inputs]
    return {"signature": spec.key, "inputs": sorted(inputs, key=lambda item: item["name"])}


@dataclass(frozen=True)
class UpdateInfo:
    """The ``signed`` part, typed."""

    model: str
    version: int
    sha256: str
    size: int
    compat: Mapping[str, Any]
    issued: datetime
    expires: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"_type": DOCUMENT_TYPE, "schema": DOCUMENT_SCHEMA, "model": self.model, "version": self.version,
                "bundle": {"sha256": self.sha256, "size": self.size}, "compat": dict(self.compat),
                "issued": self.issued.strftime(_TIME_FORMAT), "expires": self.expires.strftime(_TIME_FORMAT)}

    @classmethod
    def from_dict(cls, data: Any) -> UpdateInfo:
        if not isinstance(data, Mapping) or data.get("_type") != DOCUMENT_TYPE:
            raise ManifestError(f"expected a signed part with _type {DOCUMENT_TYPE!r}. Got: {_brief(data)}")
        if data.get("schema") != DOCUMENT_SCHEMA:
            raise ManifestError(f"update document schema {data.get('schema')!r}; this device reads {DOCUMENT_SCHEMA}")
        bundle, version = data.get("bundle"), data.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ManifestError(f"version must be an integer >= 1. Got: {version!r}")
        if not isinstance(bundle, Mapping) or not isinstance(bundle.get("sha256"), str) \
                or not isinstance(bundle.get("size"), int) or bundle["size"] <= 0:
            raise ManifestError(f"bundle must hold sha256 (hex) and size (bytes > 0). Got: {_brief(bundle)}")
        compat = data.get("compat")
        if not isinstance(compat, Mapping) or not isinstance(compat.get("inputs"), list):
            raise ManifestError(f"compat must hold the bundle's inputs. Got: {_brief(compat)}")
        if not isinstance(data.get("model"), str) or not data["model"]:
            raise ManifestError(f"model must be the model's name. Got: {data.get('model')!r}")
        return cls(model=data["model"], version=version, sha256=bundle["sha256"].lower(), size=bundle["size"],
                   compat=compat, issued=_parse_time(data.get("issued"), "issued"),
                   expires=_parse_time(data.get("expires"), "expires"))


@dataclass(frozen=True)
class SignedUpdate:
    """The whole document: the signed part as received (verified byte for byte) and its signatures."""

    signed: Mapping[str, Any]
    signatures: tuple[Mapping[str, str], ...]

    @property
    def info(self) -> UpdateInfo:
        return UpdateInfo.from_dict(self.signed)

    def to_dict(self) -> dict[str, Any]:
        return {"signed": dict(self.signed), "signatures": [dict(s) for s in self.signatures]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> SignedUpdate:
        if not isinstance(data, Mapping) or not isinstance(data.get("signed"), Mapping) \
                or not isinstance(data.get("signatures"), list):
            raise ManifestError(f"expected an update document {{\"signed\": …, \"signatures\": […]}}. "
                                f"Got: {_brief(data)}")
        signatures = []
        for item in data["signatures"]:
            if not isinstance(item, Mapping) or not isinstance(item.get("keyid"), str) \
                    or not isinstance(item.get("sig"), str):
                raise ManifestError(f"each signature needs keyid and sig (hex). Got: {_brief(item)}")
            signatures.append({"keyid": item["keyid"], "sig": item["sig"]})
        if not signatures:
            raise SignatureError("the update document carries no signature")
        return cls(dict(data["signed"]), tuple(signatures))

    @classmethod
    def from_file(cls, path: str | Path) -> SignedUpdate:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise ManifestError(f"update document not found: {path}. `edge-sdk sign BUNDLE` writes it") from None
        except (OSError, ValueError) as exc:
            if isinstance(exc, ManifestError):
                raise
            raise ManifestError(f"{path}: not an update document ({exc})") from exc

    def verify_signature(self, trusted: Mapping[str, PublicKey]) -> PublicKey:
        """The trusted key whose signature verifies; :class:`UnknownKeyError` when no key is trusted,
        :class:`SignatureError` when a trusted key's signature fails."""
        message = canonical_json(self.signed)
        known = [(s, trusted[s["keyid"]]) for s in self.signatures if s["keyid"] in trusted]
        if not known:
            ids = ", ".join(s["keyid"][:12] + "…" for s in self.signatures)
            raise UnknownKeyError(f"signed by {ids}, which this device does not trust. Trusted: "
                                  f"{', '.join(k[:12] + '…' for k in trusted) or 'no keys (set update.trusted_keys)'}")
        for signature, key in known:
            key.verify(signature["sig"], message)
        return known[0][1]


def sign_bundle(bundle_path: str | Path, key: SigningKey, version: int, *, expires_in_s: float = 30 * 86400.0,
                now: datetime | None = None, out: str | Path | None = None) -> tuple[Path, SignedUpdate]:
    """Sign ``bundle_path`` as ``version``; writes ``<bundle>.update.json`` (or ``out``) and returns it."""
    path = Path(bundle_path)
    bundle = read_bundle(path)  # a corrupt bundle is refused before anything is signed
    data = path.read_bytes()
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    info = UpdateInfo(model=bundle.manifest.model.name, version=version, sha256=hashlib.sha256(data).hexdigest(),
                      size=len(data), compat=compat_of(bundle.manifest), issued=issued,
                      expires=issued + timedelta(seconds=expires_in_s))
    signed = info.to_dict()
    document = SignedUpdate(signed, ({"keyid": key.public.keyid, "sig": key.sign(canonical_json(signed))},))
    target = Path(out) if out is not None else document_path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(document.to_json())
    tmp.replace(target)
    return target, document


def document_path(bundle_path: str | Path) -> Path:
    """Where the update document of a bundle lives: beside it, ``<bundle>.update.json``."""
    path = Path(bundle_path)
    return path.with_name(path.name + ".update.json")


def _parse_time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise ManifestError(f"{name} must be a UTC time such as 2026-12-09T16:00:00Z. Got: {value!r}")
    try:
        return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise ManifestError(f"{name} must be a UTC time such as 2026-12-09T16:00:00Z. Got: {value!r}") from None


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
