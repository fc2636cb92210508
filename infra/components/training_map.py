"""Distributed training (issue 13): the scheduled training run as a Step Functions state machine.

Plan (the reduce function lists the window) -> a window of at most ``single_pass_max_mb`` trains in the single-pass
trainer function; a larger one -> a Distributed Map over its partitions not cached yet (read from the plan's list in
S3 by an ItemReader, ``training_map_batch`` partitions per map invocation, ``training_map_concurrency`` at once, each
batch retried on its own) -> advance -> while passes remain: a Distributed Map over the user shards, then advance
again; the last advance publishes (``clickguard.training.steps``). The schedule starts the state machine; failed, timed
out or aborted executions raise an alarm. moto's CloudFormation creates state machines but cannot run Lambda code in
them: the local runtime plays the run itself (``clickguard.local.runtime``), with the same functions' code on a process
pool.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from clickguard import settings
from clickguard.store.permissions import TRAINING_MAP, TRAINING_REDUCE, TRAINING_SHARD
from infra.components.function_role import FunctionRole
from infra.components.python_function import python_function
from infra.config import StackConfig
from infra.nag import acknowledge, acknowledge_prefix_scoped, logical_id

RETRY_ATTEMPTS = 3  # a map batch or a shard's pass that failed is run again on its own, this many times
ALARM_PERIOD = Duration.hours(1)

Grants = Callable[[FunctionRole, s3.IBucket, s3.IBucket], None]


def _grant_reduce(access: FunctionRole, data: s3.IBucket, models: s3.IBucket) -> None:
    """Lists the window, reads partial summaries, writes the run's files; labels and models as the trainer."""
    access.allow(["s3:ListBucket"], [data.bucket_arn], {"StringLike": {"s3:prefix": [f"{settings.ARCHIVE_PREFIX}*"]}})
    access.allow(["s3:ListBucket"], [data.bucket_arn])  # a partial not cached yet reads as 404 (infra.access)
    partials, runs = (
        data.arn_for_objects(f"{settings.PARTIALS_PREFIX}*"),
        data.arn_for_objects(f"{settings.TRAINING_RUNS_PREFIX}*"),
    )
    access.allow(["s3:GetObject"], [partials, runs])
    access.allow(["s3:PutObject"], [runs])
    access.allow(["s3:ListBucket"], [models.bucket_arn])
    access.allow(
        ["s3:GetObject"],
        [models.arn_for_objects(f"{settings.MODELS_PREFIX}*"), models.arn_for_objects(f"{settings.LABELS_PREFIX}*")],
    )
    access.allow(["s3:PutObject"], [models.arn_for_objects(f"{settings.MODELS_PREFIX}*")])
    for bucket, prefix in (
        (data, settings.PARTIALS_PREFIX),
        (data, settings.TRAINING_RUNS_PREFIX),
        (models, settings.MODELS_PREFIX),
        (models, settings.LABELS_PREFIX),
    ):
        acknowledge_prefix_scoped(access.policy, bucket, prefix, f"Prefix-scoped: the training run's {prefix} files.")


def _grant_map(access: FunctionRole, data: s3.IBucket, models: s3.IBucket) -> None:
    """Reads the archive's objects and the run's spec; writes partials."""
    partials = data.arn_for_objects(f"{settings.PARTIALS_PREFIX}*")
    access.allow(["s3:ListBucket"], [data.bucket_arn])
    access.allow(
        ["s3:GetObject"],
        [
            data.arn_for_objects(f"{settings.ARCHIVE_PREFIX}*"),
            partials,
            data.arn_for_objects(f"{settings.TRAINING_RUNS_PREFIX}*"),
        ],
    )
    access.allow(["s3:PutObject"], [partials])
    for prefix in (settings.ARCHIVE_PREFIX, settings.PARTIALS_PREFIX, settings.TRAINING_RUNS_PREFIX):
        acknowledge_prefix_scoped(access.policy, data, prefix, f"Prefix-scoped: the map reads or writes {prefix}.")


