"""``ensure_seek_dataset`` passes the generator's touching option on, and caches each variant apart."""

from __future__ import annotations

from pathlib import Path

from converters.workflow import ensure_seek_dataset


def test_the_default_dataset_keeps_its_cache_key_and_touching_gets_its_own(tmp_path: Path) -> None:
    plain = ensure_seek_dataset(tmp_path / "plain", 40, progress=False)
    assert (plain.parent / ".seek-dataset").read_text() == "samples=40 seed=0 size=64 generator=3\n"
    touching = ensure_seek_dataset(tmp_path / "touching", 40, progress=False, touching=1.0)
    assert "touching=1.0" in (touching.parent / ".seek-dataset").read_text()
    # the same seed, other scenes: some images differ once shapes are drawn against the target
    plain_images = sorted((plain.parent / "images").iterdir())
    touching_images = sorted((touching.parent / "images").iterdir())
    assert len(plain_images) == len(touching_images) == 40
    assert any(a.read_bytes() != b.read_bytes() for a, b in zip(plain_images, touching_images, strict=True))
    # asking again for the touching set reuses it; asking for the plain one in its folder rewrites it
    stamp = touching.parent / ".seek-dataset"
    before = stamp.stat().st_mtime_ns
    ensure_seek_dataset(tmp_path / "touching", 40, progress=False, touching=1.0)
    assert stamp.stat().st_mtime_ns == before
    ensure_seek_dataset(tmp_path / "touching", 40, progress=False)
    assert stamp.read_text() == "samples=40 seed=0 size=64 generator=3\n"
