"""A bundle as text for people (``edge-sdk info MODEL``): contract, quantization, parity, goldens."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edge_sdk.bundle.io import Bundle, read_bundle
from edge_sdk.bundle.manifest import InputSpec, Quantization, SignatureSpec
from edge_sdk.preprocess import ImageSpec, SensorSpec, TensorSpec, TokenizerSpec

__all__ = ["describe_bundle"]


def describe_bundle(bundle: Bundle | str | Path) -> str:
    """A multi-line summary of a bundle: what goes in, what comes out, how well it matched Keras."""
    if not isinstance(bundle, Bundle):
        bundle = read_bundle(bundle)
    m = bundle.manifest
    total_bytes = len(bundle.flatbuffer) + sum(len(a) for a in bundle.assets.values())
    lines = [
        f"model       {m.model.name} version {m.model.version}" + (f" — {m.model.description}" if m.model.description else ""),
        f"file        {bundle.path or '<bytes>'}",
        f"size        flatbuffer {_kb(len(bundle.flatbuffer))}, with manifest and assets ~{_kb(total_bytes)}",
        f"sha256      {bundle.sha256}",
        f"schema      {m.schema}, created {m.created or 'unknown'}",
        f"quantization {m.quantization}" + (f", fusion {m.fusion}" if m.fusion else ""),
    ]
    if m.converter:
        lines.append("converter   " + ", ".join(f"{k} {v}" for k, v in m.converter.items()))
    for signature in m.signatures:
        lines += _signature(signature, len(m.signatures) > 1)
    lines += ["", *_parity(m.parity)]
    if m.golden:
        atols = sorted({g.atol for g in m.golden})
        lines.append(f"golden      {len(m.golden)} vectors, atol {', '.join(f'{a:g}' for a in atols)}")
    else:
        lines.append("golden      none (the runtime cannot self-check this model at load time)")
    if bundle.assets:
        lines.append("assets      " + ", ".join(f"{name} ({_kb(len(data))})" for name, data in sorted(bundle.assets.items())))
    return "\n".join(lines)


def _signature(signature: SignatureSpec, several: bool) -> list[str]:
    from edge_sdk.bundle.tasking import task_spec

    head = f"signature {signature.key!r}: " if several else ""
    task = task_spec(signature)
    binding = ("signature " + repr(signature.key)) if signature.key else "the only signature, or tensor names"
    lines = ["", f"{head}task {task.kind}" + (f", labels {', '.join(task.labels)}" if task.labels else "")
             + (f", options {dict(task.params)}" if task.params else "") + f"; bound by {binding}", "inputs"]
    lines += _table(
        ("name", "role", "shape", "dtype", "quantization", "preprocessing"),
        [(s.name, s.role, _shape(s.shape), s.dtype, _quant(s.quantization), _preprocess(s)) for s in signature.inputs],
    )
    lines += ["outputs"]
    lines += _table(
        ("name", "role", "shape", "dtype", "quantization", "labels"),
        [(o.name, o.role, _shape(o.shape), o.dtype, _quant(o.quantization), ", ".join(o.labels) or "-")
         for o in signature.outputs],
    )
    return lines


def _parity(parity: Mapping[str, Any]) -> list[str]:
    if not parity:
        return ["parity      not measured"]
    try:
        lines = [
            (
                f"parity      on {parity['samples']} held-out samples: accuracy Keras {parity['keras_accuracy']:.4f}, "
                f"TFLite {parity['tflite_accuracy']:.4f}, top-1 agreement {parity['top1_agreement']:.4f}"
            ),
            f"            score error max {parity['max_abs_score_error']:.4g}, mean {parity['mean_abs_score_error']:.4g}",
        ]
    except (KeyError, TypeError, ValueError):
        return ["parity      " + ", ".join(f"{k}={v}" for k, v in parity.items() if not isinstance(v, (list, dict)))]
    latency = parity.get("latency_ms") or {}
    if latency:
        lines.append("latency     " + ", ".join(f"{ms:.2f} ms at {threads} thread(s)" for threads, ms in latency.items()))
    ops = parity.get("op_counts") or {}
    if ops:
        float_ops = parity.get("float_ops") or {}
        lines.append(
            f"ops         {sum(ops.values())} ({len(ops)} kinds), builtin only: {'yes' if parity.get('builtin_only') else 'no'}"
            + (f", in float: {', '.join(f'{k} x{v}' for k, v in float_ops.items())}" if float_ops else "")
        )
    return lines


def _preprocess(spec: InputSpec) -> str:
    pre = spec.preprocess
    if isinstance(pre, ImageSpec):
        norm = "raw 0..255" if pre.is_identity_normalization else f"mean {list(pre.mean)} std {list(pre.std)}"
        return (f"{pre.width}x{pre.height} {pre.resize} ({pre.convention}, {pre.interpolation}), {pre.color_order}, "
                f"{norm}")
    if isinstance(pre, TensorSpec):
        return "any values" if (pre.mean, pre.std) == (0.0, 1.0) else f"(x-{pre.mean:g})/{pre.std:g}"
    if isinstance(pre, TokenizerSpec):
        return (
            f"{len(pre.vocabulary)} words, max {pre.max_length}, {'lowercase, ' if pre.lowercase else ''}"
            f"pad {pre.padding} id {pre.pad_id}, oov id {pre.oov_id}"
        )
    if isinstance(pre, SensorSpec):
        return "; ".join(f"{c.name}" + (f" [{c.unit}]" if c.unit else "") + f" (x-{c.mean:.4g})/{c.std:.4g}" for c in pre.channels)
    return "-"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    return ["  " + "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (header, *rows)]


def _shape(shape: Sequence[int]) -> str:
    return "x".join(str(d) for d in shape) or "scalar"


def _quant(q: Quantization | None) -> str:
    return f"scale {q.scale:.6g}, zero point {q.zero_point}" if q else "-"


def _kb(size_bytes: int) -> str:
    return f"{size_bytes / 1024:.1f} KB"
