"""A flag explained for a reviewer: both schemas, missing fields, hostile strings."""

from __future__ import annotations

from clickguard.review.explain import MAX_SIGNALS, clean, explain
from tests.review_support import flag, flag_v2


def text(body, raw=""):
    return "\n".join(explain(body, raw))


def test_a_v1_flag_shows_reasons_strength_bits_against_thresholds_and_transitions():
    out = text(flag(reasons=("mean_bits", "total_bits")))
    assert "user u-1" in out and "flag f1" in out and "model m-1" in out
    assert "reasons: mean_bits, total_bits  strength 1.25" in out
    assert "mean bits per transition 5.00 (threshold 4.00)" in out and "total bits 30.00 (threshold 40.00)" in out
    assert "login#fail -> login#fail  9.0 bits (transition 3)" in out
    assert "signals" not in out


def test_a_v2_flag_shows_score_threshold_and_its_signals_strongest_first():
    out = text(flag_v2())
    assert "score 36.00 (threshold 24.00)" in out and "strength 1.50" in out and "peak mean bits 3.10" in out
    lines = out.splitlines()
    signals = lines[lines.index("  signals:") + 1 :]
    assert [s.split(":")[0].strip() for s in signals] == ["fail_share", "peak_per_minute", "events"]
    assert signals[0] == "    fail_share: 0.8 (typical 0.02)  +11.5 bits"


def test_signals_without_bits_or_malformed_ones_still_render():
    body = flag_v2(signals=[{"name": "odd"}, "junk", {"value": 3}, *({"name": f"s{i}", "bits": i} for i in range(20))])
    lines = explain(body)
    at = lines.index("  signals:")
    assert len(lines[at + 1 :]) == MAX_SIGNALS and lines[at + 1].startswith("    s19")


def test_a_flag_with_almost_nothing_falls_back_to_question_marks():
    out = text({"user_key": "u"})
    assert out.startswith("user u  flag ?") and "reasons: ?" in out


def test_control_characters_from_the_message_are_escaped():
    out = text(flag(user="evil\x1b[2J\x07", reasons=("\x1b]0;x",)))
    assert "\x1b" not in out and "\x07" not in out and "evil\\x1b[2J\\x07" in out
    assert clean("x" * 300, 10) == "x" * 7 + "..."


def test_bidirectional_overrides_are_escaped_so_an_id_reads_as_it_is():
    assert clean("abc\u202egnp.exe") == "abc\\u202egnp.exe"  # shown as "abcexe.png" on a terminal
    assert clean("a\u2066b\u200fc\u061c") == "a\\u2066b\\u200fc\\u061c"
    assert clean("ユーザー é") == "ユーザー é"  # letters of any script stay


def test_a_message_that_is_not_json_shows_its_start():
    assert explain(None, "garbage\x00body") == ["(not a JSON object: garbage\\x00body)"]


def test_campaign_alerts_and_purchase_flags_read_as_what_they_are():
    from clickguard.consumer.buckets import KIND
    from clickguard.network.flags import RULE
    from clickguard.review.explain import GROUP_KIND, PURCHASE_KIND, decidable

    assert (GROUP_KIND, PURCHASE_KIND) == (KIND, RULE)  # the message kinds, named once each side
    alert = {
        "kind": KIND,
        "flag_id": "g1",
        "members": 34,
        "signature": "withdraw_funds#fail",
        "sample_user_keys": ["a"],
    }
    lines = explain(alert)
    assert "34 users" in lines[0] and "information only" in lines[1] and not decidable(alert)
    purchase = {
        "kind": RULE, "flag_id": "p1", "user_key": "u7", "reasons": ["purchase_above_network"], "amount": "600.00",
        "mean": "30.10", "sd": "4.20", "baseline_purchases": 50, "network_size": 40, "degree": 2,
    }  # fmt: skip
    text = "\n".join(explain(purchase))
    assert "user u7" in text and "purchase 600.00 above mean 30.10 + 3 sd 4.20" in text and decidable(purchase)
