"""The device's checks, in the order a cautious client runs them.

The document first (TUF's order: trust nothing downloaded until its metadata verifies): key, signature,
expiry, version, model and compatibility; only then the bytes: size and SHA-256, and that the bundle
inside describes the inputs its signed document claims. Each failure is its own :class:`UpdateError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge_sdk.bundle import read_bundle
from edge_sdk.errors import BundleError
from edge_sdk.update.document import SignedUpdate, UpdateInfo, compat_of
from edge_sdk.update.errors import DigestError, DowngradeError, ExpiredError, IncompatibleError, TruncatedError
from edge_sdk.update.keys import PublicKey

__all__ = ["Verifier", "file_sha256"]


@dataclass(frozen=True)
class Verifier:
    """``trusted``: keys by id; ``compat``: what this device feeds its model (:func:`compat_of` of the running one)."""

    trusted: Mapping[str, PublicKey]
    model: str
    compat: Mapping[str, Any]

    def check_document(self, document: SignedUpdate, installed_version: int, now: datetime | None = None) -> UpdateInfo:
        document.verify_signature(self.trusted)
        info = document.info
        now = now or datetime.now(UTC)
        if info.expires <= now:
            raise ExpiredError(f"the update document for {info.model} v{info.version} expired at "
                               f"{info.expires:%Y-%m-%dT%H:%M:%SZ} (now {now:%Y-%m-%dT%H:%M:%SZ}); sign it again")
        if info.version <= installed_version:
            same = "the same version as" if info.version == installed_version else "older than"
            raise DowngradeError(f"{info.model} v{info.version} is {same} the highest version this device has "
                                 f"installed (v{installed_version}); expected a version above {installed_version}")
        if info.model != self.model:
            raise IncompatibleError(f"the update is for model {info.model!r}; this device serves {self.model!r}")
        _check_compat(info.compat, self.compat, "the signed document")
        return info

    def check_file(self, info: UpdateInfo, path: str | Path) -> None:
        path = Path(path)
        size = path.stat().st_size
        if size < info.size:
            raise TruncatedError(f"the bundle is {size} bytes; the signed size is {info.size} (cut off)")
        if size != info.size:
            raise DigestError(f"the bundle is {size} bytes; the signed size is {info.size}")
        digest = file_sha256(path)
        if digest != info.sha256:
            raise DigestError(f"the bundle's SHA-256 is {digest[:16]}…; the signed one is {info.sha256[:16]}… "
                              "(changed after signing)")
        try:
            bundle = read_bundle(path)
        except BundleError as exc:  # signed but unreadable: the signer signed a broken file
            raise IncompatibleError(f"the signed bundle does not read as a bundle: {exc}") from exc
        if bundle.manifest.model.name != info.model:
            raise IncompatibleError(f"the bundle names model {bundle.manifest.model.name!r}; its document says "
                                    f"{info.model!r}")
        _check_compat(compat_of(bundle.manifest, info.compat.get("signature")), info.compat, "the bundle's manifest")


def _check_compat(offered: Mapping[str, Any], expected: Mapping[str, Any], what: str) -> None:
    def described(compat: Mapping[str, Any]) -> list[str]:
        return [f"{i.get('role')} {i.get('name')} {tuple(i.get('shape') or ())} {i.get('dtype')}"
                for i in compat.get("inputs") or ()]

    if described(offered) != described(expected) or offered.get("signature") != expected.get("signature"):
        raise IncompatibleError(f"{what} describes inputs {described(offered)} (signature "
                                f"{offered.get('signature')!r}); this device feeds {described(expected)} "
                                f"(signature {expected.get('signature')!r})")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
