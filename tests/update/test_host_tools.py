"""The host tools and transfer pieces on real sockets and files: waves, serve-models with Range, resumed
HTTP downloads, MQTT chunks checked one by one."""

from __future__ import annotations

import hashlib
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from edge_sdk.update.chunks import ChunkReceiver, chunk_messages
from edge_sdk.update.errors import DownloadError
from edge_sdk.update.fetch import fetch_to
from edge_sdk.update.rollout import plan_waves
from edge_sdk.update.serve import ModelServer

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "edge_sdk" / "data" / "seek_int8.tflite"


def test_waves_start_with_the_canary_and_grow() -> None:
    devices = [f"d{i}" for i in range(20)]
    assert [len(w) for w in plan_waves(devices, canary=1, growth=2.0)] == [1, 2, 4, 8, 5]
    assert [len(w) for w in plan_waves(devices, canary=5, growth=1.0)] == [5, 5, 5, 5]
    assert [d for wave in plan_waves(devices, 3, 1.5) for d in wave] == devices
    with pytest.raises(ValueError, match="expected canary >= 1 and growth >= 1"):
        plan_waves(devices, 0)


def test_serve_models_answers_ranges_and_refuses_paths_outside_its_directory(tmp_path: Path) -> None:
    data = BUNDLE.read_bytes()
    (tmp_path / "seek.tflite").write_bytes(data)
    (tmp_path / "sub").mkdir()
    with ModelServer(tmp_path, "127.0.0.1", 0).start() as server:
        request = urllib.request.Request(server.url("seek.tflite"), headers={"Range": "bytes=1000-"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 206 and response.read() == data[1000:]
        for name in ("../etc/passwd", "sub", ".hidden", ""):
            with pytest.raises(urllib.error.HTTPError, match="404"):
                urllib.request.urlopen(server.url(name), timeout=10)


def test_an_http_download_resumes_from_the_part_file_and_never_reads_past_the_signed_size(tmp_path: Path) -> None:
    data = BUNDLE.read_bytes()
    (tmp_path / "seek.tflite").write_bytes(data + b"x" * 100_000)  # a server offering more than was signed
    part = tmp_path / "staging.part"
    part.write_bytes(data[:50_000])
    with ModelServer(tmp_path, "127.0.0.1", 0).start() as server:
        fetch_to(server.url("seek.tflite"), part, len(data))
    got = part.read_bytes()
    assert got[: len(data)] == data and len(got) == len(data) + 1  # one byte over: the size check refuses it


def test_mqtt_chunks_are_checked_one_by_one_and_a_stalled_transfer_keeps_its_part(tmp_path: Path) -> None:
    data = BUNDLE.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    messages = list(chunk_messages(BUNDLE))
    receiver = ChunkReceiver()
    part = tmp_path / f"{sha}.part"
    failure: list[BaseException] = []

    def receive() -> None:
        try:
            receiver.receive(part, len(data), sha, gap_timeout_s=1.0)
        except DownloadError as exc:
            failure.append(exc)

    thread = threading.Thread(target=receive)
    thread.start()
    while receiver._target is None:  # waiting for the receiver to listen
        time.sleep(0.01)
    forged = dict(messages[0], data=messages[1]["data"])  # the data of another chunk: its hash does not match
    receiver.on_chunk(forged)
    receiver.on_chunk(messages[0])
    receiver.on_chunk(messages[0])  # a duplicate
    receiver.on_chunk(messages[2])  # a gap
    thread.join(10.0)
    assert receiver.counts == {"taken": 1, "duplicate": 1, "gap": 1, "bad_hash": 1, "unexpected": 0}
    assert failure and "stopped at 32768 of" in str(failure[0])
    assert part.read_bytes() == data[:32768]  # kept: the next attempt resumes here
