"""What each function's role may do, decided in one place.

A role gets exactly:
1. the actions of its code's own calls, declared in ``clickguard.store.permissions`` (checked against the code by
   ``tests/infra/test_permissions.py``);
2. the actions below that its code never calls, each with the reason it is needed;
3. the KMS actions implied by 1 and 2 on resources encrypted with the stack's customer managed key (``KMS_FOR``).

``infra.components.function_role.FunctionRole`` refuses any other action at synth time, and fails the synth if a
declared action was never granted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from clickguard.store import permissions
from clickguard.store.permissions import (
    ARCHIVE_TRANSFORM,
    CONSUMER,
    DECISIONS,
    SCORE_API,
    TRAINER,
    TRAINING_MAP,
    TRAINING_REDUCE,
    TRAINING_SHARD,
)

_ESM_READS = "the event source mapping polls the stream with the function's role"
_NOT_CACHED = "a partial or run file not written yet then reads as 404 (compute it) instead of 403"

# Actions a function needs that its code never calls: AWS acting with the function's role, or an API behaviour.
NOT_CALLED_BY_CODE: dict[str, dict[str, str]] = {
    CONSUMER: {
        "kinesis:DescribeStream": _ESM_READS,
        "kinesis:DescribeStreamSummary": _ESM_READS,
        "kinesis:GetRecords": _ESM_READS,
        "kinesis:GetShardIterator": _ESM_READS,
        "kinesis:ListShards": _ESM_READS,
        # (no kinesis:SubscribeToShard: that is enhanced fan-out, which the mapping does not use)
        "sqs:SendMessage": "the mapping's on-failure destination: Lambda sends a given-up batch's metadata",
        "s3:ListBucket": "a missing models/latest.json then reads as 404 (no model yet) instead of 403",
    },
    TRAINER: {},
    ARCHIVE_TRANSFORM: {},  # Firehose invokes it with Firehose's role; it calls nothing
    DECISIONS: {
        "sqs:ReceiveMessage": "the event source mapping polls the decisions queue with the function's role",
        "sqs:DeleteMessage": "the event source mapping deletes the messages the function recorded",
        "sqs:GetQueueAttributes": "the event source mapping reads the queue's attributes with the function's role",
        "s3:ListBucket": "a missing review/allowlist.json then reads as 404 (no list yet) instead of 403",
    },
    SCORE_API: {
        "s3:ListBucket": "a missing models/latest.json or review/allowlist.json then reads as 404, not 403",
    },
    TRAINING_REDUCE: {},  # its own listings (events/, labels/) already need s3:ListBucket
    TRAINING_MAP: {"s3:ListBucket": _NOT_CACHED},
    TRAINING_SHARD: {"s3:ListBucket": _NOT_CACHED},
}
EVERY_FUNCTION: dict[str, str] = {
    "logs:CreateLogStream": "Lambda writes the function's logs with its role",
    "logs:PutLogEvents": "Lambda writes the function's logs with its role",
    "xray:PutTraceSegments": "active tracing (CDK adds it to the role's default policy)",
    "xray:PutTelemetryRecords": "active tracing (CDK adds it to the role's default policy)",
}

# Action on a resource encrypted with the stack's key -> the KMS actions its service then calls with the caller's
# permissions. The minimum per service's encryption documentation; never kms:Encrypt (no service here uses it).
KMS_FOR: dict[str, tuple[str, ...]] = {
    "kinesis:GetRecords": ("kms:Decrypt",),  # records are decrypted for the reader
    # DynamoDB decrypts the table key on the caller's behalf (DescribeKey as in its key-policy example);
    # CreateGrant belongs to whoever creates the table (CloudFormation), not to readers and writers.
    "dynamodb:BatchGetItem": ("kms:Decrypt", "kms:DescribeKey"),
    "dynamodb:BatchWriteItem": ("kms:Decrypt", "kms:DescribeKey"),
    "dynamodb:PutItem": ("kms:Decrypt", "kms:DescribeKey"),
    # SQS producers need a data key, and Decrypt to reuse it (SQS key management guide)
    "sqs:SendMessage": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sqs:ReceiveMessage": ("kms:Decrypt",),  # consumers of an encrypted queue decrypt its data key
    "s3:GetObject": ("kms:Decrypt",),
    "s3:PutObject": ("kms:GenerateDataKey",),  # single-part PUTs; a multipart upload would also need Decrypt
}


def code_actions(function: str, environment: Mapping[str, str]) -> frozenset[str]:
    """What the code calls, as the function's environment configures it (see permissions.ONLY_WITH)."""
    return permissions.iam_actions(function, environment)


def extra_actions(function: str) -> frozenset[str]:
    return frozenset(NOT_CALLED_BY_CODE[function]) | frozenset(EVERY_FUNCTION)


def kms_actions(actions: Iterable[str]) -> frozenset[str]:
    return frozenset(k for action in actions for k in KMS_FOR.get(action, ()))


def expected_actions(function: str, environment: Mapping[str, str]) -> frozenset[str]:
    """Every action the function's role must hold, and the only ones it may."""
    base = code_actions(function, environment) | extra_actions(function)
    return base | kms_actions(base)
