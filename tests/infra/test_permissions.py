"""Least privilege that is true: each role grants what its code calls plus what AWS needs for it, nothing else.

(a) The code: every boto3 client call (``x.batch_get_item(...)``, ``x.get_paginator("list_objects_v2")``) in the
modules each Lambda handler imports, transitively, and in every store module, converted to botocore operation names
by botocore's own ``method_to_api_mapping``, must equal ``clickguard.store.permissions``'s declaration.
(b) The template: each function role's actions must equal ``infra.access.expected_actions``: every granted action
is used by the code or listed with a reason, and every action the code needs is granted.
The last tests mutate the inputs (a ``get_item`` call, a ``dynamodb:GetItem`` grant) and expect both checks to fail.
"""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from pathlib import Path
from typing import Any

import boto3
import pytest

from clickguard import settings
from clickguard.store import permissions
from infra import access
from infra.paths import ROOT

PACKAGE_ROOT = ROOT / "layers" / "shared"
STORE = "clickguard.store"
HANDLERS = {
    permissions.CONSUMER: ROOT / "lambdas" / "consumer" / "handler.py",
    permissions.TRAINER: ROOT / "training" / "handler.py",
    permissions.DECISIONS: ROOT / "lambdas" / "decisions" / "handler.py",
    permissions.ARCHIVE_TRANSFORM: ROOT / "lambdas" / "archive_transform" / "handler.py",
    permissions.SCORE_API: ROOT / "lambdas" / "score_api" / "handler.py",
    permissions.TRAINING_REDUCE: ROOT / "training" / "reduce_handler.py",
    permissions.TRAINING_MAP: ROOT / "training" / "map_handler.py",
    permissions.TRAINING_SHARD: ROOT / "training" / "shard_handler.py",
}
# Services whose client method names are recognised as calls: the ones the stack uses, and a few more so that a
# new kind of call is caught rather than overlooked.
SERVICES = (
    "dynamodb", "sqs", "s3", "kinesis", "kms", "sns", "sts", "lambda", "events", "firehose", "cloudwatch", "logs",
    "ssm", "cloudformation", "secretsmanager", "stepfunctions",
)  # fmt: skip

Ops = dict[str, set[str]]  # service -> botocore operation names


# --- (a) the code ---------------------------------------------------------------------------------------------------
@functools.cache
def api_names() -> dict[str, frozenset[tuple[str, str]]]:
    """client method name -> {(service, operation)}, from real clients built offline."""
    names: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for service in SERVICES:
        client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        for method, operation in client.meta.method_to_api_mapping.items():
            names[method].add((service, operation))
    return {method: frozenset(ops) for method, ops in names.items()}


def _imported_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def client_calls(source: str) -> list[frozenset[tuple[str, str]]]:
    """Each client call in the source, as its candidate (service, operation) pairs (a method name can exist in
    several services). Calls on an imported name (``artifact.publish``) are module functions, not client calls."""
    tree = ast.parse(source)
    imported = _imported_names(tree)
    calls = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if isinstance(node.func.value, ast.Name) and node.func.value.id in imported:
            continue
        name = node.func.attr
        if name == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
            name = str(node.args[0].value)
        if name in api_names():
            calls.append(api_names()[name])
    return calls


def declared(module: str) -> Ops:
    """What every runtime together declares for a module."""
    ops: Ops = defaultdict(set)
    for calls in permissions.CALLS.values():
        for service, names in calls.get(module, {}).items():
            ops[service] |= names
    return dict(ops)


def scanned(source: str, services_hint: set[str]) -> tuple[Ops, list[str]]:
    """service -> operations the source calls; an ambiguous method name resolves by the declared services."""
    ops: Ops = defaultdict(set)
    problems = []
    for candidates in client_calls(source):
        chosen = candidates if len(candidates) == 1 else {c for c in candidates if c[0] in services_hint}
        if len(chosen) != 1:
            problems.append(f"ambiguous client call {sorted(candidates)}")
            continue
        ((service, operation),) = chosen
        ops[service].add(operation)
    return dict(ops), problems


def code_vs_declaration(module: str, source: str) -> list[str]:
    """Differences between a module's client calls and what permissions.py declares for it."""
    want = declared(module)
    got, problems = scanned(source, set(want))
    for service in sorted(set(want) | set(got)):
        extra, missing = (
            got.get(service, set()) - want.get(service, set()),
            want.get(service, set()) - got.get(service, set()),
        )
        if extra:
            problems.append(f"{module} calls {service} {sorted(extra)}, not declared in clickguard.store.permissions")
        if missing:
            problems.append(f"{module}: {service} {sorted(missing)} declared but never called")
    return problems


