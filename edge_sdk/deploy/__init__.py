"""What goes on a Raspberry Pi: a deployment directory and the runtime's systemd integration.

- :func:`make_deployment` writes the bundle, a validated device config, the systemd unit and an
  ``install.sh`` for Raspberry Pi OS Bookworm 64-bit (``edge-sdk deploy`` on the command line).
- :mod:`edge_sdk.deploy.sdnotify` tells systemd the runtime is ready and alive (``Type=notify``,
  ``WatchdogSec``); every call is a no-op outside systemd.

Importing this package does no I/O and pulls in nothing beyond the standard library and edge_sdk.
"""

from edge_sdk.deploy.install_script import render_install_script
from edge_sdk.deploy.options import DeployOptions
from edge_sdk.deploy.package import make_deployment, tarball_path
from edge_sdk.deploy.sdnotify import Notifier, Watchdog
from edge_sdk.deploy.unit import render_unit

__all__ = [
    "DeployOptions",
    "Notifier",
    "Watchdog",
    "make_deployment",
    "render_install_script",
    "render_unit",
    "tarball_path",
]
