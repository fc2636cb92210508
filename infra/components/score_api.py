"""The synchronous scoring API: ``POST /score`` on a Lambda Function URL with IAM auth, throttled, read-only.

Why a Function URL and not API Gateway: one route, callers that are services with IAM credentials (SigV4), and no
29-second integration cap; the throttle API Gateway would give is reserved concurrency here (Lambda answers 429
past it, before the code runs; a function URL's request rate is at most 10 times its reserved concurrency). The
URL's auth type is ``AWS_IAM``: an unsigned request never reaches the function. Callers are granted through
``invoke_policy``, a managed policy an operator attaches to the callers' roles (``lambda:InvokeFunctionUrl``, and
``lambda:InvokeFunction`` only via the URL, both required for function URLs created since October 2025).

The function reads the session table (BatchGetItem of one key), the model bucket's ``models/`` and the reviewers'
allow-list (``review/allowlist.json``), and writes nothing. Alarms: any unhandled error (a bug or a timeout: every
expected failure is a 4xx or 503 answer), and throttling that lasts (callers are being turned away: raise
``score_api_reserved_concurrency``).

moto's CloudFormation has no ``AWS::Lambda::Url`` (``MOTO_UNSUPPORTED``): the local flavour leaves the URL, its
invoke policy and the alarms out, and the local runtime serves the same handler on 127.0.0.1
(``clickguard.local.score_server``).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from clickguard import settings
from clickguard.store.permissions import SCORE_API
from infra.components.function_role import FunctionRole
from infra.components.python_function import python_function
from infra.config import StackConfig
from infra.nag import acknowledge_prefix_scoped

FIVE_MINUTES = Duration.minutes(5)
THROTTLED_PERIODS = 3  # a burst is the throttle working; fifteen minutes of it is a capacity decision


class ScoreApi(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StackConfig,
        layer: lambda_.ILayerVersion,
        table: dynamodb.ITable,
        model_bucket: s3.IBucket,
        key: kms.IKey,
        alarm_topic: sns.ITopic,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        environment = {
            settings.ENV_TABLE_NAME: table.table_name,
            settings.ENV_MODEL_BUCKET: model_bucket.bucket_name,
            settings.ENV_MODEL_REFRESH_SECONDS: str(config.model_refresh_seconds),
            settings.ENV_FLAG_COOLDOWN_SECONDS: str(config.flag_cooldown_seconds),
            settings.ENV_USER_KEY_SOURCE: config.user_key_source,
        }
        access = FunctionRole(
            self,
            "Access",
            function=SCORE_API,
            environment=environment,
            description="clickguard score API",
            log_retention_name=config.log_retention_name,
            removal_policy=removal_policy,
        )
        self._build_grants(access, table, model_bucket)
        access.seal(key)
        self.function = python_function(
            self,
            access=access,
            asset=settings.SCORE_API_ASSET_DIR,
            handler=settings.SCORE_API_HANDLER,
            layer=layer,
            description="clickguard: POST /score, a user's score, signals and flag decision (read-only)",
            memory_mb=config.score_api_memory_mb,
            timeout_seconds=config.score_api_timeout_seconds,
            environment=environment,
            service=config.score_api_service,
            reserved_concurrent_executions=config.score_api_reserved_concurrency,
        )
        self.url: lambda_.FunctionUrl | None = None
        self.invoke_policy: iam.ManagedPolicy | None = None
        self.alarms: list[cw.Alarm] = []
        if not config.local:  # moto cannot create a function URL, nor evaluate alarms (MOTO_UNSUPPORTED)
            self.url, self.invoke_policy = self._build_url()
            self._build_alarms(alarm_topic)

    @staticmethod
    def _build_grants(access: FunctionRole, table: dynamodb.ITable, model_bucket: s3.IBucket) -> None:
        """Reads only, each on the narrowest resource; which actions at all is infra.access's decision."""
        access.allow(["dynamodb:BatchGetItem"], [table.table_arn])
        models = model_bucket.arn_for_objects(f"{settings.MODELS_PREFIX}*")
        access.allow(["s3:GetObject"], [models, model_bucket.arn_for_objects(settings.ALLOWLIST_KEY)])
        access.allow(["s3:ListBucket"], [model_bucket.bucket_arn])
        acknowledge_prefix_scoped(
            access.policy,
            model_bucket,
            settings.MODELS_PREFIX,
            "The score API reads models/latest.json and the model versions it names.",
        )

    def _build_url(self) -> tuple[lambda_.FunctionUrl, iam.ManagedPolicy]:
        url = self.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
        policy = iam.ManagedPolicy(
            self,
            "InvokePolicy",
            description="Attach to the roles that may call the clickguard score API (POST /score, SigV4-signed)",
        )
        url.grant_invoke_url(policy)
        return url, policy

    def _build_alarms(self, topic: sns.ITopic) -> None:
        fn = self.function
        for id, metric, periods, description in (
            (
                "ScoreApiErrors",
                fn.metric_errors(period=FIVE_MINUTES),
                1,
                "The score API failed a request (a bug or a timeout: callers got a 5xx from Lambda). Every expected "
                "failure is a 4xx or 503 answer, so look at the function's logs.",
            ),
            (
                "ScoreApiThrottles",
                fn.metric_throttles(period=FIVE_MINUTES),
                THROTTLED_PERIODS,
                "The score API has turned callers away (429) for 15 minutes: its reserved concurrency is too low "
                "for their rate (raise score_api_reserved_concurrency) or a caller is misbehaving.",
            ),
        ):
            alarm = cw.Alarm(
                self,
                id,
                metric=metric,
                threshold=1,
                evaluation_periods=periods,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            action = cw_actions.SnsAction(topic)
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
            self.alarms.append(alarm)

    def widgets(self, service: str) -> list[cw.IWidget]:
        """A dashboard row: requests and their outcome, latency, Lambda's errors and throttles."""

        def custom(name: str, statistic: str = "Sum") -> cw.Metric:
            return cw.Metric(
                namespace=settings.METRICS_NAMESPACE,
                metric_name=name,
                dimensions_map={"service": service},
                statistic=statistic,
                period=FIVE_MINUTES,
            )

        fn = self.function
        widgets: list[cw.IWidget] = [
            cw.GraphWidget(
                title="Score API requests",
                width=8,
                left=[
                    custom(settings.METRIC_SCORE_REQUESTS),
                    custom(settings.METRIC_SCORE_REFUSED),
                    custom(settings.METRIC_SCORE_UNAVAILABLE),
                ],
            ),
            cw.GraphWidget(
                title="Score API latency (ms, p99)",
                width=8,
                left=[custom(settings.METRIC_SCORE_LATENCY, "p99"), fn.metric_duration(statistic="p99")],
            ),
            cw.GraphWidget(
                title="Score API errors / throttles",
                width=8,
                left=[fn.metric_errors(period=FIVE_MINUTES), fn.metric_throttles(period=FIVE_MINUTES)],
            ),
        ]
        if self.alarms:
            widgets.append(cw.AlarmStatusWidget(title="Score API alarms", width=24, alarms=self.alarms))
        return widgets
