"""Fetch a bundle into a staging file: from a path, or over HTTP(S) with resume.

The staging file sits in the model store (the same filesystem as the installed models, so the
install is a rename, never a copy). A download that stops halfway leaves its ``.part`` file;
the next attempt for the same SHA-256 continues from its end (an HTTP ``Range`` request). No
more than the signed size is ever read, so a hostile server cannot fill the disk.
"""

from __future__ import annotations

import logging
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from edge_sdk.update.errors import DownloadError, TruncatedError

__all__ = ["fetch_to", "fsync_file"]

_log = logging.getLogger(__name__)
_BLOCK = 64 * 1024
Progress = Callable[[int], None]


def fetch_to(source: str, part: Path, size: int, *, timeout_s: float = 30.0, progress: Progress | None = None) -> Path:
    """Make ``part`` hold the first ``size`` bytes of ``source`` (a path, ``file://`` or ``http(s)://`` URL)."""
    scheme = urllib.parse.urlsplit(source).scheme
    if scheme in ("http", "https"):
        _fetch_http(source, part, size, timeout_s, progress)
    elif scheme in ("", "file"):
        _fetch_file(Path(urllib.parse.urlsplit(source).path if scheme == "file" else source), part, size)
    else:
        raise DownloadError(f"cannot fetch {source!r}: expected a path, file://, http:// or https:// URL")
    fsync_file(part)
    got = part.stat().st_size
    if got < size:
        raise TruncatedError(f"fetched {got} of {size} bytes from {source}: the source ended early")
    return part


def _fetch_file(path: Path, part: Path, size: int) -> None:
    try:
        with open(path, "rb") as src, open(part, "wb") as dst:
            shutil.copyfileobj(_Limited(src, size + 1), dst, _BLOCK)  # one byte over: a longer file shows
    except FileNotFoundError:
        raise DownloadError(f"bundle not found: {path}") from None
    except OSError as exc:
        raise DownloadError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _fetch_http(url: str, part: Path, size: int, timeout_s: float, progress: Progress | None) -> None:
    have = part.stat().st_size if part.exists() else 0
    if have >= size:
        return
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            if have and response.status != 206:  # the server ignored Range: start over
                _log.info("%s does not resume (status %s); downloading from the start", url, response.status)
                have = 0
            with open(part, "ab" if have else "wb") as out:
                while have <= size:
                    block = response.read(min(_BLOCK, size + 1 - have))
                    if not block:
                        break
                    out.write(block)
                    have += len(block)
                    if progress is not None:
                        progress(have)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"GET {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"GET {url} stopped after {have} of {size} bytes: {reason}") from exc


class _Limited:
    def __init__(self, handle: object, limit: int) -> None:
        self._handle, self._left = handle, limit

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        data: bytes = self._handle.read(self._left if n < 0 else min(n, self._left))  # type: ignore[attr-defined]
        self._left -= len(data)
        return data


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
