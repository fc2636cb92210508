"""The training run's state machine (issue 13) as synthesized: the schedule starts it, small windows go to the
single-pass trainer, a Distributed Map over the plan's partitions (an S3 ItemReader, batches, bounded concurrency,
each batch retried alone) then passes over the user shards until the reduce is done; logs, tracing and alarms; and
the local flavour deploys it into moto's CloudFormation."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from clickguard import settings
from infra.local_deploy import deploy_assembly

# The definition's ARNs are CloudFormation references inside an Fn::Join; the states themselves are literal JSON.


def _definition(synth) -> dict[str, Any]:
    (machine,) = synth.resources("AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else "REF" for p in parts)
    return json.loads(text)


def _states(definition: dict[str, Any]) -> dict[str, Any]:
    """Every state, nested item processors included."""
    out = {}
    for name, state in definition["States"].items():
        out[name] = state
        if "ItemProcessor" in state:
            out.update(_states(state["ItemProcessor"]))
    return out


@pytest.fixture(scope="module")
def states(synth_aws) -> dict[str, Any]:
    return _states(_definition(synth_aws))


def test_the_plan_decides_between_the_single_pass_and_the_map(states):
    assert states["Plan"]["Parameters"] == {"step": "plan", "time.$": "$.time"}
    choice = states["OnePassOrMap?"]
    assert choice["Choices"] == [{"Variable": "$.plan.mode", "StringEquals": "single", "Next": "TrainInOnePass"}]
    assert states["TrainInOnePass"]["Parameters"] == {"time.$": "$.time"} and states["TrainInOnePass"]["End"]


def test_the_partitions_are_a_distributed_map_read_from_the_plans_list_in_batches(states, synth_aws):
    c = synth_aws.config
    m = states["MapPartitions"]
    assert m["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert m["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}
    assert m["ItemReader"]["Resource"].endswith(":states:::s3:getObject")
    assert m["ItemReader"]["Parameters"]["Key.$"] == "$.plan.todo_key"
    assert m["ItemBatcher"] == {"MaxItemsPerBatch": c.training_map_batch, "BatchInput": {"run.$": "$.plan.run"}}
    assert m["MaxConcurrency"] == c.training_map_concurrency
    assert m.get("ToleratedFailurePercentage", 0) == 0  # a partition that keeps failing fails the run
    assert m["Next"] == "StartPasses" and states["AnythingToMap?"]["Default"] == "StartPasses"


@pytest.mark.parametrize("task", ["MapBatch", "ShardPass", "Advance", "StartPasses", "Plan"])
def test_a_failed_step_is_retried_on_its_own(states, task):
    retries = states[task]["Retry"]
    assert {"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 3, "IntervalSeconds": 10, "BackoffRate": 2} in retries


def test_the_passes_loop_over_the_shards_until_the_reduce_is_done(states, synth_aws):
    shards = states["PassOverShards"]
    assert shards["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert shards["ItemsPath"] == "$.run.shards"
    assert shards["ItemSelector"] == {"run.$": "$.run.run", "pass.$": "$.run.pass", "shard.$": "$$.Map.Item.Value"}
    assert shards["MaxConcurrency"] == synth_aws.config.training_map_concurrency and shards["Next"] == "Advance"
    assert states["Advance"]["Next"] == states["StartPasses"]["Next"] == "Trained?"
    done = states["Trained?"]
    assert done["Choices"] == [{"Variable": "$.run.done", "BooleanEquals": True, "Next": "Trained"}]
    assert done["Default"] == "PassOverShards"
    assert states["Advance"]["Parameters"] == {
        "step": "advance",
        "run.$": "$.run.run",
        "pass.$": "$.run.pass",
    }


def test_the_schedule_starts_the_state_machine_and_nothing_invokes_the_trainer_on_its_own(synth_aws):
    rules = synth_aws.resources("AWS::Events::Rule")
    (rule,) = [r for r in rules.values() if "ScheduleExpression" in r["Properties"]]
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"]["Ref"].startswith("TrainingRunStateMachine")
    assert target["InputTransformer"] == {"InputPathsMap": {"time": "$.time"}, "InputTemplate": '{"time":<time>}'}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == synth_aws.config.trainer_retry_attempts


def test_logged_traced_and_alarmed(synth_aws):
    (machine,) = synth_aws.resources("AWS::StepFunctions::StateMachine").values()
    props = machine["Properties"]
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    alarms = synth_aws.resources("AWS::CloudWatch::Alarm")
    for name, metric in (
        ("Failed", "ExecutionsFailed"),
        ("TimedOut", "ExecutionsTimedOut"),
        ("Aborted", "ExecutionsAborted"),
    ):
        (alarm,) = [a for n, a in alarms.items() if n.startswith(f"TrainingRunTrainingRun{name}")]
        assert alarm["Properties"]["MetricName"] == metric and alarm["Properties"]["AlarmActions"]


def test_the_functions_read_the_run_settings(synth_aws):
    c = synth_aws.config
    functions = synth_aws.resources("AWS::Lambda::Function")
    for prefix, handler, memory in (
        ("TrainingRunReduceFunction", settings.TRAINING_REDUCE_HANDLER, c.training_reduce_memory_mb),
        ("TrainingRunMapFunction", settings.TRAINING_MAP_HANDLER, c.training_worker_memory_mb),
        ("TrainingRunShardFunction", settings.TRAINING_SHARD_HANDLER, c.training_worker_memory_mb),
    ):
        (fn,) = [f["Properties"] for n, f in functions.items() if n.startswith(prefix)]
        env = fn["Environment"]["Variables"]
        assert (fn["Handler"], fn["MemorySize"]) == (handler, memory)
        assert env[settings.ENV_TRAINING_SHARDS] == str(c.training_shards)
        assert env[settings.ENV_SINGLE_PASS_MAX_MB] == str(c.single_pass_max_mb)


def test_the_local_flavour_deploys_the_state_machine_into_moto(synth_local):
    with mock_aws():
        deploy_assembly(synth_local.outdir, synth_local.stack_name, session=boto3.Session())
        sfn = boto3.client("stepfunctions")
        (machine,) = sfn.list_state_machines()["stateMachines"]
        definition = json.loads(sfn.describe_state_machine(stateMachineArn=machine["stateMachineArn"])["definition"])
    assert _states(definition)["MapPartitions"]["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"


def test_partials_and_run_files_expire(synth_aws):
    """A partial holds user keys: it goes with the raw events, and once no window reads it."""
    from infra.components.buckets import TRAINING_RUN_DAYS

    c = synth_aws.config
    rules = [
        r
        for b in synth_aws.resources("AWS::S3::Bucket").values()
        for r in b["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
    ]
    by_id = {r["Id"]: r for r in rules}
    partials = min(c.archive_expiry_days, c.model_params["window_days"] + 1)
    assert (by_id["expire-training-partials"]["Prefix"], by_id["expire-training-partials"]["ExpirationInDays"]) == (
        settings.PARTIALS_PREFIX,
        partials,
    )
    runs = by_id["expire-training-runs"]
    assert (runs["Prefix"], runs["ExpirationInDays"]) == (settings.TRAINING_RUNS_PREFIX, TRAINING_RUN_DAYS)


def test_the_state_machine_reads_no_object_of_the_data_bucket_outside_its_runs(synth_aws):
    """CDK grants the Distributed Map's ItemReader ``s3:GetObject`` on the whole bucket (its key is chosen at run
    time); the bucket also keeps rejected records' payloads, so the role denies reads outside ``training-runs/``."""
    roles = synth_aws.resources("AWS::IAM::Role")
    machine_role = next(k for k, r in roles.items() if "states.amazonaws.com" in json.dumps(r))
    policies = [p for p in synth_aws.resources("AWS::IAM::Policy").values()
                if {"Ref": machine_role} in p["Properties"]["Roles"]]  # fmt: skip
    denies = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert len(denies) == 1 and denies[0]["Action"] == "s3:GetObject"
    assert f"/{settings.TRAINING_RUNS_PREFIX}*" in json.dumps(denies[0]["NotResource"])


def test_the_state_machine_logs_under_vendedlogs(synth_aws):
    """A log group elsewhere adds an entry to the account's CloudWatch Logs resource policy (5,120 characters in
    all), which a busy account fills, failing the deploy (a deploy review's finding)."""
    (machine,) = synth_aws.resources("AWS::StepFunctions::StateMachine").values()
    destination = machine["Properties"]["LoggingConfiguration"]["Destinations"][0]
    group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    group = synth_aws.resources("AWS::Logs::LogGroup")[group_id]
    assert group["Properties"]["LogGroupName"] == f"/aws/vendedlogs/states/{synth_aws.stack_name}-training"
