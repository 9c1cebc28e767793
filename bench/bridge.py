"""Benchmark of the firmware bridge (``make bench-bridge``).

Prints a table, then as its last line one JSON object with the figures the issue asks for.
Everything runs for real: the Python decoder and the C decoder on the same fuzz stream, the C
simulator on a pty for round trips, sensor rate, replug and safe stop, avr-gcc for sizes, and
the Uno image itself in simavr (``simavr_*``: its UART on a pty, the same BridgeLink).
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from firmware_bridge import (
    ActionController,
    ActionRule,
    ActionsConfig,
    BridgeConfig,
    BridgeError,
    BridgeLink,
    Frame,
    FrameDecoder,
    describe,
    encode_frame,
)
from firmware_bridge.protocol.messages import Sensor, decode_frame, pack
from firmware_bridge.tools import HostSimulator, build_avr_core, build_host_tools, build_uno_sketch
from firmware_bridge.tools.simavr import AVRSimulator, motor_duty, simavr_installed
from firmware_bridge.tools.vectorgen import load_vectors, vectors_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "bridge"))
from test_interop import random_message

FUZZ_FRAMES = 100_000
SEED = 20241129


def corrupt(rng: random.Random, wire: bytes) -> bytes:
    """One of the ways a UART line damages a frame."""
    data = bytearray(wire)
    kind = rng.randrange(6)
    if kind == 0:  # bit flips
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    elif kind == 1:  # dropped bytes
        for _ in range(rng.randrange(1, 3)):
            if len(data) > 1:
                del data[rng.randrange(len(data))]
    elif kind == 2:  # inserted bytes
        for _ in range(rng.randrange(1, 3)):
            data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
    elif kind == 3:  # truncated (the rest lost, e.g. a reset)
        data = data[: rng.randrange(1, len(data))]
    elif kind == 4:  # a burst of noise over part of the frame
        start = rng.randrange(len(data))
        for i in range(start, min(len(data), start + rng.randrange(2, 8))):
            data[i] = rng.randrange(256)
    else:  # pure garbage instead of the frame
        data = bytearray(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
    return bytes(data)


def fuzz(vectors_tool: Path) -> dict[str, Any]:
    rng = random.Random(SEED)
    decoder = FrameDecoder()
    originals: list[Frame] = []  # every frame the sender meant, in order
    intact = 0
    decoded: list[Frame] = []
    stream = bytearray()
    crashes = 0
    corrupted = 0
    for _ in tqdm(range(FUZZ_FRAMES), desc="fuzz", unit="frame", leave=False, file=sys.stderr):
        frame = Frame(rng.randrange(256), random_message(rng))
        wire = encode_frame(frame.seq, frame.message)
        originals.append(frame)
        if rng.random() < 0.5:
            damaged = corrupt(rng, wire)
            corrupted += damaged != wire
            wire = damaged
        intact += wire == encode_frame(frame.seq, frame.message)
        stream += wire
    # Feed in random chunk sizes: frames split anywhere, as reads from a port are.
    pos = 0
    while pos < len(stream):
        n = rng.randrange(1, 300)
        try:
            decoded += decoder.feed(bytes(stream[pos : pos + n]))
        except BridgeError:
            pass  # the bridge's own errors are allowed (the decoder raises none)
        except Exception:  # noqa: BLE001 -- anything else is exactly what we count as a crash
            crashes += 1
        pos += n
    # Every decoded frame must be a frame the sender meant, in order. Damage outside a frame's
    # body (a byte inserted after its delimiter) leaves it valid: that is not accepting corruption.
    # A damaged neighbour may take a good frame with it by eating its delimiter: "collateral".
    positions: dict[Frame, list[int]] = {}
    for index, frame in enumerate(originals):
        positions.setdefault(frame, []).append(index)
    accepted_corrupt = 0
    j = 0
    for frame in decoded:
        later = [p for p in positions.get(frame, ()) if p >= j][:1]
        if later:
            j = later[0] + 1
        else:
            accepted_corrupt += 1
    counters = decoder.counters()
    # The C decoder on the very same bytes must accept exactly the same frames.
    proc = subprocess.run(
        [str(vectors_tool), "stream"],
        input=bytes(stream),
        capture_output=True,
        timeout=120,
        check=True,
    )
    c_lines = proc.stdout.decode().splitlines()
    c_frames, c_counters = c_lines[:-1], c_lines[-1]
    py_canon = [describe(f) for f in decoded]
    return {
        "fuzz_frames": FUZZ_FRAMES,
        "fuzz_corrupted": corrupted,
        "fuzz_corrupt_accepted": accepted_corrupt,
        "fuzz_crashes": crashes,
        "fuzz_intact_decoded": len(decoded),
        "fuzz_intact_sent": intact,
        "fuzz_resyncs": counters.resyncs,
        "fuzz_crc_errors": counters.crc_errors,
        "fuzz_c_python_agree": c_frames == py_canon,
        "fuzz_c_counters": c_counters,
        "fuzz_stream_bytes": len(stream),
    }


def interop(vectors_tool: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [str(vectors_tool), "check", str(vectors_path())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    file_results = [line for line in proc.stdout.splitlines() if line.startswith(("ok ", "FAIL "))]
    failures = sum(line.startswith("FAIL") for line in file_results)
    # Python checks the same file.
    for v in load_vectors():
        if v["kind"] == "frame":
            wire = bytes.fromhex(v["wire_hex"])
            f = decode_frame(wire[:-1])
            failures += describe(f) != v["canonical"] or encode_frame(f.seq, f.message) != wire
    rng = random.Random(SEED + 1)
    frames = [Frame(rng.randrange(256), random_message(rng)) for _ in range(2000)]
    wires = [encode_frame(f.seq, f.message).hex() for f in frames]
    canon = [describe(f) for f in frames]
    c_dec = subprocess.run(
        [str(vectors_tool), "decode"],
        input="\n".join(wires) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    c_enc = subprocess.run(
        [str(vectors_tool), "encode"],
        input="\n".join(canon) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    for i, frame in enumerate(frames):
        ok = i < len(c_dec) and c_dec[i] == canon[i] and i < len(c_enc) and c_enc[i] == wires[i]
        ok = ok and decode_frame(bytes.fromhex(c_enc[i])[:-1]) == frame
        failures += not ok
    return {"interop_vectors": len(file_results) + len(frames), "interop_failures": int(failures),
            "interop_file_vectors": len(file_results)}  # fmt: skip


def link_figures() -> dict[str, Any]:
    out: dict[str, Any] = {}
    with (
        HostSimulator(distance_cm=42.3, sensor_period_ms=50) as sim,
        BridgeLink.open(sim.port) as link,
    ):
        latencies = []
        for i in tqdm(range(2000), desc="rtt", unit="cmd", leave=False, file=sys.stderr):
            latencies.append(link.send_command("motor_left", (i % 2001) - 1000).latency_ms)
        latencies.sort()
        out["rtt_p50_ms"] = round(statistics.median(latencies), 3)
        out["rtt_p99_ms"] = round(latencies[int(0.99 * (len(latencies) - 1))], 3)
        out["rtt_max_ms"] = round(latencies[-1], 3)
        out["rtt_retries"] = link.stats().retries
        # Replug mid-stream: the pty disappears and comes back; the link must recover alone.
        link.wait_for_reading(1.0)
        started = time.monotonic()
        sim.replug()
        recovered = link.wait_connected(5.0)
        recovered = recovered and link.wait_for_reading(2.0) is not None
        recovered = recovered and link.send_command("led", 1).attempts >= 1
        out["replug_recovered"] = bool(recovered)
        out["replug_total_ms"] = round((time.monotonic() - started) * 1000, 1)
        out["replug_gap_ms"] = 300
    with (
        HostSimulator(distance_cm=42.3, sensor_period_ms=1) as sim,
        BridgeLink.open(sim.port) as link,
    ):
        link.wait_for_reading(1.0)
        before, t0 = link.stats().sensor_frames, time.monotonic()
        time.sleep(2.0)
        stats = link.stats()
        out["sensor_frames_per_s"] = round((stats.sensor_frames - before) / (time.monotonic() - t0), 1)
        out["sensor_crc_errors"] = stats.crc_errors
    # A typical SENSOR frame: one channel (distance), as the seek firmware sends it.
    typical = Sensor(123456, (423,))
    payload = len(pack(typical))
    wire = len(encode_frame(7, typical))
    frames_per_s = 115200 / (10 * wire)  # 8N1: ten bits on the line per byte
    out["sensor_frame_wire_bytes"] = wire
    out["sensor_frame_payload_bytes"] = payload
    out["sensor_frames_per_s_115200_max"] = round(frames_per_s, 1)
    out["wire_efficiency_115200"] = round(frames_per_s * payload * 8 / 115200, 4)
    return out


def safe_stop() -> dict[str, Any]:
    rules = (ActionRule("center", {"motor_left": 500, "motor_right": 500}),)
    config = ActionsConfig(rules=rules, stale_after_s=0.2, debounce_results=1, min_interval_s=0.0)
    figures = []
    with (
        HostSimulator(distance_cm=80.0) as sim,
        BridgeLink.open(sim.port, BridgeConfig()) as link,
    ):
        for _ in tqdm(range(15), desc="safe stop", leave=False, file=sys.stderr):
            with ActionController(link, config) as controller:
                for _ in range(3):
                    controller.on_result("center", 0.95, time.time())
                    time.sleep(0.02)
                before = controller.stats().safe_stops
                deadline = time.monotonic() + 2
                while controller.stats().safe_stops == before and time.monotonic() < deadline:
                    time.sleep(0.01)
                stats = controller.stats()
                if stats.last_safe_stop_ms is not None and stats.safe_stops > before:
                    figures.append(stats.last_safe_stop_ms)
                sim.wait_for_actuator("motor_left", 0, timeout_s=1.0)  # the firmware really stopped
    figures.sort()
    # Max over the trials: the worst case is what matters for a robot (the CPU is shared).
    return {"safe_stop_ms": round(figures[-1], 2), "safe_stop_p50_ms": round(statistics.median(figures), 2),
            "safe_stop_trials": len(figures)}  # fmt: skip


def simavr_figures() -> dict[str, Any]:
    """The Uno image in simavr: handshake, command RTT, sensor rate and distance, pin check."""
    if not simavr_installed():
        return {
            "simavr_handshake_ok": None,
            "simavr_skipped": "simavr is not installed",
        }
    out: dict[str, Any] = {"simavr_handshake_ok": False}
    try:
        with AVRSimulator(distance_cm=42.3) as avr:
            started = time.monotonic()
            with BridgeLink.open(avr.port) as link:
                out["simavr_handshake_ok"] = True
                out["simavr_handshake_ms"] = round((time.monotonic() - started) * 1000, 1)
                latencies = sorted(
                    link.send_command("motor_left", (i % 2001) - 1000).latency_ms
                    for i in tqdm(range(300), desc="simavr rtt", leave=False, file=sys.stderr)
                )
                out["simavr_rtt_p50_ms"] = round(statistics.median(latencies), 3)
                out["simavr_rtt_p99_ms"] = round(latencies[int(0.99 * (len(latencies) - 1))], 3)
                link.send_command("motor_left", -500)
                avr.wait_for_output("motor_left", motor_duty(-500), 1.0)
                out["simavr_pins_ok"] = True
                before, t0 = link.stats().sensor_frames, time.monotonic()
                distances = [link.wait_for_reading(1.0).values["distance_cm"] for _ in range(20)]
                stats = link.stats()
                out["simavr_sensor_frames_per_s"] = round((stats.sensor_frames - before) / (time.monotonic() - t0), 1)
                out["simavr_distance_error_cm"] = round(max(abs(d - 42.3) for d in distances), 2)
                out["simavr_crc_errors"] = stats.crc_errors
        out["simavr_lag_ms"] = avr.lag_ms  # wall time the simulation could not keep up with
    except BridgeError as exc:
        out["simavr_error"] = str(exc).splitlines()[0]
    return out


def sizes() -> dict[str, Any]:
    core = build_avr_core()
    out: dict[str, Any] = {"firmware_target": core.target, "firmware_ram_bytes": core.ram_bytes,
                           "firmware_flash_bytes": core.flash_bytes}  # fmt: skip
    try:
        sketch = build_uno_sketch()
        out.update(sketch_ram_bytes=sketch.ram_bytes, sketch_flash_bytes=sketch.flash_bytes)
    except BridgeError as exc:
        out["sketch_error"] = str(exc).splitlines()[0]
    return out


def main() -> int:
    started = time.monotonic()
    tools = build_host_tools()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory():
        results.update(fuzz(tools.vectors_tool))
        results.update(interop(tools.vectors_tool))
        results.update(link_figures())
        results.update(safe_stop())
        results.update(sizes())
        results.update(simavr_figures())
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    rows = [
        (
            "fuzz frames (half damaged)",
            f"{results['fuzz_frames']} ({results['fuzz_corrupted']} damaged)",
        ),
        ("corrupt frames accepted", results["fuzz_corrupt_accepted"]),
        ("decoder crashes", results["fuzz_crashes"]),
        (
            "intact frames decoded / sent",
            f"{results['fuzz_intact_decoded']} / {results['fuzz_intact_sent']}",
        ),
        ("C decoder agrees with Python", results["fuzz_c_python_agree"]),
        (
            "interop vectors / failures",
            f"{results['interop_vectors']} / {results['interop_failures']}",
        ),
        (
            "command RTT p50 / p99 (pty)",
            f"{results['rtt_p50_ms']} / {results['rtt_p99_ms']} ms",
        ),
        ("sensor frames/s (pty, 1 ms period)", results["sensor_frames_per_s"]),
        (
            "sensor frame on the wire",
            f"{results['sensor_frame_wire_bytes']} B ({results['sensor_frame_payload_bytes']} B payload)",
        ),
        ("max sensor frames/s at 115200", results["sensor_frames_per_s_115200_max"]),
        ("wire efficiency at 115200", results["wire_efficiency_115200"]),
        (
            "replug recovered",
            f"{results['replug_recovered']} ({results['replug_total_ms']} ms incl. 300 ms unplugged)",
        ),
        (
            "safe stop (stale → ACK) max / p50",
            f"{results['safe_stop_ms']} / {results['safe_stop_p50_ms']} ms",
        ),
        (
            f"core RAM / flash ({results['firmware_target']})",
            f"{results['firmware_ram_bytes']} / {results['firmware_flash_bytes']} B",
        ),
        (
            "Uno sketch RAM / flash",
            f"{results.get('sketch_ram_bytes', '-')} / {results.get('sketch_flash_bytes', '-')} B",
        ),
        (
            "Uno image in simavr: handshake / RTT p50 / p99",
            (
                f"{results['simavr_handshake_ok']} / {results.get('simavr_rtt_p50_ms', '-')} / "
                f"{results.get('simavr_rtt_p99_ms', '-')} ms"
            ),
        ),
        (
            "simavr sensor frames/s, distance error",
            (f"{results.get('simavr_sensor_frames_per_s', '-')}, {results.get('simavr_distance_error_cm', '-')} cm"),
        ),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'firmware bridge':<{width}}  value")
    print("-" * (width + 30))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
