"""The running local stack as other CLI processes find it (``local.state_file``): one per directory, a stale state
file said to be stale at once (not a retried port and a traceback), ``local down``, ``--local`` with nothing else
naming an endpoint."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from types import SimpleNamespace

import pytest

from clickguard.cli.main import main
from clickguard.local import state_file


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def listening():
    """An endpoint that answers, as a running stack's does."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def _state(tmp_path, monkeypatch, endpoint: str, pid: int) -> None:
    monkeypatch.chdir(tmp_path)
    state_file.write({"endpoint_url": endpoint, "stack": "cg-local", "pid": pid, "region": "us-east-1"})


def _fails(argv, capsys, needle) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and needle in err and "Traceback" not in err, err


def test_liveness_tells_a_running_stack_from_a_gone_process_and_a_closed_endpoint(listening):
    assert state_file.liveness({"endpoint_url": listening, "stack": "s", "pid": os.getpid()}) is None
    gone = _dead_pid()
    assert state_file.liveness({"endpoint_url": listening, "stack": "s", "pid": gone}) == f"its process {gone} is gone"
    with socket.create_server(("127.0.0.1", 0)) as server:
        closed = f"http://127.0.0.1:{server.getsockname()[1]}"
    assert "does not answer" in state_file.liveness({"endpoint_url": closed, "stack": "s", "pid": os.getpid()})


@pytest.mark.parametrize(
    "argv",
    [["flags", "--local"], ["review", "list", "--local"], ["train", "--local"], ["produce", "--local", "--simulate"]],
)
def test_a_stale_state_file_is_said_to_be_stale_by_every_local_command(tmp_path, monkeypatch, capsys, argv, listening):
    _state(tmp_path, monkeypatch, listening, _dead_pid())
    _fails(argv, capsys, "--local: the local stack of .clickguard-local.json is not running (its process")


def test_local_up_refuses_a_second_stack_in_a_directory_whose_stack_runs(tmp_path, monkeypatch, capsys, listening):
    _state(tmp_path, monkeypatch, listening, os.getpid())
    _fails(["local", "up"], capsys, f"a local stack already runs from {tmp_path} (process")
    assert state_file.read() is not None  # the running stack's file is left as it is


def test_local_down_removes_a_stale_file_and_says_when_there_is_no_stack(tmp_path, monkeypatch, capsys, listening):
    _state(tmp_path, monkeypatch, listening, _dead_pid())
    assert main(["local", "down"]) == 0
    assert "its stack was not running (its process" in capsys.readouterr().err
    assert state_file.read() is None
    _fails(["local", "down"], capsys, f"no local stack runs from {tmp_path} (.clickguard-local.json not found there)")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["flags", "--local", "--endpoint-url", "http://127.0.0.1:1"], "give either --local"),
        (["train", "--local", "--endpoint-url", "http://127.0.0.1:1"], "give either --local"),
        (["score", "--events", "e.ndjson", "--local", "--out", "-", "--endpoint-url", "http://x"], "give either"),
        (["local", "up", "--for", "-5"], "--for -5 / --train-every 0: must be >= 0"),
    ],
)
def test_contradicting_local_arguments_are_refused(tmp_path, monkeypatch, capsys, argv, needle):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "e.ndjson").write_text(json.dumps({"user_id": "u", "event_type": "v", "timestamp": 1.7e9}) + "\n")
    _fails(argv, capsys, needle)


def test_a_state_file_that_is_not_one_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    state_file.PATH.write_text("{not json")
    _fails(["flags", "--local"], capsys, "--local: .clickguard-local.json is not a clickguard local state file")


def test_a_taken_port_is_refused_with_status_2_and_leaves_nothing_behind(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # mkdtemp reads TMPDIR again
    with socket.create_server(("127.0.0.1", 0)) as taken:
        _fails(["local", "up", "--port", str(taken.getsockname()[1])], capsys, "cannot serve the emulator there")
    assert not list(tmp_path.glob("clickguard-local-*")) and state_file.read() is None


def _workdir_state(tmp_path, monkeypatch, endpoint: str, pid: int):
    """A stack started with ``--workdir`` W, asked about from another directory."""
    workdir, elsewhere = tmp_path / "w", tmp_path / "elsewhere"
    workdir.mkdir()
    elsewhere.mkdir()
    (workdir / "lambda-output.ndjson").touch()
    state = {"endpoint_url": endpoint, "stack": "cg-local", "pid": pid, "region": "us-east-1",
             "handler_output": str(workdir / "lambda-output.ndjson")}  # fmt: skip
    state_file.write(state, state_file.in_dir(workdir))
    monkeypatch.chdir(elsewhere)
    return workdir


def test_local_stats_with_workdir_finds_the_stack_from_another_directory(tmp_path, monkeypatch, capsys, listening):
    workdir = _workdir_state(tmp_path, monkeypatch, listening, os.getpid())
    assert main(["local", "stats", "--workdir", str(workdir)]) == 0
    assert json.loads(capsys.readouterr().out)["output"] == str(workdir / "lambda-output.ndjson")


def test_local_down_with_workdir_finds_the_stack_from_another_directory(tmp_path, monkeypatch, capsys, listening):
    workdir = _workdir_state(tmp_path, monkeypatch, listening, _dead_pid())
    assert main(["local", "down", "--workdir", str(workdir)]) == 0
    assert "its stack was not running" in capsys.readouterr().err
    assert state_file.read(state_file.in_dir(workdir)) is None


@pytest.mark.parametrize("action", ["stats", "down"])
def test_no_stack_names_the_directory_looked_in(tmp_path, monkeypatch, capsys, action):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w").mkdir()
    _fails(["local", action, "--workdir", "w"], capsys, f".clickguard-local.json not found in {tmp_path / 'w'}"
           if action == "stats" else f"no local stack runs from {tmp_path / 'w'}")  # fmt: skip
    _fails(["local", action], capsys, str(tmp_path))


def test_a_stack_keeps_its_state_file_here_and_in_its_workdir_and_removes_both(tmp_path, monkeypatch, listening):
    from clickguard.local.runtime import LocalRuntime
    from clickguard.local.stack import DeployedStack

    monkeypatch.chdir(tmp_path)
    (tmp_path / "w").mkdir()
    rt = LocalRuntime("w")
    rt.stack, rt.emulator.endpoint_url = DeployedStack("cg-local", {}, {"Resources": {}}), listening
    rt.score_server = SimpleNamespace(url=f"{listening}/score", stop=lambda: None)
    rt.write_state_file()
    here, there = state_file.read(), state_file.read(tmp_path / "w" / state_file.PATH.name)
    assert here is not None and here == there
    rt.stop()
    assert not (tmp_path / state_file.PATH.name).exists() and not (tmp_path / "w" / state_file.PATH.name).exists()


def test_local_up_refuses_a_workdir_whose_stack_runs(tmp_path, monkeypatch, capsys, listening):
    """Two stacks in one workdir would write one assembly and one output file."""
    workdir = _workdir_state(tmp_path, monkeypatch, listening, os.getpid())
    _fails(["local", "up", "--workdir", str(workdir)], capsys, f"a local stack already runs from {workdir} (process")
