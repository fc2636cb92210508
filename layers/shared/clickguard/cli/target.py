"""Where a command's AWS resources are: a deployed stack's outputs, or names given on the command line.

``--stack NAME`` reads the CloudFormation outputs of a deployed (or emulated) stack. ``--local`` will resolve to
the embedded emulator's endpoint and its stack; that wiring belongs to the local runtime and plugs in here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from clickguard.cli.common import fail

# Output keys of the CDK stack (infra/). One place, so a renamed output breaks here and nowhere else.
OUTPUT_STREAM_NAME = "StreamName"
OUTPUT_FLAG_QUEUE_URL = "FlagQueueUrl"
OUTPUT_DATA_BUCKET = "DataBucketName"
OUTPUT_MODEL_BUCKET = "ModelBucketName"
OUTPUT_TABLE_NAME = "TableName"
# Optional: a stack deployed before the review loop has no decisions queue; `clickguard review` says so.
OUTPUT_DECISION_QUEUE_URL = "DecisionQueueUrl"
REQUIRED_OUTPUTS = (
    OUTPUT_STREAM_NAME,
    OUTPUT_FLAG_QUEUE_URL,
    OUTPUT_DATA_BUCKET,
    OUTPUT_MODEL_BUCKET,
    OUTPUT_TABLE_NAME,
)


@dataclass(frozen=True)
class StackTarget:
    stream_name: str | None = None
    flag_queue_url: str | None = None
    data_bucket: str | None = None
    model_bucket: str | None = None
    table_name: str | None = None
    decision_queue_url: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    local: bool = False  # the embedded emulator: fake credentials, never a real identity

    def client(self, service: str) -> Any:
        import boto3

        if self.local:
            from clickguard.local import emulator

            return emulator.session().client(service, region_name=self.region, endpoint_url=self.endpoint_url)
        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint_url)


def outputs_of(cfn: Any, stack_name: str) -> dict[str, str]:
    """``OutputKey -> OutputValue`` of one stack, or a user error naming the stack if it does not exist."""
    from botocore.exceptions import ClientError

    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        fail(f"--stack {stack_name}: {exc.response.get('Error', {}).get('Message', exc)}")
    if not stacks:
        fail(f"--stack {stack_name}: no such stack")
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def from_stack(
    stack_name: str, region: str | None = None, endpoint_url: str | None = None, cfn: Any = None
) -> StackTarget:
    if cfn is None:
        import boto3

        cfn = boto3.client("cloudformation", region_name=region, endpoint_url=endpoint_url)
    outputs = outputs_of(cfn, stack_name)
    missing = [k for k in REQUIRED_OUTPUTS if k not in outputs]
    if missing:
        have = ", ".join(sorted(outputs)) or "none"
        fail(f"--stack {stack_name}: outputs {', '.join(missing)} missing (has: {have})")
    return StackTarget(
        stream_name=outputs[OUTPUT_STREAM_NAME],
        flag_queue_url=outputs[OUTPUT_FLAG_QUEUE_URL],
        data_bucket=outputs[OUTPUT_DATA_BUCKET],
        model_bucket=outputs[OUTPUT_MODEL_BUCKET],
        table_name=outputs[OUTPUT_TABLE_NAME],
        decision_queue_url=outputs.get(OUTPUT_DECISION_QUEUE_URL),
        region=region,
        endpoint_url=endpoint_url,
    )


def local_state(option: str = "--local", workdir: str | None = None) -> dict[str, Any]:
    """The state file of the stack ``clickguard local up`` runs from this directory (or was given ``workdir``); a CLI
    error naming ``option`` and the directory when there is none, or when its stack stopped without removing it."""
    from clickguard.local import state_file

    path = state_file.in_dir(workdir)
    try:
        state = state_file.read(path)
    except ValueError as exc:
        fail(f"{option}: {exc}")
    if state is None:
        start = f"'clickguard local up --workdir {workdir}'" if workdir else "'clickguard local up' in this directory"
        fail(f"{option}: no running local stack ({path.name} not found in {path.parent.absolute()}); start one with "
             f"{start}")  # fmt: skip
    if why_not := state_file.liveness(state):
        fail(
            f"{option}: the local stack of {path} is not running ({why_not}): it stopped without removing "
            "the file; start one with 'clickguard local up' (it replaces the file), or remove the file"
        )
    return state


def resolve_local(region: str | None) -> StackTarget:
    """``--local``: the running ``clickguard local up`` found through its state file, then its stack's outputs."""
    from clickguard.local import emulator

    state = local_state()
    endpoint, stack = state["endpoint_url"], state["stack"]
    region = region or state.get("region", "us-east-1")
    cfn = emulator.session().client("cloudformation", region_name=region, endpoint_url=endpoint)
    return replace(from_stack(stack, region, endpoint, cfn=cfn), local=True)


def refuse_local_endpoint(args: Any) -> None:
    """``--local`` names its endpoint (the running local stack's): another one beside it would be ignored."""
    if getattr(args, "local", False) and getattr(args, "endpoint_url", None):
        fail("give either --local (its endpoint is the running local stack's) or --endpoint-url, not both")


def add_target_arguments(p: Any, *, need: str) -> None:
    """``--stack/--local`` or an explicit resource (``need`` = the option name, e.g. ``--stream``)."""
    p.add_argument("--stack", help="read resource names from this CloudFormation stack's outputs")
    p.add_argument("--local", action="store_true", help="use the local emulated stack")
    p.add_argument("--endpoint-url", help="AWS endpoint (an emulator)")
    p.add_argument("--region", default=None)


def resolve(args: Any) -> StackTarget:
    """The target of a parsed command line; explicit names override the stack's outputs."""
    if args.stack and args.local:
        fail("give either --stack NAME or --local, not both")
    refuse_local_endpoint(args)
    if args.local:
        base = resolve_local(args.region)
    elif args.stack:
        base = from_stack(args.stack, args.region, args.endpoint_url)
    else:
        base = StackTarget(region=args.region, endpoint_url=args.endpoint_url)
    overrides = {
        "stream_name": getattr(args, "stream", None),
        "flag_queue_url": getattr(args, "queue_url", None),
        "decision_queue_url": getattr(args, "decision_queue_url", None),
        "model_bucket": getattr(args, "model_bucket", None),
    }
    return StackTarget(**{**base.__dict__, **{k: v for k, v in overrides.items() if v}})
