"""The scheduled trainer: Lambda rebuilding the model from the archive window, on an EventBridge schedule."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from clickguard import settings
from clickguard.store.permissions import TRAINER
from infra.components.function_role import FunctionRole
from infra.components.python_function import python_function
from infra.config import StackConfig
from infra.nag import acknowledge_prefix_scoped


def _grant(access: FunctionRole, data_bucket: s3.IBucket, model_bucket: s3.IBucket) -> None:
    """Each action the trainer's code calls, on the narrowest resource (which actions: infra.access)."""
    archive = settings.ARCHIVE_PREFIX
    access.allow(["s3:ListBucket"], [data_bucket.bucket_arn], {"StringLike": {"s3:prefix": [f"{archive}*"]}})
    access.allow(["s3:GetObject"], [data_bucket.arn_for_objects(f"{archive}*")])
    # labels/ listing; also makes a missing object under models/ read as 404 rather than 403
    access.allow(["s3:ListBucket"], [model_bucket.bucket_arn])
    access.allow(
        ["s3:GetObject"],
        [
            model_bucket.arn_for_objects(f"{settings.MODELS_PREFIX}*"),
            model_bucket.arn_for_objects(f"{settings.LABELS_PREFIX}*"),
        ],
    )
    access.allow(["s3:PutObject"], [model_bucket.arn_for_objects(f"{settings.MODELS_PREFIX}*")])
    for bucket, prefix, why in (
        (data_bucket, archive, "reads the archived events of its window"),
        (
            model_bucket,
            settings.MODELS_PREFIX,
            "publishes models/<version>/model.json (+ arrays) and models/latest.json",
        ),
        (model_bucket, settings.LABELS_PREFIX, "reads reviewers' decisions to exclude blocked users"),
    ):
        acknowledge_prefix_scoped(access.policy, bucket, prefix, f"Prefix-scoped: the trainer {why}.")


class Trainer(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StackConfig,
        layer: lambda_.ILayerVersion,
        data_bucket: s3.IBucket,
        model_bucket: s3.IBucket,
        dead_letter_queue: sqs.IQueue,
        key: kms.IKey,
        removal_policy: RemovalPolicy,
        scheduled: bool = True,
    ) -> None:
        """``scheduled``: its own EventBridge rule invokes it; False when a training run's state machine does
        (``infra.components.training_map``, which sends small windows here)."""
        super().__init__(scope, id)
        environment = {
            settings.ENV_DATA_BUCKET: data_bucket.bucket_name,
            settings.ENV_MODEL_BUCKET: model_bucket.bucket_name,
            settings.ENV_ARCHIVE_PREFIX: settings.ARCHIVE_PREFIX,
            **config.model_environment(),
        }
        access = FunctionRole(
            self,
            "Access",
            function=TRAINER,
            environment=environment,
            description="clickguard trainer",
            log_retention_name=config.log_retention_name,
            removal_policy=removal_policy,
        )
        _grant(access, data_bucket, model_bucket)
        access.seal(key)

        self.function = python_function(
            self,
            access=access,
            asset=settings.TRAINER_ASSET_DIR,
            handler=settings.TRAINER_HANDLER,
            layer=layer,
            description="clickguard: train the Markov model on the archive window, publish it to S3",
            memory_mb=config.trainer_memory_mb,
            timeout_seconds=config.trainer_timeout_seconds,
            environment=environment,
            service=config.trainer_service,
        )

        self.rule = self._schedule(config, dead_letter_queue) if scheduled else None

    def _schedule(self, config: StackConfig, dead_letter_queue: sqs.IQueue) -> events.Rule:
        rule = events.Rule(
            self,
            "Schedule",
            description="clickguard: periodic training",
            schedule=events.Schedule.expression(config.training_schedule),
        )
        rule.add_target(
            targets.LambdaFunction(
                self.function,
                retry_attempts=config.trainer_retry_attempts,
                # A run older than one schedule period is superseded by the next one.
                max_event_age=Duration.hours(min(24, max(1, int(config.training_period_hours)))),
                dead_letter_queue=dead_letter_queue,
            )
        )
        return rule
