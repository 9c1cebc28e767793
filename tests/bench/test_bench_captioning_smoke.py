"""``bench/captioning.py --quick`` end to end: tiny models, every figure of issue 12 in the last line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow]

REQUIRED_KEYS = {
    "caption_bleu4", "caption_cider", "caption_int8_bleu4", "caption_int8_cider", "caption_int8_bleu4_drop",
    "beam_parity", "translate_bleu", "translate_masked_bleu", "translate_masked_text_only_bleu",
    "translate_masked_image_gain_bleu", "decoder_builtin_ops_only", "caption_ms_p50", "caption_float32_bytes",
    "caption_int8_bytes", "train_s",
}


@pytest.mark.timeout(240)
def test_quick_bench_prints_a_table_then_every_figure(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    done = subprocess.run([sys.executable, str(REPO / "bench" / "captioning.py"), "--quick", "--workdir", str(tmp_path)],
                          capture_output=True, text=True, cwd=str(REPO), timeout=230, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert REQUIRED_KEYS <= set(figures), f"missing: {sorted(REQUIRED_KEYS - set(figures))}"
    assert any(line.startswith("caption float32") for line in lines[:-1]), "the table comes before the JSON"
    assert figures["decoder_builtin_ops_only"] is True
    assert 0.0 <= figures["beam_parity"] <= 1.0 and figures["caption_ms_p50"] > 0
    assert figures["caption_int8_bytes"] < figures["caption_float32_bytes"]
    assert figures["rows"]["translate_plain"] > 0 and figures["rows"]["translate_masked"] > 0
