"""The report as a person sees it: rendered by headless Chromium (Debian's package) into a screenshot."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from clickguard.report import write
from clickguard.report.data import from_quality
from clickguard.sim.generator import simulate
from clickguard.sim.population import SimConfig
from clickguard.sim.quality import evaluate

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_report_renders_offline_in_headless_chromium(tmp_path):
    days = simulate(SimConfig(users=300, seed=3))
    quality = evaluate(days[0], days[1], blocked_share=1.0, seed=3)
    page = write(from_quality(quality, throughput={"records/s": 1000.0}), tmp_path / "report.html")
    shot = tmp_path / "report.png"
    # Offline flags: no network, no first-run or background requests (this machine refuses them).
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,2400",
        f"--screenshot={shot}",
        page.as_uri(),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 50_000  # a blank page compresses to a few KB; charts and tables make it far larger
