"""`clickguard local up` in a process of its own, as a person starts it: its banner read until the `try:` line, the
process stopped afterwards. Shared by the end-to-end tests that drive the running stack from outside."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Banner:
    endpoint: str  # the emulator
    score_url: str  # POST /score's stand-in
    hint: str  # the `try:` command it prints


@contextmanager
def local_up(workdir: Path, seconds: int) -> Iterator[Banner]:
    scratch = workdir / "tmp"  # its temporary files, to check that it leaves none behind
    scratch.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "clickguard.cli.main", "local", "up", "--for", str(seconds)],
        cwd=workdir,
        env={**os.environ, "TMPDIR": str(scratch)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        endpoint = score_url = hint = ""
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("endpoint"):
                endpoint = line.split()[1]
            if line.startswith("score api"):
                score_url = line.split()[3]
            if line.startswith("try: "):
                hint = line[len("try: ") :].strip()
                break
        assert endpoint.startswith("http://127.0.0.1:") and hint, "`clickguard local up` did not come up"
        assert (workdir / ".clickguard-local.json").is_file()
        yield Banner(endpoint, score_url, hint)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # Without --workdir it deploys into a scratch folder of its own; stopping removes it.
    assert not list(scratch.glob("clickguard-local-*")), "`clickguard local up` left its scratch folder behind"
