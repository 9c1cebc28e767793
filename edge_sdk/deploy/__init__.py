"""What goes on a Raspberry Pi: a deployment directory and the runtime's systemd integration.

- :func:`make_deployment` writes the bundle, a validated device config, the systemd unit and an
  ``install.sh`` for Raspberry Pi OS Bookworm 64-bit (``edge-sdk deploy`` on the command line).
- :mod:`edge_sdk.deploy.sdnotify` tells systemd the runtime is ready and alive (``Type=notify``,
  ``WatchdogSec``); every call is a no-op outside systemd.

Importing this package does no I/O and pulls in nothing beyond the standard library and edge_sdk.
"""

from edge_sdk._lazy import lazy_exports

# names load on first use (PEP 562): registering the CLI command must not import what runs it
_EXPORTS = {
    "render_install_script": "edge_sdk.deploy.install_script",
    "DeployOptions": "edge_sdk.deploy.options",
    "make_deployment": "edge_sdk.deploy.package",
    "tarball_path": "edge_sdk.deploy.package",
    "Notifier": "edge_sdk.deploy.sdnotify",
    "Watchdog": "edge_sdk.deploy.sdnotify",
    "render_unit": "edge_sdk.deploy.unit",
}

__all__ = [
    "DeployOptions",
    "Notifier",
    "Watchdog",
    "make_deployment",
    "render_install_script",
    "render_unit",
    "tarball_path",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
