"""The clickguard stack: composes the constructs of ``infra.components`` and publishes stable outputs.

Each ``_build_*`` step adds one group of constructs; the constructor reads as the list of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import config as cfg
from infra.components.archive import Archive
from infra.components.buckets import Buckets
from infra.components.client_policies import ClientPolicies
from infra.components.consumer import Consumer
from infra.components.decisions import Decisions
from infra.components.encryption import DataKey
from infra.components.ingest import IngestStream
from infra.components.layer import SharedLayer
from infra.components.monitoring import Monitoring
from infra.components.network_table import NetworkTable
from infra.components.queues import Queues
from infra.components.score_api import ScoreApi
from infra.components.state_table import SessionTable
from infra.components.trainer import Trainer
from infra.components.training_map import TrainingRun


@dataclass(frozen=True)
class _Foundation:
    """What the functions are built on: the key, the stream, the stores, the queues and the shared layer."""

    key: kms.Key
    stream: kinesis.Stream
    buckets: Buckets
    table: dynamodb.Table
    network_table: dynamodb.Table  # seed 003's purchases-in-a-network state (clickguard.consumer.network_step)
    queues: Queues
    layer: lambda_.LayerVersion
    removal: RemovalPolicy


@dataclass(frozen=True)
class _Built:
    """The stack's functions and the constructs around them, for its outputs."""

    consumer: lambda_.Function
    trainer: lambda_.Function
    decisions: Decisions
    monitoring: Monitoring
    score_api: ScoreApi
    training_run: TrainingRun


class ClickguardStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: cfg.StackConfig, **kwargs: Any) -> None:
        super().__init__(scope, id, description=f"clickguard ({config.stage}): clickstream anomaly detection", **kwargs)
        self.config = config
        base = self._build_foundation()
        # moto has no Firehose: the local runtime's archiver stands in (MOTO_UNSUPPORTED)
        archive = None if config.local else self._build_archive(base)
        consumer = self._build_consumer(base)
        trainer = self._build_trainer(base)
        decisions = self._build_decisions(base)
        monitoring = self._build_monitoring(base, consumer, trainer, decisions, archive)
        score_api = self._build_score_api(base, monitoring)
        training_run = self._build_training_run(base, trainer, monitoring)
        self._publish_outputs(base, _Built(consumer, trainer, decisions, monitoring, score_api, training_run))

    def _build_foundation(self) -> _Foundation:
        config = self.config
        removal = RemovalPolicy.RETAIN if config.removal_policy == "retain" else RemovalPolicy.DESTROY
        key = DataKey(self, "Encryption", stage=config.stage, removal_policy=removal).key
        return _Foundation(
            key=key,
            stream=IngestStream(self, "Ingest", config=config, key=key).stream,
            buckets=Buckets(self, "Buckets", config=config, key=key, removal_policy=removal),
            table=SessionTable(self, "SessionState", key=key, removal_policy=removal).table,
            network_table=NetworkTable(self, "NetworkState", key=key, removal_policy=removal).table,
            queues=Queues(self, "Queues", config=config, key=key),
            layer=SharedLayer(self, "SharedLayer", config=config).layer,
            removal=removal,
        )

    def _build_archive(self, base: _Foundation) -> Archive:
        return Archive(
            self,
            "Archive",
            config=self.config,
            stream=base.stream,
            bucket=base.buckets.data,
            key=base.key,
            layer=base.layer,
            removal_policy=base.removal,
        )

    def _build_consumer(self, base: _Foundation) -> lambda_.Function:
        return Consumer(
            self,
            "Consumer",
            config=self.config,
            layer=base.layer,
            stream=base.stream,
            table=base.table,
            network_table=base.network_table,
            flag_queue=base.queues.flags,
            failure_queue=base.queues.consumer_failures,
            data_bucket=base.buckets.data,
            model_bucket=base.buckets.models,
            key=base.key,
            removal_policy=base.removal,
        ).function

    def _build_trainer(self, base: _Foundation) -> lambda_.Function:
        return Trainer(
            self,
            "Trainer",
            config=self.config,
            layer=base.layer,
            data_bucket=base.buckets.data,
            model_bucket=base.buckets.models,
            dead_letter_queue=base.queues.trainer_dlq,
            key=base.key,
            removal_policy=base.removal,
            scheduled=False,  # the training run's state machine invokes it for a small window (TrainingRun)
        ).function

    def _build_decisions(self, base: _Foundation) -> Decisions:
        return Decisions(
            self,
            "Decisions",
            config=self.config,
            layer=base.layer,
            model_bucket=base.buckets.models,
            key=base.key,
            removal_policy=base.removal,
        )

    def _build_monitoring(
        self,
        base: _Foundation,
        consumer: lambda_.Function,
        trainer: lambda_.Function,
        decisions: Decisions,
        archive: Archive | None,
    ) -> Monitoring:
        queues = base.queues
        return Monitoring(
            self,
            "Monitoring",
            config=self.config,
            key=base.key,
            stream=base.stream,
            consumer=consumer,
            trainer=trainer,
            flag_queue=queues.flags,
            dead_letter_queues={
                "FlagDeadLetterQueue": queues.flag_dlq,
                "ConsumerFailureQueue": queues.consumer_failures,
                "TrainerDeadLetterQueue": queues.trainer_dlq,
                "DecisionDeadLetterQueue": decisions.dead_letter_queue,
            },
            decisions=decisions.function,
            archive_transform=archive.transform if archive else None,
            delivery_stream_name=archive.delivery_stream.ref if archive else None,
        )

    def _build_score_api(self, base: _Foundation, monitoring: Monitoring) -> ScoreApi:
        score_api = ScoreApi(
            self,
            "ScoreApi",
            config=self.config,
            layer=base.layer,
            table=base.table,
            model_bucket=base.buckets.models,
            key=base.key,
            alarm_topic=monitoring.topic,
            removal_policy=base.removal,
        )
        monitoring.dashboard.add_widgets(*score_api.widgets(self.config.score_api_service))
        return score_api

    def _build_training_run(self, base: _Foundation, trainer: lambda_.Function, monitoring: Monitoring) -> TrainingRun:
        return TrainingRun(
            self,
            "TrainingRun",
            config=self.config,
            layer=base.layer,
            data_bucket=base.buckets.data,
            model_bucket=base.buckets.models,
            trainer=trainer,
            dead_letter_queue=base.queues.trainer_dlq,
            key=base.key,
            alarm_topic=monitoring.topic,
            removal_policy=base.removal,
        )

    def _publish_outputs(self, base: _Foundation, built: _Built) -> None:
        queues, buckets, decisions = base.queues, base.buckets, built.decisions
        dashboard_url = (
            f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
            f"#dashboards:name={built.monitoring.dashboard.dashboard_name}"
        )
        for key_name, value, description in (
            (cfg.OUTPUT_STREAM_NAME, base.stream.stream_name, "Kinesis stream producers put events on"),
            (cfg.OUTPUT_STREAM_ARN, base.stream.stream_arn, "ARN of the ingest stream"),
            (cfg.OUTPUT_FLAG_QUEUE_URL, queues.flags.queue_url, "SQS queue of pre-block flags for reviewers"),
            (cfg.OUTPUT_FLAG_DLQ_URL, queues.flag_dlq.queue_url, "flags received too often without deletion"),
            (cfg.OUTPUT_FAILURE_QUEUE_URL, queues.consumer_failures.queue_url, "batches the consumer gave up on"),
            (cfg.OUTPUT_DATA_BUCKET, buckets.data.bucket_name, "archive (events/) and rejected records (rejected/)"),
            (cfg.OUTPUT_MODEL_BUCKET, buckets.models.bucket_name, "models (models/) and reviewer labels (labels/)"),
            (cfg.OUTPUT_TABLE_NAME, base.table.table_name, "DynamoDB session state table"),
            (cfg.OUTPUT_NETWORK_TABLE_NAME, base.network_table.table_name, "DynamoDB social network state table"),
            (cfg.OUTPUT_DASHBOARD_URL, dashboard_url, "CloudWatch dashboard"),
            (cfg.OUTPUT_CONSUMER_FUNCTION, built.consumer.function_name, "streaming consumer Lambda"),
            (cfg.OUTPUT_TRAINER_FUNCTION, built.trainer.function_name, "training Lambda (invoke to train now)"),
            (cfg.OUTPUT_ALARM_TOPIC_ARN, built.monitoring.topic.topic_arn, "SNS topic of the alarms"),
            (cfg.OUTPUT_DECISION_QUEUE_URL, decisions.queue.queue_url, "FIFO queue of reviewers' decisions"),
            (cfg.OUTPUT_DECISION_DLQ_URL, decisions.dead_letter_queue.queue_url, "decisions that kept failing"),
            (cfg.OUTPUT_DECISIONS_FUNCTION, decisions.function.function_name, "records decisions, keeps allow-list"),
            (cfg.OUTPUT_SCORE_API_FUNCTION, built.score_api.function.function_name, "POST /score: a user's score now"),
            (
                cfg.OUTPUT_TRAINING_STATE_MACHINE,
                built.training_run.state_machine.state_machine_arn,
                'the training run: start an execution with {"time": "<ISO time>"} to train now',
            ),
            (cfg.OUTPUT_TRAINING_REDUCE_FUNCTION, built.training_run.reduce.function_name, "the training run's steps"),
        ):
            CfnOutput(self, key_name, value=value, description=description)
        self._publish_score_url(built.score_api)
        if not self.config.local:  # IAM for outside principals: nothing local signs as one
            self._publish_client_policies(base, decisions)

    def _publish_client_policies(self, base: _Foundation, decisions: Decisions) -> None:
        clients = ClientPolicies(
            self,
            "Clients",
            stream=base.stream,
            key=base.key,
            flag_queue=base.queues.flags,
            decision_queue=decisions.queue,
        )
        for key_name, policy, description in (
            (cfg.OUTPUT_PRODUCER_POLICY_ARN, clients.producer, "attach to the roles that put events on the stream"),
            (cfg.OUTPUT_REVIEWER_POLICY_ARN, clients.reviewer, "attach to the roles that read flags, send decisions"),
        ):
            CfnOutput(self, key_name, value=policy.managed_policy_arn, description=description)

    def _publish_score_url(self, score_api: ScoreApi) -> None:
        if score_api.url is None or score_api.invoke_policy is None:  # the local flavour has no function URL
            return
        CfnOutput(self, cfg.OUTPUT_SCORE_URL, value=score_api.url.url, description="POST /score, SigV4-signed")
        CfnOutput(
            self,
            cfg.OUTPUT_SCORE_INVOKE_POLICY_ARN,
            value=score_api.invoke_policy.managed_policy_arn,
            description="attach to the roles that may call the score API",
        )
