"""The bridge CLI's old import path, kept because ``edge_sdk.cli`` imports ``main`` from here.

The CLI itself lives in :mod:`firmware_bridge.tools.cli`; importing it is deferred to the call so
that this module stays as cheap as the package.
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str]) -> int:
    """Run ``edge-sdk bridge ...``; see :func:`firmware_bridge.tools.cli.main`."""
    from firmware_bridge.tools.cli import main as tools_main

    return tools_main(argv)
