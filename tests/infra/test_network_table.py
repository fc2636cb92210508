"""The network state table in the template (issue 12): its key, billing, recovery and encryption, its output, and
the local flavour deploying it into moto where ``clickguard.store.network`` reads and writes it."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from clickguard import settings
from clickguard.network.state import FriendsItem, Purchase, PurchasesItem
from clickguard.store.network import DynamoNetworkStore
from infra import config as cfg
from infra.local_deploy import deploy_assembly

KEY_SCHEMA = [
    {"AttributeName": settings.NETWORK_TABLE_KEY, "KeyType": "HASH"},
    {"AttributeName": settings.NETWORK_TABLE_SORT_KEY, "KeyType": "RANGE"},
]


def network_table(synth) -> tuple[str, dict]:
    (found,) = [
        (name, r["Properties"])
        for name, r in synth.resources("AWS::DynamoDB::Table").items()
        if r["Properties"]["KeySchema"] == KEY_SCHEMA
    ]
    return found


def test_the_network_table_is_keyed_by_user_and_part_on_demand_recoverable_and_encrypted_with_the_stack_key(
    synth_aws,
):
    _, props = network_table(synth_aws)
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    sse = props["SSESpecification"]
    assert (sse["SSEEnabled"], sse["SSEType"]) == (True, "KMS")
    (key,) = synth_aws.resources("AWS::KMS::Key")
    assert sse["KMSMasterKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
    assert "TimeToLiveSpecification" not in props  # a friendship or a purchase never expires out of a baseline


def test_the_stack_publishes_the_network_table_name(synth_aws):
    name, _ = network_table(synth_aws)
    assert synth_aws.template["Outputs"][cfg.OUTPUT_NETWORK_TABLE_NAME]["Value"] == {"Ref": name}


@pytest.fixture(scope="module")
def deployed(synth_local):
    with mock_aws():
        yield deploy_assembly(synth_local.outdir, synth_local.stack_name, session=boto3.Session())


def test_the_local_stacks_network_table_holds_what_the_store_writes(deployed):
    client = boto3.client("dynamodb", region_name="us-east-1")
    store = DynamoNetworkStore(client, deployed[cfg.OUTPUT_NETWORK_TABLE_NAME])
    friends = FriendsItem("1", frozenset({"2", "3"}), {"shardId-000000000000": 7})
    purchases = PurchasesItem("1", (Purchase(1_497_353_581_000, 7, 0, "shardId-000000000000", 1683),), {})
    assert store.put([friends], [purchases]) == set()
    assert store.get_friends(["1"]) == ({"1": friends}, set())
    assert store.get_purchases(["1", "2"]) == ({"1": purchases}, set())
