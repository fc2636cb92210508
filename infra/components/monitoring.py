"""Monitoring: a dashboard of the pipeline, alarms on what needs a person, and the SNS topic they notify."""

from __future__ import annotations

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
from infra.config import StackConfig

FIVE_MINUTES = Duration.minutes(5)


def _custom(name: str, service: str, statistic: str = "Sum", label: str | None = None) -> cw.Metric:
    return cw.Metric(
        namespace=settings.METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": service},
        statistic=statistic,
        period=FIVE_MINUTES,
        label=label or name,
    )


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
    ) -> None:
        super().__init__(scope, id)
        self.topic = sns.Topic(
            self, "AlarmTopic", display_name=f"clickguard {config.stage} alarms", master_key=key, enforce_ssl=True
        )
        # CloudWatch publishes alarm notifications itself; only alarms of this account may.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )
        if config.alarm_email and not config.local:
            self.topic.add_subscription(subs.EmailSubscription(config.alarm_email))

        iterator_age = consumer.metric("IteratorAge", statistic="Maximum", period=Duration.minutes(1))
        errors = consumer.metric_errors(period=FIVE_MINUTES)
        invocations = consumer.metric_invocations(period=FIVE_MINUTES)
        error_rate = cw.MathExpression(
            expression="100 * errors / MAX([invocations, 1])",
            using_metrics={"errors": errors, "invocations": invocations},
            label="consumer error rate (%)",
            period=FIVE_MINUTES,
        )
        model_age = _custom(settings.METRIC_MODEL_AGE, config.consumer_service, "Maximum")
        trainer_errors = trainer.metric_errors(period=Duration.hours(1))

        self.alarms: list[cw.Alarm] = []
        if not config.local:  # moto does not create alarms (see MOTO_UNSUPPORTED)
            self._alarm(
                "ConsumerIteratorAge",
                iterator_age,
                config.iterator_age_alarm_seconds * 1000,
                3,
                "The consumer is falling behind the stream.",
            )
            self._alarm(
                "ConsumerErrorRate",
                error_rate,
                config.consumer_error_rate_percent,
                3,
                "Consumer invocations are failing; batches are being retried or given up.",
            )
            for name, queue in dead_letter_queues.items():
                self._alarm(
                    f"{name}NotEmpty",
                    queue.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES, statistic="Maximum"),
                    1,
                    1,
                    f"Messages in {name}: something was given up and waits for an operator.",
                )
            self._alarm("TrainerFailed", trainer_errors, 1, 1, "The scheduled training failed.")
            # Two schedule periods without a publication: training fails, or skips (too little data) without an
            # error. A silent trainer emits nothing, so missing data counts as breaching. CloudWatch caps an
            # alarm's window at 7 days; longer schedules get the longest window it allows.
            period_hours = min(config.training_period_hours, 84)
            published = _custom(settings.METRIC_MODEL_PUBLISHED, config.trainer_service)
            self._alarm(
                "ModelStale",
                published.with_(period=Duration.hours(period_hours)),
                1,
                2,
                "No new model for longer than two training periods.",
                comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                missing=cw.TreatMissingData.BREACHING,
            )

        self.dashboard = cw.Dashboard(
            self, "Dashboard", dashboard_name=f"clickguard-{config.stage}", default_interval=Duration.hours(6)
        )
        by_reason = f'{{{settings.METRICS_NAMESPACE},reason,service}} MetricName="{settings.METRIC_RECORDS_REJECTED}"'
        rejected = cw.MathExpression(
            expression=f"SEARCH('{by_reason} service=\"{config.consumer_service}\"', 'Sum', 300)",
            using_metrics={},
            label="rejected",
            period=FIVE_MINUTES,
        )
        graph = cw.GraphWidget
        self.dashboard.add_widgets(
            graph(
                title="Records in / flags sent",
                width=12,
                left=[
                    _custom(settings.METRIC_RECORDS_IN, config.consumer_service),
                    _custom(settings.METRIC_FLAGS_SENT, config.consumer_service),
                    _custom(settings.METRIC_RECORDS_UNSCORED, config.consumer_service),
                ],
            ),
            graph(title="Rejected records by reason", width=12, left=[rejected]),
        )
        self.dashboard.add_widgets(
            graph(title="Iterator age (ms)", width=8, left=[iterator_age]),
            graph(
                title="Consumer errors / throttles",
                width=8,
                left=[errors, consumer.metric_throttles(period=FIVE_MINUTES)],
                right=[error_rate],
            ),
            graph(
                title="Consumer batch",
                width=8,
                left=[
                    _custom(settings.METRIC_BATCH_DURATION, config.consumer_service, "p99"),
                    consumer.metric_duration(statistic="p99"),
                ],
                right=[
                    _custom(settings.METRIC_USERS_IN_BATCH, config.consumer_service, "Average"),
                    _custom(settings.METRIC_DYNAMODB_CALLS, config.consumer_service),
                ],
            ),
        )
        self.dashboard.add_widgets(
            graph(
                title="Trainer outcome",
                width=8,
                left=[
                    _custom(settings.METRIC_MODEL_PUBLISHED, config.trainer_service),
                    _custom(settings.METRIC_MODEL_SKIPPED, config.trainer_service),
                    trainer.metric_errors(period=FIVE_MINUTES),
                ],
            ),
            graph(
                title="Trainer duration / data",
                width=8,
                left=[
                    trainer.metric_duration(statistic="Maximum"),
                    _custom(settings.METRIC_TRAINING_SECONDS, config.trainer_service, "Maximum"),
                ],
                right=[
                    _custom(settings.METRIC_EVENTS_READ, config.trainer_service),
                    _custom(settings.METRIC_SESSIONS, config.trainer_service),
                    _custom(settings.METRIC_LINES_REJECTED, config.trainer_service),
                    _custom(settings.METRIC_VOCABULARY_SIZE, config.trainer_service, "Maximum"),
                ],
            ),
            graph(title="Model age (s)", width=8, left=[model_age]),
        )
        self.dashboard.add_widgets(
            graph(
                title="Queues",
                width=12,
                left=[
                    flag_queue.metric_approximate_number_of_messages_visible(label="flags waiting"),
                    *[
                        q.metric_approximate_number_of_messages_visible(label=name)
                        for name, q in dead_letter_queues.items()
                    ],
                ],
            ),
            graph(
                title="Stream",
                width=12,
                left=[
                    stream.metric_incoming_records(period=FIVE_MINUTES),
                    stream.metric_get_records_success(period=FIVE_MINUTES),
                ],
                right=[stream.metric_write_provisioned_throughput_exceeded(period=FIVE_MINUTES)],
            ),
        )
        if self.alarms:
            self.dashboard.add_widgets(cw.AlarmStatusWidget(title="Alarms", width=24, alarms=self.alarms))

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
