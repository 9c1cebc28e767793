"""At process start: the store's model serves; one that raises while loading is rolled back at once."""

from __future__ import annotations

import hashlib
from pathlib import Path

from releases import Keys, make_release

from edge_sdk.model import FusionModel
from edge_sdk.update.boot import load_serving_model
from edge_sdk.update.config import UpdateConfig
from edge_sdk.update.store import ModelStore


def _install(store: ModelStore, bundle: Path, version: int) -> None:
    data = bundle.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    part = store.staging_path(sha)
    part.write_bytes(data)
    store.install("seek", version, part, Path(str(bundle) + ".update.json").read_text(), sha)


def test_a_trial_model_that_fails_to_load_is_rolled_back_before_the_run_starts(tmp_path: Path, keys: Keys) -> None:
    config = UpdateConfig(store_dir=str(tmp_path / "store"), trusted_keys=(str(keys.public),))
    store = ModelStore(config.store_dir)
    base = make_release(tmp_path, 1, keys.signing)
    _install(store, make_release(tmp_path, 2, keys.signing), 2)
    store.commit()
    # installed as if its checks had passed elsewhere; in this process its goldens fail on load
    _install(store, make_release(tmp_path, 3, keys.signing, bad_goldens=True), 3)
    model, boot = load_serving_model(config, base, lambda path: FusionModel.from_bundle(path))
    with model:
        assert model.manifest.model.version == "2"
    assert boot.choice.slot.version == 2 and "v3 failed to load" in boot.choice.rolled_back
    assert store.state().current.version == 2 and store.floor("seek") == 3


def test_without_an_installed_version_the_configured_model_serves(tmp_path: Path, keys: Keys) -> None:
    config = UpdateConfig(store_dir=str(tmp_path / "store"))
    base = make_release(tmp_path, 1, keys.signing)
    model, boot = load_serving_model(config, base, lambda path: FusionModel.from_bundle(path))
    with model:
        assert model.bundle.path == base
    assert boot.choice.path is None and boot.choice.rolled_back is None
