"""Monitoring: a dashboard of the pipeline, alarms on what needs a person, and the SNS topic they notify."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from clickguard import settings
from infra.config import ARCHIVE_ERROR_PREFIX, StackConfig

FIVE_MINUTES = Duration.minutes(5)
ONE_DAY = Duration.days(1)
# A consumer without a model runs unscored; one short gap is a deploy or a first training, three periods is not.
UNSCORED_PERIODS = 3
# CloudWatch caps an alarm's window (period x evaluation periods) at 7 days.
MAX_ALARM_PERIOD_HOURS = 84


def _custom(name: str, service: str, statistic: str = "Sum", label: str | None = None) -> cw.Metric:
    return cw.Metric(
        namespace=settings.METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": service},
        statistic=statistic,
        period=FIVE_MINUTES,
        label=label or name,
    )


@dataclass(frozen=True)
class Watched:
    """What the monitoring looks at."""

    stream: kinesis.IStream
    consumer: lambda_.IFunction
    trainer: lambda_.IFunction
    flag_queue: sqs.IQueue
    dead_letter_queues: dict[str, sqs.IQueue]
    decisions: lambda_.IFunction | None = None  # the review loop's recorder
    archive_transform: lambda_.IFunction | None = None  # Firehose's transformation (the archive the trainer reads)
    delivery_stream_name: str | None = None


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StackConfig,
        key: kms.IKey,
        stream: kinesis.IStream,
        consumer: lambda_.IFunction,
        trainer: lambda_.IFunction,
        flag_queue: sqs.IQueue,
        dead_letter_queues: dict[str, sqs.IQueue],
        decisions: lambda_.IFunction | None = None,
        archive_transform: lambda_.IFunction | None = None,
        delivery_stream_name: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.config = config
        watched = Watched(
            stream,
            consumer,
            trainer,
            flag_queue,
            dead_letter_queues,
            decisions,
            archive_transform,
            delivery_stream_name,
        )
        self.topic = self._build_topic(key)
        self.alarms: list[cw.Alarm] = []
        if not config.local:  # moto does not create alarms (see MOTO_UNSUPPORTED)
            self._build_consumer_alarms(watched)
            self._build_record_alarms()
            self._build_queue_alarms(watched)
            self._build_trainer_alarms(watched)
            self._build_decision_alarms(watched)
            self._build_archive_alarms(watched)
        self.dashboard = cw.Dashboard(
            self, "Dashboard", dashboard_name=f"clickguard-{config.stage}", default_interval=Duration.hours(6)
        )
        self._build_consumer_widgets(watched)
        self._build_trainer_widgets(watched)
        self._build_queue_and_stream_widgets(watched)
        self._build_decision_widgets(watched)
        if self.alarms:
            self.dashboard.add_widgets(cw.AlarmStatusWidget(title="Alarms", width=24, alarms=self.alarms))

    # --- metrics shared by alarms and widgets ---------------------------------------------------------------------
    def _consumer_metric(self, name: str, statistic: str = "Sum") -> cw.Metric:
        return _custom(name, self.config.consumer_service, statistic)

    def _trainer_metric(self, name: str, statistic: str = "Sum") -> cw.Metric:
        return _custom(name, self.config.trainer_service, statistic)

    @staticmethod
    def _iterator_age(consumer: lambda_.IFunction) -> cw.Metric:
        return consumer.metric("IteratorAge", statistic="Maximum", period=Duration.minutes(1))

    @staticmethod
    def _error_rate(consumer: lambda_.IFunction) -> cw.MathExpression:
        return cw.MathExpression(
            expression="100 * errors / MAX([invocations, 1])",
            using_metrics={
                "errors": consumer.metric_errors(period=FIVE_MINUTES),
                "invocations": consumer.metric_invocations(period=FIVE_MINUTES),
            },
            label="consumer error rate (%)",
            period=FIVE_MINUTES,
        )

    # --- topic and alarms -----------------------------------------------------------------------------------------
    def _build_topic(self, key: kms.IKey) -> sns.Topic:
        topic = sns.Topic(
            self, "AlarmTopic", display_name=f"clickguard {self.config.stage} alarms", master_key=key, enforce_ssl=True
        )
        # CloudWatch publishes alarm notifications itself; only alarms of this account may.
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )
        if self.config.alarm_email and not self.config.local:
            topic.add_subscription(subs.EmailSubscription(self.config.alarm_email))
        return topic

    def _build_consumer_alarms(self, w: Watched) -> None:
        self._alarm(
            "ConsumerIteratorAge",
            self._iterator_age(w.consumer),
            self.config.iterator_age_alarm_seconds * 1000,
            3,
            "The consumer is falling behind the stream.",
        )
        self._alarm(
            "ConsumerErrorRate",
            self._error_rate(w.consumer),
            self.config.consumer_error_rate_percent,
            3,
            "Consumer invocations are failing; batches are being retried or given up.",
        )

    def _build_record_alarms(self) -> None:
        self._alarm(
            "RecordsInternalError",
            self._consumer_metric(settings.METRIC_RECORDS_INTERNAL_ERROR),
            0,
            1,
            "The consumer failed on a record (a bug, not bad input). The record is in the rejected sink under "
            "rejected/ (its payload under rejected-payloads/ unless keep_rejected_payloads=none): look at it.",
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        self._alarm(
            "RecordsUnscored",
            self._consumer_metric(settings.METRIC_RECORDS_UNSCORED),
            0,
            UNSCORED_PERIODS,
            "The consumer is running without a model: records keep session state but nobody is flagged.",
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )

    def _build_queue_alarms(self, w: Watched) -> None:
        for name, queue in w.dead_letter_queues.items():
            self._alarm(
                f"{name}NotEmpty",
                queue.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES, statistic="Maximum"),
                1,
                1,
                f"Messages in {name}: something was given up and waits for an operator.",
            )

    def _build_trainer_alarms(self, w: Watched) -> None:
        self._alarm(
            "TrainerFailed", w.trainer.metric_errors(period=Duration.hours(1)), 1, 1, "The scheduled training failed."
        )
        # Two schedule periods without a publication: training fails, or skips (too little data) without an error.
        # A silent trainer emits nothing, so missing data counts as breaching.
        period_hours = min(self.config.training_period_hours, MAX_ALARM_PERIOD_HOURS)
        published = self._trainer_metric(settings.METRIC_MODEL_PUBLISHED)
        self._alarm(
            "ModelStale",
            published.with_(period=Duration.hours(period_hours)),
            1,
            2,
            "No new model for longer than two training periods.",
            comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            missing=cw.TreatMissingData.BREACHING,
        )

    def _build_decision_alarms(self, w: Watched) -> None:
        if w.decisions is None:
            return
        self._alarm(
            "DecisionsRejected",
            _custom(settings.METRIC_DECISIONS_REJECTED, self.config.decisions_service),
            0,
            1,
            "A decision message was malformed: it is kept under review/rejected/ in the model bucket, not recorded. "
            "Fix its producer and send it again.",
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        self._alarm(
            "DecisionsFunctionErrors",
            w.decisions.metric_errors(period=FIVE_MINUTES),
            1,
            3,
            "The decisions function is failing: decisions wait on the queue (then in its dead-letter queue).",
        )

    def _build_archive_alarms(self, w: Watched) -> None:
        """The archive is the trainer's only input: events it loses show otherwise only as a model two days stale,
        or as models trained on part of the traffic."""
        if w.archive_transform is not None:
            self._alarm(
                "ArchiveRecordsFailed",
                _custom(settings.METRIC_ARCHIVE_RECORDS_FAILED, self.config.archive_transform_service),
                0,
                1,
                "Records the archive's transformation handed back to Firehose (their lines would have taken its "
                f"response past Lambda's 6 MB): they are under {ARCHIVE_ERROR_PREFIX} in the data bucket, not "
                "events/, and no training reads them. Lower the producers' per-record compression or batch size.",
                comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            )
            self._alarm(
                "ArchiveTransformErrors",
                w.archive_transform.metric_errors(period=FIVE_MINUTES),
                1,
                3,
                "The archive's transformation is failing: Firehose retries, then writes the batch under "
                f"{ARCHIVE_ERROR_PREFIX}, where no training reads it.",
            )
        if w.delivery_stream_name is not None:
            delivered = cw.Metric(
                namespace="AWS/Firehose",
                metric_name="DeliveryToS3.Success",
                dimensions_map={"DeliveryStreamName": w.delivery_stream_name},
                statistic="Minimum",
                period=Duration.minutes(15),
            )
            self._alarm(
                "ArchiveDeliveryFailing",
                delivered,
                1,
                2,
                "Firehose is failing to write the archive to S3 (its key, the bucket's policy, throttling): the "
                "trainer's input stops growing.",
                comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            )

    def _alarm(
        self,
        id: str,
        metric: cw.IMetric,
        threshold: float,
        periods: int,
        description: str,
        comparison: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        missing: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING,
    ) -> None:
        alarm = cw.Alarm(
            self,
            id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=periods,
            comparison_operator=comparison,
            treat_missing_data=missing,
            alarm_description=description,
        )
        action = cw_actions.SnsAction(self.topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        self.alarms.append(alarm)

    # --- dashboard ------------------------------------------------------------------------------------------------
    def _build_consumer_widgets(self, w: Watched) -> None:
        m = self._consumer_metric
        by_reason = f'{{{settings.METRICS_NAMESPACE},reason,service}} MetricName="{settings.METRIC_RECORDS_REJECTED}"'
        rejected = cw.MathExpression(
            expression=f"SEARCH('{by_reason} service=\"{self.config.consumer_service}\"', 'Sum', 300)",
            using_metrics={},
            label="rejected",
            period=FIVE_MINUTES,
        )
        graph = cw.GraphWidget
        self.dashboard.add_widgets(
            graph(
                title="Records in / flags sent",
                width=8,
                left=[
                    m(settings.METRIC_RECORDS_IN),
                    m(settings.METRIC_FLAGS_SENT),
                    m(settings.METRIC_RECORDS_UNSCORED),
                ],
            ),
            graph(title="Rejected records by reason", width=8, left=[rejected]),
            graph(
                title="Records failed (internal error) / times clamped",
                width=8,
                left=[m(settings.METRIC_RECORDS_INTERNAL_ERROR)],
                right=[m(settings.METRIC_RECORDS_CLAMPED)],
            ),
        )
        self.dashboard.add_widgets(
            graph(title="Iterator age (ms)", width=8, left=[self._iterator_age(w.consumer)]),
            graph(
                title="Consumer errors / throttles",
                width=8,
                left=[w.consumer.metric_errors(period=FIVE_MINUTES), w.consumer.metric_throttles(period=FIVE_MINUTES)],
                right=[self._error_rate(w.consumer)],
            ),
            graph(
                title="Consumer batch",
                width=8,
                left=[m(settings.METRIC_BATCH_DURATION, "p99"), w.consumer.metric_duration(statistic="p99")],
                right=[m(settings.METRIC_USERS_IN_BATCH, "Average"), m(settings.METRIC_DYNAMODB_CALLS)],
            ),
        )

    def _build_trainer_widgets(self, w: Watched) -> None:
        t = self._trainer_metric
        graph = cw.GraphWidget
        self.dashboard.add_widgets(
            graph(
                title="Trainer outcome",
                width=8,
                left=[
                    t(settings.METRIC_MODEL_PUBLISHED),
                    t(settings.METRIC_MODEL_SKIPPED),
                    w.trainer.metric_errors(period=FIVE_MINUTES),
                ],
            ),
            graph(
                title="Trainer duration / data",
                width=8,
                left=[w.trainer.metric_duration(statistic="Maximum"), t(settings.METRIC_TRAINING_SECONDS, "Maximum")],
                right=[
                    t(settings.METRIC_EVENTS_READ),
                    t(settings.METRIC_SESSIONS),
                    t(settings.METRIC_LINES_REJECTED),
                    t(settings.METRIC_VOCABULARY_SIZE, "Maximum"),
                ],
            ),
            graph(title="Model age (s)", width=8, left=[self._consumer_metric(settings.METRIC_MODEL_AGE, "Maximum")]),
        )

    def _decisions(self, decision: str) -> cw.Metric:
        return cw.Metric(
            namespace=settings.METRICS_NAMESPACE,
            metric_name=settings.METRIC_DECISIONS_RECORDED,
            dimensions_map={"service": self.config.decisions_service, "decision": decision},
            statistic="Sum",
            period=ONE_DAY,
            label=decision,
        )

    def _build_decision_widgets(self, w: Watched) -> None:
        """Decisions per day and the share of flags confirmed: the precision reviewers see (counted by decision;
        the report counts each flag once, by its latest decision)."""
        if w.decisions is None:
            return
        block, allow = self._decisions("block"), self._decisions("allow")
        share = cw.MathExpression(
            expression="100 * block / (block + allow)",
            using_metrics={"block": block, "allow": allow},
            label="flags confirmed (%)",
            period=ONE_DAY,
        )
        rejected = _custom(settings.METRIC_DECISIONS_REJECTED, self.config.decisions_service).with_(period=ONE_DAY)
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Decisions per day", width=12, left=[block, allow], right=[rejected], stacked=True),
            cw.GraphWidget(title="Share of flags confirmed by reviewers (%)", width=12, left=[share]),
        )

    def _build_queue_and_stream_widgets(self, w: Watched) -> None:
        waiting = [w.flag_queue.metric_approximate_number_of_messages_visible(label="flags waiting")]
        waiting += [q.metric_approximate_number_of_messages_visible(label=n) for n, q in w.dead_letter_queues.items()]
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Queues", width=12, left=waiting),
            cw.GraphWidget(
                title="Stream",
                width=12,
                left=[
                    w.stream.metric_incoming_records(period=FIVE_MINUTES),
                    w.stream.metric_get_records_success(period=FIVE_MINUTES),
                ],
                right=[w.stream.metric_write_provisioned_throughput_exceeded(period=FIVE_MINUTES)],
            ),
        )
