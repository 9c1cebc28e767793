"""Config mechanism: stdlib dataclasses + ``configtools.build`` against msgspec, side by side.

Measures what a device pays for each: the import cost in a fresh interpreter (median of
``--runs`` starts) and the time to build the full device config from a mapping. Prints a table
and, last, one JSON object. msgspec is optional: without it its rows say ``not installed``.

    python bench/config.py --runs 15
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_DEVICE: dict[str, Any] = {
    "device": "pi-kitchen",
    "model": {"path": "model.tflite", "num_threads": 2},
    "camera": {"source": "camera://0", "width": 640, "height": 480, "fps": 15},
    "text": {"source": "fixed", "prompt": "find the red circle"},
    "sensor": {"source": "stdin", "max_age_s": 1.0},
    "pipeline": {"max_frames": 100},
    "mqtt": {"host": "broker.lan", "port": 1883, "username": "pi", "password": "${PW:-secret}",
             "outbox": {"max_bytes": 10_000_000}, "homeassistant": {"enabled": True}},
}


def _import_ms(statement: str, runs: int) -> float:
    """Median wall time of importing ``statement`` in a fresh interpreter (runs ``runs`` starts)."""
    def once(code: str) -> float:
        probe = f"import time; t=time.perf_counter(); {code}; print(time.perf_counter()-t)"
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                             cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        return float(out.stdout.strip()) * 1000.0

    return statistics.median(once(statement) for _ in range(runs))


try:  # module level: msgspec resolves the (postponed) annotations from the module's globals
    import msgspec

    class Outbox(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        max_bytes: int = 50_000_000

    class HomeAssistant(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        enabled: bool = False

    class MQTT(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        host: str = "localhost"
        port: int = 1883
        username: str = ""
        password: str = ""
        outbox: Outbox = Outbox()
        homeassistant: HomeAssistant = HomeAssistant()

    class Device(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        device: str
        model: dict[str, Any]
        camera: dict[str, Any]
        text: dict[str, Any]
        sensor: dict[str, Any]
        pipeline: dict[str, Any]
        mqtt: MQTT
except ImportError:
    msgspec = None  # type: ignore[assignment]


def _build_us(build: Any, repeat: int = 2000) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        build()
    return (time.perf_counter() - started) / repeat * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)

    from edge_sdk.config import parse_config
    from edge_sdk.errors import ConfigError

    figures: dict[str, Any] = {
        "import_configtools_ms": round(_import_ms("import edge_sdk.configtools", args.runs)
                                       - _import_ms("import edge_sdk.errors", args.runs), 2),
        "import_device_config_ms": round(_import_ms("import edge_sdk.config", args.runs), 2),
        "build_dataclasses_us": round(_build_us(lambda: parse_config(_DEVICE)), 1),
    }
    try:
        parse_config({**_DEVICE, "mqtt": {"hots": "x"}})
    except ConfigError as exc:
        figures["unknown_key_message_dataclasses"] = str(exc)
    if msgspec is None:
        figures["msgspec"] = "not installed"
    else:
        figures["import_msgspec_ms"] = round(_import_ms("import msgspec", args.runs), 2)
        plain = {**_DEVICE, "mqtt": {**_DEVICE["mqtt"], "password": "secret"}}  # msgspec has no ${VAR}
        figures["build_msgspec_us"] = round(_build_us(lambda: msgspec.convert(plain, Device)), 1)
        try:
            msgspec.convert({**plain, "mqtt": {"hots": "x"}}, Device)
        except msgspec.ValidationError as exc:
            figures["unknown_key_message_msgspec"] = str(exc)
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