def _grant_shard(access: FunctionRole, data: s3.IBucket, models: s3.IBucket) -> None:
    """Reads partials and the run's files; writes its pass's result."""
    runs = data.arn_for_objects(f"{settings.TRAINING_RUNS_PREFIX}*")
    access.allow(["s3:ListBucket"], [data.bucket_arn])
    access.allow(["s3:GetObject"], [data.arn_for_objects(f"{settings.PARTIALS_PREFIX}*"), runs])
    access.allow(["s3:PutObject"], [runs])
    for prefix in (settings.PARTIALS_PREFIX, settings.TRAINING_RUNS_PREFIX):
        acknowledge_prefix_scoped(access.policy, data, prefix, f"Prefix-scoped: a shard reads or writes {prefix}.")


class TrainingRun(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StackConfig,
        layer: lambda_.ILayerVersion,
        data_bucket: s3.IBucket,
        model_bucket: s3.IBucket,
        trainer: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
        key: kms.IKey,
        alarm_topic: sns.ITopic,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self.config, self.layer, self.key, self.removal_policy = config, layer, key, removal_policy
        self.buckets = (data_bucket, model_bucket)
        self.environment = {
            settings.ENV_DATA_BUCKET: data_bucket.bucket_name,
            settings.ENV_MODEL_BUCKET: model_bucket.bucket_name,
            settings.ENV_ARCHIVE_PREFIX: settings.ARCHIVE_PREFIX,
            settings.ENV_TRAINING_SHARDS: str(config.training_shards),
            settings.ENV_SINGLE_PASS_MAX_MB: str(config.single_pass_max_mb),
            **config.model_environment(),
        }
        # The reduce reports as the trainer (its service): the trainer's dashboard and "no new model" alarm hold.
        self.reduce = self._function(
            "Reduce", TRAINING_REDUCE, settings.TRAINING_REDUCE_HANDLER, config.training_reduce_memory_mb,
            config.trainer_service, _grant_reduce, "plan the window's training run, decide each pass, publish",
        )  # fmt: skip
        self.map = self._function(
            "Map", TRAINING_MAP, settings.TRAINING_MAP_HANDLER, config.training_worker_memory_mb,
            f"{settings.TRAINING_MAP_SERVICE}-{config.stage}", _grant_map, "decode archive hours into partials",
        )  # fmt: skip
        self.shard = self._function(
            "Shard", TRAINING_SHARD, settings.TRAINING_SHARD_HANDLER, config.training_worker_memory_mb,
            f"{settings.TRAINING_SHARD_SERVICE}-{config.stage}", _grant_shard, "one user shard's part of a pass",
        )  # fmt: skip
        self.state_machine = self._build_state_machine(trainer)
        self.rule = events.Rule(
            self,
            "Schedule",
            description="clickguard: periodic training (a Step Functions run)",
            schedule=events.Schedule.expression(config.training_schedule),
        )
        self.rule.add_target(
            targets.SfnStateMachine(
                self.state_machine,
                input=events.RuleTargetInput.from_object({"time": events.EventField.time}),
                retry_attempts=config.trainer_retry_attempts,
                max_event_age=Duration.hours(min(24, max(1, int(config.training_period_hours)))),
                dead_letter_queue=dead_letter_queue,
            )
        )
        self.alarms: list[cw.Alarm] = []
        if not config.local:  # moto never evaluates alarms (MOTO_UNSUPPORTED)
            self._build_alarms(alarm_topic)

    def _function(
        self, id: str, runtime: str, handler: str, memory_mb: int, service: str, grants: Grants, description: str
    ) -> lambda_.Function:
        scope = Construct(self, id)
        access = FunctionRole(
            scope,
            "Access",
            function=runtime,
            environment=self.environment,
            description=f"clickguard {runtime}",
            log_retention_name=self.config.log_retention_name,
            removal_policy=self.removal_policy,
        )
        grants(access, *self.buckets)
        access.seal(self.key)
        return python_function(
            scope,
            access=access,
            asset=settings.TRAINER_ASSET_DIR,
            handler=handler,
            layer=self.layer,
            description=f"clickguard: {description}",
            memory_mb=memory_mb,
            timeout_seconds=self.config.trainer_timeout_seconds,
            environment=self.environment,
            service=service,
        )

    def _task(
        self,
        id: str,
        function: lambda_.IFunction,
        payload: dict[str, Any] | None = None,
        *,
        result_path: str | None = None,
    ) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            id,
            lambda_function=function,
            payload=sfn.TaskInput.from_object(payload) if payload is not None else None,
            payload_response_only=True,
            result_path=result_path,
        )
        # A function error (a lost connection, a throttled GET) is retried: every step is idempotent.
        task.add_retry(
            errors=["States.TaskFailed"], max_attempts=RETRY_ATTEMPTS, backoff_rate=2, interval=Duration.seconds(10)
        )
        return task

    def _build_state_machine(self, trainer: lambda_.IFunction) -> sfn.StateMachine:
        config = self.config
        plan = self._task(
            "Plan", self.reduce, {"step": "plan", "time": sfn.JsonPath.string_at("$.time")}, result_path="$.plan"
        )
        one_pass = self._task(
            "TrainInOnePass", trainer, {"time": sfn.JsonPath.string_at("$.time")}, result_path="$.report"
        )
        partitions = self._partition_map()
        start = self._task(
            "StartPasses",
            self.reduce,
            {"step": "advance", "run": sfn.JsonPath.string_at("$.plan.run")},
            result_path="$.run",
        )
        advance = self._task(
            "Advance",
            self.reduce,
            {
                "step": "advance",
                "run": sfn.JsonPath.string_at("$.run.run"),
                "pass": sfn.JsonPath.number_at("$.run.pass"),
            },
            result_path="$.run",
        )
        shards = self._shard_map()
        done = (
            sfn.Choice(self, "Trained?")
            .when(sfn.Condition.boolean_equals("$.run.done", True), sfn.Succeed(self, "Trained"))
            .otherwise(shards.next(advance))
        )
        advance.next(done)
        start.next(done)
        to_map = (
            sfn.Choice(self, "AnythingToMap?")
            .when(sfn.Condition.number_greater_than("$.plan.to_map", 0), partitions.next(start))
            .otherwise(start)
        )
        mode = (
            sfn.Choice(self, "OnePassOrMap?")
            .when(sfn.Condition.string_equals("$.plan.mode", "single"), one_pass)
            .otherwise(to_map)
        )
        log_group = logs.LogGroup(
            self,
            "Logs",
            # Under /aws/vendedlogs/: Step Functions then adds no entry per log group to the account's CloudWatch Logs
            # resource policy, whose 5,120 characters a busy account fills (and the deploy fails).
            log_group_name=f"/aws/vendedlogs/states/{Stack.of(self).stack_name}-training",
            retention=logs.RetentionDays[config.log_retention_name],
            removal_policy=self.removal_policy,
        )
        machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(plan.next(mode)),
            timeout=Duration.hours(12),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )
        self.key.grant_decrypt(machine)  # the ItemReader reads the plan's list from the encrypted data bucket
        # CDK grants the ItemReader every object of the bucket (its key is chosen at run time); it reads only the
        # run's own list, and the bucket also holds kept payloads of rejected records: denied outside the prefix.
        runs = self.buckets[0].arn_for_objects(f"{settings.TRAINING_RUNS_PREFIX}*")
        machine.add_to_role_policy(
            iam.PolicyStatement(effect=iam.Effect.DENY, actions=["s3:GetObject"], not_resources=[runs])
        )
        self._acknowledge(machine, trainer)
        return machine

    def _partition_map(self) -> sfn.DistributedMap:
        """Each hour folder of the window that has no cached partial, mapped in batches (``training.partials``)."""
        config, data_bucket = self.config, self.buckets[0]
        partitions = sfn.DistributedMap(
            self,
            "MapPartitions",
            item_reader=sfn.S3JsonItemReader(bucket=data_bucket, key=sfn.JsonPath.string_at("$.plan.todo_key")),
            item_batcher=sfn.ItemBatcher(
                max_items_per_batch=config.training_map_batch, batch_input={"run.$": "$.plan.run"}
            ),
            max_concurrency=config.training_map_concurrency,
            tolerated_failure_percentage=0,
            result_path=sfn.JsonPath.DISCARD,
        )
        partitions.item_processor(self._task("MapBatch", self.map))
        return partitions

    def _shard_map(self) -> sfn.DistributedMap:
        """One pass over every user shard (``training.shards``)."""
        config = self.config
        shards = sfn.DistributedMap(
            self,
            "PassOverShards",
            items_path="$.run.shards",
            item_selector={
                "run": sfn.JsonPath.string_at("$.run.run"),
                "pass": sfn.JsonPath.number_at("$.run.pass"),
                "shard": sfn.JsonPath.number_at("$$.Map.Item.Value"),
            },
            max_concurrency=config.training_map_concurrency,
            tolerated_failure_percentage=0,
            result_path=sfn.JsonPath.DISCARD,
        )
        shards.item_processor(self._task("ShardPass", self.shard))
        return shards

    def _acknowledge(self, machine: sfn.StateMachine, trainer: lambda_.IFunction) -> None:
        """The wildcards CDK writes into the state machine's own grants, each for a reason."""
        data_bucket = self.buckets[0]
        acknowledge(
            machine.role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::<{logical_id(data_bucket)}>/*]",
            "CDK's grant for the Distributed Map's ItemReader, which reads the run's list of partitions under "
            f"{settings.TRAINING_RUNS_PREFIX}; the key is a path chosen at run time. An explicit deny on the same role "
            f"refuses s3:GetObject outside {settings.TRAINING_RUNS_PREFIX}.",
        )
        stack = Stack.of(machine)  # cdk-nag spells a stack's region and account as given, else as pseudo-parameters
        region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
        account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
        executions = (
            f"arn:<AWS::Partition>:states:{region}:{account}:execution:"
            f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{logical_id(machine)}"}}]}}]}}'
        )
        for suffix in (":*", "/*:*"):
            acknowledge(
                machine,
                f"AwsSolutions-IAM5[Resource::{executions}{suffix}]",
                "CDK's Distributed Map grant: describing, stopping and redriving this state machine's own child "
                "executions, whose names are chosen at run time.",
            )
        for function in (self.reduce, self.map, self.shard, trainer):
            acknowledge(
                machine.role,
                f"AwsSolutions-IAM5[Resource::<{logical_id(function)}.Arn>:*]",
                "CDK's LambdaInvoke grant: the function and its versions.",
            )
        acknowledge(
            machine.role, "AwsSolutions-IAM5[Resource::*]", "X-Ray tracing of the state machine (no resource scoping)."
        )

    def _build_alarms(self, topic: sns.ITopic) -> None:
        machine = self.state_machine
        for id, metric, description in (
            (
                "TrainingRunFailed",
                machine.metric_failed(period=ALARM_PERIOD),
                "A training run failed: see its execution.",
            ),
            ("TrainingRunTimedOut", machine.metric_timed_out(period=ALARM_PERIOD), "A training run timed out."),
            ("TrainingRunAborted", machine.metric_aborted(period=ALARM_PERIOD), "A training run was aborted."),
        ):
            alarm = cw.Alarm(
                self,
                id,
                metric=metric,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"{description} Redrive it to resume where it stopped (each step is idempotent).",
            )
            action = cw_actions.SnsAction(topic)
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
            self.alarms.append(alarm)
