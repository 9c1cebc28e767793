"""Vector store candidates for the device index, measured side by side (issue 11).

    python bench/index_backends.py [--sizes 10000,100000] [--dim 128] [--queries 200]

Each candidate is built at each size with random unit vectors (dim 128), persisted to a temporary
directory, then re-opened in a fresh child process, which reports its open time, its first-query
time, the p50/p95 of top-5 queries and the resident memory it added. A candidate whose package is
missing is reported as such. sqlite-vec needs a Python whose ``sqlite3`` can load extensions (the
Debian/Raspberry Pi OS ``python3`` can; pyenv builds often cannot): run this file with that Python
(``PYTHONPATH`` pointing at numpy, sqlite-vec and usearch) to include it. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

K = 5
CANDIDATES = ("numpy_f32_ram", "numpy_f32_mmap", "numpy_i8_ram", "sqlite_vec_f32", "usearch_hnsw_f32",
              "usearch_hnsw_i8")


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# -- building (parent) --------------------------------------------------------------------------
def build(name: str, vectors: np.ndarray, folder: Path) -> None:
    if name.startswith("numpy_f32"):
        np.save(folder / "v.npy", vectors)
    elif name == "numpy_i8_ram":
        np.save(folder / "v.npy", np.clip(np.round(vectors * 127), -127, 127).astype(np.int8))
    elif name == "sqlite_vec_f32":
        db = _sqlite_vec_connect(folder / "v.sqlite")
        db.execute(f"create virtual table vec using vec0(embedding float[{vectors.shape[1]}])")
        db.executemany("insert into vec(rowid, embedding) values (?, ?)",
                       ((i + 1, row.tobytes()) for i, row in enumerate(vectors)))
        db.commit()
        db.close()
    elif name.startswith("usearch"):
        from usearch.index import Index

        index = Index(ndim=vectors.shape[1], metric="ip", dtype="i8" if name.endswith("i8") else "f32")
        index.add(np.arange(len(vectors)), vectors)
        index.save(str(folder / "v.usearch"))
    else:
        raise ValueError(name)


def _sqlite_vec_connect(path: Path) -> Any:
    import sqlite3

    import sqlite_vec

    db = sqlite3.connect(path)
    db.enable_load_extension(True)
    sqlite_vec.load(db)
    db.enable_load_extension(False)
    return db


# -- opening and querying (child) ---------------------------------------------------------------
def measure(name: str, folder: Path, dim: int, queries: int) -> dict[str, Any]:
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    search = _open(name, folder)
    open_ms = (time.perf_counter() - t0) * 1000
    qs = _unit(np.random.default_rng(1), queries + 1, dim)
    t0 = time.perf_counter()
    search(qs[0])
    first_ms = (time.perf_counter() - t0) * 1000
    times = []
    for q in qs[1:]:
        t0 = time.perf_counter()
        search(q)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"open_ms": round(open_ms, 2), "first_query_ms": round(first_ms, 2),
            "p50_ms": round(statistics.median(times), 3), "p95_ms": round(times[int(0.95 * (len(times) - 1))], 3),
            "rss_added_mb": round(_rss_mb() - rss0, 1)}


def _open(name: str, folder: Path) -> Any:
    if name.startswith("numpy"):
        matrix = np.load(folder / "v.npy", mmap_mode="r" if name == "numpy_f32_mmap" else None)

        def top_k(q: np.ndarray) -> np.ndarray:
            if matrix.dtype == np.int8:  # numpy has no int8 GEMM: widen per query
                scores = matrix.astype(np.float32) @ q
            else:
                scores = matrix @ q
            best = np.argpartition(-scores, K)[:K]
            return best[np.argsort(-scores[best])]

        return top_k
    if name == "sqlite_vec_f32":
        db = _sqlite_vec_connect(folder / "v.sqlite")

        def knn(q: np.ndarray) -> list[Any]:
            return db.execute("select rowid, distance from vec where embedding match ? and k = ? order by distance",
                              (q.astype(np.float32).tobytes(), K)).fetchall()

        return knn
    if name.startswith("usearch"):
        from usearch.index import Index

        index = Index.restore(str(folder / "v.usearch"), view=False)
        return lambda q: index.search(q, K).keys
    raise ValueError(name)


def recall(name: str, folder: Path, vectors: np.ndarray, n_queries: int = 50) -> float:
    """Top-5 overlap with exact float32 search (1.0: exact)."""
    search = _open(name, folder)
    qs = _unit(np.random.default_rng(2), n_queries, vectors.shape[1])
    hits = 0
    for q in qs:
        exact = set(np.argsort(-(vectors @ q))[:K].tolist())
        got = search(q)
        keys = [row[0] - 1 for row in got] if name == "sqlite_vec_f32" else list(np.asarray(got).tolist())
        hits += len(exact & {int(k) for k in keys})
    return round(hits / (K * n_queries), 3)


def available(name: str) -> str | None:
    try:
        if name.startswith("sqlite_vec"):
            import sqlite3

            import sqlite_vec  # noqa: F401

            if not hasattr(sqlite3.connect(":memory:"), "enable_load_extension"):
                return "this Python's sqlite3 cannot load extensions"
        elif name.startswith("usearch"):
            import usearch.index  # noqa: F401
    except ImportError as exc:
        return f"not installed ({exc.name})"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--child", nargs=3, metavar=("NAME", "FOLDER", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        name, folder, _ = args.child
        print(json.dumps(measure(name, Path(folder), args.dim, args.queries)))
        return 0
    rows: list[dict[str, Any]] = []
    for size in (int(s) for s in args.sizes.split(",")):
        vectors = _unit(np.random.default_rng(0), size, args.dim)
        for name in CANDIDATES:
            missing = available(name)
            if missing:
                rows.append({"backend": name, "n": size, "skipped": missing})
                continue
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                build(name, vectors, Path(tmp))
                build_s = time.perf_counter() - t0
                disk_mb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 1e6
                out = subprocess.run([sys.executable, __file__, "--dim", str(args.dim), "--queries",
                                      str(args.queries), "--child", name, tmp, str(size)],
                                     check=True, capture_output=True, text=True)
                row = {"backend": name, "n": size, "build_s": round(build_s, 2), "disk_mb": round(disk_mb, 1),
                       **json.loads(out.stdout), "recall_at_5": recall(name, Path(tmp), vectors)}
            rows.append(row)
            print(" ".join(f"{k}={v}" for k, v in row.items()), file=sys.stderr, flush=True)
    keys = ("backend", "n", "open_ms", "first_query_ms", "p50_ms", "p95_ms", "rss_added_mb", "disk_mb", "build_s",
            "recall_at_5")
    print(" | ".join(f"{k:>14}" for k in keys))
    for row in rows:
        print(" | ".join(f"{row.get(k, row.get('skipped', '-') if k == 'open_ms' else '-')!s:>14}" for k in keys))
    print(json.dumps({"python": sys.version.split()[0], "numpy": np.__version__, "dim": args.dim, "k": K,
                      "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
