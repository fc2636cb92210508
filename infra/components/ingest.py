"""Ingest: the KMS-encrypted Kinesis stream producers put events on (partition key = user key)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.config import StackConfig
from infra.nag import acknowledge


class IngestStream(Construct):
    def __init__(self, scope: Construct, id: str, *, config: StackConfig, key: kms.IKey) -> None:
        super().__init__(scope, id)
        provisioned = config.stream_mode == "provisioned"
        self.stream = kinesis.Stream(
            self,
            "Stream",
            stream_mode=kinesis.StreamMode.PROVISIONED if provisioned else kinesis.StreamMode.ON_DEMAND,
            shard_count=config.shard_count if provisioned else None,
            retention_period=Duration.hours(config.stream_retention_hours),
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=key,
        )
        acknowledge(
            self.stream,
            "AwsSolutions-KDS3",
            "A customer-managed key on purpose: its policy and grants name exactly who may decrypt events.",
        )
