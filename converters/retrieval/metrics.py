"""Retrieval figures from embeddings (numpy only): recall@k, precision@k, float-vs-int8 cosine."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["cosine_stats", "precision_at_k", "recall_at_k", "relevance", "top_k"]


def top_k(queries: np.ndarray, gallery: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` most similar gallery rows per query, best first (dot product of unit vectors)."""
    scores = np.asarray(queries, np.float32) @ np.asarray(gallery, np.float32).T
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def recall_at_k(queries: np.ndarray, gallery: np.ndarray, relevant: np.ndarray,
                ks: Sequence[int] = (1, 5)) -> dict[int, float]:
    """Share of queries with a relevant gallery item among the top ``k``; ``relevant`` is (Q, M) bool."""
    if len(queries) == 0:
        return {k: float("nan") for k in ks}
    best = top_k(queries, gallery, max(ks))
    hit = np.take_along_axis(np.asarray(relevant, bool), best, axis=1)
    return {k: float(hit[:, :k].any(axis=1).mean()) for k in ks}


def precision_at_k(queries: np.ndarray, gallery: np.ndarray, relevant: np.ndarray, k: int = 10) -> float:
    """Mean share of relevant items among each query's top ``k``."""
    best = top_k(queries, gallery, k)
    return float(np.take_along_axis(np.asarray(relevant, bool), best, axis=1).mean())


def relevance(query_ids: np.ndarray, gallery_ids: np.ndarray, pair_query: np.ndarray,
              pair_gallery: np.ndarray) -> np.ndarray:
    """(Q, M) bool: query ``q`` is relevant to gallery item ``m`` when some pair links them."""
    index_q = {int(v): i for i, v in enumerate(query_ids)}
    index_m = {int(v): i for i, v in enumerate(gallery_ids)}
    out = np.zeros((len(query_ids), len(gallery_ids)), dtype=bool)
    for q, m in zip(pair_query.tolist(), pair_gallery.tolist(), strict=True):
        out[index_q[q], index_m[m]] = True
    return out


def cosine_stats(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Mean and minimum cosine between matching rows of two embedding batches."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cos = (a64 * b64).sum(1) / (np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1))
    return {"mean": float(cos.mean()), "min": float(cos.min())}
