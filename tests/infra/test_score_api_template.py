"""The score API in the template: a function URL with IAM auth, reserved concurrency as the throttle, read-only
grants, alarms on errors and throttles; the local flavour without what moto cannot create, deployable on moto."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from clickguard import settings
from infra import config as cfg
from infra.local_deploy import deploy_assembly


def _function(synth) -> tuple[str, dict]:
    ((logical, function),) = [
        (k, v) for k, v in synth.resources("AWS::Lambda::Function").items() if k.startswith("ScoreApiFunction")
    ]
    return logical, function["Properties"]


def test_the_function_is_throttled_by_reserved_concurrency_with_a_short_timeout(synth_aws):
    _, props = _function(synth_aws)
    config = synth_aws.config
    assert props["ReservedConcurrentExecutions"] == config.score_api_reserved_concurrency == 10
    assert props["Timeout"] == config.score_api_timeout_seconds == 10
    assert props["MemorySize"] == config.score_api_memory_mb
    assert props["Handler"] == settings.SCORE_API_HANDLER
    assert props["TracingConfig"] == {"Mode": "Active"}


def test_the_function_reads_the_stores_the_consumer_writes(synth_aws):
    _, props = _function(synth_aws)
    env = props["Environment"]["Variables"]
    consumer = next(
        v["Properties"]["Environment"]["Variables"]
        for k, v in synth_aws.resources("AWS::Lambda::Function").items()
        if k.startswith("ConsumerFunction")
    )
    for name in (
        settings.ENV_TABLE_NAME,
        settings.ENV_MODEL_BUCKET,
        settings.ENV_FLAG_COOLDOWN_SECONDS,
        settings.ENV_USER_KEY_SOURCE,
        settings.ENV_MODEL_REFRESH_SECONDS,
    ):
        assert env[name] == consumer[name], name
    assert env["POWERTOOLS_SERVICE_NAME"] == synth_aws.config.score_api_service


def test_the_url_requires_iam_auth_and_callers_get_a_policy_for_it(synth_aws):
    logical, _ = _function(synth_aws)
    ((url_id, url),) = synth_aws.resources("AWS::Lambda::Url").items()
    assert url["Properties"]["AuthType"] == "AWS_IAM"
    assert url["Properties"]["TargetFunctionArn"] == {"Fn::GetAtt": [logical, "Arn"]}
    assert "Cors" not in url["Properties"]  # service to service: no browser origin is allowed
    permissions = synth_aws.resources("AWS::Lambda::Permission").values()
    assert not [p for p in permissions if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [logical, "Arn"]}], (
        "no resource policy opens the function to anyone"
    )
    ((_, policy),) = [(k, v) for k, v in synth_aws.resources("AWS::IAM::ManagedPolicy").items() if "Invoke" in k]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert {s["Action"] for s in statements} == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    for statement in statements:
        assert statement["Resource"] == {"Fn::GetAtt": [logical, "Arn"]}
    by_action = {s["Action"]: s["Condition"] for s in statements}
    assert by_action["lambda:InvokeFunctionUrl"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}
    assert by_action["lambda:InvokeFunction"] == {"Bool": {"lambda:InvokedViaFunctionUrl": True}}
    assert "Roles" not in policy["Properties"] and "Users" not in policy["Properties"]  # the operator attaches it
    outputs = synth_aws.template["Outputs"]
    assert outputs[cfg.OUTPUT_SCORE_URL]["Value"] == {"Fn::GetAtt": [url_id, "FunctionUrl"]}
    assert set(cfg.AWS_ONLY_OUTPUT_KEYS) | {cfg.OUTPUT_SCORE_API_FUNCTION} <= set(outputs)


def test_errors_alarm_at_once_and_throttling_after_fifteen_minutes(synth_aws):
    alarms = {k: v["Properties"] for k, v in synth_aws.resources("AWS::CloudWatch::Alarm").items()}
    (errors,) = [a for k, a in alarms.items() if k.startswith("ScoreApiScoreApiErrors")]
    (throttles,) = [a for k, a in alarms.items() if k.startswith("ScoreApiScoreApiThrottles")]
    assert (errors["MetricName"], errors["Threshold"], errors["EvaluationPeriods"]) == ("Errors", 1, 1)
    assert (throttles["MetricName"], throttles["Threshold"], throttles["EvaluationPeriods"]) == ("Throttles", 1, 3)
    for alarm in (errors, throttles):
        assert alarm["Namespace"] == "AWS/Lambda" and alarm["Period"] == 300
        assert alarm["AlarmActions"] and alarm["OKActions"]
        assert alarm["TreatMissingData"] == "notBreaching"


def test_the_dashboard_has_a_score_api_row(synth_aws):
    (dashboard,) = synth_aws.resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for name in (settings.METRIC_SCORE_REQUESTS, settings.METRIC_SCORE_REFUSED, settings.METRIC_SCORE_LATENCY):
        assert name in body
    assert synth_aws.config.score_api_service in body


def test_the_local_flavour_has_the_function_but_no_url_policy_or_alarms(synth_local):
    assert _function(synth_local)[1]["ReservedConcurrentExecutions"] == 10
    assert not synth_local.resources("AWS::Lambda::Url")
    assert not synth_local.resources("AWS::IAM::ManagedPolicy")
    assert not set(cfg.AWS_ONLY_OUTPUT_KEYS) & set(synth_local.template["Outputs"])


@pytest.fixture(scope="module")
def deployed(synth_local):
    with mock_aws():
        outputs = deploy_assembly(synth_local.outdir, synth_local.stack_name, session=boto3.Session())
        yield outputs, boto3.client("lambda")


def test_the_local_flavour_deploys_on_moto_with_the_functions_settings(deployed):
    outputs, lam = deployed
    name = outputs[cfg.OUTPUT_SCORE_API_FUNCTION]
    config = lam.get_function(FunctionName=name)
    assert config["Concurrency"]["ReservedConcurrentExecutions"] == 10
    env = config["Configuration"]["Environment"]["Variables"]
    assert env[settings.ENV_TABLE_NAME] == outputs[cfg.OUTPUT_TABLE_NAME]
    assert env[settings.ENV_MODEL_BUCKET] == outputs[cfg.OUTPUT_MODEL_BUCKET]
