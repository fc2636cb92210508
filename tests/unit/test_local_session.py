"""The emulator's SDK session reads no AWS profile or config: a profile the config lacks failed every ``--local``
command with botocore's ProfileNotFound traceback, for a stack that needs no identity."""

from __future__ import annotations

import boto3
import botocore.exceptions
import pytest

from clickguard.cli.target import StackTarget
from clickguard.local import emulator


@pytest.fixture
def broken_aws_config(tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.write_text("[profile other]\nregion = eu-west-3\n[not an ini line\n")
    monkeypatch.setenv("AWS_PROFILE", "nope")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    with pytest.raises(botocore.exceptions.BotoCoreError):  # what the SDK does with it on its own
        boto3.client("sqs", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")


def test_the_emulator_s_clients_ignore_a_missing_profile_and_a_broken_config(broken_aws_config):
    client = emulator.session().client("sqs", endpoint_url="http://127.0.0.1:9")
    assert client.meta.region_name == emulator.REGION
    creds = emulator.session().get_credentials()
    assert (creds.access_key, creds.secret_key) == ("local", "local")


def test_a_local_target_s_clients_do_too(broken_aws_config):
    target = StackTarget(stream_name="s", region="us-east-1", endpoint_url="http://127.0.0.1:9", local=True)
    assert target.client("kinesis").meta.endpoint_url == "http://127.0.0.1:9"
