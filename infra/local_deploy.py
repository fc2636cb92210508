"""Deploy a synthesized cloud assembly into an emulator's CloudFormation (moto), as ``cdk deploy`` would.

The CDK CLI publishes file assets (Lambda code, the layer) to the bootstrap bucket and then creates the stack;
this does the same against any boto3 endpoint, so moto's CloudFormation can create the functions from the real
assets. Use the ``local`` flavour (context ``local=true``), which leaves out what moto cannot create
(``infra.config.MOTO_UNSUPPORTED``).

    outputs = deploy_assembly("cdk.out", "clickguard-dev", session=boto3.Session(), endpoint_url=url)
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from pathlib import Path
from typing import Any

BOOTSTRAP_VERSION = "30"  # what a current `cdk bootstrap` writes; the template's rule requires >= 6


class DeployError(RuntimeError):
    """The emulator's CloudFormation did not reach CREATE_COMPLETE; the message lists the failed resources."""


def _zip_directory(path: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = Path(root) / name
                archive.write(full, full.relative_to(path).as_posix())
    return buffer.getvalue()


def _substitute(text: str, account: str, region: str) -> str:
    return (
        text.replace("${AWS::AccountId}", account).replace("${AWS::Region}", region).replace("${AWS::Partition}", "aws")
    )


def publish_assets(assembly_dir: Path, stack_name: str, s3: Any, account: str, region: str) -> int:
    """Upload the stack's file assets where its template expects them; returns how many were uploaded."""
    manifest = json.loads((assembly_dir / f"{stack_name}.assets.json").read_text())
    created: set[str] = set()
    count = 0
    for asset in manifest.get("files", {}).values():
        source = assembly_dir / asset["source"]["path"]
        body = _zip_directory(source) if asset["source"].get("packaging") == "zip" else source.read_bytes()
        for destination in asset["destinations"].values():
            bucket = _substitute(destination["bucketName"], account, region)
            if bucket not in created:
                try:
                    if region == "us-east-1":
                        s3.create_bucket(Bucket=bucket)
                    else:
                        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
                except s3.exceptions.BucketAlreadyOwnedByYou:
                    pass
                created.add(bucket)
            s3.put_object(Bucket=bucket, Key=_substitute(destination["objectKey"], account, region), Body=body)
            count += 1
    return count


def deploy_assembly(
    assembly_dir: str | os.PathLike[str],
    stack_name: str,
    *,
    session: Any,
    endpoint_url: str | None = None,
    timeout_seconds: float = 120.0,
) -> dict[str, str]:
    """Publish assets, create the stack, wait for it; return its outputs (``infra.config.OUTPUT_*`` keys)."""
    assembly = Path(assembly_dir)
    region = session.region_name or "us-east-1"
    clients = {
        name: session.client(name, region_name=region, endpoint_url=endpoint_url)
        for name in ("s3", "ssm", "cloudformation", "sts")
    }
    account = clients["sts"].get_caller_identity()["Account"]
    template_path = assembly / f"{stack_name}.template.json"
    template = json.loads(template_path.read_text())
    # The default synthesizer reads the bootstrap version from SSM; an emulator has no bootstrap stack.
    for parameter in template.get("Parameters", {}).values():
        if parameter.get("Type", "").startswith("AWS::SSM::Parameter::") and parameter.get("Default"):
            clients["ssm"].put_parameter(
                Name=parameter["Default"], Value=BOOTSTRAP_VERSION, Type="String", Overwrite=True
            )
    publish_assets(assembly, stack_name, clients["s3"], account, region)

    cloudformation = clients["cloudformation"]
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=template_path.read_text(),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    deadline = time.monotonic() + timeout_seconds
    while True:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        if not status.endswith("IN_PROGRESS") or time.monotonic() > deadline:
            events = cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
            failed = [
                f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
                for e in events
                if e.get("ResourceStatus", "").endswith("FAILED")
            ]
            raise DeployError(f"stack {stack_name} ended {status}: {failed}")
        time.sleep(0.2)
