"""What CLI tests share: running ``clickguard`` in process and reading its refusal."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from clickguard.cli.main import main


def cli_fails(capsys: Any, argv: Iterable[object], *needles: str, absent: Iterable[str] = ()) -> str:
    """``clickguard argv`` exits 2 with every one of ``needles`` on stderr and none of ``absent``; its stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    err: str = capsys.readouterr().err
    assert exc.value.code == 2, err
    for needle in needles:
        assert needle in err, err
    for needle in absent:
        assert needle not in err, err
    return err
