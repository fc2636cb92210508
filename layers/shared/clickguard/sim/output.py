"""Writing a simulated day: canonical NDJSON events, and the ground truth in a separate CSV beside them."""

from __future__ import annotations

import csv
import io
import ipaddress
import itertools
import json
import re
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from clickguard.events import VISITOR_PREFIX
from clickguard.field_names import ALIASES, loose
from clickguard.files import header_delimiter, open_binary
from clickguard.sim.catalog import BENIGN_EXAMPLES, is_abnormal
from clickguard.sim.generator import SimDay

LABEL_COLUMNS = ("user_id", "user_type")


def iso_timestamps(ts_ms: np.ndarray) -> list[str]:
    """Epoch ms -> ``2019-01-02T00:01:16.123Z``, vectorised (a strftime per event would dominate the run)."""
    text = np.datetime_as_string(np.asarray(ts_ms, dtype="datetime64[ms]"), unit="ms")
    return [t + "Z" for t in text.tolist()]


def ndjson_lines(day: SimDay) -> Iterator[str]:
    types, outcomes = day.event_types_outcomes()
    dumps = json.dumps
    for u, e, t, o, s, i in zip(
        day.user_ids.tolist(),
        types,
        iso_timestamps(day.ts_ms),
        outcomes,
        day.session_ids.tolist(),
        day.event_ids.tolist(),
        strict=True,
    ):
        yield dumps({"user_id": u, "event_type": e, "timestamp": t, "outcome": o, "session_id": s, "event_id": i})


def day_paths(out_dir: Path, day: int) -> tuple[Path, Path]:
    return out_dir / f"day-{day:02d}.events.ndjson", out_dir / f"day-{day:02d}.labels.csv"


def write_day(day: SimDay, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    events, labels = day_paths(out_dir, day.day)
    with events.open("w", encoding="utf-8") as fh:
        for line in ndjson_lines(day):
            fh.write(line + "\n")
    write_labels(day.labels, labels)
    return events, labels


def write_labels(labels: dict[str, str], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(LABEL_COLUMNS)
        w.writerows(sorted(labels.items()))


# Where labelled data sets keep each user's label when there is no ``user_type`` column: a class or type name, or a
# yes-no column of abuse (``is_bot``: 1 / true / yes is an abuser, 0 / false / no is not, ``catalog.is_abnormal``).
LABEL_NAMES = (
    "user_type", "label", "labels", "type", "realtype", "class", "user_class", "category", "kind", "target",
    "is_bot", "bot", "is_robot", "robot", "automated", "is_automated", "is_abuser", "abuser", "is_fraud", "fraud",
    "fraudulent", "is_anomaly", "anomaly", "anomalous", "is_malicious", "malicious",
)  # fmt: skip


# The user's column: a user id under any of its names, or the client address by which web logs know a client.
USER_NAMES = ("user_id", *ALIASES["user_id"], "client", "ip", "client_ip", "c-ip", "remote_addr", "remote_ip", "host")


class LabelTable(NamedTuple):
    by_user: dict[str, str]  # user -> label, as the file spells it
    column: str  # the header's name of the column the labels were read from
    user_column: str  # and of the users' column

    def for_users(self, users: Collection[str]) -> LabelTable:
        """The labels under the events' keys: a label naming a session that the events know only as its visitor's
        (``events.VISITOR_PREFIX``: an anonymous session's events) is that visitor's; an id written as a whole float
        (pandas writes an id column with a gap as ``1300.0``) is the integer the events read it as; an IP address
        (a web log's client) is written as the events key it (``_address``: ``::ffff:176.200.159.30`` is
        ``176.200.159.30``, ``2001:DB8:0:0:0:0:0:1`` is ``2001:db8::1``, ``[2001:db8::1]:443`` and
        ``203.0.113.9:51234`` lose their port). A key the events hold as written wins over another spelling of it."""
        by_user: dict[str, str] = {}
        for user, label in self.by_user.items():
            key = _event_key(user, users)
            if key == user or key not in by_user:
                by_user[key] = label
        return self._replace(by_user=by_user)

    def refusal(self, users: Collection[str], *, evaluating: bool) -> str | None:
        """Why these labels can tell nothing about events of ``users`` (None: they can): they name none of them
        (another id column, or ids written another way), or leave no good user to compare with: every labelled
        user an abuser (``evaluating``: the labels are the truth to measure against), or every user of the events
        (training: the normal model would have no one to learn from)."""
        known = [u for u in self.by_user if u in users]
        if self.by_user and not known:
            return (
                f"none of its {len(self.by_user):,} users is in the events (its {self.user_column!r} column names "
                f"{_examples(self.by_user)}; the events' users are {_examples(users)}): give the labels of these "
                "events, under the ids their user field holds"
            )
        judged = known if evaluating else users
        if not judged or not all(is_abnormal(self.by_user.get(u, "0")) for u in judged):
            return None
        words = sorted({self.by_user[u] for u in known})
        return (
            f"every {'labelled user' if evaluating else 'user of the events'} reads as an abuser (column "
            f"{self.column!r}: {', '.join(map(repr, words[:5]))}{' ...' if len(words) > 5 else ''}); good users are "
            f"labelled with a word that names them ({', '.join(BENIGN_EXAMPLES)}, ...)"
        )


_WHOLE_FLOAT = re.compile(r"-?[0-9]+\.0+")


def _event_key(user: str, users: Collection[str]) -> str:
    """The key the events hold for a labels file's ``user`` (``LabelTable.for_users``); ``user`` when none."""
    if user in users:
        return user
    whole = user[: user.index(".")] if _WHOLE_FLOAT.fullmatch(user) else user
    key = next((key for key in (whole, VISITOR_PREFIX + whole) if key in users), None)
    if key is None and (address := _address(user)) is not None and address in users:
        key = address
    return user if key is None else key


_PORT = re.compile(r":[0-9]{1,5}")


def _address(text: str) -> str | None:
    """``text`` as an access log's client key writes its IP address (``access_log.client_address``: an IPv4-mapped
    IPv6 address is its IPv4 one, IPv6 lower-case and compressed, no zone), in brackets or not, with a port or not
    (``[2001:db8::1]:443``, ``203.0.113.9:51234``, as a load balancer writes its client); None when no address."""
    host, port = text, ""
    if host.startswith("["):
        host, bracket, port = host[1:].partition("]")
        if not bracket:
            return None
    elif host.count(":") == 1:  # IPv4 and its port (an IPv6 address has two colons or more)
        host, colon, number = host.partition(":")
        port = colon + number
    if port and (_PORT.fullmatch(port) is None or int(port[1:]) > 65535):
        return None
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])  # a zone (%eth0, %25eth0 in a URL) is the server's
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _examples(ids: Collection[str], n: int = 2) -> str:
    """A couple of ids, cut short, to show how a column writes them."""
    return ", ".join(repr(i[:24]) for i in itertools.islice(ids, n)) or "none"