def module_file(name: str) -> Path | None:
    base = PACKAGE_ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {name for name in found if name.split(".")[0] == "clickguard" and module_file(name)}


@functools.cache
def import_closure(handler: Path) -> dict[str, Path]:
    """The handler and every clickguard module it imports, transitively (module name -> file)."""
    seen: dict[str, Path] = {}
    todo = [("<handler>", handler)]
    while todo:
        name, path = todo.pop()
        if name in seen:
            continue
        seen[name] = path
        todo.extend((module, module_file(module)) for module in _imports(path))
    return seen


def store_modules() -> dict[str, Path]:
    return {f"{STORE}.{p.stem}": p for p in sorted((PACKAGE_ROOT / "clickguard" / "store").glob("*.py"))}


def test_the_scanner_sees_the_calls_that_matter():
    source = (
        "def f(self, s3):\n"
        "    self.client.batch_get_item(RequestItems={})\n"
        "    s3.get_paginator('list_objects_v2').paginate(Bucket='b')\n"
        "    self.sqs.send_message_batch(QueueUrl='q', Entries=[])\n"
    )
    got, problems = scanned(source, {"dynamodb", "s3", "sqs"})
    assert not problems
    assert got == {"dynamodb": {"BatchGetItem"}, "s3": {"ListObjectsV2"}, "sqs": {"SendMessageBatch"}}


@pytest.mark.parametrize("module", sorted(store_modules()))
def test_each_store_module_calls_exactly_what_is_declared(module):
    assert code_vs_declaration(module, store_modules()[module].read_text()) == []


@pytest.mark.parametrize("runtime", permissions.FUNCTIONS)
def test_a_lambda_talks_to_aws_only_through_the_store_modules_it_declares(runtime):
    closure = import_closure(HANDLERS[runtime])
    assert set(permissions.CALLS[runtime]) <= set(closure), "declared modules the handler never imports"
    calling = {name for name, path in closure.items() if client_calls(path.read_text())}
    assert not {name for name in calling if not name.startswith(f"{STORE}.")}, "AWS calls outside clickguard.store"
    assert calling <= set(permissions.CALLS[runtime]), "store modules with calls missing from the declaration"


# --- (b) the template -----------------------------------------------------------------------------------------------
def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _function(template: dict[str, Any], function_prefix: str) -> dict[str, Any]:
    (function,) = [
        r
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function" and name.startswith(function_prefix)
    ]
    return function["Properties"]


def function_environment(template: dict[str, Any], function_prefix: str) -> dict[str, Any]:
    return _function(template, function_prefix)["Environment"]["Variables"]


def role_actions(template: dict[str, Any], function_prefix: str) -> set[str]:
    """Every action any identity policy grants the execution role of the function whose logical id starts so."""
    resources = template["Resources"]
    role = _function(template, function_prefix)["Role"]["Fn::GetAtt"][0]
    actions: set[str] = set()
    for resource in resources.values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role} in props.get("Roles", []):
            for statement in _as_list(props["PolicyDocument"]["Statement"]):
                assert statement["Effect"] == "Allow"
                actions.update(_as_list(statement["Action"]))
    assert not resources[role]["Properties"].get("Policies"), "no inline policies on the role"
    return actions


def grants_vs_plan(granted: set[str], runtime: str, environment: dict[str, Any]) -> list[str]:
    expected = access.expected_actions(runtime, environment)
    problems = [f"{runtime} role grants {a}: neither called by its code nor needed by AWS" for a in granted - expected]
    problems += [f"{runtime} role lacks {a}, which its code or AWS needs" for a in expected - granted]
    return sorted(problems)


FUNCTION_PREFIX = {
    permissions.CONSUMER: "ConsumerFunction",
    permissions.TRAINER: "TrainerFunction",
    permissions.DECISIONS: "DecisionsFunction",
    permissions.ARCHIVE_TRANSFORM: "ArchiveTransformFunction",
    permissions.SCORE_API: "ScoreApiFunction",
    permissions.TRAINING_REDUCE: "TrainingRunReduceFunction",
    permissions.TRAINING_MAP: "TrainingRunMapFunction",
    permissions.TRAINING_SHARD: "TrainingRunShardFunction",
}


