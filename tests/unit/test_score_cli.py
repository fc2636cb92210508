"""`clickguard score` and ``consumer.offline.score_users``: every user's score and decision, the consumer's maths."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from clickguard.cli.main import main
from clickguard.consumer.batch import Deps, process_batch
from clickguard.consumer.offline import UserScore, score_users
from clickguard.events import parse_record
from clickguard.model import artifact, detector
from clickguard.model.model import ModelParams
from clickguard.sim.catalog import is_abnormal
from clickguard.sim.generator import simulate
from clickguard.sim.output import ndjson_lines
from clickguard.sim.population import SimConfig
from clickguard.sim.quality import columns_of, sample_block_list
from clickguard.store.blobs import LocalDirStore
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
    threshold = detector.Detector.from_dict(model.detector).threshold
    assert all((s.score > threshold) == s.flagged for s in scores)
    assert all(s.reasons and s.reasons[0] == max(s.signals, key=lambda x: x.bits).name for s in scores if s.flagged)
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
    assert list(rows[0]) == list(UserScore.CSV_FIELDS)
    assert len(rows) == len(days[0].labels)
    flagged = [r for r in rows if r["flagged"] == "true"]
    budget = detector.Detector.from_dict(artifact.load_latest(LocalDirStore(str(models))).detector).budget
    assert 0 < len(flagged) <= budget * len(rows) + 1  # the budget, met on the window it was trained on
    assert all(r["events"] != "" and float(r["gap_cv_bits"]) >= 0 and r["reasons"] for r in flagged)
    # every score is a finite number (scikit-learn's metrics refuse -inf); the users never judged rank last
    scores = [float(r["score"]) for r in rows]
    assert all(np.isfinite(scores))
    unjudged = [float(r["score"]) for r in rows if r["judged"] == "false"]
    judged = [float(r["score"]) for r in rows if r["judged"] == "true"]
    assert unjudged and judged and max(unjudged) < min(judged) and not any(r["flagged"] == "true" for r in rows
                                                                           if r["judged"] == "false")  # fmt: skip
    assert "flagged" in capsys.readouterr().err
    # the same events in two files, both given: every user of both (a second --events once replaced the first)
    lines = events.read_bytes().splitlines(keepends=True)
    halves = [tmp_path / "a.ndjson", tmp_path / "b.ndjson"]
    halves[0].write_bytes(b"".join(lines[::2]))
    halves[1].write_bytes(b"".join(lines[1::2]))
    both = tmp_path / "both.csv"
    argv = ["score", "--events", str(halves[0]), "--events", str(halves[1]), "--model", str(models), "--out", str(both)]
    assert main(argv) == 0
    assert both.read_text() == out.read_text()


def test_a_published_detector_round_trips_and_scores_the_same(days, model, tmp_path):
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
        (["score", "--events", "EVENTS", "--model", "EMPTY", "--out", "EMPTY/nodir/o.csv"],
         "no directory EMPTY/nodir; give a CSV"),
        (["score", "--events", "EVENTS", "--model", "EMPTY", "--out", "EMPTY"], "EMPTY: a directory; give a CSV"),
        # the labels name other ids (a prefix the events' user field lacks): nothing to measure
        (["score", "--events", "EVENTS", "--model", "EMPTY", "--out", "o.csv", "--labels", "OTHER_IDS"],
         "none of its 1 users is in the events (its 'visitor' column names 'V-u'; the events' users are 'u')"),
        # every labelled user an "abuser" (a column of words that name no good user): AP 1.0 would mean nothing
        (["score", "--events", "EVENTS", "--model", "EMPTY", "--out", "o.csv", "--labels", "NO_GOOD"],
         "every labelled user reads as an abuser (column 'type': 'guest')"),
    ],
)  # fmt: skip
def test_bad_arguments_say_what_is_wrong_and_exit_2(tmp_path, capsys, argv, needle):
    good, garbage = tmp_path / "e.ndjson", tmp_path / "g.ndjson"
    good.write_text('{"user_id": "u", "event_type": "view", "timestamp": "2025-11-20T00:00:00Z"}\n')
    garbage.write_text("nope\n{}\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "other.csv").write_text("visitor,is_bot\nV-u,1\n")
    (tmp_path / "no_good.csv").write_text("visitor,type\nu,guest\n")
    subst = {"EVENTS": str(good), "GARBAGE": str(garbage), "EMPTY": str(tmp_path / "empty")}
    subst |= {"OTHER_IDS": str(tmp_path / "other.csv"), "NO_GOOD": str(tmp_path / "no_good.csv")}
    argv = [subst.get(a, a).replace("EMPTY/", f"{tmp_path / 'empty'}/") for a in argv]
    needle = needle.replace("EMPTY", str(tmp_path / "empty"))
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and needle in capsys.readouterr().err


def test_label_quality_ranks_the_labelled_users_and_judges_the_flags():
    from clickguard.cli.score_cmd import label_quality
    from clickguard.consumer.offline import UserScore

    def user(key: str, score: float, flagged: bool) -> UserScore:
        return UserScore(key, score, flagged, (), 3, 1, ())

    scores = [user("a", 9.0, True), user("b", 5.0, True), user("c", 2.0, False), user("d", float("-inf"), False),
              user("stranger", 1.0, False)]  # fmt: skip
    got = label_quality(scores, {"a": "bot", "b": "human", "c": "1", "d": "scraper", "gone": "bot"})
    # ranking of a, b, c, d by score (d never judged: last): hits at ranks 1, 3, 4 -> AP (1 + 2/3 + 3/4) / 3
    assert got["average_precision"] == round((1 + 2 / 3 + 3 / 4) / 3, 4)
    assert (got["flagged"], got["precision"], got["recall"]) == (2, 0.5, round(1 / 3, 4))
    assert (got["labelled_users_scored"], got["abusers"], got["users_not_labelled"]) == (4, 3, 1)
    assert (got["labelled_users_not_in_events"], got["labelled_abusers_not_in_events"]) == (1, 1)  # "gone", a bot
    # counting "gone" as missed: ranked last, below every scored user (hits at 1, 3, 4, 5 of 4), and not caught
    assert got["average_precision_all_labelled"] == round((1 + 2 / 3 + 3 / 4 + 4 / 5) / 4, 4)
    assert got["recall_all_labelled"] == round(1 / 4, 4)
    assert got["labels_read_as"] == {"benign": ["human"], "abnormal": ["1", "bot", "scraper"]}


@pytest.mark.parametrize("order", ["newest first", "shuffled"])
def test_a_file_out_of_time_order_trains_and_scores_as_the_same_file_in_order(tmp_path, days, capsys, order):
    """A file's lines are not a stream's arrival: an export newest first (or merged files) is read in the order its
    events happened, with a note that says so; read as it stood, the late-event rule dropped all but each session's
    last event (ten times the flags on the simulator's reversed day)."""
    lines = [x if x.endswith(b"\n") else x + b"\n" for x in map(_b, ndjson_lines(days[1]))]
    shuffled = [lines[i] for i in np.random.default_rng(3).permutation(len(lines))]
    moved = lines[::-1] if order == "newest first" else shuffled
    files = {"in order": tmp_path / "in-order.ndjson", order: tmp_path / "moved.ndjson"}
    files["in order"].write_bytes(b"".join(lines))
    files[order].write_bytes(b"".join(moved))
    got = {}
    for name, path in files.items():
        models = tmp_path / f"models-{name}"
        assert main(["train", "-i", str(path), "-o", str(models), "--min-sessions", "10"]) == 0
        train_out = capsys.readouterr()
        assert main(["score", "--events", str(path), "--model", str(models), "--out", "-"]) == 0
        score_out = capsys.readouterr()
        noted = "not in time order" in train_out.err and "not in time order" in score_out.err
        got[name] = (json.loads(train_out.out)["detector"]["threshold"], score_out.out, noted)
    assert got[order][:2] == got["in order"][:2]
    assert got[order][2] and not got["in order"][2]


def test_columns_in_time_order_are_a_stable_sort_and_themselves_when_in_order():
    from clickguard.training.dataset import EventColumns

    cols = EventColumns(users=["a", "b", "c", "d"], tokens=["x"] * 4, ts_ms=[3, 1, 3, 2], session_ids=[None] * 4,
                        event_ids=[None] * 4)  # fmt: skip
    ordered = cols.in_time_order()
    assert (ordered.users, ordered.ts_ms) == (["b", "d", "a", "c"], [1, 2, 3, 3])  # a before c: the file's order
    assert ordered.in_time_order() is ordered


def test_anonymous_sessions_are_scored_as_their_visitors_and_labels_naming_sessions_find_them(tmp_path, days, capsys):
    """Events that name a session and no user (guests, anonymous visitors) are their sessions' visitors; a labels
    file that names the sessions judges them (it named no user of the events)."""
    guests = []
    for line in map(_b, ndjson_lines(days[0])):
        record = json.loads(line)
        record["session_id"], record["user_id"] = f"g-{record['user_id']}", ""
        guests.append(json.dumps(record) + "\n")
    events, models, out = tmp_path / "guests.ndjson", tmp_path / "models", tmp_path / "scores.csv"
    events.write_text("".join(guests))
    labels = tmp_path / "labels.csv"
    labels.write_text("session,label\n" + "".join(f"g-{u},{lab}\n" for u, lab in days[0].labels.items()))
    assert main(["train", "-i", str(events), "-o", str(models), "--min-sessions", "10"]) == 0
    capsys.readouterr()
    argv = ["score", "--events", str(events), "--model", str(models), "--out", str(out), "--labels", str(labels)]
    assert main(argv) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {r["user_key"] for r in rows} == {f"session:g-{u}" for u in days[0].labels}
    err = capsys.readouterr().err
    quality = json.loads(err[err.index("\n{") :])
    assert quality["labelled_users_scored"] == len(rows) and quality["labelled_users_not_in_events"] == 0
    assert quality["abusers"] == sum(map(is_abnormal, days[0].labels.values())) > 0


def test_the_summary_counts_copies_and_static_files_apart_and_warns_of_actions_the_model_never_saw(
    tmp_path, days, capsys
):
    events, models = tmp_path / "day1.ndjson", tmp_path / "models"
    lines = [json.loads(_b(x)) for x in ndjson_lines(days[0])]
    copy = {**lines[0], "event_id": "e-1"}
    static = {**lines[1], "event_type": "/img/logo.png"}
    events.write_text("".join(json.dumps(r) + "\n" for r in [*lines, copy, copy, static]))
    assert main(["train", "-i", str(events), "-o", str(models), "--min-sessions", "10"]) == 0
    capsys.readouterr()
    out = tmp_path / "scores.csv"
    assert main(["score", "--events", str(events), "--model", str(models), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert ", 0 rejected, 1 copies dropped" in err and ", 1 static_file left out (no user action)" in err
    assert "warning" not in err
    renamed = tmp_path / "renamed.ndjson"  # the same events under actions the model never saw
    renamed.write_text("".join(json.dumps({**r, "event_type": "x-" + r["event_type"]}) + "\n" for r in lines))
    assert main(["score", "--events", str(renamed), "--model", str(models), "--out", str(out)]) == 0
    assert "warning: 100% of the events' actions are not among the model's" in capsys.readouterr().err
    some = [{**r, "event_type": "x-" + r["event_type"]} if i % 5 < 2 else r for i, r in enumerate(lines)]
    renamed.write_text("".join(json.dumps(r) + "\n" for r in some))  # 40%: a share of page views read as one action
    assert main(["score", "--events", str(renamed), "--model", str(models), "--out", str(out)]) == 0
    assert "% of the events' actions are not among the model's" in capsys.readouterr().err


def test_labels_find_the_events_keys_of_a_session_s_visitor_and_of_an_id_written_as_a_whole_float():
    from clickguard.sim.output import LabelTable

    table = LabelTable({"1300.0": "bot", "s-9": "bot", "u1": "human", "12.5": "bot"}, "label", "user")
    got = table.for_users({"1300", "session:s-9", "u1", "12"}).by_user
    assert got == {"1300": "bot", "session:s-9": "bot", "u1": "human", "12.5": "bot"}


def test_label_quality_counts_the_labelled_abusers_with_no_event_as_missed():
    """A client that fetched only static files has no event and no score: the headline figures leave it out (and
    count it), the all-labelled ones rank it last, tied with every other such abuser, and count it as not caught."""
    from clickguard.cli.score_cmd import label_quality
    from clickguard.consumer.offline import UserScore

    scores = [UserScore("a", 9.0, True, (), 3, 1, ()), UserScore("b", float("-inf"), False, (), 1, 1, ())]
    got = label_quality(scores, {"a": "bot", "b": "human", "img1": "bot", "img2": "bot", "gone": "human"})
    assert (got["abusers"], got["labelled_abusers_not_in_events"]) == (1, 2)
    assert (got["average_precision"], got["recall"]) == (1.0, 1.0)
    # a, b, then img1 and img2 tied last (one threshold): 1/3 of recall at precision 1, 2/3 at 3/4
    assert got["average_precision_all_labelled"] == round(1 / 3 + 2 / 3 * 3 / 4, 4)
    assert got["recall_all_labelled"] == round(1 / 3, 4)
    nobody = label_quality(scores, {"a": "human", "b": "human", "img1": "bot"})  # no scored abuser
    assert (nobody["average_precision"], nobody["recall"]) == (None, None)
    assert (nobody["average_precision_all_labelled"], nobody["recall_all_labelled"]) == (round(1 / 3, 4), 0.0)
    none = label_quality(scores, {"a": "human", "b": "human"})
    assert (none["average_precision_all_labelled"], none["recall_all_labelled"]) == (None, None)
