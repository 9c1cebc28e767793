"""Benchmark of captioning and image-conditioned translation on seek scenes (issue 12).

Trains, through the generic manifest workflow (:mod:`converters.captioning.workflow`):

- a **captioner** on seek scenes with their description (``captions.csv``);
- an image-conditioned **translator** (English command -> German) on commands whose rows come
  twice, plain and with the colour or shape word masked (the masked-source split of Caglayan et
  al., 2019; both rows of a scene share its image, so both stay on one side of the split);
- a **text-only translator** (``CaptionerSpec(use_source=True, use_image=False)``) the same way on
  the same rows: the baseline the image must beat on the masked rows.

Each is exported (:func:`export_generation`, float32 and int8; the text-only baseline float32) and
evaluated on held-out scenes **through the device bundle** (:class:`edge_sdk.generator.Generator`,
one core, beam 3), next to the Keras beams on the host (``beam_parity``: the share of held-out
images whose float32 bundle beam equals the Keras beam). The int8 captioner is also run with one
signature at a time quantized (int8 ``encode`` with the float ``decode_step`` and the reverse), so
an int8 drop can be put on the signature that loses it.

Prints a table, then one JSON object as its last line. Data are cached under
``work/bench-captioning``; models are trained afresh each run.

    .venv/bin/python bench/captioning.py [--caption-scenes N] [--translation-scenes N] [--epochs N] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from _provenance import commit, versions  # bench/_provenance.py, beside this file

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKDIR = ROOT / "work" / "bench-captioning"
BEAM_SIZE = 3
EXAMPLES = 3


@dataclass(frozen=True)
class BenchSize:
    caption_scenes: int = 8000
    translation_scenes: int = 6000
    image_size: int = 64
    epochs: int | None = None  # None: CaptionTrainConfig's default
    seed: int = 0
    eval_rows: int = 600  # held-out rows scored per model (Keras and device)
    tiny: bool = False  # CaptionerSpec.tiny(): the smoke test's size

    @classmethod
    def quick(cls) -> BenchSize:
        return cls(caption_scenes=240, translation_scenes=160, image_size=32, epochs=2, eval_rows=16, tiny=True)


def caption_manifest(size: BenchSize, workdir: Path) -> Path:
    from converters.captioning.data import write_seek_captions

    out = workdir / f"captions-{size.caption_scenes}-{size.image_size}-{size.seed}"
    manifest = out / "captions.csv"
    if not manifest.exists():
        write_seek_captions(out, size.caption_scenes, seed=size.seed, image_size=size.image_size)
    return manifest


def translation_manifest(size: BenchSize, workdir: Path) -> Path:
    """``mixed.csv``: every scene's command plain, then every scene's command masked (same images, same targets)."""
    from converters.captioning.data import write_seek_translations

    out = workdir / f"translations-{size.translation_scenes}-{size.image_size}-{size.seed}"
    mixed = out / "mixed.csv"
    if mixed.exists():
        return mixed
    rows: list[list[str]] = []
    header: list[str] = []
    for masked in (False, True):  # the same seed draws the same scenes, commands and mask choices
        written = write_seek_translations(out, size.translation_scenes, seed=size.seed, masked=masked,
                                          image_size=size.image_size)
        with written.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            rows.extend(reader)
    tmp = mixed.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    tmp.replace(mixed)
    return mixed


def masked_flags(manifest: Path) -> np.ndarray:
    """Per row of ``manifest``: whether its source is masked (column ``masked`` non-empty)."""
    with manifest.open(newline="", encoding="utf-8") as handle:
        return np.array([bool(row["masked"]) for row in csv.DictReader(handle)])


def _specs(size: BenchSize) -> dict[str, Any]:
    from converters.captioning.model import CaptionerSpec

    if size.tiny:
        return {"captioner": CaptionerSpec.tiny(), "translator": CaptionerSpec.tiny(use_source=True),
                "text_only": CaptionerSpec.tiny(use_source=True, use_image=False)}
    return {"captioner": CaptionerSpec(), "translator": CaptionerSpec(use_source=True),
            "text_only": CaptionerSpec(use_source=True, use_image=False)}


def _config(size: BenchSize) -> Any:
    from converters.captioning.train import CaptionTrainConfig

    config = CaptionTrainConfig(seed=size.seed)
    return replace(config, epochs=size.epochs) if size.epochs is not None else config


def _generate(generator: Any, images: list[np.ndarray] | None, sources: list[str] | None) -> dict[str, Any]:
    from converters.captioning.evaluate import generator_generate

    out = generator_generate(generator, images, sources, BEAM_SIZE)
    return {"texts": out.texts, "ids": out.token_ids,
            "ms_p50": float(np.median(out.latency_ms)) if out.latency_ms else 0.0}


def device_outputs(run: Any, rows: np.ndarray, bundles: dict[str, Path], hybrids: bool = False) -> dict[str, Any]:
    """Device texts per bundle on ``rows`` (one core); ``hybrids``: also int8 encode + float step and the reverse."""
    from edge_sdk.generator import Generator

    trained = run.trained
    images = list(run.images[rows]) if trained.image is not None else None
    sources = [run.sources[i] for i in rows] if trained.source is not None else None
    opened = {mode: Generator.from_bundle(path, num_threads=1, verify_golden=False) for mode, path in bundles.items()}
    try:
        out = {mode: _generate(g, images, sources) for mode, g in opened.items()}
        if hybrids and {"float32", "int8"} <= set(opened):
            f, q = opened["float32"], opened["int8"]
            out["int8_encode+float_step"] = _generate(Generator(q.encoder, f.step), images, sources)
            out["float_encode+int8_step"] = _generate(Generator(f.encoder, q.step), images, sources)
    finally:
        for generator in opened.values():
            generator.close()
    return out


def _scores(texts: list[str], references: list[list[str]]) -> dict[str, float]:
    from converters.captioning.evaluate import score

    return {k: round(v * (100 if k == "exact" else 1), 3 if k == "cider" else 2)
            for k, v in score(texts, references).items()}


def _examples(sources: list[str] | None, texts: list[str], references: list[list[str]],
              baseline: list[str] | None = None) -> list[dict[str, Any]]:
    """The first good and the first bad generations (exact match against any reference)."""
    from converters.captioning.vocab import normalize_text

    good, bad = [], []
    for i, (text, refs) in enumerate(zip(texts, references, strict=True)):
        item: dict[str, Any] = {"generated": text, "reference": refs[0]}
        if sources is not None:
            item = {"source": sources[i], **item}
        if baseline is not None:
            item["text_only"] = baseline[i]
        (good if normalize_text(text) in [normalize_text(r) for r in refs] else bad).append(item)
    return good[:EXAMPLES - 1] + bad[:EXAMPLES - 1]


def _train_export(kind: str, manifest: Path, spec: Any, size: BenchSize, out: Path, modes: tuple[str, ...],
                  progress: bool) -> tuple[Any, Any, dict[str, Any]]:
    from converters.captioning.workflow import export_generation, train_captioning, train_translation

    if kind == "captioner":
        run = train_captioning(manifest, spec=spec, config=_config(size), progress=progress)
    else:
        run = train_translation(manifest, spec=spec, config=_config(size), progress=progress)
    started = time.perf_counter()
    exported = export_generation(run, out / kind, modes=modes, name=kind, beam_size=BEAM_SIZE,
                                 evaluate_rows=size.eval_rows if kind == "captioner" else 8)
    report = json.loads((out / kind / "report.json").read_text())
    report["export_s"] = time.perf_counter() - started
    return run, exported, report


def _builtin_only(exported: Any) -> bool:
    from edge_sdk.bundle import read_bundle

    loops = ("WHILE", "IF", "CALL_ONCE", "FLEX", "CUSTOM")
    ok = True
    for path in exported.bundles.values():
        parity = read_bundle(path).manifest.parity or {}
        ok &= bool(parity.get("builtin_only")) and not parity.get("select_tf_ops")
    for counts in exported.op_counts.values():
        ok &= not any(op.upper().startswith(loops) for op in counts)
    return bool(ok)


def run_bench(size: BenchSize, workdir: Path, progress: bool) -> dict[str, Any]:
    from converters.captioning.workflow import evaluate_run

    specs = _specs(size)
    out = workdir / ("quick" if size.tiny else "models")
    started = time.perf_counter()
    figures: dict[str, Any] = {}
    # captioning
    run, exported, report = _train_export("captioner", caption_manifest(size, workdir), specs["captioner"], size, out,
                                          ("float32", "int8"), progress)
    evaluation = report["evaluation"]
    test = run.split[2][:size.eval_rows]
    refs = run.references(test)
    device = device_outputs(run, test, exported.bundles, hybrids=True)
    figures["caption"] = {
        "keras": evaluation["keras"], "report": {m: evaluation[m] for m in exported.bundles},
        "device": {m: _scores(d["texts"], refs) | {"ms_p50": round(d["ms_p50"], 3)} for m, d in device.items()},
        "examples": _examples(None, device["float32"]["texts"], refs), "train": report["train"],
        "sizes": exported.sizes, "export_s": report["export_s"], "builtin_only": _builtin_only(exported),
        "rows": len(test)}
    # translation: the image-conditioned model and the text-only baseline, on the same rows
    manifest = translation_manifest(size, workdir)
    masked = masked_flags(manifest)
    translations: dict[str, Any] = {}
    for kind, modes in (("translator", ("float32", "int8")), ("text_only", ("float32",))):
        run, exported, report = _train_export(kind, manifest, specs[kind], size, out, modes, progress)
        test = run.split[2]
        parts = {"plain": test[~masked[test]][:size.eval_rows], "masked": test[masked[test]][:size.eval_rows]}
        result: dict[str, Any] = {"train": report["train"], "sizes": exported.sizes,
                                  "builtin_only": _builtin_only(exported), "export_s": report["export_s"]}
        for part, rows in parts.items():
            scored = evaluate_run(run, rows, {"float32": exported.bundles["float32"]}, BEAM_SIZE)
            texts = device_outputs(run, rows, {"float32": exported.bundles["float32"]})["float32"]["texts"]
            result[part] = {"keras": scored["keras"], "float32": {k: v for k, v in scored["float32"].items()
                                                                  if k != "examples"},
                            "texts": texts, "sources": [run.sources[i] for i in rows],
                            "references": run.references(rows)}
        if "int8" in exported.bundles:
            rows = parts["plain"]
            texts = device_outputs(run, rows, {"int8": exported.bundles["int8"]})["int8"]["texts"]
            result["plain"]["int8"] = _scores(texts, run.references(rows))
        translations[kind] = result
    for part in ("plain", "masked"):
        image, text = translations["translator"][part], translations["text_only"][part]
        assert image["sources"] == text["sources"], "both translators must be scored on the same rows"
        figures[f"translate_{part}_examples"] = _examples(image["sources"], image["texts"], image["references"],
                                                          text["texts"])
    for result in translations.values():
        for part in ("plain", "masked"):
            for drop in ("texts", "sources", "references"):
                result[part].pop(drop)
    figures["translation"] = translations
    figures["bench_s"] = time.perf_counter() - started
    return figures


def _summary(size: BenchSize, f: dict[str, Any], load: float) -> dict[str, Any]:
    cap, tr = f["caption"], f["translation"]
    img, txt = tr["translator"], tr["text_only"]
    dev = cap["device"]
    masked_gain = img["masked"]["float32"]["bleu4"] - txt["masked"]["float32"]["bleu4"]
    return {
        "caption_bleu4": round(dev["float32"]["bleu4"], 2),
        "caption_cider": round(dev["float32"]["cider"], 3),
        "caption_int8_bleu4": round(dev["int8"]["bleu4"], 2),
        "caption_int8_cider": round(dev["int8"]["cider"], 3),
        "caption_int8_bleu4_drop": round(dev["float32"]["bleu4"] - dev["int8"]["bleu4"], 2),
        "caption_keras_bleu4": round(cap["keras"]["bleu4"], 2),
        "caption_keras_cider": round(cap["keras"]["cider"], 3),
        "caption_exact": dev["float32"]["exact"],
        "beam_parity": round(cap["report"]["float32"]["beam_parity_vs_keras"], 4),
        "beam_parity_int8": round(cap["report"]["int8"]["beam_parity_vs_keras"], 4),
        "caption_int8_encode_float_step_bleu4": dev["int8_encode+float_step"]["bleu4"],
        "caption_float_encode_int8_step_bleu4": dev["float_encode+int8_step"]["bleu4"],
        "translate_bleu": round(img["plain"]["float32"]["bleu4"], 2),
        "translate_int8_bleu": round(img["plain"]["int8"]["bleu4"], 2),
        "translate_text_only_bleu": round(txt["plain"]["float32"]["bleu4"], 2),
        "translate_masked_bleu": round(img["masked"]["float32"]["bleu4"], 2),
        "translate_masked_text_only_bleu": round(txt["masked"]["float32"]["bleu4"], 2),
        "translate_masked_image_gain_bleu": round(masked_gain, 2),
        "translate_beam_parity": round(img["plain"]["float32"]["beam_parity_vs_keras"], 4),
        "decoder_builtin_ops_only": bool(cap["builtin_only"] and img["builtin_only"] and txt["builtin_only"]),
        "caption_ms_p50": round(dev["float32"]["ms_p50"], 3),
        "caption_int8_ms_p50": round(dev["int8"]["ms_p50"], 3),
        "translate_ms_p50": round(img["plain"]["float32"]["ms_p50"], 3),
        "caption_float32_bytes": cap["sizes"]["float32"],
        "caption_int8_bytes": cap["sizes"]["int8"],
        "translator_float32_bytes": img["sizes"]["float32"],
        "translator_int8_bytes": img["sizes"]["int8"],
        "caption_train_s": cap["train"]["train_s"],
        "translate_train_s": img["train"]["train_s"],
        "text_only_train_s": txt["train"]["train_s"],
        "train_s": round(cap["train"]["train_s"] + img["train"]["train_s"] + txt["train"]["train_s"], 1),
        "bench_s": round(f["bench_s"], 1),
        "caption_epochs": f"{cap['train']['best_epoch']}/{cap['train']['epochs_run']}",
        "caption_memory_rows": cap["train"]["memory_rows"],
        "rows": {"caption": cap["rows"], "translate_plain": img["plain"]["float32"]["rows"],
                 "translate_masked": img["masked"]["float32"]["rows"]},
        "examples": {"caption": cap["examples"], "translate": f["translate_plain_examples"],
                     "translate_masked": f["translate_masked_examples"]},
        "bench_size": asdict(size),
        "spec": cap["train"]["spec"],
        "load_at_start": round(load, 2),
        "commit": commit(),
        "versions": versions(),
    }


def _table(s: dict[str, Any], f: dict[str, Any]) -> list[str]:
    cap, tr = f["caption"], f["translation"]
    lines = [f"{'model':<34} {'BLEU-4':>7} {'CIDEr-D':>8} {'exact%':>7} {'parity':>7} {'ms_p50':>7} {'bytes':>9}"]
    lines.append(f"{'caption keras':<34} {cap['keras']['bleu4']:7.2f} {cap['keras']['cider']:8.3f} "
                 f"{cap['keras']['exact'] * 100:7.1f} {'-':>7} {'-':>7} {'-':>9}")
    for mode, d in cap["device"].items():
        parity = cap["report"].get(mode, {}).get("beam_parity_vs_keras")
        lines.append(f"{'caption ' + mode:<34} {d['bleu4']:7.2f} {d['cider']:8.3f} {d['exact']:7.1f} "
                     f"{'-' if parity is None else f'{parity:.4f}':>7} {d['ms_p50']:7.2f} "
                     f"{cap['sizes'].get(mode, '-'):>9}")
    for kind, result in tr.items():
        for part in ("plain", "masked"):
            for mode in ("float32", "int8"):
                if mode not in result[part]:
                    continue
                d = result[part][mode]
                exact = d["exact"] * (100 if mode == "float32" else 1)
                parity = f"{d['beam_parity_vs_keras']:.4f}" if "beam_parity_vs_keras" in d else "-"
                ms = f"{d['ms_p50']:7.2f}" if "ms_p50" in d else f"{'-':>7}"
                lines.append(f"{kind + ' ' + part + ' ' + mode:<34} {d['bleu4']:7.2f} {d['cider']:8.3f} "
                             f"{exact:7.1f} {parity:>7} {ms} {result['sizes'].get(mode, '-'):>9}")
    lines.append(f"masked-source image gain: {s['translate_masked_image_gain_bleu']:.2f} BLEU; int8 caption drop "
                 f"{s['caption_int8_bleu4_drop']:.2f} (int8 encode + float step {s['caption_int8_encode_float_step_bleu4']:.2f}, "
                 f"float encode + int8 step {s['caption_float_encode_int8_step_bleu4']:.2f}); builtin ops only: "
                 f"{s['decoder_builtin_ops_only']}; train s: caption {s['caption_train_s']}, translator "
                 f"{s['translate_train_s']}, text-only {s['text_only_train_s']}; bench {s['bench_s']} s")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--caption-scenes", type=int, default=BenchSize.caption_scenes)
    parser.add_argument("--translation-scenes", type=int, default=BenchSize.translation_scenes,
                        help="scenes; each gives a plain and a masked row")
    parser.add_argument("--size", type=int, default=BenchSize.image_size, help="image size in pixels")
    parser.add_argument("--epochs", type=int, default=None, help="epochs at most (default: CaptionTrainConfig's)")
    parser.add_argument("--eval-rows", type=int, default=BenchSize.eval_rows, help="held-out rows per model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny models on a few hundred 32 px scenes (smoke test)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args(argv)
    # epochs and export steps to stderr: the progress bars only show on a terminal
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    size = BenchSize.quick() if args.quick else BenchSize(args.caption_scenes, args.translation_scenes, args.size,
                                                           args.epochs, args.seed, args.eval_rows)
    load = os.getloadavg()[0]
    args.workdir.mkdir(parents=True, exist_ok=True)
    figures = run_bench(size, args.workdir, progress=sys.stderr.isatty())
    summary = _summary(size, figures, load)
    print(f"captioning and translation on seek scenes: {size.caption_scenes} caption scenes, "
          f"{size.translation_scenes} translation scenes (plain + masked rows) at {size.image_size}px, beam "
          f"{BEAM_SIZE}, one core (load at start {load:.1f})")
    print("\n".join(_table(summary, figures)))
    for name, items in summary["examples"].items():
        for item in items:
            print(f"  {name}: " + " | ".join(f"{k}: {v}" for k, v in item.items()))
    (args.workdir / "last.json").write_text(json.dumps({"summary": summary, "figures": figures}, indent=1))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
