"""Over-the-air model updates: signed on the host, verified, staged, shadowed, swapped, health-checked,
committed or rolled back on the device; rolled out to a fleet in waves. See docs/updates.md.

Importing this package does no I/O and does not import ``cryptography`` (the ``update`` extra);
signing and verifying import it when they run.
"""

from __future__ import annotations

from edge_sdk._lazy import lazy_exports

_EXPORTS = {
    "UpdateAgent": "edge_sdk.update.agent",
    "ChunkReceiver": "edge_sdk.update.chunks",
    "UpdateConfig": "edge_sdk.update.config",
    "SignedUpdate": "edge_sdk.update.document",
    "UpdateInfo": "edge_sdk.update.document",
    "sign_bundle": "edge_sdk.update.document",
    "DigestError": "edge_sdk.update.errors",
    "DowngradeError": "edge_sdk.update.errors",
    "DownloadError": "edge_sdk.update.errors",
    "ExpiredError": "edge_sdk.update.errors",
    "GoldenCheckError": "edge_sdk.update.errors",
    "HealthError": "edge_sdk.update.errors",
    "IncompatibleError": "edge_sdk.update.errors",
    "ManifestError": "edge_sdk.update.errors",
    "ShadowError": "edge_sdk.update.errors",
    "SignatureError": "edge_sdk.update.errors",
    "StoreError": "edge_sdk.update.errors",
    "TruncatedError": "edge_sdk.update.errors",
    "UnknownKeyError": "edge_sdk.update.errors",
    "UpdateError": "edge_sdk.update.errors",
    "PublicKey": "edge_sdk.update.keys",
    "SigningKey": "edge_sdk.update.keys",
    "generate_key": "edge_sdk.update.keys",
    "ModelStore": "edge_sdk.update.store",
    "Verifier": "edge_sdk.update.verify",
}

__all__ = [
    "ChunkReceiver",
    "DigestError",
    "DowngradeError",
    "DownloadError",
    "ExpiredError",
    "GoldenCheckError",
    "HealthError",
    "IncompatibleError",
    "ManifestError",
    "ModelStore",
    "PublicKey",
    "ShadowError",
    "SignatureError",
    "SignedUpdate",
    "SigningKey",
    "StoreError",
    "TruncatedError",
    "UnknownKeyError",
    "UpdateAgent",
    "UpdateConfig",
    "UpdateError",
    "UpdateInfo",
    "Verifier",
    "generate_key",
    "sign_bundle",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
