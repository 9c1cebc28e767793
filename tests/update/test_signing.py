"""Signing on the host: real Ed25519 keys, a document that covers what the device checks."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from releases import Keys, make_release

from edge_sdk.errors import MissingDependencyError
from edge_sdk.update.canonical import canonical_json
from edge_sdk.update.document import SignedUpdate
from edge_sdk.update.errors import ManifestError, SignatureError, UnknownKeyError
from edge_sdk.update.keys import PublicKey

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_sdk.cli", *args], check=False, cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_keygen_and_sign_write_a_document_covering_hash_size_version_compat_and_expiry(tmp_path: Path) -> None:
    done = _cli("keygen", "--out", str(tmp_path / "release"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "release.key").stat().st_mode & 0o777 == 0o600
    bundle = tmp_path / "seek.tflite"
    bundle.write_bytes((ROOT / "edge_sdk" / "data" / "seek_int8.tflite").read_bytes())
    done = _cli("sign", str(bundle), "--key", str(tmp_path / "release.key"), "--version", "7",
                "--expires-days", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    document = SignedUpdate.from_file(str(bundle) + ".update.json")
    info = document.info
    assert (info.model, info.version, info.size) == ("seek", 7, bundle.stat().st_size)
    assert info.sha256 == hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert [(i["role"], i["shape"]) for i in info.compat["inputs"]] == [("image", [1, 64, 64, 3]),
                                                                         ("sensor", [1, 1]), ("text", [1, 8])]
    assert 47 * 3600 < (info.expires - info.issued).total_seconds() <= 48 * 3600
    key = PublicKey.from_file(tmp_path / "release.pub")
    assert document.signatures[0]["keyid"] == key.keyid
    assert document.verify_signature({key.keyid: key}) == key


def test_sign_refuses_a_public_key_and_a_non_integer_version_with_exit_2(tmp_path: Path, keys: Keys) -> None:
    bundle = tmp_path / "seek.tflite"
    bundle.write_bytes((ROOT / "edge_sdk" / "data" / "seek_int8.tflite").read_bytes())
    done = _cli("sign", str(bundle), "--key", str(keys.public), cwd=tmp_path)
    assert done.returncode == 2 and "expected an unencrypted Ed25519 PEM private key" in done.stderr
    done = _cli("sign", str(bundle), "--key", str(keys.private), "--version", "0", cwd=tmp_path)
    assert done.returncode == 2 and "--version >= 1" in done.stderr
    assert not (tmp_path / "seek.tflite.update.json").exists()


def test_a_document_reformatted_by_another_json_tool_still_verifies(tmp_path: Path, keys: Keys) -> None:
    bundle = make_release(tmp_path, 2, keys.signing)
    data = json.loads(Path(str(bundle) + ".update.json").read_text())
    reformatted = json.loads(json.dumps(data, indent=None, sort_keys=False))  # other order, other spacing
    trusted = {keys.signing.public.keyid: keys.signing.public}
    assert SignedUpdate.from_dict(reformatted).verify_signature(trusted) == keys.signing.public


def test_any_changed_field_breaks_the_signature_and_another_key_is_unknown(tmp_path: Path, keys: Keys) -> None:
    bundle = make_release(tmp_path, 2, keys.signing)
    data = json.loads(Path(str(bundle) + ".update.json").read_text())
    trusted = {keys.signing.public.keyid: keys.signing.public}
    for change in ({"version": 99}, {"expires": "2099-01-01T00:00:00Z"}, {"model": "other"}):
        forged = {**data, "signed": {**data["signed"], **change}}
        with pytest.raises(SignatureError, match="does not verify"):
            SignedUpdate.from_dict(forged).verify_signature(trusted)
    with pytest.raises(UnknownKeyError, match="which this device does not trust"):
        SignedUpdate.from_dict(data).verify_signature({keys.other.public.keyid: keys.other.public})


def test_canonical_json_refuses_floats_and_sorts_keys() -> None:
    assert canonical_json({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'.encode()
    with pytest.raises(ManifestError, match=r"\$.size: floats have no canonical form"):
        canonical_json({"size": 1.5})


def test_verification_without_cryptography_names_the_update_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.asymmetric.ed25519", None)
    with pytest.raises(MissingDependencyError, match=r"cryptography is needed for signing and verifying model "
                                                     r"updates .*pip install 'edge-fusion-sdk\[update\]'"):
        PublicKey("00" * 32).verify("00" * 64, b"message")


def test_a_wrapped_third_party_model_signs_and_passes_the_probe_and_one_without_goldens_is_refused(
        tmp_path: Path, keys: Keys) -> None:
    """The first real third-party update failed on the device ("the bundle carries no golden vectors"): wrap
    now records them, and sign refuses a bundle without any before a rollout sends it anywhere."""
    import dataclasses

    from edge_sdk.bundle.io import read_bundle, write_bundle
    from edge_sdk.bundle.wrap import wrap_from_spec_file
    from edge_sdk.update.probe import probe_bundle

    zoo = ROOT / "tests" / "fixtures" / "zoo"
    wrapped = tmp_path / "detector.tflite"
    wrap_from_spec_file(zoo / "detector_postprocess.tflite", wrapped, zoo / "specs" / "detector_postprocess.yaml")
    done = _cli("sign", str(wrapped), "--key", str(keys.private), "--version", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert probe_bundle(wrapped) >= 1

    bundle = read_bundle(wrapped)
    bare = tmp_path / "bare.tflite"
    write_bundle(bare, bundle.flatbuffer, dataclasses.replace(bundle.manifest, golden=()), {})
    done = _cli("sign", str(bare), "--key", str(keys.private), "--version", "3", cwd=tmp_path)
    assert done.returncode == 2 and "carries no golden vectors" in done.stderr
    assert not (tmp_path / "bare.tflite.update.json").exists()
