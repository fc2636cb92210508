"""A labels file names a web log's clients as the log writes their addresses; the events key a client by its address
written as ``ipaddress`` writes it (``access_log.client_address``). ``LabelTable.for_users`` reads a label's address
the events' way, so ``::ffff:176.200.159.30`` labels the client ``176.200.159.30`` (before: no user, silently)."""

from __future__ import annotations

import pytest

from clickguard.decoding import Decoder
from clickguard.decoding.access_log import client_address
from clickguard.sim.output import LabelTable, read_label_table

EVENTS_USERS = {"176.200.159.30", "2001:db8::1", "2001:db8::2", "203.0.113.9", "fe80::1", "198.51.100.7",
                "SLIP14.PPP.HOOKED.NET", "u1"}  # fmt: skip


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("::ffff:176.200.159.30", "176.200.159.30"),  # IPv4-mapped IPv6: its IPv4 address
        ("::FFFF:B0C8:9F1E", "176.200.159.30"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),  # expanded, upper-case
        ("2001:0db8:0000:0000:0000:0000:0000:0002", "2001:db8::2"),
        ("[2001:db8::1]", "2001:db8::1"),  # in brackets
        ("[2001:DB8::2]:443", "2001:db8::2"),  # with a port
        ("203.0.113.9:51234", "203.0.113.9"),  # a load balancer's client:port
        ("[::ffff:203.0.113.9]:80", "203.0.113.9"),
        ("fe80::1%eth0", "fe80::1"),  # a zone is the server's interface, not the client
        ("[fe80::1%25eth0]:8080", "fe80::1"),
        # what is no address, or an address the events do not hold, stays as written
        ("198.51.100.7:99999", "198.51.100.7:99999"),  # no port
        ("[2001:db8::1]:65536", "[2001:db8::1]:65536"),
        ("[2001:db8::1]x", "[2001:db8::1]x"),
        ("::ffff:198.51.100.8", "::ffff:198.51.100.8"),
        ("010.000.000.001", "010.000.000.001"),
        ("slip14.ppp.hooked.net", "slip14.ppp.hooked.net"),  # a host name is matched as logged
        ("u1", "u1"),
    ],
)
def test_a_label_s_address_is_the_events_key_for_it(written, key):
    assert LabelTable({written: "bot"}, "label", "ip").for_users(EVENTS_USERS).by_user == {key: "bot"}


@pytest.mark.parametrize("written", ["::ffff:176.200.159.30", "2001:DB8:0:0:0:0:0:1", "fe80::1%eth0", "::1"])
def test_a_bare_address_reads_as_the_access_log_keys_it(written):
    canonical = client_address(written)
    assert LabelTable({written: "bot"}, "label", "ip").for_users({canonical}).by_user == {canonical: "bot"}


@pytest.mark.parametrize("order", [1, -1])
def test_the_events_own_spelling_wins_over_another(order):
    labels = dict(list({"1.2.3.4": "bot", "::ffff:1.2.3.4": "human"}.items())[::order])
    assert LabelTable(labels, "label", "ip").for_users({"1.2.3.4"}).by_user == {"1.2.3.4": "bot"}


def test_labels_written_as_the_log_writes_its_clients_match_its_events(tmp_path):
    """The tester's case: an access log's clients, labelled by the addresses it wrote."""
    written = ["::ffff:176.200.159.30", "2001:DB8:0:0:0:0:0:1", "203.0.113.9"]
    lines = [f'{a} - - [21/Nov/2025:04:40:0{i} +0000] "GET /a HTTP/1.1" 200 1' for i, a in enumerate(written)]
    users = {Decoder().decode(line.encode()).user_key for line in lines}
    assert users == {"176.200.159.30", "2001:db8::1", "203.0.113.9"}
    labels = tmp_path / "labels.csv"
    labels.write_text("ip,is_bot\n" + "".join(f"{a},{int(i < 2)}\n" for i, a in enumerate(written)))
    got = read_label_table(labels).for_users(users)
    assert got.by_user == {"176.200.159.30": "1", "2001:db8::1": "1", "203.0.113.9": "0"}
    assert got.refusal(users, evaluating=True) is None
