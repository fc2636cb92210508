"""``access_log.client_address`` reads a plain IPv4 address from its text (no ``ipaddress`` parse, no cache: a real
log's clients outnumber any cache, and each miss cost about 10 us a line). It must give what the ``ipaddress`` rule
gives, for every text a log may hold: a property against a frozen copy of that rule."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from clickguard.decoding.access_log import _bare, client_address

_PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))


def _canonical(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    return ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None else ip


def reference(remote: str, forwarded: str | None) -> str:
    """The rule as it was written before the fast path (2026-12-01)."""
    ip = _canonical(remote)
    if forwarded and ip is not None:
        proxy = ip.is_loopback or ip.is_link_local or any(ip in n for n in _PRIVATE if n.version == ip.version)
        first = _bare(forwarded) if proxy else None
        client = _canonical(first) if first is not None else None
        if client is not None:
            return str(client)
    return str(ip) if ip is not None else remote


octet = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["010", "00", "0x1", "-1", "", " 1", "1 "]))
ipv4ish = st.builds(lambda parts: ".".join(parts), st.lists(octet, min_size=3, max_size=5))
PREFIXES = ["10.", "127.", "169.254.", "192.168.", "172.15.", "172.16.", "172.31.", "172.32.", "100.64.", "0.", "255."]
near_private = st.sampled_from(PREFIXES).flatmap(lambda p: st.builds(lambda s: p + s, ipv4ish))
remotes = st.one_of(ipv4ish, near_private, st.sampled_from(["::1", "fd00::1", "::ffff:10.1.2.3", "host.example"]))
chains = st.one_of(st.none(), st.just(""), remotes, st.builds(lambda a, b: f"{a}, {b}", remotes, remotes))


@given(remotes, chains)
def test_a_plain_ipv4_client_is_what_the_ipaddress_rule_gives(remote, forwarded):
    assert client_address(remote, forwarded) == reference(remote, forwarded)


def test_the_private_ranges_edges_are_proxies_and_their_neighbours_clients():
    chain = "203.0.113.9"
    for proxy in ("10.255.0.1", "127.0.0.1", "169.254.1.1", "172.16.0.1", "172.31.255.255", "192.168.0.1"):
        assert client_address(proxy, chain) == chain
    for client in ("11.0.0.1", "126.0.0.1", "169.253.1.1", "172.15.0.1", "172.32.0.1", "192.169.0.1", "100.64.0.1"):
        assert client_address(client, chain) == client


def test_an_address_ipaddress_refuses_is_a_name_kept_as_written_not_a_proxy():
    for written in ("10.0.0.01", "192.168.000.1", "10.0.0.256", "10.0.0"):
        assert client_address(written, "203.0.113.9") == written == reference(written, "203.0.113.9")
