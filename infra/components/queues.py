"""Queues: the flag queue a reviewer reads (with its DLQ), the consumer's on-failure destination, the trainer DLQ.

All KMS-encrypted with the stack key, TLS-only, and keeping messages the SQS maximum of 14 days so that nothing
is lost over a long weekend.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import StackConfig
from infra.nag import acknowledge

RETENTION = Duration.days(14)


def _queue(scope: Construct, id: str, key: kms.IKey, **kwargs: object) -> sqs.Queue:
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


def _is_a_dlq(queue: sqs.Queue, what: str) -> None:
    acknowledge(queue, "AwsSolutions-SQS3", f"This queue is itself the {what}.")


class Queues(Construct):
    def __init__(self, scope: Construct, id: str, *, config: StackConfig, key: kms.IKey) -> None:
        super().__init__(scope, id)
        self.flag_dlq = _queue(self, "FlagDeadLetterQueue", key)
        _is_a_dlq(self.flag_dlq, "dead-letter queue of the flag queue")
        self.flags = _queue(
            self,
            "FlagQueue",
            key,
            # A reviewer reads a flag, looks at the user, decides: the flag stays invisible meanwhile.
            visibility_timeout=Duration.seconds(config.flag_visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=config.flag_max_receives, queue=self.flag_dlq),
        )
        # Metadata (shard, sequence range) of batches Lambda gave up on, for an operator to replay.
        self.consumer_failures = _queue(self, "ConsumerFailureQueue", key)
        _is_a_dlq(self.consumer_failures, "on-failure destination of the consumer's event source mapping")
        self.trainer_dlq = _queue(self, "TrainerDeadLetterQueue", key)
        _is_a_dlq(self.trainer_dlq, "dead-letter queue of the training schedule")
