"""``clickguard models`` on a store that is not there, or holds no model: said, never an empty answer."""

from __future__ import annotations

import pytest

from clickguard.cli.main import main


@pytest.mark.parametrize("action", ["list", "show"])
def test_a_store_directory_that_does_not_exist_is_an_error_naming_it(tmp_path, capsys, action):
    missing = tmp_path / "no" / "such"
    with pytest.raises(SystemExit) as exc:
        main(["models", action, "--store", str(missing)])
    assert exc.value.code == 2
    assert capsys.readouterr().err == f"clickguard models: error: no model published in {missing} (no such directory)\n"
    assert not missing.exists()


def test_listing_a_store_without_a_model_says_so_on_stderr(tmp_path, capsys):
    assert main(["models", "list", "--store", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err == f"no model published in {tmp_path}\n"
