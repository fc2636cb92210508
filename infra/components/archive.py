"""Archive: Firehose reads the stream and writes GZIP NDJSON to ``events/YYYY/MM/DD/HH/`` in the data bucket.

Every record goes through a data-transformation Lambda (``lambdas/archive_transform``) that decodes it with the
consumer's own decoder and settings and returns canonical, personal-data-free NDJSON: the trainer reads the events
the consumer scored, whatever the producers sent (KPL aggregates are de-aggregated by Firehose before the Lambda).

L1 on purpose: the L2 DeliveryStream grants S3 and KMS access with wildcard actions (``s3:GetObject*``,
``kms:GenerateDataKey*``); this role lists exactly what Firehose needs, scoped to the two prefixes it writes.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from clickguard import settings
from clickguard.store.permissions import ARCHIVE_TRANSFORM
from infra.components.function_role import FunctionRole
from infra.components.python_function import python_function
from infra.config import ARCHIVE_ERROR_PREFIX, StackConfig
from infra.nag import acknowledge, acknowledge_prefix_scoped

HOUR_PATH = "!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/!{timestamp:HH}/"
# Each object's name starts with its oldest record's arrival to the millisecond (Firehose evaluates every timestamp
# of a prefix at that instant): the trainer reads a folder in key order, and Firehose's own name only has seconds,
# after which a random uuid would order objects written within one second.
ARRIVAL_MS = settings.ARCHIVE_ARRIVAL_PATTERN
# Firehose hands the Lambda at most this much per call: the canonical lines it returns (at most about the inflated
# input) stay within a synchronous response's 6 MB.
TRANSFORM_BUFFER_MB = "1"
TRANSFORM_BUFFER_SECONDS = "60"
STREAM_READ_ACTIONS = [
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetShardIterator",
    "kinesis:GetRecords",
    "kinesis:ListShards",
]


class Archive(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StackConfig,
        stream: kinesis.IStream,
        bucket: s3.IBucket,
        key: kms.IKey,
        layer: lambda_.ILayerVersion,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self.transform = self._build_transform(config, layer, key, removal_policy)
        log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays[config.log_retention_name], removal_policy=removal_policy
        )
        log_stream = logs.LogStream(self, "DeliveryErrors", log_group=log_group, removal_policy=removal_policy)
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com", conditions={"StringEquals": {"sts:ExternalId": Stack.of(self).account}}
            ),
        )
        policy = self._build_policy(role, stream, bucket, key, log_group, log_stream)
        policy.add_statements(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"],
                resources=[self.transform.function_arn],
            )
        )
        self.delivery_stream = self._build_delivery_stream(config, role, stream, bucket, key, log_group, log_stream)
        self.delivery_stream.node.add_dependency(policy)
        acknowledge(
            self.delivery_stream,
            "AwsSolutions-KDF1",
            "Firehose cannot enable its own server-side encryption with a Kinesis stream source; the source "
            "stream is KMS-encrypted and Firehose writes the objects with the stack's KMS key.",
        )

    def _build_transform(
        self, config: StackConfig, layer: lambda_.ILayerVersion, key: kms.IKey, removal_policy: RemovalPolicy
    ) -> lambda_.Function:
        """The data-transformation Lambda: no AWS calls of its own, the consumer's decoder settings."""
        scope = Construct(self, "Transform")
        environment = config.decoding_environment()
        access = FunctionRole(
            scope,
            "Access",
            function=ARCHIVE_TRANSFORM,
            environment=environment,
            description="clickguard archive transformation",
            log_retention_name=config.log_retention_name,
            removal_policy=removal_policy,
        )
        access.seal(key)
        return python_function(
            scope,
            access=access,
            asset=settings.ARCHIVE_TRANSFORM_ASSET_DIR,
            handler=settings.ARCHIVE_TRANSFORM_HANDLER,
            layer=layer,
            description="clickguard: archive records as canonical, personal-data-free NDJSON (the consumer's decoder)",
            memory_mb=1024,
            timeout_seconds=120,
            environment=environment,
            service=config.archive_transform_service,
        )

    def _build_policy(
        self,
        role: iam.IRole,
        stream: kinesis.IStream,
        bucket: s3.IBucket,
        key: kms.IKey,
        log_group: logs.ILogGroup,
        log_stream: logs.ILogStream,
    ) -> iam.Policy:
        error_stream_arn = Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"{log_group.log_group_name}:log-stream:{log_stream.log_stream_name}",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        policy = iam.Policy(
            self,
            "Policy",
            roles=[role],
            statements=[
                iam.PolicyStatement(actions=STREAM_READ_ACTIONS, resources=[stream.stream_arn]),
                iam.PolicyStatement(
                    actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                    resources=[bucket.bucket_arn],
                ),
                iam.PolicyStatement(
                    actions=["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                    resources=[
                        bucket.arn_for_objects(f"{settings.ARCHIVE_PREFIX}*"),
                        bucket.arn_for_objects(f"{ARCHIVE_ERROR_PREFIX}*"),
                    ],
                ),
                iam.PolicyStatement(actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[key.key_arn]),
                iam.PolicyStatement(actions=["logs:PutLogEvents"], resources=[error_stream_arn]),
            ],
        )
        for prefix, why in ((settings.ARCHIVE_PREFIX, "the archive"), (ARCHIVE_ERROR_PREFIX, "undeliverable records")):
            acknowledge_prefix_scoped(
                policy, bucket, prefix, f"Prefix-scoped: Firehose writes {why} under new, time-stamped keys."
            )
        return policy

    def _build_delivery_stream(
        self,
        config: StackConfig,
        role: iam.IRole,
        stream: kinesis.IStream,
        bucket: s3.IBucket,
        key: kms.IKey,
        log_group: logs.ILogGroup,
        log_stream: logs.ILogStream,
    ) -> firehose.CfnDeliveryStream:
        cfn = firehose.CfnDeliveryStream
        destination = cfn.ExtendedS3DestinationConfigurationProperty(
            bucket_arn=bucket.bucket_arn,
            role_arn=role.role_arn,
            # Explicit hour path (rather than Firehose's implicit one) so the layout is visible here.
            prefix=f"{settings.ARCHIVE_PREFIX}{HOUR_PATH}!{{timestamp:{ARRIVAL_MS}}}-",
            error_output_prefix=f"{ARCHIVE_ERROR_PREFIX}!{{firehose:error-output-type}}/{HOUR_PATH}",
            compression_format="GZIP",
            buffering_hints=cfn.BufferingHintsProperty(
                interval_in_seconds=config.archive_buffer_seconds, size_in_m_bs=64
            ),
            encryption_configuration=cfn.EncryptionConfigurationProperty(
                kms_encryption_config=cfn.KMSEncryptionConfigProperty(awskms_key_arn=key.key_arn)
            ),
            # Each record as the canonical NDJSON lines of its events (newline-terminated by the transformation).
            processing_configuration=cfn.ProcessingConfigurationProperty(
                enabled=True,
                processors=[
                    cfn.ProcessorProperty(
                        type="Lambda",
                        parameters=[
                            cfn.ProcessorParameterProperty(
                                parameter_name="LambdaArn", parameter_value=self.transform.function_arn
                            ),
                            cfn.ProcessorParameterProperty(
                                parameter_name="BufferSizeInMBs", parameter_value=TRANSFORM_BUFFER_MB
                            ),
                            cfn.ProcessorParameterProperty(
                                parameter_name="BufferIntervalInSeconds", parameter_value=TRANSFORM_BUFFER_SECONDS
                            ),
                        ],
                    )
                ],
            ),
            cloud_watch_logging_options=cfn.CloudWatchLoggingOptionsProperty(
                enabled=True, log_group_name=log_group.log_group_name, log_stream_name=log_stream.log_stream_name
            ),
        )
        return cfn(
            self,
            "DeliveryStream",
            delivery_stream_type="KinesisStreamAsSource",
            kinesis_stream_source_configuration=cfn.KinesisStreamSourceConfigurationProperty(
                kinesis_stream_arn=stream.stream_arn, role_arn=role.role_arn
            ),
            extended_s3_destination_configuration=destination,
        )
