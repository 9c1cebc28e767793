"""Benchmark of the device's rolling index (``make bench-index``; issue 11).

- ``query_p95_ms_10k`` / ``query_p95_ms_100k``: a text query end to end, as ``cmd/search`` runs it:
  the bundle's ``embed_text`` on the query, then the top-5 search over 10,000 / 100,000 indexed
  vectors (the bundle's dimension; random unit vectors stand in for frames), p95 over the queries;
  ``search_p95_ms_100k`` is the search alone;
- ``index_mb_100k``: the index folder with 100,000 frames without thumbnails (vectors, rows);
  ``thumbnail_kb``: the mean JPEG thumbnail of a seek frame at the default 96 px, so thumbnails add
  about ``thumbnail_kb`` x 100,000 on top;
- ``startup_ms_100k``: a fresh process (its imports done) opening the 100,000-frame index and
  answering its first (vector) query, after the folder was written (warm page cache);
- ``ingest_cpu_ms_per_frame``: CPU time of the index writer per indexed frame (embed_image of the
  frame, its thumbnail, the write) in the seek run below: the ingest process's (the default,
  ``index.ingest: auto``, on 2+ CPUs), ``_thread`` the writer thread's;
- ``pipeline_fps_ratio``: results/s of a seek run (the seek int8 fusion model, every_frame playback
  as fast as it goes, every result published to a real Mosquitto) with an index section (the dual
  encoder's embed_image beside it, ``max_rate_hz`` of frame time as configured, ``when_full:
  drop_oldest`` as on a live camera, drops reported) over the same run without it; ``_thread``: the
  same with ``index.ingest: thread``; ``pipeline_fps_ratio_replay_waiting[_thread]``: the same with
  ``when_full: block`` (a replay's default), where the run waits for the writer;
  ``pipeline_fps_ratio_paced``: results of the two runs at the clip's own 15 fps (realtime
  playback, as a camera delivers frames). Rounds interleaved (off, on, on waiting, on thread, on
  thread waiting, each round starting one further), medians of each run's steady rate (results/s
  between its 10th and 90th percentile result: start-up and drain left out); ``cpu_ms_per_result``: for each run, CPU ms per result of the runtime
  process and of the children it reaped (MQTT delivery, the ingest process).

The bundle is ``--bundle`` or, without it, the tiny dual encoder trained here (needs TensorFlow,
about 30 s). Prints a table on stdout and, as its last line, one JSON object.

    .venv/bin/python bench/index.py [--bundle B] [--quick] [--rounds 3] [--workdir work/bench-index]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from edge_sdk.index import FrameRecord, Index

QUERIES = ["a red circle on the left", "a small blue square in the centre", "something green on the right",
           "a large yellow triangle", "a red circle and a blue square", "something blue on the left"]


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def build_index(folder: Path, size: int, dim: int, seed: int = 0) -> float:
    """``size`` random unit vectors in an index at ``folder``; returns the seconds it took."""
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    with Index(folder, dim=dim, max_frames=size) as index:
        for start in range(0, size, 1000):
            block = rng.standard_normal((min(1000, size - start), dim)).astype(np.float32)
            index.add_many([FrameRecord(1.7e9 + start + i, v) for i, v in enumerate(block)])
    return time.perf_counter() - started


def query_times(folder: Path, bundle: Path, queries: int) -> tuple[list[float], list[float]]:
    """(text embed + search, search alone) in ms for each query."""
    end_to_end, search_only = [], []
    with Index.open(folder, model=bundle) as index:
        index.search(QUERIES[0], k=5)  # the first invoke allocates
        for i in range(queries):
            text = QUERIES[i % len(QUERIES)]
            t0 = time.perf_counter()
            vector = index.embed_text(text)
            t1 = time.perf_counter()
            index.search(vector, k=5)
            t2 = time.perf_counter()
            end_to_end.append((t2 - t0) * 1000)
            search_only.append((t2 - t1) * 1000)
    return end_to_end, search_only


def startup_ms(folder: Path) -> float:
    code = ("import sys, time, numpy as np\n"
            "from edge_sdk.index.store import Index\n"
            "t = time.perf_counter(); index = Index.open(sys.argv[1]); index.search(np.ones(index.dim), k=5)\n"
            "print((time.perf_counter() - t) * 1000)")
    done = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    return float(done.stdout.strip().splitlines()[-1])


def folder_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.iterdir()) / 1e6


# -- the seek run, with and without an index ---------------------------------------------------
def seek_run(workdir: Path, bundle: Path | None, clip: Path, max_rate_hz: float, tag: str,
             when_full: str = "drop_oldest", playback: str = "every_frame", ingest: str = "auto",
             broker: Any = None) -> dict[str, Any]:
    """One ``Runtime`` run of ``clip``; with ``broker``, every result published to it (outbox, delivery)."""
    from edge_sdk.config import parse_config
    from edge_sdk.runtime import Runtime

    config: dict[str, Any] = {
        "device": f"bench-{tag}", "camera": {"source": f"file://{clip}", "playback": playback},
        "text": {"source": "file", "path": str(clip.with_suffix(".commands.jsonl"))},
        "sensor": {"source": "file", "path": str(clip.with_suffix(".sensor.jsonl"))},
        "embedded_broker": {"enabled": False}}
    if broker is not None:
        outbox = workdir / f"outbox-{tag}.sqlite3"
        for leftover in workdir.glob(f"{outbox.name}*"):
            leftover.unlink()
        config["mqtt"] = {"host": broker.host, "port": broker.port, "outbox": {"path": str(outbox)}}
    if bundle is not None:
        folder = workdir / f"index-{tag}"
        shutil.rmtree(folder, ignore_errors=True)
        config["index"] = {"path": str(folder), "bundle": str(bundle), "max_rate_hz": max_rate_hz,
                           "when_full": when_full, "ingest": ingest}
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    own_before = time.process_time()
    done_s: list[float] = []
    with Runtime(parse_config(config), on_result=lambda _: done_s.append(time.monotonic())) as runtime:
        summary = runtime.run()
    own_s = time.process_time() - own_before
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    # the processes this run started and reaped: MQTT delivery, the index's ingest process
    children_s = (children.ru_utime + children.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    results = max(1, summary["results"])
    out = {"results": summary["results"], "fps": steady_rate(done_s), "fps_whole_run": summary["fps"],
           "runtime_cpu_ms_per_result": round(own_s * 1000 / results, 3),
           "children_cpu_ms_per_result": round(children_s * 1000 / results, 3)}
    if runtime.index_stage is not None:
        out["index"] = runtime.index_stage.stats()
    return out


def steady_rate(done_s: list[float]) -> float:
    """Results per second between the 10th and the 90th percentile result: the run's start (children still
    importing, the first invokes) and its drain are left out, as they differ between runs with and without
    an index and are not what a running camera sees."""
    if len(done_s) < 20:
        return round(len(done_s) / max(1e-9, done_s[-1] - done_s[0]), 2) if len(done_s) > 1 else 0.0
    first, last = len(done_s) // 10, len(done_s) * 9 // 10
    return round((last - first) / (done_s[last] - done_s[first]), 2)


def thumbnail_kb(clip_frames: int = 30) -> float:
    from edge_sdk.dashboard.snapshot import encode_thumbnail
    from edge_sdk.demo.seek import SeekClip

    sizes = [len(encode_thumbnail(f.rgb, "RGB", 96, 70)) for _, f in zip(range(clip_frames), SeekClip(
        seconds=clip_frames / 10, fps=10, size=192, seed=1), strict=False)]
    return statistics.mean(sizes) / 1000


def tiny_bundle(workdir: Path) -> Path:
    from converters.retrieval.testing import tiny_dual_encoder_bundle

    return tiny_dual_encoder_bundle(workdir / "dual")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", help="a retrieval bundle (embed_image, embed_text); default: train a tiny one")
    parser.add_argument("--workdir", default=str(REPO / "work" / "bench-index"))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clip-seconds", type=float, default=900.0,
                        help="the every_frame runs' clip (13,500 frames: a few s a run)")
    parser.add_argument("--paced-seconds", type=float, default=10.0, help="the camera-paced runs' clip")
    parser.add_argument("--max-rate-hz", type=float, default=2.0, help="index.max_rate_hz of the seek run")
    parser.add_argument("--quick", action="store_true", help="fewer queries, one round, a 10 s clip")
    parser.add_argument("--bundle-from-retrieval", action="store_true",
                        help="the int8 bundle bench/retrieval.py trained (cached under work/bench-retrieval)")
    parser.add_argument("--merge-json", metavar="FILE",
                        help="a file whose last line is a JSON object (bench/retrieval.py's output): the last line "
                             "printed here is that object with this bench's figures added")
    args = parser.parse_args(argv)
    if args.quick:
        args.queries, args.rounds, args.clip_seconds, args.paced_seconds = 50, 1, 10.0, 4.0
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if args.bundle_from_retrieval:
        from retrieval import trained_bundles  # bench/retrieval.py, beside this file

        args.bundle = str(trained_bundles(progress=False)["int8"])
    bundle = Path(args.bundle) if args.bundle else tiny_bundle(workdir)
    from edge_sdk.bundle import read_bundle
    from edge_sdk.index.embedder import embed_signature, embedding_dim

    signature = embed_signature(read_bundle(bundle).manifest, "text")
    if signature is None:
        raise SystemExit(f"{bundle}: no embed_text signature")
    dim = embedding_dim(signature)
    out: dict[str, Any] = {"bundle": bundle.name, "dim": dim, "load_avg": round(os.getloadavg()[0], 2)}
    for size in (10_000, 100_000):
        folder = workdir / f"index-{size}"
        shutil.rmtree(folder, ignore_errors=True)
        build_s = build_index(folder, size, dim)
        end_to_end, search_only = query_times(folder, bundle, args.queries)
        label = "10k" if size == 10_000 else "100k"
        out[f"query_p95_ms_{label}"] = round(_p95(end_to_end), 3)
        out[f"query_p50_ms_{label}"] = round(statistics.median(end_to_end), 3)
        out[f"search_p95_ms_{label}"] = round(_p95(search_only), 3)
        out[f"build_s_{label}"] = round(build_s, 2)
        if size == 100_000:
            out["index_mb_100k"] = round(folder_mb(folder), 1)
            out["startup_ms_100k"] = round(statistics.median(startup_ms(folder) for _ in range(3)), 1)
        print(f"{label}: built in {build_s:.1f} s, query p95 {out[f'query_p95_ms_{label}']} ms", file=sys.stderr)
    out["thumbnail_kb"] = round(thumbnail_kb(), 2)

    from edge_sdk.demo.seek import SeekClip, write_clip

    clip = workdir / "clip.mp4"
    write_clip(clip, SeekClip(seconds=args.clip_seconds, fps=15, size=192, seed=2))
    from edge_sdk.testing import MosquittoBroker

    variants = {"": "auto", "_thread": "thread"}  # the default (auto: the ingest process on 2+ CPUs) and the thread
    fps: dict[str, list[float]] = {"off": []}
    cpu: dict[str, list[tuple[float, float, float | None]]] = {}
    dropped: dict[str, list[int]] = {}
    ingest: dict[str, list[float]] = {}
    with MosquittoBroker(workdir / "mosquitto") as broker:
        out["seek_runs_publish_to"] = "mosquitto"
        for round_ in range(args.rounds):  # side by side: off, then each variant dropping and waiting, ...
            plans: list[tuple[str, Path | None, str, str]] = [("off", None, "drop_oldest", "auto")]
            for suffix, mode in variants.items():
                plans += [(f"on{suffix}", bundle, "drop_oldest", mode), (f"block{suffix}", bundle, "block", mode)]
            shift = round_ % len(plans)  # each round starts with another run: no variant always goes first
            runs = {name: seek_run(workdir, with_bundle, clip, args.max_rate_hz, name, when_full=when_full,
                                   ingest=mode, broker=broker)
                    for name, with_bundle, when_full, mode in plans[shift:] + plans[:shift]}
            for name, run in runs.items():
                fps.setdefault(name, []).append(run["fps"])
                stats = run.get("index", {})
                cpu.setdefault(name, []).append((run["runtime_cpu_ms_per_result"], run["children_cpu_ms_per_result"],
                                                 stats.get("ingest_cpu_ms_per_frame")))
                if name.startswith("on"):
                    dropped.setdefault(name, []).append(stats["dropped"])
                    if stats["ingest_cpu_ms_per_frame"] is not None:
                        ingest.setdefault(name, []).append(stats["ingest_cpu_ms_per_frame"])
                    out[f"index_ingest{name[2:]}"] = stats["ingest"]
            print(f"round {round_ + 1}: " + ", ".join(
                f"{name} {run['fps']}" + (f" ({run['index']['written']} indexed, {run['index']['dropped']} dropped, "
                                          f"{run['index']['ingest']})" if "index" in run else "")
                for name, run in runs.items()), file=sys.stderr)
    out["seek_fps_off"] = statistics.median(fps["off"])
    for suffix in variants:
        out[f"seek_fps_on{suffix}"] = statistics.median(fps[f"on{suffix}"])
        out[f"pipeline_fps_ratio{suffix}"] = round(out[f"seek_fps_on{suffix}"] / out["seek_fps_off"], 3)
        out[f"index_dropped_per_run{suffix}"] = statistics.median(dropped[f"on{suffix}"])
        out[f"pipeline_fps_ratio_replay_waiting{suffix}"] = round(
            statistics.median(fps[f"block{suffix}"]) / out["seek_fps_off"], 3)
        samples = ingest.get(f"on{suffix}")
        out[f"ingest_cpu_ms_per_frame{suffix}"] = round(statistics.median(samples), 3) if samples else None
    # CPU per result of the runtime process and of its children (MQTT delivery, the ingest process), medians
    out["cpu_ms_per_result"] = {name: [round(statistics.median(v[i] for v in values), 3) for i in (0, 1)]
                                for name, values in cpu.items()}
    # camera-paced: the clip played at its own 15 fps, as a camera delivers frames
    paced_clip = workdir / "clip-paced.mp4"
    write_clip(paced_clip, SeekClip(seconds=args.paced_seconds, fps=15, size=192, seed=2))
    with MosquittoBroker(workdir / "mosquitto") as broker:
        paced_off = seek_run(workdir, None, paced_clip, args.max_rate_hz, "paced-off", playback="realtime",
                             broker=broker)
        paced_on = seek_run(workdir, bundle, paced_clip, args.max_rate_hz, "paced-on", playback="realtime",
                            broker=broker)
    out["pipeline_fps_ratio_paced"] = round(paced_on["results"] / max(1, paced_off["results"]), 3)
    print(f"paced: results off {paced_off['results']}, on {paced_on['results']} "
          f"({paced_on['index']['written']} indexed)", file=sys.stderr)
    out["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    out["index_max_rate_hz"] = args.max_rate_hz

    rows = [("query p95, 10k (text embed + search)", "query_p95_ms_10k", "ms"),
            ("query p95, 100k (text embed + search)", "query_p95_ms_100k", "ms"),
            ("search alone p95, 100k", "search_p95_ms_100k", "ms"),
            ("index size, 100k (no thumbnails)", "index_mb_100k", "MB"),
            ("thumbnail (96 px JPEG)", "thumbnail_kb", "kB"),
            ("start-up, 100k (open + first query)", "startup_ms_100k", "ms"),
            ("ingest CPU per indexed frame (ingest process)", "ingest_cpu_ms_per_frame", "ms"),
            ("ingest CPU per indexed frame (writer thread)", "ingest_cpu_ms_per_frame_thread", "ms"),
            ("seek fps, index off", "seek_fps_off", "/s"),
            ("seek fps, index on (default ingest)", "seek_fps_on", "/s"),
            ("seek fps, index on (writer thread)", "seek_fps_on_thread", "/s"),
            ("pipeline fps ratio (on / off, default)", "pipeline_fps_ratio", ""),
            ("pipeline fps ratio (on / off, thread)", "pipeline_fps_ratio_thread", ""),
            ("  frames the index dropped (default)", "index_dropped_per_run", ""),
            ("  frames the index dropped (thread)", "index_dropped_per_run_thread", ""),
            ("fps ratio, replay waiting (default)", "pipeline_fps_ratio_replay_waiting", ""),
            ("fps ratio, replay waiting (thread)", "pipeline_fps_ratio_replay_waiting_thread", ""),
            ("results ratio, camera-paced (15 fps)", "pipeline_fps_ratio_paced", "")]
    print(f"{'figure':<46} {'value':>10}  unit   (load average {out['load_avg']} to {out['load_avg_end']}, "
          f"dim {dim}, default ingest: {out['index_ingest']})")
    for name, key, unit in rows:
        print(f"{name:<46} {out[key]!s:>10}  {unit}")
    for name, (own, children) in out["cpu_ms_per_result"].items():
        print(f"CPU per result, {name:<10} runtime {own:>7} ms, its children {children:>7} ms")
    if args.merge_json:
        host = json.loads(Path(args.merge_json).read_text().strip().splitlines()[-1])
        out = {**host, **{key: value for key, value in out.items() if key not in host}}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
