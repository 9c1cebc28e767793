"""The wheel a deployment ships: the one given (``--wheel``), or one built from this package's source.

The Pi installs edge-fusion-sdk from that file, never by name from a package index, so the code on
the device is the code that built the deployment. Building needs the source tree: found from where
``edge_sdk`` is imported (a checkout, an editable install) or from the install's ``direct_url.json``
(``pip install <dir>``). Only what setup.cfg packages is copied to a temporary directory and built
there (``pip wheel --no-deps --no-build-isolation``), so the checkout gets no ``build/`` and no
stale files from an earlier build end up in the wheel.
"""

from __future__ import annotations

import configparser
import email.parser
import importlib.metadata
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from edge_sdk.distribution import DISTRIBUTION, WHEEL_PREFIX
from edge_sdk.errors import ConfigError, EdgeSDKError

__all__ = ["build_wheel", "check_wheel", "find_source_tree", "wheel_requires"]

_log = logging.getLogger(__name__)

# Top-level files setup.cfg reads while building (long_description is README.md).
_PROJECT_FILES = ("setup.cfg", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "LICENSE.txt")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _package_dir() -> Path:
    import edge_sdk

    return Path(edge_sdk.__file__).resolve().parent


def _declares_distribution(directory: Path) -> bool:
    setup = configparser.ConfigParser(interpolation=None)
    try:
        setup.read(directory / "setup.cfg", encoding="utf-8")
    except configparser.Error:
        return False
    return _normalize(setup.get("metadata", "name", fallback="")) == DISTRIBUTION


def _direct_url_dir() -> Path | None:
    """The local directory ``pip install <dir>`` recorded for the installed distribution, if any."""
    try:
        text = importlib.metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return None
    try:
        url = json.loads(text or "{}").get("url", "")
    except ValueError:
        return None
    parsed = urlparse(url)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def find_source_tree() -> Path:
    """The directory holding the setup.cfg of :data:`DISTRIBUTION` that this ``edge_sdk`` comes from."""
    package = _package_dir()
    candidates = [package.parent]
    recorded = _direct_url_dir()
    if recorded is not None:
        candidates.append(recorded)
    for candidate in candidates:
        if _declares_distribution(candidate) and (candidate / "edge_sdk" / "__init__.py").is_file():
            return candidate
    raise ConfigError(
        f"deploy.wheel: no wheel given and no {DISTRIBUTION} source tree to build one from "
        f"(edge_sdk is imported from {package}; expected a setup.cfg naming {DISTRIBUTION} next to it "
        f"or a local directory in the install's direct_url.json). Pass --wheel FILE: an "
        f"{WHEEL_PREFIX}<version>-py3-none-any.whl built with `pip wheel --no-deps -w dist <source tree>`"
    )


def _packaged_paths(tree: Path) -> list[Path]:
    setup = configparser.ConfigParser(interpolation=None)
    setup.read(tree / "setup.cfg", encoding="utf-8")
    patterns = setup.get("options.packages.find", "include", fallback="edge_sdk*").split()
    tops = sorted({pattern.rstrip("*").split(".")[0] for pattern in patterns if pattern.rstrip("*")})
    return [tree / name for name in (*_PROJECT_FILES, *tops) if (tree / name).exists()]


def build_wheel(tree: Path, out_dir: Path) -> Path:
    """Build the wheel of the source ``tree`` into ``out_dir``; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edge-sdk-wheel-") as tmp:
        copy = Path(tmp) / tree.name
        copy.mkdir()
        for path in _packaged_paths(tree):
            if path.is_dir():
                shutil.copytree(path, copy / path.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(path, copy / path.name)
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                   "-w", str(out_dir), str(copy)]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        # the builder's own "error: ..." says why; pip's closing lines only say that it failed
        causes = [line for line in lines if line.lower().startswith("error:") and "subprocess-exited" not in line
                  and "metadata-generation-failed" not in line]
        tail = causes[0] if causes else " ".join(lines[-3:])
        raise EdgeSDKError(
            f"building the {DISTRIBUTION} wheel from {tree} failed (pip wheel exit {done.returncode}: {tail}). "
            "Expected a build environment with setuptools and wheel; or build it elsewhere and pass --wheel FILE"
        )
    built = sorted(out_dir.glob(f"{WHEEL_PREFIX}*.whl"))
    if len(built) != 1:
        raise EdgeSDKError(f"building the {DISTRIBUTION} wheel: expected one {WHEEL_PREFIX}*.whl in {out_dir}. "
                           f"Got: {[p.name for p in out_dir.iterdir()]}")
    _log.info("built %s from %s", built[0].name, tree)
    return built[0]


def check_wheel(path: str | Path) -> Path:
    """``path`` if it is a wheel of :data:`DISTRIBUTION` (by file name and metadata), else ConfigError."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"deploy.wheel: expected an existing file. Got: {file}")
    if not (file.suffix == ".whl" and file.name.startswith(WHEEL_PREFIX)):
        raise ConfigError(f"deploy.wheel: expected an {WHEEL_PREFIX}<version>-....whl file. Got: {file.name}")
    wheel_requires(file)  # readable, and the metadata names the distribution
    return file


def wheel_requires(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` lines of ``wheel``'s metadata: what pip would install with it."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = [n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
            if len(names) != 1:
                raise ConfigError(f"deploy.wheel: expected one *.dist-info/METADATA in {wheel.name}. Got: {names}")
            text = archive.read(names[0]).decode("utf-8")
    except (zipfile.BadZipFile, OSError) as exc:
        raise ConfigError(f"deploy.wheel: expected a wheel (a zip archive). Got: {wheel.name} ({exc})") from exc
    metadata = email.parser.Parser().parsestr(text, headersonly=True)
    name = _normalize(metadata.get("Name", ""))
    if name != DISTRIBUTION:
        raise ConfigError(f"deploy.wheel: expected a wheel of {DISTRIBUTION}. Got: one of {name or 'no name'}")
    return list(metadata.get_all("Requires-Dist") or [])
