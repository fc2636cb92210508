"""The streaming consumer: Lambda + its Kinesis event source mapping (settings from StackConfig)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from clickguard import settings
from clickguard.store.permissions import CONSUMER
from infra import access as plan
from infra.components.function_role import FunctionRole
from infra.components.python_function import python_function
from infra.config import StackConfig
from infra.nag import acknowledge_prefix_scoped


class Consumer(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StackConfig,
        layer: lambda_.ILayerVersion,
        stream: kinesis.IStream,
        table: dynamodb.ITable,
        network_table: dynamodb.ITable,
        flag_queue: sqs.IQueue,
        failure_queue: sqs.IQueue,
        data_bucket: s3.IBucket,
        model_bucket: s3.IBucket,
        key: kms.IKey,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        environment = self._build_environment(config, table, flag_queue, data_bucket, model_bucket)
        environment.update(self._network_environment(config, network_table))
        access = FunctionRole(
            self,
            "Access",
            function=CONSUMER,
            environment=environment,
            description="clickguard consumer",
            log_retention_name=config.log_retention_name,
            removal_policy=removal_policy,
        )
        self._build_grants(access, environment, stream, table, flag_queue, failure_queue, data_bucket, model_bucket)
        # Seed 003's state: the friends and last purchases items (store.network), batched reads and writes only.
        network_actions = sorted(a for a in plan.code_actions(CONSUMER, environment) if a.startswith("dynamodb:Batch"))
        access.allow(network_actions, [network_table.table_arn])
        access.seal(key)
        self.function = python_function(
            self,
            access=access,
            asset=settings.CONSUMER_ASSET_DIR,
            handler=settings.CONSUMER_HANDLER,
            layer=layer,
            description="clickguard: score Kinesis batches, keep session state, send pre-block flags",
            memory_mb=config.consumer_memory_mb,
            timeout_seconds=config.consumer_timeout_seconds,
            environment=environment,
            service=config.consumer_service,
            reserved_concurrent_executions=config.reserved_concurrency,
        )
        self.event_source = self._build_event_source(config, stream, failure_queue)
        self.event_source.node.add_dependency(access.policy)

    @staticmethod
    def _build_grants(
        access: FunctionRole,
        environment: dict[str, str],
        stream: kinesis.IStream,
        table: dynamodb.ITable,
        flag_queue: sqs.IQueue,
        failure_queue: sqs.IQueue,
        data_bucket: s3.IBucket,
        model_bucket: s3.IBucket,
    ) -> None:
        """Each action on the narrowest resource; which actions at all is infra.access's decision."""
        access.allow([a for a in plan.NOT_CALLED_BY_CODE[CONSUMER] if a.startswith("kinesis:")], [stream.stream_arn])
        state_actions = sorted(a for a in plan.code_actions(CONSUMER, environment) if a.startswith("dynamodb:"))
        access.allow(state_actions, [table.table_arn])  # PutItem only with conditional state writes
        # Flags to the flag queue (the code); given-up batches to the failure queue (the on-failure destination).
        access.allow(["sqs:SendMessage"], [flag_queue.queue_arn, failure_queue.queue_arn])
        access.allow(
            ["s3:GetObject"],
            [
                model_bucket.arn_for_objects(f"{settings.MODELS_PREFIX}*"),
                model_bucket.arn_for_objects(settings.ALLOWLIST_KEY),
            ],
        )
        access.allow(["s3:ListBucket"], [model_bucket.bucket_arn])
        rejected = (settings.REJECTED_PREFIX, settings.REJECTED_PAYLOAD_PREFIX)
        access.allow(["s3:PutObject"], [data_bucket.arn_for_objects(f"{prefix}*") for prefix in rejected])
        acknowledge_prefix_scoped(
            access.policy,
            model_bucket,
            settings.MODELS_PREFIX,
            "The consumer reads models/latest.json and the model versions it names.",
        )
        for prefix in rejected:
            acknowledge_prefix_scoped(
                access.policy,
                data_bucket,
                prefix,
                f"The consumer writes one new {prefix}YYYY/MM/DD/<shard>/<sequence> object per rejected record.",
            )

    @staticmethod
    def _build_environment(
        config: StackConfig,
        table: dynamodb.ITable,
        flag_queue: sqs.IQueue,
        data_bucket: s3.IBucket,
        model_bucket: s3.IBucket,
    ) -> dict[str, str]:
        return {
            settings.ENV_TABLE_NAME: table.table_name,
            settings.ENV_FLAG_QUEUE_URL: flag_queue.queue_url,
            settings.ENV_DATA_BUCKET: data_bucket.bucket_name,
            settings.ENV_MODEL_BUCKET: model_bucket.bucket_name,
            settings.ENV_REJECTED_PREFIX: settings.REJECTED_PREFIX,
            settings.ENV_REJECTED_PAYLOAD_PREFIX: settings.REJECTED_PAYLOAD_PREFIX,
            settings.ENV_KEEP_REJECTED_PAYLOADS: config.keep_rejected_payloads,
            settings.ENV_STATE_WRITES: config.state_writes,
            settings.ENV_MODEL_REFRESH_SECONDS: str(config.model_refresh_seconds),
            settings.ENV_FLAG_COOLDOWN_SECONDS: str(config.flag_cooldown_seconds),
            settings.ENV_CAMPAIGN_MIN_USERS: str(config.campaign_min_users),
            settings.ENV_CAMPAIGN_GROWTH: str(config.campaign_growth),
            settings.ENV_STATE_TTL_DAYS: str(config.state_ttl_days),
            **config.model_environment(),
        }

    @staticmethod
    def _network_environment(config: StackConfig, network_table: dynamodb.ITable) -> dict[str, str]:
        return {
            settings.ENV_NETWORK_TABLE_NAME: network_table.table_name,
            settings.ENV_NETWORK_DEGREE: str(config.network_degree),
            settings.ENV_NETWORK_WINDOW: str(config.network_window),
            settings.ENV_NETWORK_MAX_FRIENDS: str(config.network_max_friends),
        }

    def _build_event_source(
        self, config: StackConfig, stream: kinesis.IStream, failure_queue: sqs.IQueue
    ) -> lambda_.CfnEventSourceMapping:
        return lambda_.CfnEventSourceMapping(
            self,
            "EventSource",
            function_name=self.function.function_name,
            event_source_arn=stream.stream_arn,
            # A new stack reads what producers put before the mapping existed.
            starting_position="TRIM_HORIZON",
            batch_size=config.batch_size,
            maximum_batching_window_in_seconds=config.batching_window_seconds,
            parallelization_factor=config.parallelization_factor,
            # A poisonous record is isolated by halving, then reported; it never stalls the shard.
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=config.retry_attempts,
            maximum_record_age_in_seconds=config.max_record_age_seconds,
            function_response_types=["ReportBatchItemFailures"],
            destination_config=lambda_.CfnEventSourceMapping.DestinationConfigProperty(
                on_failure=lambda_.CfnEventSourceMapping.OnFailureProperty(destination=failure_queue.queue_arn)
            ),
            # Locally moto would push each put_record to the function through Docker; the local runtime's
            # poller plays this mapping instead, reading these very settings.
            enabled=not config.local,
        )
