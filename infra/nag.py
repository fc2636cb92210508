"""cdk-nag acknowledgements (cdk-nag 3 uses CDK's native ``Validations.of(...).acknowledge``).

Every acknowledgement names one rule finding and says why it does not apply; tests list them all.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


def logical_id(construct: IConstruct) -> str:
    """Logical id of an L2's resource, as cdk-nag spells it in finding ids (``<LogicalId.Arn>``)."""
    resource = construct.node.default_child
    if not isinstance(resource, CfnElement):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource of its own: {resource!r}")
    return Stack.of(construct).get_logical_id(resource)


def acknowledge_prefix_scoped(policy: IConstruct, bucket: IConstruct, prefix: str, reason: str) -> None:
    """IAM5 flags ``<bucket>/prefix/*``; a prefix-scoped object ARN is the narrowest S3 allows for new keys."""
    acknowledge(policy, f"AwsSolutions-IAM5[Resource::<{logical_id(bucket)}.Arn>/{prefix}*]", reason)
