"""Least privilege: walk every policy statement of the template (identity and resource policies).

Fails on an Allow with a wildcard action, on an Allow on resource "*" where the service can scope, and on a
public principal. Justified exceptions, each narrow:
- X-Ray ``PutTraceSegments``/``PutTelemetryRecords`` accept only "*" (no resource-level permissions); so do the
  sampling reads and CloudWatch Logs' log-delivery actions that a traced, logging state machine's role needs (the
  training run, issue 13: Step Functions delivers its logs through CloudWatch Logs' vended delivery).
- In a KMS key policy, "*" as resource means "this key"; the account-root ``kms:*`` statement is the CDK
  default that keeps the key manageable by IAM (without it a key can become unmanageable).
Deny statements (TLS-only policies) may use wildcards: denying more is the safe direction.
Cloudwatch:PutMetricData is not needed at all: Powertools writes metrics as EMF log lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

UNSCOPABLE_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(logical id, document kind, statement) for every policy document in the template."""
    for logical, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        kind = resource["Type"]
        documents = []
        if kind in {
            "AWS::IAM::Policy",
            "AWS::IAM::ManagedPolicy",
            "AWS::SQS::QueuePolicy",
            "AWS::S3::BucketPolicy",
            "AWS::SNS::TopicPolicy",
        }:
            documents.append(props["PolicyDocument"])
        elif kind == "AWS::KMS::Key":
            documents.append(props["KeyPolicy"])
        elif kind == "AWS::IAM::Role":
            documents.extend(p["PolicyDocument"] for p in props.get("Policies", []))
        for document in documents:
            for statement in _as_list(document["Statement"]):
                yield logical, kind, statement


def _is_account_root(principal: Any) -> bool:
    text = str(principal)
    return ":root" in text and "AWS" in text


@pytest.mark.parametrize("flavour", ["synth_aws", "synth_local"])
def test_no_wildcards_where_scoping_is_possible(flavour, request):
    template = request.getfixturevalue(flavour).template
    problems = []
    checked = 0
    for logical, kind, statement in statements(template):
        checked += 1
        if statement["Effect"] != "Allow":
            continue
        actions = _as_list(statement.get("Action", []))
        resources = _as_list(statement.get("Resource", []))
        if statement.get("Principal") == "*" or statement.get("Principal") == {"AWS": "*"}:
            problems.append(f"{logical}: public principal")
        key_admin = kind == "AWS::KMS::Key" and actions == ["kms:*"] and _is_account_root(statement["Principal"])
        for action in actions:
            if "*" in action and not key_admin:
                problems.append(f"{logical}: wildcard action {action}")
        if "*" in resources and kind != "AWS::KMS::Key" and not set(actions) <= UNSCOPABLE_ACTIONS:
            problems.append(f"{logical}: resource '*' for {actions}")
        if "NotAction" in statement or "NotResource" in statement:
            problems.append(f"{logical}: NotAction/NotResource")
    assert checked > 20
    assert not problems, "\n".join(problems)


def test_service_principals_on_the_key_are_bound_to_the_account(synth_aws):
    for _, kind, statement in statements(synth_aws.template):
        if kind == "AWS::KMS::Key" and "Service" in statement.get("Principal", {}):
            assert "aws:SourceAccount" in str(statement.get("Condition")), statement


def test_functions_cannot_touch_what_they_do_not_use(synth_aws):
    """The trainer has no DynamoDB/SQS/Kinesis access; the consumer cannot write models or read the archive."""
    by_policy: dict[str, list[dict[str, Any]]] = {}
    for logical, kind, statement in statements(synth_aws.template):
        if kind == "AWS::IAM::Policy":
            by_policy.setdefault(logical, []).append(statement)
    trainer = [s for name, ss in by_policy.items() if name.startswith("TrainerAccess") for s in ss]
    consumer = [s for name, ss in by_policy.items() if name.startswith("ConsumerAccess") for s in ss]
    assert trainer and consumer
    trainer_actions = {a for s in trainer for a in _as_list(s["Action"])}
    assert not {a for a in trainer_actions if a.split(":")[0] in {"dynamodb", "sqs", "kinesis"}}
    consumer_puts = [s for s in consumer if "s3:PutObject" in _as_list(s["Action"])]
    assert len(consumer_puts) == 1 and "rejected/*" in str(consumer_puts[0]["Resource"])
