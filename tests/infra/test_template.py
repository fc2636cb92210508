"""The synthesized template has the properties that matter (not only resource counts)."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from clickguard import settings
from infra import config as cfg


def test_stream_is_on_demand_encrypted_with_configured_retention(template):
    template.has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "StreamModeDetails": {"StreamMode": "ON_DEMAND"},
            "RetentionPeriodHours": 24,
            "StreamEncryption": {"EncryptionType": "KMS", "KeyId": Match.any_value()},
        },
    )


def test_event_source_mapping_settings(template, synth_aws):
    c = synth_aws.config
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": c.batch_size,
            "MaximumBatchingWindowInSeconds": c.batching_window_seconds,
            "ParallelizationFactor": c.parallelization_factor,
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": c.retry_attempts,
            "MaximumRecordAgeInSeconds": c.max_record_age_seconds,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "StartingPosition": "TRIM_HORIZON",
            "Enabled": True,
            "DestinationConfig": {
                "OnFailure": {"Destination": {"Fn::GetAtt": [Match.string_like_regexp("ConsumerFailureQueue"), "Arn"]}}
            },
        },
    )


def test_local_flavour_disables_moto_push_but_keeps_the_settings(synth_local, synth_aws):
    for prefix in ("Consumer", "Decisions"):
        _local_mapping_keeps_the_settings(synth_local, synth_aws, prefix)


def _local_mapping_keeps_the_settings(synth_local, synth_aws, prefix):
    (local,) = [m for n, m in synth_local.resources("AWS::Lambda::EventSourceMapping").items() if n.startswith(prefix)]
    (aws,) = [m for n, m in synth_aws.resources("AWS::Lambda::EventSourceMapping").items() if n.startswith(prefix)]
    assert local["Properties"]["Enabled"] is False
    strip = {"Enabled", "FunctionName", "EventSourceArn", "DestinationConfig"}
    assert {k: v for k, v in local["Properties"].items() if k not in strip} == {
        k: v for k, v in aws["Properties"].items() if k not in strip
    }


def test_consumer_function(template, synth_aws):
    c = synth_aws.config
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": settings.CONSUMER_HANDLER,
            "Runtime": "python3.12",
            "Architectures": ["arm64"],
            "MemorySize": c.consumer_memory_mb,
            "Timeout": c.consumer_timeout_seconds,
            "TracingConfig": {"Mode": "Active"},
            "Layers": [Match.any_value()],
            "Environment": {
                "Variables": Match.object_like(
                    {
                        settings.ENV_TABLE_NAME: Match.any_value(),
                        settings.ENV_FLAG_QUEUE_URL: Match.any_value(),
                        settings.ENV_DATA_BUCKET: Match.any_value(),
                        settings.ENV_MODEL_BUCKET: Match.any_value(),
                        settings.ENV_REJECTED_PREFIX: settings.REJECTED_PREFIX,
                        settings.ENV_REJECTED_PAYLOAD_PREFIX: settings.REJECTED_PAYLOAD_PREFIX,
                        settings.ENV_KEEP_REJECTED_PAYLOADS: c.keep_rejected_payloads,
                        settings.ENV_STATE_WRITES: c.state_writes,
                        settings.ENV_FLAG_COOLDOWN_SECONDS: str(c.flag_cooldown_seconds),
                        settings.ENV_STATE_TTL_DAYS: str(c.state_ttl_days),
                        settings.ENV_MODEL_REFRESH_SECONDS: str(c.model_refresh_seconds),
                        settings.ENV_MIN_EVENTS: str(settings.DEFAULT_MIN_EVENTS),
                        settings.ENV_SESSION_GAP_SECONDS: str(settings.DEFAULT_SESSION_GAP_SECONDS),
                        settings.ENV_USER_KEY_SOURCE: c.user_key_source,
                    }
                )
            },
        },
    )


def test_trainer_function_and_schedule(template, synth_aws):
    c = synth_aws.config
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": settings.TRAINER_HANDLER,
            "Timeout": c.trainer_timeout_seconds,
            "MemorySize": c.trainer_memory_mb,
            "Environment": {
                "Variables": Match.object_like(
                    {
                        settings.ENV_DATA_BUCKET: Match.any_value(),
                        settings.ENV_MODEL_BUCKET: Match.any_value(),
                        settings.ENV_ARCHIVE_PREFIX: settings.ARCHIVE_PREFIX,
                        settings.ENV_MEAN_BITS_QUANTILE: str(settings.DEFAULT_MEAN_BITS_QUANTILE),
                        settings.ENV_TOTAL_BITS_QUANTILE: str(settings.DEFAULT_TOTAL_BITS_QUANTILE),
                        settings.ENV_WINDOW_DAYS: str(settings.DEFAULT_WINDOW_DAYS),
                    }
                )
            },
        },
    )
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(1 day)",
            "State": "ENABLED",
            "Targets": [
                Match.object_like(
                    {
                        "RetryPolicy": {
                            "MaximumRetryAttempts": c.trainer_retry_attempts,
                            "MaximumEventAgeInSeconds": Match.any_value(),
                        },
                        "DeadLetterConfig": {
                            "Arn": {"Fn::GetAtt": [Match.string_like_regexp("TrainerDeadLetterQueue"), "Arn"]}
                        },
                    }
                )
            ],
        },
    )


def test_table_on_demand_ttl_pitr_encrypted(template):
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": settings.SESSION_TABLE_KEY, "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"AttributeName": settings.SESSION_TABLE_TTL_ATTRIBUTE, "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": Match.any_value()},
        },
    )


def test_every_queue_encrypted_retained_14_days_tls_only(synth_aws):
    queues = synth_aws.resources("AWS::SQS::Queue")
    assert len(queues) == 6
    for queue in queues.values():
        assert "KmsMasterKeyId" in queue["Properties"]
        assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 86400
    tls_denied = [
        s
        for p in synth_aws.resources("AWS::SQS::QueuePolicy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(tls_denied) == 6


def test_flag_queue_and_its_dlq_are_high_throughput_fifo_deduplicated_by_flag_id(synth_aws):
    queues = synth_aws.resources("AWS::SQS::Queue")
    (flags,) = [q["Properties"] for name, q in queues.items() if name.startswith("QueuesFlagQueue")]
    (dlq,) = [q["Properties"] for name, q in queues.items() if name.startswith("QueuesFlagDeadLetterQueue")]
    fifo = {
        "FifoQueue": True,
        "ContentBasedDeduplication": False,  # the consumer sends flag_id as MessageDeduplicationId
        "DeduplicationScope": "messageGroup",
        "FifoThroughputLimit": "perMessageGroupId",
    }
    for props in (flags, dlq):
        assert {k: props.get(k) for k in fifo} == fifo
        assert props["QueueName"].startswith(synth_aws.stack_name) and props["QueueName"].endswith(".fifo")
    assert flags["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0].startswith("QueuesFlagDeadLetterQueue")
    # EventBridge takes no FIFO dead-letter queue; the failure queue carries batch metadata, not flags.
    others = [q["Properties"] for name, q in queues.items() if name.startswith("Queues") and "Flag" not in name]
    assert len(others) == 2 and not any(o.get("FifoQueue") for o in others)


def test_flag_queue_visibility_and_redrive(template, synth_aws):
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "VisibilityTimeout": synth_aws.config.flag_visibility_timeout_seconds,
            "RedrivePolicy": {
                "maxReceiveCount": synth_aws.config.flag_max_receives,
                "deadLetterTargetArn": Match.any_value(),
            },
        },
    )


def test_every_bucket_encrypted_private_tls_only(synth_aws):
    buckets = synth_aws.resources("AWS::S3::Bucket")
    assert len(buckets) == 3
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
    kms_buckets = [
        b
        for b in buckets.values()
        if b["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
            "SSEAlgorithm"
        ]
        == "aws:kms"
    ]
    assert len(kms_buckets) == 2  # data and models; the access-log bucket cannot use KMS
    for bucket in kms_buckets:
        assert "LoggingConfiguration" in bucket["Properties"]
    policies = synth_aws.resources("AWS::S3::BucketPolicy")
    assert len(policies) == 3
    for policy in policies.values():
        assert any(
            s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
        )


def test_models_versioned_raw_events_expire(template, synth_aws):
    template.has_resource_properties("AWS::S3::Bucket", {"VersioningConfiguration": {"Status": "Enabled"}})
    days = synth_aws.config.archive_expiry_days
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like(
                            {"Prefix": settings.ARCHIVE_PREFIX, "ExpirationInDays": days, "Status": "Enabled"}
                        ),
                        Match.object_like({"Prefix": settings.REJECTED_PREFIX, "ExpirationInDays": days}),
                        Match.object_like(
                            {
                                "Prefix": settings.REJECTED_PAYLOAD_PREFIX,
                                "ExpirationInDays": synth_aws.config.rejected_payload_expiry_days,
                            }
                        ),
                    ]
                )
            }
        },
    )


def test_archive_firehose_gzip_hourly_layout_through_the_canonical_transformation(template, synth_aws):
    template.has_resource_properties(
        "AWS::KinesisFirehose::DeliveryStream",
        {
            "DeliveryStreamType": "KinesisStreamAsSource",
            "ExtendedS3DestinationConfiguration": Match.object_like(
                {
                    "CompressionFormat": "GZIP",
                    # the hour folder, then each object's oldest record's arrival to the millisecond
                    "Prefix": "events/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/!{timestamp:HH}/"
                    "!{timestamp:mmssSSS}-",
                    "EncryptionConfiguration": {"KMSEncryptionConfig": {"AWSKMSKeyARN": Match.any_value()}},
                    "ProcessingConfiguration": {
                        "Enabled": True,
                        "Processors": [Match.object_like({"Type": "Lambda"})],
                    },
                }
            ),
        },
    )
    # The transformation runs the consumer's decoder with the consumer's decoding settings (issue 11).
    (transform,) = [f for n, f in synth_aws.resources("AWS::Lambda::Function").items() if n.startswith("ArchiveTransf")]
    env = transform["Properties"]["Environment"]["Variables"]
    consumer = next(f for n, f in synth_aws.resources("AWS::Lambda::Function").items() if n.startswith("ConsumerFunc"))
    for name in (settings.ENV_INPUT_FORMATS, settings.ENV_MAX_DECOMPRESSED_BYTES, settings.ENV_USER_KEY_SOURCE):
        assert env[name] == consumer["Properties"]["Environment"]["Variables"][name]


def test_key_rotation(template):
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_alarms(synth_aws):
    alarms = synth_aws.resources("AWS::CloudWatch::Alarm")
    names = {logical for logical in alarms}
    for expected in (
        "ConsumerIteratorAge",
        "ConsumerErrorRate",
        "FlagDeadLetterQueueNotEmpty",
        "ConsumerFailureQueueNotEmpty",
        "TrainerDeadLetterQueueNotEmpty",
        "TrainerFailed",
        "ModelStale",
        "RecordsInternalError",
        "RecordsUnscored",
        "DecisionDeadLetterQueueNotEmpty",
        "DecisionsRejected",
        "DecisionsFunctionErrors",
        "ArchiveRecordsFailed",
        "ArchiveTransformErrors",
        "ArchiveDeliveryFailing",
    ):
        assert any(expected in name for name in names), expected
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"], "every alarm notifies the topic"
    (iterator_age,) = [a for n, a in alarms.items() if "IteratorAge" in n]
    assert iterator_age["Properties"]["Threshold"] == synth_aws.config.iterator_age_alarm_seconds * 1000
    (stale,) = [a for n, a in alarms.items() if "ModelStale" in n]
    props = stale["Properties"]  # fewer than one publication in each of two schedule periods, silence breaches
    (query,) = props["Metrics"]  # CDK renders a day-long period as a metric data query
    stat = query["MetricStat"]
    assert stat["Metric"]["MetricName"] == settings.METRIC_MODEL_PUBLISHED and stat["Stat"] == "Sum"
    assert (props["Threshold"], props["EvaluationPeriods"], stat["Period"]) == (1, 2, 24 * 3600)
    assert props["ComparisonOperator"] == "LessThanThreshold" and props["TreatMissingData"] == "breaching"


def _consumer_metric_alarm(alarms, name):
    (alarm,) = [a["Properties"] for n, a in alarms.items() if n.startswith(f"Monitoring{name}")]
    (query,) = alarm["Metrics"]  # a labelled metric renders as a metric data query
    metric, stat = query["MetricStat"]["Metric"], query["MetricStat"]
    assert (metric["MetricName"], metric["Namespace"]) == (name, settings.METRICS_NAMESPACE)
    assert metric["Dimensions"] == [{"Name": "service", "Value": "clickguard-consumer-dev"}]
    assert (stat["Stat"], stat["Period"], alarm["ComparisonOperator"]) == ("Sum", 300, "GreaterThanThreshold")
    return alarm


def test_a_record_the_consumer_failed_on_alarms_at_once(synth_aws):
    alarm = _consumer_metric_alarm(
        synth_aws.resources("AWS::CloudWatch::Alarm"), settings.METRIC_RECORDS_INTERNAL_ERROR
    )
    assert (alarm["Threshold"], alarm["EvaluationPeriods"]) == (0, 1)
    assert "rejected/" in alarm["AlarmDescription"]


def test_the_archive_the_trainer_reads_alarms_when_it_loses_records(synth_aws):
    """Records the transformation hands back, its errors and Firehose's failed deliveries all land outside
    events/: without an alarm they showed only as a model two days stale (a deploy review's finding)."""
    alarms = synth_aws.resources("AWS::CloudWatch::Alarm")
    (failed,) = [a["Properties"] for n, a in alarms.items() if "ArchiveRecordsFailed" in n]
    metric = failed["Metrics"][0]["MetricStat"]["Metric"]
    assert metric["MetricName"] == settings.METRIC_ARCHIVE_RECORDS_FAILED and failed["Threshold"] == 0
    assert metric["Dimensions"] == [{"Name": "service", "Value": synth_aws.config.archive_transform_service}]
    (delivery,) = [a["Properties"] for n, a in alarms.items() if "ArchiveDeliveryFailing" in n]
    assert (delivery["Namespace"], delivery["MetricName"]) == ("AWS/Firehose", "DeliveryToS3.Success")
    (stream_id,) = synth_aws.resources("AWS::KinesisFirehose::DeliveryStream")
    assert delivery["Dimensions"][0]["Value"] == {"Ref": stream_id}


def test_a_consumer_without_a_model_alarms_after_three_periods(synth_aws):
    alarm = _consumer_metric_alarm(synth_aws.resources("AWS::CloudWatch::Alarm"), settings.METRIC_RECORDS_UNSCORED)
    assert (alarm["Threshold"], alarm["EvaluationPeriods"]) == (0, 3)


def test_alarm_topic_encrypted_with_optional_email(template, synth_local):
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"})
    assert not synth_local.resources("AWS::SNS::Subscription")


def test_dashboard_covers_the_pipeline(synth_aws):
    (dashboard,) = synth_aws.resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in (
        "RecordsIn",
        "RecordsRejected",
        "FlagsSent",
        "IteratorAge",
        "Errors",
        "Throttles",
        "ModelPublished",
        "ModelSkipped",
        settings.METRIC_MODEL_AGE,
        settings.METRIC_RECORDS_UNSCORED,
        settings.METRIC_BATCH_DURATION,
        settings.METRIC_RECORDS_CLAMPED,
        settings.METRIC_RECORDS_INTERNAL_ERROR,
        "Duration",
        settings.METRIC_DECISIONS_RECORDED,
        settings.METRIC_DECISIONS_REJECTED,
    ):
        assert metric in body, metric
    assert "reason,service" in body  # rejected records graphed per reason


def test_outputs_have_stable_keys(template):
    outputs = template.to_json()["Outputs"]
    assert set(cfg.OUTPUT_KEYS) <= set(outputs)


def test_each_function_has_its_own_role(synth_aws):
    roles = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in synth_aws.resources("AWS::Lambda::Function").values()]
    # consumer, trainer, decisions, archive transformation, score API; the training run's reduce, map and shard
    assert len(set(roles)) == len(roles) == 8
    for role in synth_aws.resources("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]


def test_metrics_are_per_stage(synth_aws):
    """Two stages in one account must not share custom metrics, dashboards or alarms."""
    config = synth_aws.config
    services = {
        f["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        for f in synth_aws.resources("AWS::Lambda::Function").values()
    }
    assert services == {
        config.consumer_service,
        config.trainer_service,
        config.decisions_service,
        config.archive_transform_service,
        config.score_api_service,
        f"{settings.TRAINING_MAP_SERVICE}-{config.stage}",  # the training run's reduce reports as the trainer
        f"{settings.TRAINING_SHARD_SERVICE}-{config.stage}",
    }
    assert all(s.endswith(f"-{config.stage}") for s in services)
    (dashboard,) = synth_aws.resources("AWS::CloudWatch::Dashboard").values()
    assert config.consumer_service in json.dumps(dashboard["Properties"]["DashboardBody"])


def test_a_template_for_the_emulator_says_on_every_synth_it_is_not_for_aws(synth_local, synth_aws):
    """``local`` and ``stub_layer`` also come from environment variables: a CI variable leaking into a deploy job would
    otherwise synthesize a stack without its archive, alarms and function URL without a word."""

    def warnings_of(synth) -> str:
        metadata = json.loads((synth.outdir / f"{synth.stack_name}.metadata.json").read_text())
        entries = [e for per_path in metadata.values() for e in per_path]
        return " ".join(str(e.get("data")) for e in entries if e.get("type") == "aws:cdk:warning")

    assert "this template is for the embedded emulator and tests, not AWS" in warnings_of(synth_local)
    assert "not AWS" not in warnings_of(synth_aws)


def test_producers_and_reviewers_get_a_policy_with_the_key_s_actions_they_need(synth_aws, synth_local):
    """Every resource is encrypted with the stack's key: a producer's role allowed PutRecords, or a reviewer's
    allowed ReceiveMessage, is still refused without kms:GenerateDataKey / kms:Decrypt (a deploy review's finding)."""
    policies = synth_aws.resources("AWS::IAM::ManagedPolicy")
    by_name = {n: p["Properties"]["PolicyDocument"]["Statement"] for n, p in policies.items() if "Clients" in n}
    (producer,) = [s for n, s in by_name.items() if "Producer" in n]
    (reviewer,) = [s for n, s in by_name.items() if "Reviewer" in n]

    def actions(statements):
        return {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}

    assert actions(producer) == {"kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStreamSummary",
                                 "kinesis:ListShards", "kms:GenerateDataKey"}  # fmt: skip
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:SendMessage", "kms:Decrypt", "kms:GenerateDataKey"} <= (
        actions(reviewer)
    )
    outputs = synth_aws.template["Outputs"]
    assert {"ProducerPolicyArn", "ReviewerPolicyArn"} <= set(outputs)
    assert "ProducerPolicyArn" not in synth_local.template.get("Outputs", {})