@pytest.mark.parametrize("runtime", permissions.FUNCTIONS)
def test_each_role_grants_exactly_what_its_code_calls_and_aws_needs(runtime, synth_aws):
    prefix = FUNCTION_PREFIX[runtime]
    granted, environment = role_actions(synth_aws.template, prefix), function_environment(synth_aws.template, prefix)
    assert grants_vs_plan(granted, runtime, environment) == []


def test_a_call_only_some_settings_make_is_granted_only_with_them():
    """Conditional state writes are one PutItem per user; the default batch mode never calls PutItem."""
    writes = settings.ENV_STATE_WRITES
    assert "dynamodb:PutItem" not in access.expected_actions(permissions.CONSUMER, {writes: "batch"})
    assert "dynamodb:PutItem" not in access.expected_actions(permissions.CONSUMER, {})  # the default: batch
    assert "dynamodb:PutItem" in access.expected_actions(permissions.CONSUMER, {writes: "conditional"})
    # with the full view (no environment), the code's every call: what the scan compares against
    assert "PutItem" in permissions.operations(permissions.CONSUMER)["dynamodb"]


def test_the_final_action_lists(synth_aws):
    """The lists themselves, readable: a change here is a change of what the functions may do."""
    consumer = role_actions(synth_aws.template, FUNCTION_PREFIX[permissions.CONSUMER])
    trainer = role_actions(synth_aws.template, FUNCTION_PREFIX[permissions.TRAINER])
    common = {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    assert consumer - common == {
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:UpdateItem",  # the campaign alert's counters (clickguard.store.groups)
        "sqs:SendMessage",
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "kinesis:DescribeStream",
        "kinesis:DescribeStreamSummary",
        "kinesis:GetRecords",
        "kinesis:GetShardIterator",
        "kinesis:ListShards",
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:GenerateDataKey",
    }
    assert trainer - common == {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "kms:Decrypt", "kms:GenerateDataKey"}
    decisions = role_actions(synth_aws.template, FUNCTION_PREFIX[permissions.DECISIONS])
    assert decisions - common == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "kms:Decrypt",
        "kms:GenerateDataKey",
    }
    assert consumer >= common and trainer >= common and decisions >= common
    score_api = role_actions(synth_aws.template, FUNCTION_PREFIX[permissions.SCORE_API])  # reads, nothing else
    assert score_api - common == {"dynamodb:BatchGetItem", "s3:GetObject", "s3:ListBucket", "kms:Decrypt",
                                  "kms:DescribeKey"}  # fmt: skip
    s3_rw = {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "kms:Decrypt", "kms:GenerateDataKey"}
    for runtime in (permissions.TRAINING_REDUCE, permissions.TRAINING_MAP, permissions.TRAINING_SHARD):
        assert role_actions(synth_aws.template, FUNCTION_PREFIX[runtime]) - common == s3_rw, runtime


# --- both checks catch a drift --------------------------------------------------------------------------------------
def test_a_new_call_in_the_code_fails_the_check():
    module = f"{STORE}.sessions"
    source = store_modules()[module].read_text() + "\n\ndef peek(client):\n    return client.get_item(Key={})\n"
    problems = code_vs_declaration(module, source)
    assert problems and "GetItem" in problems[0]


def test_a_new_grant_fails_the_check(synth_aws):
    prefix = FUNCTION_PREFIX[permissions.CONSUMER]
    granted, environment = role_actions(synth_aws.template, prefix), function_environment(synth_aws.template, prefix)
    assert grants_vs_plan(granted | {"dynamodb:GetItem"}, permissions.CONSUMER, environment) == [
        "consumer role grants dynamodb:GetItem: neither called by its code nor needed by AWS"
    ]
    assert grants_vs_plan(granted - {"sqs:SendMessage"}, permissions.CONSUMER, environment)


def test_the_synth_refuses_an_undeclared_grant():
    """FunctionRole.allow rejects an action that neither the code nor infra/access.py accounts for."""
    from aws_cdk import App, RemovalPolicy, Stack

    from infra.components.function_role import FunctionRole

    role = FunctionRole(
        Stack(App(), "Probe"),
        "Access",
        function=permissions.CONSUMER,
        environment={},
        description="probe",
        log_retention_name="ONE_DAY",
        removal_policy=RemovalPolicy.DESTROY,
    )
    with pytest.raises(ValueError, match="dynamodb:GetItem"):
        role.allow(["dynamodb:GetItem"], ["arn:aws:dynamodb:us-east-1:123456789012:table/t"])
