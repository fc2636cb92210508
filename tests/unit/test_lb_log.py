"""Elastic Load Balancing access log files: each entry read as the access log's rule reads a request."""

from __future__ import annotations

import pytest

from clickguard.cli.main import main
from clickguard.decoding.lb_log import is_lb
from clickguard.rejections import Reason
from tests.factories import file_results

# Entries in the layouts the Elastic Load Balancing guide documents (an ALB's: type first; a Classic ELB's: time
# first); the addresses and ids are the guide's kind.
ALB_HTTP = (b'http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 '
            b'0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" "PII-Agent/7.7" - - '
            b'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 '
            b'"Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" '
            b'"10.0.0.1:80" "200" "-" "-"')  # fmt: skip
ALB_HTTPS = (b'https 2018-07-02T22:23:01.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 '
             b'10.0.0.1:80 0.086 0.048 0.037 401 401 0 57 "POST https://www.example.com:443/login?next=%2F HTTP/1.1" '
             b'"PII-Agent/7.7" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 '
             b'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 '
             b'"Root=1-58337281-1d84f3d73c47ec4e58577259" "www.example.com" "-" 1 2018-07-02T22:22:48.364000Z '
             b'"authenticate,forward" "-" "-" "10.0.0.1:80" "401" "-" "-"')  # fmt: skip
CLASSIC = (b'2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000073 0.001048 0.000057 '
           b'200 200 0 29 "GET https://www.example.com:443/product/123 HTTP/1.1" "PII-Agent/7.7" '
           b'DHE-RSA-AES128-SHA TLSv1.2')  # fmt: skip


def _results(body: bytes) -> list[object]:
    return file_results(body, "123456789012_elasticloadbalancing_us-east-2_app.log")


def test_a_load_balancer_s_entries_are_its_requests_as_a_server_logs_them():
    got = _results(b"\n".join([ALB_HTTP, ALB_HTTPS, CLASSIC, b"http 2018-07-02T22:23:02Z cut short"]) + b"\n")
    assert [(e.user_key, e.token, e.ts_ms) for e in got[:3]] == [
        ("192.168.131.39", "/", 1530570168364),  # an ALB's request_creation_time, not its response's `time`
        ("192.168.131.39", "POST /login#fail", 1530570168364),  # the URL read as its path; 401 fails
        ("192.168.131.39", "/product/*", 1431560383945),  # a Classic Load Balancer's entry: its time
    ]
    assert got[3] is Reason.BAD_ACCESS_LOG
    assert "PII-Agent" not in repr(got) and "2817" not in repr(got)  # the agent and the client's port are not read


def test_only_a_load_balancer_s_entry_opens_such_a_file():
    assert is_lb(ALB_HTTP) and is_lb(CLASSIC)
    assert not is_lb(b'203.0.113.9 - - [10/Oct/2024:13:55:36 -0700] "GET / HTTP/1.1" 200 1')
    assert not is_lb(b'{"user_id": "u1"}') and not is_lb(b"#Version: 1.0")


def test_an_alb_entry_is_timed_when_its_request_came_and_an_older_one_by_its_time():
    """A slow request (or a WebSocket, logged at its close) would land minutes late at the response's time; the
    entries of before 2018 have no request_creation_time, and their ``time`` is what there is."""
    slow = ALB_HTTP.replace(b"2018-07-02T22:22:48.364000Z", b"2018-07-02T22:18:00.000000Z")
    older = ALB_HTTP.split(b' "Root=')[0]  # type ... target_group_arn: the 2016 layout
    quoted = ALB_HTTP.replace(b"http://www.example.com:80/ ", b'http://www.example.com:80/p\\"q?a=\\"b\\" ')
    got = _results(b"\n".join([slow, older, quoted]) + b"\n")
    assert [(e.token, e.ts_ms) for e in got] == [
        ("/", 1530569880000),
        ("/", 1530570180186),
        ('/p"q', 1530570168364),  # an escaped quote inside the URL ends neither the request nor the path
    ]


def test_a_tcp_listener_s_entries_are_refused_saying_why_in_the_log_s_words(tmp_path, capsys):
    """A Classic Load Balancer's TCP listener logs connections: status '-' and no request, so no page to read."""
    tcp = b'2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.001 0.002 0.003 - - 57 502 "- - - " "-" - -\n'  # noqa: E501
    path = tmp_path / "elb.log"
    path.write_bytes(tcp)
    with pytest.raises(SystemExit):
        main(["score", "--events", str(path), "--model", str(tmp_path), "--out", "-"])
    err = capsys.readouterr().err
    assert "an access log entry whose status '-' is no HTTP status" in err
    assert "LOGTOJSON" not in err and "fields: host" not in err  # the reader's own shape, never the file's words
