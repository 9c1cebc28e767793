"""The distribution this package ships in: its name on the package index and its version.

The import package is ``edge_sdk`` and the command ``edge-sdk``, but the distribution is
``edge-fusion-sdk``: the name ``edge-sdk`` on PyPI belongs to an unrelated project. Every install
hint (``pip install 'edge-fusion-sdk[device]'``) and metadata lookup uses :data:`DISTRIBUTION`.
"""

from __future__ import annotations

import importlib.metadata

__all__ = ["DISTRIBUTION", "WHEEL_PREFIX", "version"]

DISTRIBUTION = "edge-fusion-sdk"
# A wheel's file name starts with the normalized distribution name (PEP 427): edge_fusion_sdk-0.1.0-py3-none-any.whl
WHEEL_PREFIX = DISTRIBUTION.replace("-", "_") + "-"


def version() -> str:
    """The installed distribution's version; ``edge_sdk.__version__`` when running from a source tree."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        from edge_sdk import __version__

        return __version__
