"""Queues: the flag queue a reviewer reads (with its DLQ), the consumer's on-failure destination, the trainer DLQ.

All KMS-encrypted with the stack key, TLS-only, and keeping messages the SQS maximum of 14 days so that nothing
is lost over a long weekend.

The flag queue is FIFO, so each flag reaches the reviewers once: the consumer sends ``flag_id`` as the
deduplication id (content-based deduplication stays off: two flags with one body are still two flags) and the
user key as the message group, so SQS drops a flag the consumer re-sends after a retried batch within its
five-minute window. High-throughput mode (deduplication per message group, throughput limit per group): a FIFO
queue in the default mode takes 300 API calls/s (3,000 messages/s in batches of 10), in high-throughput mode
300 calls/s per message group and up to 70,000 calls/s per queue in us-east-1, us-west-2 and eu-west-1 (19,000 in
us-east-2 and eu-central-1, less elsewhere; SQS Developer Guide, "Amazon SQS message quotas").
The other two stay standard: EventBridge takes no FIFO dead-letter queue, and the consumer's failure queue holds
batch metadata for an operator, not flags.
"""

from __future__ import annotations

from typing import TypedDict, Unpack

from aws_cdk import Duration, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import StackConfig
from infra.nag import acknowledge

RETENTION = Duration.days(14)


class _Options(TypedDict, total=False):
    """The sqs.Queue properties a queue sets beyond what ``_queue`` sets for every queue."""

    visibility_timeout: Duration
    dead_letter_queue: sqs.DeadLetterQueue


class _QueueOptions(_Options, total=False):
    """With the FIFO ones ``_fifo`` sets."""

    queue_name: str
    fifo: bool
    content_based_deduplication: bool
    deduplication_scope: sqs.DeduplicationScope
    fifo_throughput_limit: sqs.FifoThroughputLimit


def _queue(scope: Construct, id: str, key: kms.IKey, **kwargs: Unpack[_QueueOptions]) -> sqs.Queue:
    return sqs.Queue(
        scope,
        id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        # The data key is reused for 15 minutes: fewer KMS calls for the consumer's SendMessageBatch bursts.
        data_key_reuse=Duration.minutes(15),
        enforce_ssl=True,
        retention_period=RETENTION,
        **kwargs,
    )


def _fifo(scope: Construct, id: str, key: kms.IKey, name: str, **kwargs: Unpack[_Options]) -> sqs.Queue:
    # An explicit name: a FIFO queue's name must end in .fifo, which moto's CloudFormation does not add to a
    # generated one, and CloudFormation's own generated FIFO names can pass SQS's 80-character limit.
    return _queue(
        scope,
        id,
        key,
        queue_name=f"{Stack.of(scope).stack_name}-{name}.fifo",
        fifo=True,
        content_based_deduplication=False,
        deduplication_scope=sqs.DeduplicationScope.MESSAGE_GROUP,
        fifo_throughput_limit=sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
        **kwargs,
    )


def _is_a_dlq(queue: sqs.Queue, what: str) -> None:
    acknowledge(queue, "AwsSolutions-SQS3", f"This queue is itself the {what}.")


class Queues(Construct):
    def __init__(self, scope: Construct, id: str, *, config: StackConfig, key: kms.IKey) -> None:
        super().__init__(scope, id)
        # A FIFO queue's dead-letter queue must be FIFO too.
        self.flag_dlq = _fifo(self, "FlagDeadLetterQueue", key, "flags-dlq")
        _is_a_dlq(self.flag_dlq, "dead-letter queue of the flag queue")
        self.flags = _fifo(
            self,
            "FlagQueue",
            key,
            "flags",
            # A reviewer reads a flag, looks at the user, decides: the flag stays invisible meanwhile.
            visibility_timeout=Duration.seconds(config.flag_visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=config.flag_max_receives, queue=self.flag_dlq),
        )
        # Metadata (shard, sequence range) of batches Lambda gave up on, for an operator to replay.
        self.consumer_failures = _queue(self, "ConsumerFailureQueue", key)
        _is_a_dlq(self.consumer_failures, "on-failure destination of the consumer's event source mapping")
        self.trainer_dlq = _queue(self, "TrainerDeadLetterQueue", key)
        _is_a_dlq(self.trainer_dlq, "dead-letter queue of the training schedule")
