"""The social network's state (issue 12, ``clickguard.store.network``): per user a friends item and a last-T
purchases item, under ``user_key`` + ``part``. ``aws_dynamodb.Table`` (moto cannot create TableV2).

No TTL: a friendship or a purchase stays part of the baseline however old it is (the rule's last T are by order,
not age). Each item is bounded (``settings.NETWORK_PARAM_RANGES``), so the table grows with the users, not the
events.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from clickguard import settings


class NetworkTable(Construct):
    def __init__(self, scope: Construct, id: str, *, key: kms.IKey, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=settings.NETWORK_TABLE_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=settings.NETWORK_TABLE_SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,  # traffic follows the stream, which is bursty
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            removal_policy=removal_policy,
        )
