"""Benchmark of the firmware bridge (``make bench-bridge``).

Prints a table, then as its last line one JSON object with the figures the issue asks for.
Everything runs for real: the Python decoder and the C decoder on the same fuzz stream, the C
simulator on a pty for round trips, sensor rate, replug and safe stop, avr-gcc for sizes, and
the Uno image itself in simavr (``simavr_*``: its UART on a pty, the same BridgeLink).

``noise_*``: commands for ``--noise-s`` seconds (60) through a line that flips one bit of 1 % of
the bytes in both directions (``firmware_bridge.tools.noise.NoisyLine`` between the simulator's
pty and the link's). Applications are counted at the device, from the simulator's own
``APPLY ... seq=N`` report, per command: ``noise_commands_applied_twice`` and
``noise_commands_lost`` (ACKed, never applied) must be 0. ``linemode_*``: hostile lines
(``firmware_bridge.tools.linefuzz``) through the real LineReader on a pty; ``linemode_crashes`` 0.

``--only noise,linemode`` runs a subset (names: fuzz, interop, link, safe_stop, sizes, simavr,
noise, linemode).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tty
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
    CommandTimeoutError,
    Frame,
    FrameDecoder,
    LineModeConfig,
    LineReader,
    LinkDownError,
    describe,
    encode_frame,
)
from firmware_bridge.protocol.messages import Sensor, decode_frame, pack
from firmware_bridge.tools import HostSimulator, build_avr_core, build_host_tools, build_uno_sketch
from firmware_bridge.tools.linefuzz import hostile_line
from firmware_bridge.tools.noise import NoisyLine
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


def _noise_command(i: int) -> tuple[str, int]:
    """Command i: alternate motors, values stepping through -1000..1000, so that (actuator, value)
    repeats only every 4002 commands and (seq, actuator, value) names one command at the device."""
    return ("motor_left", "motor_right")[i % 2], (i // 2) % 2001 - 1000


def noise_figures(duration_s: float, flip_rate: float = 0.01) -> dict[str, Any]:
    # Short timeouts make lost ACKs (and so resends of applied commands) frequent.
    config = BridgeConfig(command_timeout_s=0.05, command_retries=3, handshake_attempts=20, link_timeout_s=2.0)
    sent: list[tuple[int, str, int, float]] = []  # seq, actuator, value, first send (monotonic)
    acked: dict[int, bool | None] = {}  # index in sent -> the ACK said duplicate
    fates: dict[int, str] = {}  # index in sent -> command_fate after a timeout
    with (
        HostSimulator(distance_cm=42.3, sensor_period_ms=50) as sim,
        NoisyLine(sim.port, flip_rate, seed=SEED) as line,
        BridgeLink.open(line.path, config) as link,
    ):
        deadline = time.monotonic() + duration_s
        i = 0
        bar = tqdm(desc="noise", unit="cmd", leave=False, file=sys.stderr)
        while time.monotonic() < deadline:
            actuator, value = _noise_command(i)
            i += 1
            first_send = time.monotonic()
            try:
                result = link.send_command(actuator, value)
            except CommandTimeoutError as exc:
                sent.append((exc.seq, actuator, value, first_send))
                fates[len(sent) - 1] = link.command_fate(exc, timeout_s=1.0).value
                continue
            except LinkDownError:
                link.wait_connected(5.0)  # not sent: the link was down (noise ate the heartbeats)
                continue
            sent.append((result.seq, actuator, value, first_send))
            acked[len(sent) - 1] = result.duplicate
            bar.update()
        bar.close()
        time.sleep(0.3)  # the simulator's last APPLY lines reach its reader thread
        stats = link.stats()
        events = [e for e in sim.actuator_events() if e.seq is not None]
        device_duplicates = sim.duplicates
        noise = line.counts()
    # Each application the device reported belongs to the latest command with its (seq, actuator,
    # value) sent before it; within 4002 commands that triple is unique.
    by_key: dict[tuple[int, str, int], list[int]] = {}
    for index, (seq, actuator, value, _) in enumerate(sent):
        by_key.setdefault((seq, actuator, value), []).append(index)
    applications = [0] * len(sent)
    unmatched = 0
    for event in events:
        candidates = [j for j in by_key.get((event.seq or 0, event.name, event.value), []) if sent[j][3] <= event.time_s]
        if candidates:
            applications[candidates[-1]] += 1
        else:
            unmatched += 1  # a command the host never sent (a corrupt frame that passed the CRC)
    fate_wrong = sum(
        (fate == "applied" and applications[j] == 0) or (fate == "not_applied" and applications[j] > 0)
        for j, fate in fates.items()
    )
    return {
        "noise_seconds": duration_s,
        "noise_flip_rate": flip_rate,
        "noise_bits_flipped_to_host": noise.to_host_flips,
        "noise_bits_flipped_to_device": noise.to_device_flips,
        "noise_commands_sent": len(sent),
        "noise_commands_acked": len(acked),
        "noise_commands_applied_twice": sum(n > 1 for n in applications),
        "noise_commands_lost": sum(applications[j] == 0 for j in acked),
        "noise_acked_as_duplicate": sum(bool(d) for d in acked.values()),
        "noise_device_duplicates": device_duplicates,
        "noise_unmatched_applications": unmatched,
        "noise_retries": stats.retries,
        "noise_crc_errors_host": stats.crc_errors,
        "noise_timeouts": len(fates),
        "noise_timeouts_applied": sum(f == "applied" for f in fates.values()),
        "noise_timeouts_not_applied": sum(f == "not_applied" for f in fates.values()),
        "noise_timeouts_unknown": sum(f == "unknown" for f in fates.values()),
        "noise_timeout_fate_wrong": int(fate_wrong),
        "noise_link_losses": stats.link_losses,
    }


def linemode_fuzz(n_lines: int) -> dict[str, Any]:
    rng = random.Random(SEED + 2)
    master, slave = os.openpty()
    tty.setraw(slave)
    crashes = 0
    try:
        with LineReader.open(os.ttyname(slave), LineModeConfig(time_key="t_ms")) as reader:
            written = 0
            batch = bytearray()
            for _ in tqdm(range(n_lines), desc="linemode fuzz", unit="line", leave=False, file=sys.stderr):
                batch += hostile_line(rng)
                written += 1
                if len(batch) > 4096:
                    os.write(master, bytes(batch))  # blocks while the reader is behind: nothing lost
                    batch.clear()
            os.write(master, bytes(batch) + b"fuzz_done=1\n")
            written += 1
            try:
                while reader.wait_for_reading(10.0).values.get("fuzz_done") != 1.0:
                    pass
            except BridgeError as exc:
                crashes += 1  # the reader stopped reading: a crash, whatever its cause
                print(f"linemode fuzz: {exc}", file=sys.stderr)
            stats = reader.stats()
    finally:
        os.close(master)
        os.close(slave)
    crashes += stats["reader_failures"]
    accounted = stats["lines_ok"] + stats["lines_skipped"]
    out: dict[str, Any] = {
        "linemode_lines": written,
        "linemode_crashes": crashes,
        "linemode_readings": stats["readings"],
        "linemode_unaccounted": written - accounted,
        "linemode_link_losses": stats["link_losses"],
    }
    out.update({f"linemode_rejected_{k}": v for k, v in stats["rejected"].items()})
    return out


SECTIONS = ("fuzz", "interop", "link", "safe_stop", "sizes", "simavr", "noise", "linemode")


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description="firmware bridge bench")
    cli.add_argument("--noise-s", type=float, default=60.0, help="length of the noisy-line command run")
    cli.add_argument("--linemode-lines", type=int, default=20000, help="hostile lines for the line-mode fuzz")
    cli.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    args = cli.parse_args(argv)
    only = set(args.only.split(","))
    if not only <= set(SECTIONS) or args.noise_s <= 0 or args.linemode_lines < 1:
        cli.error(f"--only takes {','.join(SECTIONS)}; --noise-s > 0; --linemode-lines >= 1")
    started = time.monotonic()
    tools = build_host_tools()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory():
        for name, run in (
            ("fuzz", lambda: fuzz(tools.vectors_tool)),
            ("interop", lambda: interop(tools.vectors_tool)),
            ("link", link_figures),
            ("safe_stop", safe_stop),
            ("sizes", sizes),
            ("simavr", simavr_figures),
            ("noise", lambda: noise_figures(args.noise_s)),
            ("linemode", lambda: linemode_fuzz(args.linemode_lines)),
        ):
            if name in only:
                results.update(run())
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    rows = [
        (
            "fuzz frames (half damaged)",
            f"{results.get('fuzz_frames', '-')} ({results.get('fuzz_corrupted', '-')} damaged)",
        ),
        ("corrupt frames accepted", results.get("fuzz_corrupt_accepted", "-")),
        ("decoder crashes", results.get("fuzz_crashes", "-")),
        (
            "intact frames decoded / sent",
            f"{results.get('fuzz_intact_decoded', '-')} / {results.get('fuzz_intact_sent', '-')}",
        ),
        ("C decoder agrees with Python", results.get("fuzz_c_python_agree", "-")),
        (
            "interop vectors / failures",
            f"{results.get('interop_vectors', '-')} / {results.get('interop_failures', '-')}",
        ),
        (
            "command RTT p50 / p99 (pty)",
            f"{results.get('rtt_p50_ms', '-')} / {results.get('rtt_p99_ms', '-')} ms",
        ),
        ("sensor frames/s (pty, 1 ms period)", results.get("sensor_frames_per_s", "-")),
        (
            "sensor frame on the wire",
            f"{results.get('sensor_frame_wire_bytes', '-')} B ({results.get('sensor_frame_payload_bytes', '-')} B payload)",
        ),
        ("max sensor frames/s at 115200", results.get("sensor_frames_per_s_115200_max", "-")),
        ("wire efficiency at 115200", results.get("wire_efficiency_115200", "-")),
        (
            "replug recovered",
            f"{results.get('replug_recovered', '-')} ({results.get('replug_total_ms', '-')} ms incl. 300 ms unplugged)",
        ),
        (
            "safe stop (stale → ACK) max / p50",
            f"{results.get('safe_stop_ms', '-')} / {results.get('safe_stop_p50_ms', '-')} ms",
        ),
        (
            f"core RAM / flash ({results.get('firmware_target', '-')})",
            f"{results.get('firmware_ram_bytes', '-')} / {results.get('firmware_flash_bytes', '-')} B",
        ),
        (
            "Uno sketch RAM / flash",
            f"{results.get('sketch_ram_bytes', '-')} / {results.get('sketch_flash_bytes', '-')} B",
        ),
        (
            "Uno image in simavr: handshake / RTT p50 / p99",
            (
                f"{results.get('simavr_handshake_ok', '-')} / {results.get('simavr_rtt_p50_ms', '-')} / "
                f"{results.get('simavr_rtt_p99_ms', '-')} ms"
            ),
        ),
        (
            "simavr sensor frames/s, distance error",
            (f"{results.get('simavr_sensor_frames_per_s', '-')}, {results.get('simavr_distance_error_cm', '-')} cm"),
        ),
        (
            "noisy line: commands sent / ACKed",
            f"{results.get('noise_commands_sent', '-')} / {results.get('noise_commands_acked', '-')}",
        ),
        ("noisy line: applied twice (counted at the device)", results.get("noise_commands_applied_twice", "-")),
        ("noisy line: ACKed but never applied", results.get("noise_commands_lost", "-")),
        ("noisy line: ACKed as duplicate (ACK lost, resent)", results.get("noise_acked_as_duplicate", "-")),
        (
            "noisy line: timeouts applied / not / unknown",
            (
                f"{results.get('noise_timeouts_applied', '-')} / {results.get('noise_timeouts_not_applied', '-')} / "
                f"{results.get('noise_timeouts_unknown', '-')} (wrong: {results.get('noise_timeout_fate_wrong', '-')})"
            ),
        ),
        (
            "line-mode fuzz: lines / crashes / unaccounted",
            (
                f"{results.get('linemode_lines', '-')} / {results.get('linemode_crashes', '-')} / "
                f"{results.get('linemode_unaccounted', '-')}"
            ),
        ),
    ]
    rows = [(name, value) for name, value in rows if "- / -" not in str(value) and value != "-"]
    width = max(len(name) for name, _ in rows)
    print(f"{'firmware bridge':<{width}}  value")
    print("-" * (width + 30))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
