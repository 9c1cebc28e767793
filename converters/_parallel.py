"""A thread pool map with an optional progress bar, for decoding many images.

Threads pay off because image decoding and resizing run inside OpenCV, which releases the GIL.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["parallel_map"]

_T = TypeVar("_T")
_R = TypeVar("_R")
_CHUNK = 256  # items per task: amortises the pool's per-task cost, still balances two cores


def parallel_map(
    fn: Callable[[_T], _R], items: Sequence[_T], workers: int | None = None, progress: str | None = None
) -> list[_R]:
    """``[fn(x) for x in items]`` on named threads, in order; ``progress`` labels a tqdm bar.

    ``workers`` defaults to the usable CPUs (at most 8); an exception in ``fn`` propagates.
    """
    workers = workers or min(8, _cpu_count())
    bar = _progress_bar(len(items), progress)
    chunks = [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]

    def run(part: Sequence[_T]) -> list[_R]:
        return [fn(x) for x in part]

    out: list[_R] = []
    try:
        if workers <= 1 or len(chunks) <= 1:
            results: Iterable[list[_R]] = map(run, chunks)
            for part in results:
                out.extend(part)
                bar.update(len(part))
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="converters-data") as pool:
                for part in pool.map(run, chunks):
                    out.extend(part)
                    bar.update(len(part))
    finally:
        bar.close()
    return out


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, description: str | None) -> Any:
    if description is None:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is a host extra; the bar is a nicety
        return _NoBar()
    # disable=None: no bar when stderr is not a terminal (CI logs, tests)
    return tqdm(total=total, desc=description, unit="img", disable=None, leave=False)
