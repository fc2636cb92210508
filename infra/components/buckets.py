"""Buckets: data (raw archive, rejected records) and models (versioned), plus the access-log bucket.

Two buckets because their lifecycles differ: raw events and rejected payloads carry personal data and expire
after ``archive_expiry_days``, while models are versioned and kept. Labels (reviewers' decisions) live in the
model bucket under ``labels/``, which is where the trainer reads them.
"""

from __future__ import annotations

from typing import TypedDict

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from clickguard import settings
from infra.config import ARCHIVE_ERROR_PREFIX, StackConfig
from infra.nag import acknowledge

TRAINING_RUN_DAYS = 3  # a training run's files (training-runs/<run>/) outlive it this long, for a redrive


class _Common(TypedDict):
    """The s3.Bucket properties all three buckets share."""

    block_public_access: s3.BlockPublicAccess
    enforce_ssl: bool
    object_ownership: s3.ObjectOwnership
    removal_policy: RemovalPolicy


class Buckets(Construct):
    def __init__(
        self, scope: Construct, id: str, *, config: StackConfig, key: kms.IKey, removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, id)
        common: _Common = {
            "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
            "enforce_ssl": True,
            "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            "removal_policy": removal_policy,
        }
        # Server access logs cannot be delivered to a KMS-encrypted bucket, hence S3-managed keys here.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(365))],
            **common,
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This is the access-log bucket itself; logging it into itself would loop.",
        )
        self.data = s3.Bucket(
            self,
            "Data",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,  # one KMS call per object batch, not per object: Firehose writes many
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="data/",
            lifecycle_rules=_data_lifecycle(config),
            **common,
        )
        self.models = s3.Bucket(
            self,
            "Models",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            versioned=True,  # a bad model can be rolled back to the previous version of models/latest.json
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="models/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-old-model-versions",
                    noncurrent_version_expiration=Duration.days(config.model_version_expiry_days),
                ),
            ],
            **common,
        )


def _data_lifecycle(config: StackConfig) -> list[s3.LifecycleRule]:
    """Everything in the data bucket expires: raw events and rejected records after ``archive_expiry_days``, what
    serves a shorter purpose sooner."""
    expiry = Duration.days(config.archive_expiry_days)
    return [
        s3.LifecycleRule(id="expire-raw-events", prefix=settings.ARCHIVE_PREFIX, expiration=expiry),
        s3.LifecycleRule(id="expire-rejected", prefix=settings.REJECTED_PREFIX, expiration=expiry),
        # Raw payloads of rejected records (personal data, kept only where configured) go sooner.
        s3.LifecycleRule(
            id="expire-rejected-payloads",
            prefix=settings.REJECTED_PAYLOAD_PREFIX,
            expiration=Duration.days(config.rejected_payload_expiry_days),
        ),
        s3.LifecycleRule(id="expire-archive-errors", prefix=ARCHIVE_ERROR_PREFIX, expiration=expiry),
        # Distributed training (issue 13): an hour's partial holds its events' user keys, so it goes with
        # the raw events, and once no window reads it; a run's files serve its retries and redrives.
        s3.LifecycleRule(
            id="expire-training-partials",
            prefix=settings.PARTIALS_PREFIX,
            expiration=Duration.days(min(config.archive_expiry_days, config.model_params["window_days"] + 1)),
        ),
        s3.LifecycleRule(
            id="expire-training-runs",
            prefix=settings.TRAINING_RUNS_PREFIX,
            expiration=Duration.days(TRAINING_RUN_DAYS),
        ),
        s3.LifecycleRule(id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)),
    ]
