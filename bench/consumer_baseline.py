"""Baselines for the consumer benchmark (issue 3). Not production code.

* ``PerRecordConsumer``: the idiomatic per-record Lambda: for each record GetItem, update, PutItem, and
  SendMessage when it flags; the same parsing, scoring rule (detector v2, one event at a time) and item format as
  the real consumer.
* ``thesis_loop``: the thesis's Spark consumer (seed 000, annex V) reduced to its core: JSON per record,
  a dictionary of users, one transition at a time against a list-of-lists log-probability matrix.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from clickguard import settings
from clickguard.consumer.flagging import explain
from clickguard.consumer.flags import build_flag
from clickguard.consumer.kinesis_event import decode_event
from clickguard.consumer.rule import allows
from clickguard.consumer.state import UserState
from clickguard.events import parse_record
from clickguard.model import detector
from clickguard.model.live import reasons as reasons_of
from clickguard.model.model import Model
from clickguard.model.scoring import apply_event, score_state
from clickguard.rejections import RejectedRecord
from clickguard.store.session_item import from_item, to_item


class PerRecordConsumer:
    def __init__(self, ddb: Any, sqs: Any, table: str, queue_url: str, model: Model, cooldown_s: int) -> None:
        self.ddb, self.sqs, self.table, self.queue_url = ddb, sqs, table, queue_url
        self.model, self.scoring = model, detector.scoring_table(model)
        self.cooldown_ms = cooldown_s * 1000
        self.calls = 0

    def handle(self, event: dict[str, Any]) -> None:
        for rec in decode_event(event):
            try:
                ev = parse_record(rec.data)
            except RejectedRecord:
                continue
            self.calls += 1
            got = self.ddb.get_item(
                TableName=self.table, Key={settings.SESSION_TABLE_KEY: {"S": ev.user_key}}, ConsistentRead=True
            )
            state = from_item(got["Item"]) if "Item" in got else UserState(ev.user_key)
            if rec.seq <= state.last_seq(rec.shard_id):
                continue
            session, _ = apply_event(
                state.session, ev.token, ev.ts_ms, ev.session_id, self.scoring, self.model.params.gap_ms
            )
            last = state.last_flag
            score = score_state(session, self.scoring)
            threshold = self.scoring.scorer.threshold if self.scoring.scorer else math.inf
            signals = explain(session, self.scoring) if score > threshold else []
            reasons = reasons_of(signals) if signals else ()
            if reasons and allows(last, reasons, session.last_ts_ms, self.cooldown_ms):
                flag = build_flag(
                    ev.user_key, session, reasons, score, threshold, signals, self.model.version, rec.shard_id, rec.seq
                )
                self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=flag.body)
                last = flag.last
            new = UserState(
                ev.user_key,
                session,
                {**state.seqs, rec.shard_id: rec.seq},
                b"",
                last,
                session.last_ts_ms // 1000 + 7 * 86400,
            )
            self.calls += 1
            self.ddb.put_item(TableName=self.table, Item=to_item(new))


def thesis_loop(
    event: dict[str, Any],
    transition_matrix: list[list[float]],
    index: dict[str, int],
    users_data: dict[str, dict[str, Any]],
    min_events: int = 3,
) -> int:
    """Annex V's ``get_output`` per record, minus Spark and the prints; returns how many users scored low."""
    low = 0
    for r in event["Records"]:
        cs_data = json.loads(base64.b64decode(r["kinesis"]["data"]))
        device = cs_data["user_id"]
        event_id = index.get(cs_data["event_type"], 1)
        try:
            user = users_data[device]
            user["ecount"] += 1
            user["accum_prob"] += transition_matrix[user["last"]][event_id]
            if user["ecount"] > min_events and math.exp(user["accum_prob"] / user["ecount"]) < 0.01:
                low += 1
            user["last"] = event_id
        except KeyError:
            users_data[device] = {"ecount": 1, "accum_prob": 0.0, "last": event_id}
    return low
