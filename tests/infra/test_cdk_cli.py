"""`cdk synth` with the pinned CLI (package.json) from the repository root, as CI and users run it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from infra.paths import ROOT

CDK = ROOT / "node_modules" / ".bin" / "cdk"


@pytest.mark.skipif(not CDK.exists(), reason="node_modules absent: run `npm ci` (make does) to test the pinned CLI")
def test_pinned_cli_synthesizes(tmp_path):
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    version = subprocess.run([str(CDK), "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith(pinned)
    env = {**os.environ, "CDK_DISABLE_VERSION_CHECK": "1", "CDK_DISABLE_CLI_TELEMETRY": "true"}
    result = subprocess.run(
        [
            str(CDK),
            "synth",
            "--quiet",
            "--no-notices",
            "--no-version-reporting",
            "-o",
            str(tmp_path / "out"),
            "-c",
            "stage=ci",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    template = json.loads((tmp_path / "out" / "clickguard-ci.template.json").read_text())
    assert "StreamName" in template["Outputs"]


@pytest.mark.skipif(not CDK.exists(), reason="node_modules absent: run `npm ci` (make does) to test the pinned CLI")
def test_a_misspelled_setting_fails_the_pinned_cli_s_synth(tmp_path):
    """``-c flag_cooldown_secs=60`` once synthesized the 24-hour default without a word."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    env = {**os.environ, "CDK_DISABLE_VERSION_CHECK": "1", "CDK_DISABLE_CLI_TELEMETRY": "true"}
    argv = [str(CDK), "synth", "--quiet", "--no-notices", "-o", str(tmp_path / "out"), "-c", "flag_cooldown_secs=60"]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode != 0
    assert "unknown setting 'flag_cooldown_secs'; did you mean flag_cooldown_seconds?" in result.stderr
