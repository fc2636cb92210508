"""Shared test set-up: never reach real AWS. Fake credentials and a fixed region for every test."""

from __future__ import annotations

import os

import pytest

# Set before any boto3 client is created, including at import time of handler modules.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_METRICS_NAMESPACE": "Clickguard",
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture
def aws():
    """An in-process moto backend for the duration of one test."""
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def s3(aws):
    import boto3

    return boto3.client("s3", region_name="us-east-1")


@pytest.fixture
def bucket(s3):
    s3.create_bucket(Bucket="clickguard-data")
    return "clickguard-data"
