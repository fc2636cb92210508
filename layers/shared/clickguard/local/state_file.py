"""The running ``clickguard local up``, as other CLI processes find it: ``.clickguard-local.json`` in the directory
it was started in (its endpoint, stack, process id and when it last archived the stream), and in its ``--workdir``
when given one, where ``local stats`` and ``local down`` find it from another directory (``places``).

A stack that died without removing the file (its terminal closed, a ``kill -9``) leaves a stale file: ``liveness``
tells it apart, so a command says so at once instead of retrying a closed port for seconds and printing a
traceback, and ``local up`` replaces it. ``request_archive`` asks the running stack to write the stream to the
archive now (``SIGUSR1``) and waits until it has, so ``train --local`` right after ``produce --local`` trains on what
was produced rather than on the last minute's archive.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from clickguard import settings

PATH = Path(settings.LOCAL_STATE_FILE)
ARCHIVE_SIGNAL = signal.SIGUSR1


def in_dir(directory: str | os.PathLike[str] | None) -> Path:
    """The state file in ``directory`` (a stack's ``--workdir``), as an absolute path; None: the current directory's."""
    return PATH if directory is None else Path(os.path.abspath(Path(directory) / PATH.name))


def places(workdir: str | os.PathLike[str] | None) -> list[Path]:
    """Where a stack started here with ``workdir`` writes its state file, as absolute paths (the same stack's, however
    the directory changes): here, for every ``--local`` command, and in its workdir too."""
    here = Path(os.path.abspath(PATH))
    there = here if workdir is None else in_dir(workdir)
    return [here] if there == here else [here, there]


def read(path: Path = PATH) -> dict[str, Any] | None:
    """The state file's contents; None when there is none. ValueError when it is not a state file."""
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text())
    except ValueError:
        raise ValueError(f"{path} is not a clickguard local state file") from None
    if not isinstance(state, dict) or not {"endpoint_url", "stack"} <= state.keys():
        raise ValueError(f"{path} is not a clickguard local state file")
    return state


def write(state: dict[str, Any], path: Path = PATH) -> Path:
    """Written whole and renamed into place: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(path)
    return path


def liveness(state: dict[str, Any]) -> str | None:
    """None when the stack of ``state`` runs; else why it does not (its process is gone, or its endpoint does not
    answer)."""
    pid = state.get("pid")
    if isinstance(pid, int) and not _process_exists(pid):
        return f"its process {pid} is gone"
    if not _answers(str(state["endpoint_url"])):
        return f"its endpoint {state['endpoint_url']} does not answer"
    return None


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def _answers(url: str, timeout_s: float = 1.0) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout_s):
            return True
    except OSError:
        return False


def request_archive(state: dict[str, Any], timeout_s: float = 30.0, path: Path = PATH) -> bool:
    """Ask the stack to archive its stream now and wait until it has (True), or ``timeout_s`` passed (False)."""
    pid = state.get("pid")
    if not isinstance(pid, int):
        return False
    asked = time.time()
    try:
        os.kill(pid, ARCHIVE_SIGNAL)
    except OSError:
        return False
    deadline = asked + timeout_s
    while time.time() < deadline:
        try:
            current = read(path)
        except ValueError:
            current = None
        if current is not None and float(current.get("archived_at", 0)) >= asked:
            return True
        time.sleep(0.2)
    return False
