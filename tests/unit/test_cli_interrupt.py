"""Ctrl-C (SIGINT, KeyboardInterrupt) anywhere in the CLI: one line on stderr and status 130, never a traceback;
``produce`` says how much it had put, ``review`` ends the session as [q]uit does, with its summary."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from types import SimpleNamespace

import pytest

from clickguard.cli import models_cmd, produce_cmd, review_cmd
from clickguard.cli.main import main
from clickguard.store.flag_reader import FlagMessage
from clickguard.store.stream import PutStats
from tests.factories import ndjson, ordinary_events


def _interrupt(*_: object, **__: object) -> int:
    raise KeyboardInterrupt


def test_ctrl_c_in_any_command_is_one_line_and_status_130(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(models_cmd, "run", _interrupt)
    assert main(["models", "list", "--store", str(tmp_path)]) == 130
    assert capsys.readouterr().err == "clickguard models: interrupted\n"


def test_a_real_sigint_while_a_command_waits_on_the_network_ends_without_a_traceback():
    with socket.create_server(("127.0.0.1", 0)) as server:  # accepts, never answers: the command waits
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "AWS_ACCESS_KEY_ID": "x",
               "AWS_SECRET_ACCESS_KEY": "x"}  # fmt: skip
        argv = ["flags", "--queue-url", f"{url}/q", "--endpoint-url", url, "--region", "us-east-1", "--wait", "0"]
        proc = subprocess.Popen([sys.executable, "-m", "clickguard.cli.main", *argv], env=env, stderr=subprocess.PIPE)
        server.settimeout(60)
        conn, _ = server.accept()
        with conn:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.decode() == "clickguard flags: interrupted\n", err.decode()


def _produce_until_interrupted(put: int):
    def produce(client, stream, entries, *, on_progress, **_):
        stats = PutStats(records=put, calls=put // 500)
        on_progress(stats)
        raise KeyboardInterrupt

    return produce


@pytest.mark.parametrize(
    ("with_ids", "note"),
    [
        (True, "putting it again, the consumer drops those already put as copies (each event carries an event_id)"),
        (False, "putting it again puts them again: the consumer drops a copy by its event_id, which {n:,} of its"),
    ],
)
def test_ctrl_c_in_produce_says_how_many_records_were_put_of_how_many(tmp_path, monkeypatch, capsys, with_ids, note):
    events = ordinary_events(60, seed=4)
    if with_ids:
        events = [{**e, "event_id": f"id-{i}"} for i, e in enumerate(events)]
    (tmp_path / "e.ndjson").write_bytes(ndjson(events))
    monkeypatch.setattr(produce_cmd, "produce", _produce_until_interrupted(500))
    argv = ["produce", "--input", str(tmp_path / "e.ndjson"), "--stream", "s", "--region", "us-east-1",
            "--endpoint-url", "http://127.0.0.1:9"]  # fmt: skip
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert err.startswith(f"clickguard produce: interrupted after 500 of {len(events):,} records put; "), err
    assert note.format(n=len(events)) in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_ctrl_c_at_the_review_prompt_ends_the_session_as_quit_with_its_summary(monkeypatch, capsys):
    flags = [FlagMessage(f"m{i}", f"r{i}", {"flag_id": f"f{i}", "user_key": f"u{i}"}, "{}") for i in range(3)]
    released: list[FlagMessage] = []
    monkeypatch.setattr(review_cmd, "_receive", lambda *_: flags)
    monkeypatch.setattr(review_cmd, "_release", lambda _, messages: released.extend(messages))
    monkeypatch.setattr("builtins.input", _interrupt)
    argv = ["review", "--queue-url", "q", "--decision-queue-url", "d", "--reviewer", "r", "--region", "us-east-1"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert err.endswith("decided 0 (0 block, 0 allow), skipped 0, 3 not reached: 3 left open\n"), err
    assert err.count("\n") == 1 and released == flags


def test_ctrl_c_while_the_local_stack_starts_is_one_line_and_status_130(tmp_path, monkeypatch, capsys):
    from clickguard.local.runtime import LocalRuntime

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(LocalRuntime, "start", _interrupt)  # as when Ctrl-C comes during the synth
    assert main(["local", "up"]) == 130
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "clickguard local: interrupted while the stack started: nothing is left running"
    assert "Traceback" not in err


def test_jsii_s_closed_pipe_at_exit_is_dropped_and_every_other_unraisable_error_kept(monkeypatch):
    """Ctrl-C in the terminal ends jsii's node child too; jsii's stop at exit then wrote to it, and its
    BrokenPipeError's traceback followed the command's one line."""
    from clickguard.local import stack

    seen: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_value))
    stack._quiet_jsii_exit()
    stack._quiet_jsii_exit()  # once: not a hook per synth

    def stop() -> None: ...

    stop.__module__ = "jsii._kernel.providers.process"
    closed, other = BrokenPipeError(32, "Broken pipe"), ValueError("x")
    for exc, obj in ((closed, stop), (other, stop), (closed, print)):
        sys.unraisablehook(SimpleNamespace(exc_value=exc, object=obj))
    assert seen == [other, closed]
