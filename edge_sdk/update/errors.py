"""Why an update was refused or undone: one tree under :class:`UpdateError`.

Every refusal leaves the device as it was: the staging file is removed, the installed model,
its rollback slot and the version counter are untouched, and the running model keeps running::

    UpdateError(EdgeSDKError)
    ├── ManifestError(ValueError)       the signed update document is malformed
    ├── UnknownKeyError                 signed by a key the device does not trust
    ├── SignatureError                  the signature does not verify (tampered document, wrong key)
    ├── ExpiredError                    the document's expiry time has passed (freeze protection)
    ├── DowngradeError                  version not above the installed one (rollback protection)
    ├── DownloadError(OSError)          the bundle could not be fetched (whole)
    │   └── TruncatedError              fewer bytes than the signed size
    ├── DigestError                     size or SHA-256 differs from the signed one (tampered bytes)
    ├── IncompatibleError               inputs (roles, shapes) or model name do not fit this device
    ├── GoldenCheckError                the bundle fails its golden vectors in a second interpreter
    ├── ShadowError                     the shadow run on live frames failed
    ├── HealthError                     the health window after the swap failed (rolled back)
    └── StoreError(OSError)             the model store on disk is unusable
"""

from __future__ import annotations

from edge_sdk.errors import EdgeSDKError

__all__ = [
    "DigestError",
    "DowngradeError",
    "DownloadError",
    "ExpiredError",
    "GoldenCheckError",
    "HealthError",
    "IncompatibleError",
    "ManifestError",
    "ShadowError",
    "SignatureError",
    "StoreError",
    "TruncatedError",
    "UnknownKeyError",
    "UpdateError",
]


class UpdateError(EdgeSDKError):
    """An update was refused or rolled back; ``code`` names the reason in update reports."""

    code = "update_error"


class ManifestError(UpdateError, ValueError):
    code = "bad_manifest"


class UnknownKeyError(UpdateError):
    code = "unknown_key"


class SignatureError(UpdateError):
    code = "bad_signature"


class ExpiredError(UpdateError):
    code = "expired"


class DowngradeError(UpdateError):
    code = "not_newer"


class DownloadError(UpdateError, OSError):
    code = "download_failed"


class TruncatedError(DownloadError):
    code = "truncated"


class DigestError(UpdateError):
    code = "digest_mismatch"


class IncompatibleError(UpdateError):
    code = "incompatible"


class GoldenCheckError(UpdateError):
    code = "golden_failed"


class ShadowError(UpdateError):
    code = "shadow_failed"


class HealthError(UpdateError):
    code = "health_failed"


class StoreError(UpdateError, OSError):
    code = "store_failed"
