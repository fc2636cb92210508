"""End to end on the local stack: the trainer publishes behaviour groups, the consumer tags each flag with the
user's nearest group, and a ring of new accounts on day 2 raises exactly one campaign alert on the flag queue."""

from __future__ import annotations

import pytest

from clickguard.consumer.campaign import MESSAGE_FIELDS
from clickguard.local.demo import DemoOptions, run_demo

pytestmark = pytest.mark.e2e
RING = 40


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("groups-demo")
    options = DemoOptions(out_dir=out, users=400, seed=7, campaign_users=RING)
    return out, run_demo(options, log=lambda m: None)


def test_the_ring_raises_one_campaign_alert_with_its_members(demo):
    _, result = demo
    (alert,) = result.group_flags
    assert set(alert) == set(MESSAGE_FIELDS)
    # The bucket holds every user of that hour whose sessions fit no group and share the ring's rarest action: a
    # few others may be among them, the ring is most of it. How many it holds when the alert fires depends on where
    # the batches split, which the machine's load moves (27 and 41 seen on the same code).
    assert alert["threshold"] <= alert["members"] <= RING + 5
    ring = [u for u in alert["sample_user_keys"] if u.startswith("ring-")]
    assert len(ring) >= len(alert["sample_user_keys"]) - 2 >= 1, alert
    assert alert["model_version"] == result.model_version


def test_every_flag_says_its_users_nearest_group_and_the_ring_fits_none(demo):
    """A flag names the nearest group at the event that fired it, and its rarest action once the session is beyond
    the model's limit: one limit splits the flags by distance. A ring account can be flagged at its first judged
    events, before its session has drifted from every group; past the limit it shows the campaign's own action."""
    _, result = demo
    assert result.flags
    for f in result.flags:
        assert f["group"] and f["group_distance"] >= 0
    fitting = [f["group_distance"] for f in result.flags if not f["emerging_group"]]
    beyond = [f["group_distance"] for f in result.flags if f["emerging_group"]]
    assert beyond and max(fitting, default=0.0) < min(beyond)
    ring = [f for f in result.flags if f["user_key"].startswith("ring-")]
    (alert,) = result.group_flags
    assert {f["emerging_group"] for f in ring} - {None} == {alert["signature"]}
    assert result.per_type["campaign"]["total"] == RING


def test_the_report_shows_the_groups_and_the_alert(demo):
    out, result = demo
    html = (out / "report.html").read_text()
    assert "id='groups'" in html and "id='campaigns'" in html
    assert result.group_flags[0]["signature"] in html.split("id='campaigns'", 1)[1]
