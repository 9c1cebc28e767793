"""``make_deployment``: everything that goes on the Pi, in one directory (and optionally a tarball).

::

    out/
      install.sh            run on the Pi: sudo ./install.sh   (--dry-run, --root DIR to try it)
      edge-sdk.service      the systemd unit
      requirements.txt      the wheel below and its device dependencies, without the interpreter
      constraints.txt       numpy<2, for the apt-built picamera2
      deployment.json       what was deployed: model and wheel (name, version, SHA-256), options
      config/device.yaml    the device config, model.path pointing at the installed bundle
      config/env.example    the secrets the config references, to fill in /etc/edge-sdk/env
      config/...            extra files (TLS certificates)
      models/<bundle>.tflite
      wheels/edge_fusion_sdk-<version>-py3-none-any.whl   given (--wheel) or built from this source tree

Inputs are checked before anything is written: the bundle is read (manifest and SHA-256), the
config is validated like ``edge-sdk validate-config`` does, and errors name what was expected.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edge_sdk._lazy import require
from edge_sdk.bundle import read_bundle
from edge_sdk.config import parse_config, read_config_file
from edge_sdk.configtools import env_references, unset_env_allowed
from edge_sdk.deploy.install_script import render_install_script
from edge_sdk.deploy.options import DeployOptions
from edge_sdk.deploy.requirements import device_requirements, render_constraints, render_requirements
from edge_sdk.deploy.unit import render_unit
from edge_sdk.deploy.wheel import build_wheel, check_wheel, find_source_tree, wheel_requires
from edge_sdk.errors import ConfigError

__all__ = ["MARKER", "make_deployment", "tarball_path"]

_log = logging.getLogger(__name__)

MARKER = "deployment.json"


def tarball_path(out_dir: str | Path) -> Path:
    """Where ``make_deployment(..., options.tar=True)`` writes the archive: next to ``out_dir``."""
    out = Path(out_dir)
    return out.with_name(out.name + ".tar.gz")


def make_deployment(
    bundle_path: str | Path,
    config: str | Path | Mapping[str, Any],
    out_dir: str | Path,
    options: DeployOptions | None = None,
) -> Path:
    """Write a deployment directory for ``bundle_path`` and ``config`` to ``out_dir``; returns it.

    ``config`` is a YAML/JSON device config file or the mapping such a file holds. ``out_dir`` is
    replaced when it holds an earlier deployment and refused when it holds anything else. With
    ``options.tar`` the directory is also archived to :func:`tarball_path`.
    """
    options = options or DeployOptions()
    out = Path(out_dir)
    bundle_file = Path(bundle_path)
    bundle = read_bundle(bundle_file)  # BundleError names the file and what is wrong with it
    data, source_text, where = _read_config(config)
    env_refs = env_references(data)
    secrets = [name for name, required in env_refs.items() if required]
    _validate(data, source_text, where)

    installed_model = f"{options.models_dir}/{bundle_file.name}"
    data = _for_device(data, installed_model, options)
    _validate(data, None, "generated device.yaml")
    extras = _extras_for(data)
    wheel = check_wheel(options.wheel) if options.wheel else None
    source_tree = find_source_tree() if wheel is None else None
    extra_files = [_check_file(f, "deploy.extra_files") for f in options.extra_files]
    _check_out_dir(out)

    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=_parent(out)))
    try:
        staging.chmod(0o755)  # mkdtemp makes it 0700; the Pi's admin user copies and reads it
        (staging / "models").mkdir()
        (staging / "config").mkdir()
        shutil.copyfile(bundle_file, staging / "models" / bundle_file.name)
        if wheel is not None:
            (staging / "wheels").mkdir()
            shipped = staging / "wheels" / wheel.name
            shutil.copyfile(wheel, shipped)
        else:
            assert source_tree is not None
            shipped = build_wheel(source_tree, staging / "wheels")
        wheel_rel = f"./wheels/{shipped.name}"
        requirements = device_requirements(wheel_requires(shipped), extras)
        for extra in extra_files:
            if extra.name in ("device.yaml", "env.example"):
                raise ConfigError(f"deploy.extra_files: {extra} would replace the generated {extra.name}")
            shutil.copyfile(extra, staging / "config" / extra.name)
        (staging / "config" / "device.yaml").write_text(_device_yaml(data, bundle_file.name))
        (staging / "config" / "env.example").write_text(_env_example(env_refs, options))
        (staging / "requirements.txt").write_text(render_requirements(wheel_rel, requirements))
        (staging / "constraints.txt").write_text(render_constraints())
        (staging / options.unit_name).write_text(render_unit(options))
        script = staging / "install.sh"
        script.write_text(render_install_script(options, wheel=wheel_rel, secrets=secrets))
        script.chmod(0o755)
        manifest = bundle.manifest
        record = {
            "schema": "edge_sdk.deployment/1",
            "model": {"file": bundle_file.name, "name": manifest.model.name, "version": manifest.model.version,
                      "sha256": bundle.sha256, "installed_path": installed_model},
            "device": data.get("device", "edge-device"),
            "wheel": {"file": shipped.name, "sha256": hashlib.sha256(shipped.read_bytes()).hexdigest(),
                      "built_from": str(source_tree) if source_tree is not None else None},
            "extras": sorted(extras),
            "env": list(env_refs),
            "secrets": secrets,
            "options": _jsonable(asdict(options)),
        }
        (staging / MARKER).write_text(json.dumps(record, indent=1) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _log.info("deployment of %s (%s) written to %s", manifest.model.name, bundle.sha256[:12], out)
    if options.tar:
        _write_tarball(out, tarball_path(out))
    return out


# -- the config ------------------------------------------------------------------------------------
def _read_config(config: str | Path | Mapping[str, Any]) -> tuple[dict[str, Any], str | None, str]:
    if isinstance(config, Mapping):
        return dict(config), None, "config"
    data, source_text = read_config_file(config)
    return data, source_text, str(config)


def _validate(data: Mapping[str, Any], source_text: str | None, where: str) -> None:
    """The checks of ``validate-config --allow-unset-env``: unset ``${VAR}`` secrets stand in.

    The secrets live in the device's env file, not on the build machine, so their absence here is
    expected; everything else (unknown keys, types, values) is checked as on the device.
    """
    with unset_env_allowed():
        parse_config(data, source_text, where)


def _for_device(data: Mapping[str, Any], installed_model: str, options: DeployOptions) -> dict[str, Any]:
    """The config as the device sees it: the installed bundle, the outbox in the state directory."""
    model = dict(data.get("model") or {})
    if model.get("path") and model["path"] != installed_model:
        _log.info("model.path %s replaced by the installed bundle %s", model["path"], installed_model)
    model["path"] = installed_model
    # device first, then model, then the rest in the user's order: reads like the example configs
    out = {k: v for k, v in data.items() if k == "device"}
    out["model"] = model
    out.update((k, v) for k, v in data.items() if k not in out)
    mqtt = out.get("mqtt")
    if isinstance(mqtt, Mapping):
        outbox = dict(mqtt.get("outbox") or {})
        outbox.setdefault("path", options.outbox)
        out["mqtt"] = {**mqtt, "outbox": outbox}
    return out


def _extras_for(data: Mapping[str, Any]) -> set[str]:
    extras = {"device"}
    embedded = data.get("embedded_broker") or {}
    if data.get("mqtt") is None and (not isinstance(embedded, Mapping) or embedded.get("enabled", True)):
        _log.warning(
            "the config has no mqtt section: the device will run the embedded broker (edge-fusion-sdk[broker]); "
            "point it at Mosquitto or EMQX for a fleet"
        )
        extras.add("broker")
    return extras


def _device_yaml(data: Mapping[str, Any], bundle_name: str) -> str:
    yaml = require("yaml", "writing the device config")
    header = (
        "# Device config for `edge-sdk run`, generated by `edge-sdk deploy` for the bundle "
        f"{bundle_name}.\n# ${{VAR}} values are read from the service's environment file.\n"
    )
    return header + yaml.safe_dump(_plain(data), sort_keys=False, default_flow_style=False)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _env_example(refs: Mapping[str, bool], options: DeployOptions) -> str:
    """The env file's template: every variable commented out, so none is set to an empty value."""
    lines = [
        f"# {options.env_file}: environment of {options.unit_name} (KEY=value lines, no quotes needed).",
        "# Root-owned, readable by the service group only. install.sh never overwrites it.",
    ]
    if refs:
        lines.append("# Remove the '#' and give a value; install.sh starts the service once the required ones are set.")
    for name, required in refs.items():
        lines += [f"# {name}: {'required' if required else 'optional, the config has a default'}", f"#{name}="]
    if not refs:
        lines.append("# the device config references no ${VAR} values")
    return "\n".join(lines) + "\n"


# -- files and directories -------------------------------------------------------------------------
def _check_file(path: str | Path, what: str) -> Path:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{what}: expected an existing file. Got: {file}")
    return file


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output directory: expected a directory. Got: a file at {out}")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ConfigError(
            f"output directory {out} is not empty and holds no earlier deployment ({MARKER}); "
            "expected an empty or new directory"
        )


def _parent(out: Path) -> Path:
    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    return parent


def _write_tarball(directory: Path, target: Path) -> None:
    def normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
        # Owned by root on the device whoever built it; the modes (install.sh 0755) are kept.
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    tmp = target.with_name(target.name + ".tmp")
    with tarfile.open(tmp, "w:gz") as archive:
        archive.add(directory, arcname=directory.name, filter=normalize)
    tmp.replace(target)
    _log.info("archive written to %s", target)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value
