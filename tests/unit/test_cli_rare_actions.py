"""A model that read most of its training window's actions as OTHER (one-off pages: a slug per product, as
Confluent's shoe_clickstream writes ``/product/ycidp``) has a few states; ``train`` says so, and ``score`` says why a
file's actions are unknown to it instead of blaming the file's export."""

from __future__ import annotations

import json
import random

from clickguard.cli.main import main

T0 = 1_795_219_200_000


def write(path, pages):
    rng = random.Random(3)
    with path.open("w") as fh:
        for u in range(150):
            for k in range(5):
                page = (
                    "/product/" + "".join(rng.choice("abcdefghij") for _ in range(6))
                    if pages == "slugs"
                    else (f"/c/{k}")
                )
                fh.write(json.dumps({"user_id": f"u{u}", "event_type": page, "timestamp": T0 + u * 1000 + k * 9000}))
                fh.write("\n")
    return path


def test_a_window_of_one_off_pages_is_told_at_training_and_scoring(tmp_path, capsys):
    events = write(tmp_path / "e.ndjson", "slugs")
    assert main(["train", "-i", str(events), "-o", str(tmp_path / "m")]) == 0
    err = capsys.readouterr().err
    assert "were each seen fewer than 5 times and read as one state, OTHER" in err and "750 distinct actions" in err
    main(["score", "--events", str(events), "--model", str(tmp_path / "m"), "--out", str(tmp_path / "s.csv")])
    err = capsys.readouterr().err
    assert "actions are OTHER to the model, as 100% of the training window's" in err
    assert "exported or mapped the way" not in err


def test_a_window_of_repeated_pages_is_not(tmp_path, capsys):
    events = write(tmp_path / "e.ndjson", "templates")
    assert main(["train", "-i", str(events), "-o", str(tmp_path / "m")]) == 0
    assert "OTHER" not in capsys.readouterr().err
