"""An SQS event source mapping played locally: receive, invoke the real handler in-process, delete what succeeded.

moto would push each sent message to the function through Docker; the local runtime plays the mapping instead,
with its settings read from the deployed template, as Lambda's SQS poller does: up to ``BatchSize`` messages an
invocation with the event Lambda sends (``clickguard.review.sqs_event``), and with ``ReportBatchItemFailures`` only
the messages the function reports stay on the queue (an identifier that is not in the batch, a raised error or a
malformed response fails the whole batch). A message that stays becomes visible again when its visibility timeout
ends and is received again; past the queue's ``maxReceiveCount`` the emulator's redrive moves it to the
dead-letter queue, as SQS does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from clickguard.local.esm import LambdaContext
from clickguard.review.sqs_event import lambda_event

Handler = Callable[[dict[str, Any], Any], Any]
DELETE_LIMIT = 10


@dataclass(frozen=True)
class SqsEsmSettings:
    batch_size: int = 10
    report_batch_item_failures: bool = False

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> SqsEsmSettings:
        """From an ``AWS::Lambda::EventSourceMapping`` resource's properties in the synthesized template."""
        return cls(
            batch_size=int(props.get("BatchSize", 10)),
            report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
        )


@dataclass
class SqsEsmStats:
    invocations: int = 0
    messages_delivered: int = 0
    messages_deleted: int = 0
    messages_failed: int = 0
    function_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)


class SqsEventSourceMapping:
    def __init__(
        self, sqs: Any, queue_url: str, handler: Handler, settings: SqsEsmSettings, function_name: str = "decisions"
    ) -> None:
        self.sqs, self.queue_url, self.handler, self.settings = sqs, queue_url, handler, settings
        self.function_name = function_name
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.stats = SqsEsmStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self, wait_s: int = 0) -> int:
        """One ReceiveMessage and the delivery of what it returned; returns the number of messages received."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.settings.batch_size,
            AttributeNames=["All"],
            WaitTimeSeconds=wait_s,
        ).get("Messages", [])
        if messages:
            self._deliver(messages)
        return len(messages)

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        failed = self._invoke(messages)
        done = [m for m in messages if m["MessageId"] not in failed]
        for i in range(0, len(done), DELETE_LIMIT):
            chunk = done[i : i + DELETE_LIMIT]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(chunk)],
            )
        self.stats.add(messages_deleted=len(done), messages_failed=len(messages) - len(done))

    def _invoke(self, messages: list[dict[str, Any]]) -> set[str]:
        """The ids of the messages that stay on the queue."""
        everything = {m["MessageId"] for m in messages}
        context = LambdaContext(self.function_name, memory_mb=256, timeout_s=30).start()
        try:
            response = self.handler(lambda_event(messages, self.queue_arn), context)
        except Exception:
            self.stats.add(invocations=1, function_errors=1)
            return everything
        self.stats.add(invocations=1, messages_delivered=len(messages))
        if not self.settings.report_batch_item_failures:
            return set()
        failures = response.get("batchItemFailures") if isinstance(response, dict) else None
        if failures is None:
            return set()
        if not isinstance(failures, list):
            return everything
        ids = {f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures}
        return everything if not ids <= everything else {str(i) for i in ids}

    def drain(self, max_rounds: int = 10_000) -> SqsEsmStats:
        """Deliver until a receive comes back empty (messages left invisible after a failure wait for their turn)."""
        for _ in range(max_rounds):
            if self.poll_once() == 0:
                return self.stats
        raise RuntimeError("the decisions queue did not empty")

    def start(self, interval_s: float = 0.2) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    if self.poll_once() == 0:
                        self._stop.wait(interval_s)
                except Exception:
                    self._stop.wait(interval_s)

        self._thread = threading.Thread(target=loop, name="esm-decisions", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def wait_until_empty(esm: SqsEventSourceMapping, timeout_s: float = 60) -> None:
    """Until the queue has nothing visible or in flight (tests, the demo)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        attrs = esm.sqs.get_queue_attributes(
            QueueUrl=esm.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"]) == 0:
            return
        time.sleep(0.1)
    raise TimeoutError("the decisions queue did not empty")
