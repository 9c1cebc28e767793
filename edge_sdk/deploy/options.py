"""Options of a Raspberry Pi deployment: where things go on the device and how the service runs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal

from edge_sdk.errors import ConfigError

__all__ = ["BACKEND_REQUIREMENTS", "Backend", "DeployOptions"]

Backend = Literal["ai-edge-litert", "tflite-runtime"]

# What pip installs for each interpreter. tflite-runtime stopped at 2.14 (its last aarch64 wheels,
# built against numpy 1.x); ai-edge-litert is its successor and the default.
BACKEND_REQUIREMENTS: dict[str, str] = {
    "ai-edge-litert": "ai-edge-litert>=2.0",
    "tflite-runtime": "tflite-runtime==2.14.*",
}

_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class DeployOptions:
    """Every choice behind the generated unit and install script; the defaults suit Pi OS Bookworm."""

    user: str = field(default="edge-sdk", metadata={"help": "system user the service runs as (created by install.sh)"})
    groups: tuple[str, ...] = field(
        default=("video", "dialout", "gpio"),
        metadata={"help": "supplementary groups: camera (video), serial ports (dialout), GPIO (gpio)"},
    )
    backend: Backend = field(default="ai-edge-litert", metadata={"help": "ai-edge-litert or tflite-runtime"})
    prefix: str = field(default="/opt/edge-sdk", metadata={"help": "venv and models go under this directory"})
    config_dir: str = field(default="/etc/edge-sdk", metadata={"help": "device.yaml, env (secrets), certificates"})
    state_dir: str = field(
        default="/var/lib/edge-sdk", metadata={"help": "the outbox and other state; must be /var/lib/<name>"}
    )
    unit_name: str = field(default="edge-sdk.service", metadata={"help": "systemd unit file name"})
    notify: bool = field(
        default=True, metadata={"help": "Type=notify with a watchdog; False: Type=simple for runtimes without sd_notify"}
    )
    watchdog_s: int = field(default=30, metadata={"help": "WatchdogSec: restart when no result for this long"})
    start_timeout_s: int = field(
        default=180, metadata={"help": "TimeoutStartSec: model load and golden check on a slow Pi"}
    )
    stop_timeout_s: int = field(default=30, metadata={"help": "TimeoutStopSec: time to drain the MQTT outbox"})
    restart_s: int = field(default=5, metadata={"help": "RestartSec: wait before a restart"})
    start_limit_burst: int = field(default=5, metadata={"help": "StartLimitBurst: restarts allowed per interval"})
    start_limit_interval_s: int = field(default=300, metadata={"help": "StartLimitIntervalSec"})
    wheel: str = field(
        default="",
        metadata={"help": "the edge-fusion-sdk wheel to ship and install; empty: built from this source tree"},
    )
    extra_files: tuple[str, ...] = field(
        default=(), metadata={"help": "files copied to config_dir (TLS certificates, text command traces)"}
    )
    tar: bool = field(default=False, metadata={"help": "also write <out_dir>.tar.gz"})

    def __post_init__(self) -> None:
        if not _NAME.match(self.user):
            raise ConfigError(f"deploy.user: expected a Unix user name such as 'edge-sdk'. Got: {self.user!r}")
        for group in self.groups:
            if not _NAME.match(group):
                raise ConfigError(f"deploy.groups: expected Unix group names. Got: {group!r}")
        if self.backend not in BACKEND_REQUIREMENTS:
            raise ConfigError(
                f"deploy.backend: expected one of {', '.join(BACKEND_REQUIREMENTS)}. Got: {self.backend!r}"
            )
        for name in ("prefix", "config_dir", "state_dir"):
            value = getattr(self, name)
            if not PurePosixPath(value).is_absolute() or any(c.isspace() for c in value):
                raise ConfigError(f"deploy.{name}: expected an absolute path without spaces. Got: {value!r}")
        if PurePosixPath(self.state_dir).parent != PurePosixPath("/var/lib"):
            # StateDirectory= only creates directories under /var/lib.
            raise ConfigError(f"deploy.state_dir: expected /var/lib/<name>. Got: {self.state_dir!r}")
        if not self.unit_name.endswith(".service") or "/" in self.unit_name:
            raise ConfigError(f"deploy.unit_name: expected a name ending in .service. Got: {self.unit_name!r}")
        for name in ("watchdog_s", "start_timeout_s", "stop_timeout_s", "restart_s", "start_limit_burst",
                     "start_limit_interval_s"):
            if getattr(self, name) < 1:
                raise ConfigError(f"deploy.{name}: expected a positive integer. Got: {getattr(self, name)}")

    # -- paths on the device ----------------------------------------------------------------------
    @property
    def venv(self) -> str:
        """What the unit runs from: a symlink to the venv in use, one of :attr:`venvs_dir`."""
        return f"{self.prefix}/venv"

    @property
    def venvs_dir(self) -> str:
        """One venv per interpreter and Python version, ``<backend>-py<major.minor>``; a sibling of :attr:`venv`."""
        return f"{self.prefix}/venvs"

    @property
    def models_dir(self) -> str:
        return f"{self.prefix}/models"

    @property
    def device_config(self) -> str:
        return f"{self.config_dir}/device.yaml"

    @property
    def env_file(self) -> str:
        return f"{self.config_dir}/env"

    @property
    def outbox(self) -> str:
        return f"{self.state_dir}/outbox.sqlite3"

    @property
    def state_dir_name(self) -> str:
        return PurePosixPath(self.state_dir).name

    @property
    def exec_start(self) -> str:
        return f"{self.venv}/bin/edge-sdk run --config {self.device_config}"
