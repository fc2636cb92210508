"""``clickguard train --stack`` starts the stack's training run, as the schedule does, and reports how it ended."""

from __future__ import annotations

import argparse
import json

import pytest

from clickguard.cli import train_cmd
from clickguard.cli.common import CliError


class FakeStepFunctions:
    def __init__(self, ending: dict) -> None:
        self.ending, self.started, self.polls = ending, [], 0

    def start_execution(self, stateMachineArn, input):
        self.started.append((stateMachineArn, json.loads(input)))
        return {"executionArn": "arn:aws:states:us-east-1:1:execution:training:run-1"}

    def describe_execution(self, executionArn):
        self.polls += 1
        return {"status": "RUNNING"} if self.polls < 3 else self.ending


@pytest.fixture
def fake(monkeypatch):
    def install(ending):
        client = FakeStepFunctions(ending)
        monkeypatch.setattr("boto3.client", lambda service, **kw: client)
        return client

    return install


ARGS = argparse.Namespace(region="us-east-1", endpoint_url=None)


def test_the_run_is_started_with_the_schedules_input_and_its_output_printed(fake, capsys):
    client = fake({"status": "SUCCEEDED", "output": '{"run": {"status": "published"}}'})
    assert train_cmd.run_training_state_machine(ARGS, "arn:machine", "2026-11-29T03:00:00Z", poll_seconds=0) == 0
    assert client.started == [("arn:machine", {"time": "2026-11-29T03:00:00Z"})] and client.polls == 3
    assert '"published"' in capsys.readouterr().out


def test_a_failed_run_fails_the_command_with_its_cause(fake):
    fake({"status": "FAILED", "error": "States.TaskFailed", "cause": "map batch failed 3 times"})
    with pytest.raises(CliError, match=r"ended FAILED: States\.TaskFailed map batch failed 3 times"):
        train_cmd.run_training_state_machine(ARGS, "arn:machine", "2026-11-29T03:00:00Z", poll_seconds=0)
