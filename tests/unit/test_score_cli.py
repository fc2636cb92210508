"""`clickguard score` and ``consumer.offline.score_users``: every user's score and decision, the consumer's maths."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from clickguard.cli.main import main
from clickguard.cli.score_cmd import V2_FIELDS
from clickguard.consumer.batch import Deps, process_batch
from clickguard.consumer.offline import UserScore, score_users
from clickguard.events import parse_record
from clickguard.model.model import ModelParams
from clickguard.sim.generator import simulate
from clickguard.sim.output import ndjson_lines
from clickguard.sim.population import SimConfig
from clickguard.sim.quality import columns_of, sample_block_list
from clickguard.training.pipeline import train
from tests.consumer_support import FakeFlags, FakeModel, FakeRejected, FakeSessions, config, to_records


@pytest.fixture(scope="module")
def days():
    return simulate(SimConfig(users=400, seed=5, start_date="2025-11-20").validate())


@pytest.fixture(scope="module")
def model(days):
    blocked = sample_block_list(days[0].labels, 1.0, 5)
    trained, _ = train(
        columns_of(days[0]),
        ModelParams(),
        window_start="2025-11-20T00:00:00Z",
        window_end="2025-11-21T00:00:00Z",
        created_at="2025-11-21T00:00:00Z",
        min_sessions=10,
        exclude_users=blocked,
    )
    return trained


def test_the_users_flagged_offline_are_the_users_the_consumer_flags(days, model):
    lines = [_b(x) for x in ndjson_lines(days[1])]
    scores = score_users(model, columns_of(days[1]))
    deps = Deps(FakeSessions(), FakeFlags(), FakeRejected(), FakeModel(model))
    records = [  # arriving as they happen: nothing clamped
        r._replace(arrival_ms=parse_record(r.data).ts_ms + 500) for r in to_records(lines)
    ]
    for i in range(0, len(records), 1000):
        assert process_batch(records[i : i + 1000], deps, config()).failures == []
    flagged_by_consumer = {f.user_key for f in deps.flags.sent}
    assert {s.user_key for s in scores if s.flagged} == flagged_by_consumer != set()
    assert all((s.score > 1) == s.flagged for s in scores)
    assert all(s.reasons for s in scores if s.flagged)
    assert [s.score for s in scores] == sorted((s.score for s in scores), reverse=True)
    assert sum(s.events for s in scores) == len(lines) and len({s.user_key for s in scores}) == len(scores)


def test_score_writes_every_user_as_csv(tmp_path, days, capsys):
    events = tmp_path / "day1.ndjson"
    events.write_bytes(b"".join(x if x.endswith(b"\n") else x + b"\n" for x in map(_b, ndjson_lines(days[0]))))
    models = tmp_path / "models"
    assert main(["train", "-i", str(events), "-o", str(models), "--min-sessions", "10"]) == 0
    capsys.readouterr()
    out = tmp_path / "scores.csv"
    assert main(["score", "--events", str(events), "--model", str(models), "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(rows[0]) == [*UserScore.CSV_FIELDS, *V2_FIELDS]  # the trained model carries detector v2
    assert len(rows) == len(days[0].labels)
    assert all((float(r["score"]) > 1) == (r["flagged"] == "true") for r in rows)
    v2_flagged = [r for r in rows if r["v2_flagged"] == "true"]
    assert 0 < len(v2_flagged) <= 0.05 * len(rows)  # a 2% budget on the window it was trained on
    assert all(r["v2_events"] != "" and float(r["v2_gap_cv_bits"]) >= 0 for r in v2_flagged)
    assert "detector v2 flags" in capsys.readouterr().err


def test_a_published_detector_round_trips_and_scores_the_same(days, model, tmp_path):
    from clickguard.model import artifact, detector
    from clickguard.store.blobs import LocalDirStore

    assert model.detector is not None and model.stats["detector"]["fitted"]
    store = LocalDirStore(str(tmp_path / "store"))
    artifact.publish(store, model)
    loaded = artifact.load_latest(store)
    first = detector.apply(detector.Detector.from_dict(model.detector), model, columns_of(days[1]))
    again = detector.apply(detector.Detector.from_dict(loaded.detector), loaded, columns_of(days[1]))
    assert first.names == again.names and np.allclose(first.scores, again.scores)
    assert (first.flagged == again.flagged).all()


def _b(x):
    return x if isinstance(x, bytes) else x.encode()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["score", "--events", "missing.ndjson", "--model", "m", "--out", "o.csv"], "missing.ndjson: no such file"),
        (["score", "--events", "EVENTS", "--model", "EMPTY", "--out", "o.csv"], "no model published in"),
        (["score", "--events", "GARBAGE", "--model", "EMPTY", "--out", "o.csv"], "no valid event in 2 lines"),
    ],
)
def test_bad_arguments_say_what_is_wrong_and_exit_2(tmp_path, capsys, argv, needle):
    good, garbage = tmp_path / "e.ndjson", tmp_path / "g.ndjson"
    good.write_text('{"user_id": "u", "event_type": "view", "timestamp": "2025-11-20T00:00:00Z"}\n')
    garbage.write_text("nope\n{}\n")
    (tmp_path / "empty").mkdir()
    subst = {"EVENTS": str(good), "GARBAGE": str(garbage), "EMPTY": str(tmp_path / "empty")}
    with pytest.raises(SystemExit) as exc:
        main([subst.get(a, a) for a in argv])
    assert exc.value.code == 2 and needle in capsys.readouterr().err