def read_labels(path: Path) -> dict[str, str]:
    """User -> label (``read_label_table``)."""
    return read_label_table(path).by_user


def read_label_table(path: Path) -> LabelTable:
    """User -> label, from a CSV (or TSV, ...: the header tells the separator; gzip too) whose header names the
    user (``USER_NAMES``) and the label (``LABEL_NAMES``), compared loosely; in a file of two columns, one
    named is enough. Of several label columns, the one that tells users apart (``_telling``). ValueError says
    what the header lacks."""
    with open_binary(path) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
        first = text.readline()
        reader = csv.DictReader(itertools.chain([first], text), delimiter=header_delimiter(first.encode()) or ",")
        names = list(reader.fieldnames or [])
        user, labels = _column(names, USER_NAMES), _columns(names, LABEL_NAMES)
        if len(names) == 2 and (user is None) != (not labels):  # two columns, one known: the other is the other
            other = names[1 - names.index(user or labels[0])]
            user, labels = user or other, labels or [other]
        if user is None or not labels:
            raise ValueError(
                f"{path}: expected a header naming the user ({', '.join(USER_NAMES[:4])}, ip, ...) and the label"
                f" ({', '.join(LABEL_NAMES[:4])}, is_bot, ...); it has {names}"
            )
        rows = [r for r in reader if (r[user] or "").strip()]
    label = _telling(labels, rows)
    return LabelTable({r[user].strip(): (r.get(label) or "").strip() for r in rows}, label, user)


def _telling(columns: list[str], rows: list[dict[str, str]]) -> str:
    """Of the label columns (in ``LABEL_NAMES`` order), the first whose words name both good users and abusers;
    else the first that names good users; else the first. A file may hold a label beside another column under a
    label's name (``type``: guest or registered, beside ``is_fraud``): that one reads every user as an abuser."""
    if len(columns) == 1:
        return columns[0]
    readings = {c: {is_abnormal(r.get(c) or "") for r in rows} for c in columns}
    for wanted in ({True, False}, {False}):
        if found := next((c for c in columns if wanted <= readings[c]), None):
            return found
    return columns[0]


def _columns(names: list[str], wanted: tuple[str, ...]) -> list[str]:
    """Each of ``wanted`` among the header's ``names`` compared loosely, in ``wanted``'s order, as spelled."""
    by_key = {loose(name): name for name in reversed(names)}
    return [by_key[loose(w)] for w in wanted if loose(w) in by_key]


def _column(names: list[str], wanted: tuple[str, ...]) -> str | None:
    """The first of ``wanted`` among the header's ``names`` compared loosely (``field_names.loose``: ``User ID``
    is ``user_id``, ``Is Bot`` is ``is_bot``), as it is spelled."""
    return next(iter(_columns(names, wanted)), None)
