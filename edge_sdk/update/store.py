"""The model store on the device: installed versions, the rollback slot, the version counter.

::

    <root>/state.json         which slot serves (current), the rollback slot (previous), a trial in progress
    <root>/counter.json       the highest version ever installed, per model: never goes down
    <root>/models/seek-v3.tflite (+ .update.json, its signed document)
    <root>/staging/           downloads in progress (same filesystem: installing is a rename)

Every write is temp file + fsync + rename + fsync of the directory, so a power cut leaves either
the old or the new state, never a mix (python-tuf writes its metadata the same way). The counter
is its own file and is written before the state names the new version: the device never again
accepts a version at or below one it has installed, even after the state or the package is reset.

A swapped-in version is on *trial* until its health window commits it. A process start during a
trial counts a boot; when the trial model has already had ``max_trial_boots`` starts without a
commit (it kills the process on load, or crashes during its window), the start rolls back.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from edge_sdk.update.errors import StoreError
from edge_sdk.update.fetch import fsync_file
from edge_sdk.update.verify import file_sha256

__all__ = ["BootChoice", "ModelStore", "Slot", "StoreState"]

_log = logging.getLogger(__name__)
STATE_SCHEMA = "edge_sdk.update-state/1"


@dataclass(frozen=True)
class Slot:
    model: str
    version: int
    file: str  # relative to the store root
    sha256: str
    size: int


@dataclass(frozen=True)
class StoreState:
    current: Slot | None = None
    previous: Slot | None = None
    trial_boots: int | None = None  # None: the current slot is committed

    @property
    def on_trial(self) -> bool:
        return self.trial_boots is not None


@dataclass(frozen=True)
class BootChoice:
    """What to load at start: ``path`` None means the configured base model."""

    path: Path | None
    slot: Slot | None
    on_trial: bool
    rolled_back: str | None = None  # why this start rolled back, if it did


class ModelStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        try:
            for sub in ("models", "staging"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the model store at {self.root}: {exc.strerror or exc}") from exc

    # -- reading ------------------------------------------------------------------------------------
    def state(self) -> StoreState:
        data = _read_json(self.root / "state.json")
        if not data:
            return StoreState()
        return StoreState(current=_slot(data.get("current")), previous=_slot(data.get("previous")),
                          trial_boots=data.get("trial_boots"))

    def floor(self, model: str) -> int:
        """The highest version of ``model`` ever installed here; 0 when none."""
        counters = _read_json(self.root / "counter.json") or {}
        state = self.state()
        slots = [s.version for s in (state.current, state.previous) if s is not None and s.model == model]
        return max([int(counters.get(model, 0)), *slots])

    def path_of(self, slot: Slot) -> Path:
        return self.root / slot.file

    def staging_path(self, sha256: str) -> Path:
        return self.root / "staging" / f"{sha256}.part"

    def clear_staging(self, keep: Path | None = None) -> None:
        for path in (self.root / "staging").iterdir():
            if path != keep:
                path.unlink(missing_ok=True)

    # -- changing -----------------------------------------------------------------------------------
    def raise_floor(self, model: str, version: int) -> None:
        counters = dict(_read_json(self.root / "counter.json") or {})
        if int(counters.get(model, 0)) < version:
            counters[model] = version
            _write_json(self.root / "counter.json", counters)

    def install(self, model: str, version: int, staged: Path, document_json: str, sha256: str) -> Slot:
        """Move a verified staged file into place and make it current, on trial; the old current
        becomes the rollback slot."""
        name = f"{model}-v{version}.tflite"
        target = self.root / "models" / name
        try:
            _write_text(target.with_name(name + ".update.json"), document_json)
            fsync_file(staged)
            os.replace(staged, target)
            _fsync_dir(target.parent)
        except OSError as exc:
            raise StoreError(f"cannot install {name} in {self.root}: {exc.strerror or exc}") from exc
        slot = Slot(model, version, f"models/{name}", sha256, target.stat().st_size)
        self.raise_floor(model, version)  # before the state names it: a crash here still counts it
        old = self.state()
        self._write_state(StoreState(current=slot, previous=old.current, trial_boots=0))
        self._collect()
        return slot

    def commit(self) -> None:
        state = self.state()
        if state.on_trial:
            self._write_state(replace(state, trial_boots=None))

    def rollback(self) -> Slot | None:
        """Back to the rollback slot (None: the configured base model); the counter stays where it is."""
        state = self.state()
        self._write_state(StoreState(current=state.previous, previous=None, trial_boots=None))
        self._collect()
        return state.previous

    def boot(self, max_trial_boots: int = 1) -> BootChoice:
        """The model to load at process start; rolls back a trial that has used up its starts."""
        state = self.state()
        reason = None
        if state.on_trial and (state.trial_boots or 0) >= max_trial_boots:
            reason = (f"v{state.current.version if state.current else '?'} was on trial for "
                      f"{state.trial_boots} start(s) without a commit (crash on load or during its health window)")
            _log.warning("rolling back: %s", reason)
            self.rollback()
            state = self.state()
        elif state.on_trial:
            state = replace(state, trial_boots=(state.trial_boots or 0) + 1)
            self._write_state(state)  # counted before the load, so a crash on load is counted too
        for slot in (state.current, state.previous):
            if slot is not None and self._intact(slot):
                return BootChoice(self.path_of(slot), slot, state.on_trial and slot == state.current, reason)
            if slot is not None:
                _log.error("installed model %s is missing or corrupt; falling back", slot.file)
        return BootChoice(None, None, False, reason)

    def _intact(self, slot: Slot) -> bool:
        path = self.path_of(slot)
        return path.is_file() and path.stat().st_size == slot.size and file_sha256(path) == slot.sha256

    def _write_state(self, state: StoreState) -> None:
        data: dict[str, Any] = {"schema": STATE_SCHEMA, "current": _slot_dict(state.current),
                                "previous": _slot_dict(state.previous), "trial_boots": state.trial_boots}
        _write_json(self.root / "state.json", data)

    def _collect(self) -> None:
        """Delete model files neither slot names (a rolled-back or superseded version)."""
        state = self.state()
        keep = {s.file for s in (state.current, state.previous) if s is not None}
        for path in (self.root / "models").glob("*.tflite"):
            if f"models/{path.name}" not in keep:
                path.unlink(missing_ok=True)
                path.with_name(path.name + ".update.json").unlink(missing_ok=True)


def _slot(data: Any) -> Slot | None:
    return Slot(**data) if isinstance(data, Mapping) else None


def _slot_dict(slot: Slot | None) -> dict[str, Any] | None:
    return asdict(slot) if slot is not None else None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path} is unreadable ({exc}); the store was changed by hand") from exc
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    _write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
