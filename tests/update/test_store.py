"""The model store on real files: install, commit, rollback, the crash counter, the version counter."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from releases import Keys, make_release

from edge_sdk.update.store import ModelStore


def _stage(store: ModelStore, bundle: Path) -> tuple[Path, str]:
    data = bundle.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    part = store.staging_path(sha)
    part.write_bytes(data)
    return part, sha


def _install(store: ModelStore, bundle: Path, version: int) -> None:
    part, sha = _stage(store, bundle)
    store.install("seek", version, part, Path(str(bundle) + ".update.json").read_text(), sha)


def test_install_keeps_the_previous_version_as_rollback_slot_and_commit_ends_the_trial(tmp_path: Path,
                                                                                        keys: Keys) -> None:
    store = ModelStore(tmp_path / "store")
    _install(store, make_release(tmp_path, 2, keys.signing), 2)
    store.commit()
    _install(store, make_release(tmp_path, 3, keys.signing), 3)
    state = store.state()
    assert (state.current.version, state.previous.version, state.on_trial) == (3, 2, True)
    assert not list((tmp_path / "store" / "staging").iterdir())  # renamed, not copied
    assert (tmp_path / "store" / "models" / "seek-v3.tflite.update.json").is_file()
    store.commit()
    assert not store.state().on_trial
    assert store.boot().slot.version == 3


def test_a_trial_model_that_never_commits_is_rolled_back_at_the_second_start(tmp_path: Path, keys: Keys) -> None:
    store = ModelStore(tmp_path / "store")
    _install(store, make_release(tmp_path, 2, keys.signing), 2)
    store.commit()
    _install(store, make_release(tmp_path, 3, keys.signing), 3)
    first = store.boot(max_trial_boots=1)  # the process died in its health window; one more try
    assert (first.slot.version, first.on_trial, first.rolled_back) == (3, True, None)
    second = store.boot(max_trial_boots=1)  # it died again: back to v2
    assert second.slot.version == 2 and not second.on_trial
    assert "on trial for 1 start(s) without a commit" in second.rolled_back
    assert not (tmp_path / "store" / "models" / "seek-v3.tflite").exists()
    assert store.floor("seek") == 3  # the rolled-back version can never be offered again


def test_the_version_counter_survives_a_reset_of_the_state_and_a_reinstall(tmp_path: Path, keys: Keys) -> None:
    store = ModelStore(tmp_path / "store")
    _install(store, make_release(tmp_path, 4, keys.signing), 4)
    (tmp_path / "store" / "state.json").unlink()  # as if the slots were wiped by hand
    assert ModelStore(tmp_path / "store").floor("seek") == 4
    assert json.loads((tmp_path / "store" / "counter.json").read_text()) == {"seek": 4}


def test_a_corrupt_current_file_falls_back_to_the_rollback_slot_then_to_the_base(tmp_path: Path, keys: Keys) -> None:
    store = ModelStore(tmp_path / "store")
    _install(store, make_release(tmp_path, 2, keys.signing), 2)
    store.commit()
    _install(store, make_release(tmp_path, 3, keys.signing), 3)
    store.commit()
    current = tmp_path / "store" / "models" / "seek-v3.tflite"
    data = bytearray(current.read_bytes())
    data[1000] ^= 0xFF
    current.write_bytes(bytes(data))
    assert store.boot().slot.version == 2
    (tmp_path / "store" / "models" / "seek-v2.tflite").unlink()
    choice = store.boot()
    assert choice.path is None and choice.slot is None  # the configured base model serves
