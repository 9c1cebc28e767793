"""``bench/runtime.py --quick`` end to end: every figure of the issue is there, and nothing is lost."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HAVE_MOSQUITTO = shutil.which("mosquitto") is not None or Path("/usr/sbin/mosquitto").exists()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.broker,
    pytest.mark.skipif(not HAVE_MOSQUITTO, reason="needs the mosquitto binary (apt-get install mosquitto)"),
]

REQUIRED_KEYS = {
    "pipeline_efficiency", "pipeline_efficiency_1core", "bottleneck_stage", "results_per_s", "invoke_per_s",
    "latency_p50_ms", "latency_p99_ms", "latency_excess_p50_ms", "rss_mb", "first_result_s", "tf_rss_mb",
    "outage_sent", "outage_received", "crash_sent", "crash_received", "outbox_qos1_ratio",
    "overhead_cpu_us_per_result", "cpu_us_per_result", "stages_alone_cpu_us_per_frame_2core",
    "capture_process_speedup", "pipeline_efficiency_capture_process", "overhead_cpu_us_per_result_capture_process",
}


@pytest.mark.timeout(180)
def test_quick_bench_reports_every_figure_and_loses_nothing(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(REPO / "bench" / "runtime.py"), "--quick", "--workdir", str(tmp_path)],
                          capture_output=True, text=True, cwd=str(REPO), timeout=170, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert REQUIRED_KEYS <= set(figures), f"missing: {sorted(REQUIRED_KEYS - set(figures))}"
    assert any(line.startswith("pipeline_efficiency") for line in lines[:-1]), "the table comes before the JSON"
    assert figures["results_per_s"] > 0 and figures["pipeline_efficiency"] > 0
    assert figures["bottleneck_stage"] in ("capture", "preprocess+invoke")
    assert figures["outage_sent"] > 0 and figures["outage_received"] == figures["outage_sent"]
    assert figures["crash_sent"] > 0 and figures["crash_received"] == figures["crash_sent"]
    # what the killed process left in its outbox came from the restarted one, marked as replays
    assert figures["crash_in_outbox_at_kill"] > 0 and figures["crash_replayed_flagged"] > 0
    assert figures["rss_mb"] > 0 and figures["first_result_s"] > 0
    # the run's CPU per result (between two stats messages) is there, and above the stages' alone
    assert figures["cpu_us_per_result"] > 0 and figures["stages_alone_cpu_us_per_frame_2core"] > 0
