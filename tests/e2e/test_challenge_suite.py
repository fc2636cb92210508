"""The Insight challenge's test suite layout (seed 003) runs clickguard unmodified: ``challenge/run.sh`` beside
``src/``, ``log_input/`` and ``log_output/``, staged in a scratch folder as the suite stages it, and
``challenge/insight_testsuite/run_tests.sh`` over every test folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.e2e.test_network_cli import HAND_BATCH, HAND_OUT, HAND_STREAM

CHALLENGE = Path(__file__).resolve().parents[2] / "challenge"


def _add_test(suite: Path, name: str, batch: str, stream: str, expected: bytes) -> None:
    folder = suite / "tests" / name
    (folder / "log_input").mkdir(parents=True)
    (folder / "log_output").mkdir()
    (folder / "log_input" / "batch_log.json").write_text(batch)
    (folder / "log_input" / "stream_log.json").write_text(stream)
    (folder / "log_output" / "flagged_purchases.json").write_bytes(expected)


def test_the_suite_passes_its_sample_and_reports_a_test_it_fails(tmp_path):
    project = tmp_path / "project"  # outside the checkout: run.sh then takes the clickguard on PATH
    shutil.copytree(CHALLENGE, project, ignore=shutil.ignore_patterns("temp", "results.txt"))
    suite = project / "insight_testsuite"
    _add_test(suite, "test_hand", HAND_BATCH, "\n".join(HAND_STREAM) + "\n", HAND_OUT)
    _add_test(suite, "test_wrong", HAND_BATCH, "\n".join(HAND_STREAM) + "\n", HAND_OUT.replace(b"25.00", b"25.01"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        ["bash", str(suite / "run_tests.sh")], capture_output=True, text=True, env=env, timeout=600, check=False
    )
    assert "[PASS]: test_1" in done.stdout and "[PASS]: test_hand" in done.stdout, done.stdout + done.stderr
    assert "[FAIL]: test_wrong" in done.stdout and '-{"event_type": "purchase"' in done.stdout  # the diff is shown
    assert done.stdout.rstrip().endswith("2 of 3 tests passed") and done.returncode != 0


def test_run_sh_says_what_is_missing_when_no_clickguard_is_found(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(CHALLENGE, project, ignore=shutil.ignore_patterns("temp", "results.txt", "insight_testsuite"))
    done = subprocess.run(
        ["bash", "run.sh"], cwd=project, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, check=False
    )
    assert done.returncode == 2 and "no clickguard found: run 'make setup'" in done.stderr
