"""Which AWS API operations each runtime calls, through which store module: the one declaration of it.

The stack grants each function's role exactly these (as IAM actions, see ``iam_actions``) plus what AWS services
need on the function's behalf (``infra/access.py``); ``tests/infra/test_permissions.py`` scans the code for boto3
client calls and fails when the code and this declaration disagree, in either direction.

Operation names are botocore's (``client.meta.method_to_api_mapping``): ``batch_get_item`` is ``BatchGetItem``, a
paginator over ``list_objects_v2`` is ``ListObjectsV2``.
"""

from __future__ import annotations

from collections.abc import Mapping

from clickguard import settings
from clickguard.consumer.config import StateWrites

CONSUMER = "consumer"  # lambdas/consumer/handler.py
TRAINER = "trainer"  # training/handler.py
DECISIONS = "decisions"  # lambdas/decisions/handler.py
ARCHIVE_TRANSFORM = "archive_transform"  # lambdas/archive_transform/handler.py: Firehose's, no AWS calls of its own
SCORE_API = "score_api"  # lambdas/score_api/handler.py: POST /score, read-only
TRAINING_REDUCE = "training_reduce"  # training/reduce_handler.py: distributed training's plan and advance (issue 13)
TRAINING_MAP = "training_map"  # training/map_handler.py: a batch of partitions decoded into partials
TRAINING_SHARD = "training_shard"  # training/shard_handler.py: one shard's part of a pass
# The CLI, the local runtime, tests and benchmarks: the operator's own credentials, no role of the stack. Declared
# so that every call in the store modules is attributed to someone.
OPERATOR = "operator"
FUNCTIONS = (CONSUMER, TRAINER, DECISIONS, ARCHIVE_TRANSFORM, SCORE_API, TRAINING_REDUCE, TRAINING_MAP, TRAINING_SHARD)

# runtime -> store module -> service -> operations that module calls for that runtime.
Calls = Mapping[str, Mapping[str, frozenset[str]]]

_CONSUMER: Calls = {
    # BatchWriteItem, or one conditional PutItem per user (ONLY_WITH)
    "clickguard.store.sessions": {"dynamodb": frozenset({"BatchGetItem", "BatchWriteItem", "PutItem"})},
    "clickguard.store.flags": {"sqs": frozenset({"SendMessageBatch"})},
    # the campaign alert: one UpdateItem (set union) per (signature, hour) bucket a batch touches, in the same table
    "clickguard.store.groups": {"dynamodb": frozenset({"UpdateItem"})},
    # models/latest.json, re-checked with IfNoneMatch on its ETag (still GetObject)
    "clickguard.store.model_source": {"s3": frozenset({"GetObject"})},
    "clickguard.store.blobs": {"s3": frozenset({"GetObject"})},  # the files of the version it names
    # review/allowlist.json, re-checked like the model pointer (the users reviewers allowed)
    "clickguard.store.allowlist": {"s3": frozenset({"GetObject"})},
    # one metadata object per rejected record, and its raw payload where configured
    "clickguard.store.rejected": {"s3": frozenset({"PutObject"})},
    # seed 003's friends and last-purchases items, on the network table (consumer.network_step)
    "clickguard.store.network": {"dynamodb": frozenset({"BatchGetItem", "BatchWriteItem"})},
}
_TRAINER: Calls = {
    "clickguard.store.archive": {"s3": frozenset({"ListObjectsV2", "GetObject"})},  # events/ of the window
    "clickguard.store.labels": {"s3": frozenset({"ListObjectsV2", "GetObject"})},  # labels/ (reviewers)
    # models/<version>/ files and models/latest.json: written, then read back to verify before switching
    "clickguard.store.blobs": {"s3": frozenset({"GetObject", "PutObject"})},
}
_DECISIONS: Calls = {
    # one object per decision under labels/decisions/ (IfNoneMatch), and malformed messages under review/rejected/
    "clickguard.store.decisions": {"s3": frozenset({"PutObject"})},
    # review/allowlist.json: read, then a conditional write (IfMatch / IfNoneMatch)
    "clickguard.store.allowlist": {"s3": frozenset({"GetObject", "PutObject"})},
}
_SCORE_API: Calls = {
    # the one user's state (strongly consistent, like the consumer's reads); it never writes
    "clickguard.store.sessions": {"dynamodb": frozenset({"BatchGetItem"})},
    "clickguard.store.model_source": {"s3": frozenset({"GetObject"})},  # models/latest.json, as the consumer
    "clickguard.store.blobs": {"s3": frozenset({"GetObject"})},  # the files of the version it names
    "clickguard.store.allowlist": {"s3": frozenset({"GetObject"})},  # review/allowlist.json, as the consumer
}
_TRAINING_REDUCE: Calls = {
    "clickguard.store.partitions": {"s3": frozenset({"ListObjectsV2"})},  # the window's hour folders under events/
    "clickguard.store.labels": {"s3": frozenset({"ListObjectsV2", "GetObject"})},  # labels/, as the trainer
    # partials' summaries and the run's files (training-partials/, training-runs/); models/ as the trainer publishes
    "clickguard.store.blobs": {"s3": frozenset({"GetObject", "PutObject"})},
}
_TRAINING_MAP: Calls = {
    "clickguard.store.partition_objects": {"s3": frozenset({"GetObject"})},  # a partition's objects under events/
    "clickguard.store.blobs": {"s3": frozenset({"GetObject", "PutObject"})},  # the run's spec; the partials written
}
_TRAINING_SHARD: Calls = {
    "clickguard.store.blobs": {"s3": frozenset({"GetObject", "PutObject"})},  # the shard's blocks; its result written
}
_OPERATOR: Calls = {
    "clickguard.store.blobs": {"s3": frozenset({"GetObject", "PutObject", "ListObjectsV2"})},  # models list/rollback
    "clickguard.store.labels": {"s3": frozenset({"PutObject"})},  # reviewers' decisions
    # clickguard flags / review: read, delete the decided, make the skipped visible again
    "clickguard.store.flag_reader": {
        "sqs": frozenset({"ReceiveMessage", "DeleteMessageBatch", "ChangeMessageVisibilityBatch"})
    },
    # clickguard review: decisions onto the decisions queue; review stats and the report read the log back
    "clickguard.store.decisions": {"sqs": frozenset({"SendMessage"}), "s3": frozenset({"ListObjectsV2", "GetObject"})},
    "clickguard.store.stream": {"kinesis": frozenset({"PutRecords"})},  # clickguard produce
    "clickguard.store.sessions": {"dynamodb": frozenset({"CreateTable"})},  # a bare emulator's table (tests, bench)
    # the social-network table for tests and the benchmark (the stack creates it for the consumer)
    "clickguard.store.network": {"dynamodb": frozenset({"CreateTable"})},
}
CALLS: Mapping[str, Calls] = {
    CONSUMER: _CONSUMER,
    TRAINER: _TRAINER,
    DECISIONS: _DECISIONS,
    ARCHIVE_TRANSFORM: {},
    SCORE_API: _SCORE_API,
    TRAINING_REDUCE: _TRAINING_REDUCE,
    TRAINING_MAP: _TRAINING_MAP,
    TRAINING_SHARD: _TRAINING_SHARD,
    OPERATOR: _OPERATOR,
}

