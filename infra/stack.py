"""The clickguard stack: composes the constructs of ``infra.components`` and publishes stable outputs."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from constructs import Construct

from infra import config as cfg
from infra.components.archive import Archive
from infra.components.buckets import Buckets
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


class ClickguardStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: cfg.StackConfig, **kwargs: Any) -> None:
        super().__init__(scope, id, description=f"clickguard ({config.stage}): clickstream anomaly detection", **kwargs)
        self.config = config
        removal = RemovalPolicy.RETAIN if config.removal_policy == "retain" else RemovalPolicy.DESTROY

        key = DataKey(self, "Encryption", stage=config.stage, removal_policy=removal).key
        stream = IngestStream(self, "Ingest", config=config, key=key).stream
        buckets = Buckets(self, "Buckets", config=config, key=key, removal_policy=removal)
        table = SessionTable(self, "SessionState", key=key, removal_policy=removal).table
        # Seed 003's purchases-in-a-network state, read and written by the consumer (clickguard.consumer.network_step)
        network_table = NetworkTable(self, "NetworkState", key=key, removal_policy=removal).table
        queues = Queues(self, "Queues", config=config, key=key)
        layer = SharedLayer(self, "SharedLayer", config=config).layer
        if not config.local:  # moto has no Firehose: the local runtime's archiver stands in (MOTO_UNSUPPORTED)
            Archive(
                self,
                "Archive",
                config=config,
                stream=stream,
                bucket=buckets.data,
                key=key,
                layer=layer,
                removal_policy=removal,
            )
        consumer = Consumer(
            self,
            "Consumer",
            config=config,
            layer=layer,
            stream=stream,
            table=table,
            network_table=network_table,
            flag_queue=queues.flags,
            failure_queue=queues.consumer_failures,
            data_bucket=buckets.data,
            model_bucket=buckets.models,
            key=key,
            removal_policy=removal,
        ).function
        trainer = Trainer(
            self,
            "Trainer",
            config=config,
            layer=layer,
            data_bucket=buckets.data,
            model_bucket=buckets.models,
            dead_letter_queue=queues.trainer_dlq,
            key=key,
            removal_policy=removal,
            scheduled=False,  # the training run's state machine invokes it for a small window (TrainingRun)
        ).function
        decisions = Decisions(
            self,
            "Decisions",
            config=config,
            layer=layer,
            model_bucket=buckets.models,
            key=key,
            removal_policy=removal,
        )
        monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            key=key,
            stream=stream,
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
        )
        score_api = ScoreApi(
            self,
            "ScoreApi",
            config=config,
            layer=layer,
            table=table,
            model_bucket=buckets.models,
            key=key,
            alarm_topic=monitoring.topic,
            removal_policy=removal,
        )
        monitoring.dashboard.add_widgets(*score_api.widgets(config.score_api_service))
        training_run = TrainingRun(
            self,
            "TrainingRun",
            config=config,
            layer=layer,
            data_bucket=buckets.data,
            model_bucket=buckets.models,
            trainer=trainer,
            dead_letter_queue=queues.trainer_dlq,
            key=key,
            alarm_topic=monitoring.topic,
            removal_policy=removal,
        )

        dashboard_url = (
            f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
            f"#dashboards:name={monitoring.dashboard.dashboard_name}"
        )
        for key_name, value, description in (
            (cfg.OUTPUT_STREAM_NAME, stream.stream_name, "Kinesis stream producers put events on"),
            (cfg.OUTPUT_STREAM_ARN, stream.stream_arn, "ARN of the ingest stream"),
            (cfg.OUTPUT_FLAG_QUEUE_URL, queues.flags.queue_url, "SQS queue of pre-block flags for reviewers"),
            (cfg.OUTPUT_FLAG_DLQ_URL, queues.flag_dlq.queue_url, "flags received too often without deletion"),
            (cfg.OUTPUT_FAILURE_QUEUE_URL, queues.consumer_failures.queue_url, "batches the consumer gave up on"),
            (cfg.OUTPUT_DATA_BUCKET, buckets.data.bucket_name, "archive (events/) and rejected records (rejected/)"),
            (cfg.OUTPUT_MODEL_BUCKET, buckets.models.bucket_name, "models (models/) and reviewer labels (labels/)"),
            (cfg.OUTPUT_TABLE_NAME, table.table_name, "DynamoDB session state table"),
            (cfg.OUTPUT_NETWORK_TABLE_NAME, network_table.table_name, "DynamoDB social network state table"),
            (cfg.OUTPUT_DASHBOARD_URL, dashboard_url, "CloudWatch dashboard"),
            (cfg.OUTPUT_CONSUMER_FUNCTION, consumer.function_name, "streaming consumer Lambda"),
            (cfg.OUTPUT_TRAINER_FUNCTION, trainer.function_name, "training Lambda (invoke to train now)"),
            (cfg.OUTPUT_ALARM_TOPIC_ARN, monitoring.topic.topic_arn, "SNS topic of the alarms"),
            (cfg.OUTPUT_DECISION_QUEUE_URL, decisions.queue.queue_url, "FIFO queue of reviewers' decisions"),
            (cfg.OUTPUT_DECISION_DLQ_URL, decisions.dead_letter_queue.queue_url, "decisions that kept failing"),
            (cfg.OUTPUT_DECISIONS_FUNCTION, decisions.function.function_name, "records decisions, keeps allow-list"),
            (cfg.OUTPUT_SCORE_API_FUNCTION, score_api.function.function_name, "POST /score: a user's score now"),
            (
                cfg.OUTPUT_TRAINING_STATE_MACHINE,
                training_run.state_machine.state_machine_arn,
                'the training run: start an execution with {"time": "<ISO time>"} to train now',
            ),
            (cfg.OUTPUT_TRAINING_REDUCE_FUNCTION, training_run.reduce.function_name, "the training run's steps"),
        ):
            CfnOutput(self, key_name, value=value, description=description)
        if score_api.url is not None and score_api.invoke_policy is not None:  # the deployed flavour
            CfnOutput(self, cfg.OUTPUT_SCORE_URL, value=score_api.url.url, description="POST /score, SigV4-signed")
            CfnOutput(
                self,
                cfg.OUTPUT_SCORE_INVOKE_POLICY_ARN,
                value=score_api.invoke_policy.managed_policy_arn,
                description="attach to the roles that may call the score API",
            )