# Calls the code makes only under a setting: (runtime, service, operation) -> (environment variable, the value that
# enables them; the variable absent means its default). A role whose function is not so configured is not granted.
ONLY_WITH: Mapping[tuple[str, str, str], tuple[str, str]] = {
    (CONSUMER, "dynamodb", "PutItem"): (settings.ENV_STATE_WRITES, StateWrites.CONDITIONAL.value),
}
_ENV_DEFAULTS = {settings.ENV_STATE_WRITES: settings.DEFAULT_STATE_WRITES}

# Operations whose IAM action has another name; every other operation's action is "<service>:<Operation>".
_IAM_NAME = {
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
}


def _enabled(runtime: str, service: str, operation: str, environment: Mapping[str, str] | None) -> bool:
    condition = ONLY_WITH.get((runtime, service, operation))
    if condition is None or environment is None:
        return True
    name, value = condition
    return environment.get(name, _ENV_DEFAULTS.get(name)) == value


def operations(runtime: str, environment: Mapping[str, str] | None = None) -> dict[str, frozenset[str]]:
    """service -> every operation the runtime calls, over all its store modules; with the function's
    ``environment``, only those its settings enable (``ONLY_WITH``)."""
    merged: dict[str, set[str]] = {}
    for services in CALLS[runtime].values():
        for service, ops in services.items():
            enabled = {op for op in ops if _enabled(runtime, service, op, environment)}
            merged.setdefault(service, set()).update(enabled)
    return {service: frozenset(ops) for service, ops in merged.items() if ops}


def iam_action(service: str, operation: str) -> str:
    return _IAM_NAME.get((service, operation), f"{service}:{operation}")


def iam_actions(runtime: str, environment: Mapping[str, str] | None = None) -> frozenset[str]:
    """The IAM actions the runtime's own calls need, e.g. ``dynamodb:BatchGetItem``, ``sqs:SendMessage``."""
    return frozenset(iam_action(s, op) for s, ops in operations(runtime, environment).items() for op in ops)
