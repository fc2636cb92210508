"""cdk-nag AwsSolutionsChecks runs in the app: no unacknowledged errors, every acknowledgement has a reason."""

from __future__ import annotations

import json
import re

import pytest

DOCUMENTED_RULES = {
    "AwsSolutions-S1",
    "AwsSolutions-SQS3",
    "AwsSolutions-IAM5",
    "AwsSolutions-L1",
    "AwsSolutions-KDF1",
    "AwsSolutions-KDS3",
}


def _acknowledgements(synth) -> dict[str, str]:
    metadata = json.loads((synth.outdir / f"{synth.stack_name}.metadata.json").read_text())
    acks = {}
    for path, entries in metadata.items():
        for entry in entries:
            if entry["type"] == "aws:cdk:acknowledged-rules":
                for rule, reason in entry["data"].items():
                    acks[f"{path} {rule}"] = reason
    return acks


@pytest.mark.parametrize("flavour", ["synth_aws", "synth_local"])
def test_no_unacknowledged_nag_errors(flavour, request):
    synth = request.getfixturevalue(flavour)  # the synth itself raises on an unacknowledged error
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    assert report["pluginReports"] == [], report


def test_every_acknowledgement_names_a_documented_rule_and_a_reason(synth_aws):
    acks = _acknowledgements(synth_aws)
    assert len(acks) >= 10
    for where, reason in acks.items():
        rule = re.search(r"AwsSolutions-[A-Z]+\d+", where)
        assert rule and rule.group(0) in DOCUMENTED_RULES, where
        assert len(reason.split()) >= 6, f"{where}: reason too thin: {reason!r}"
    # IAM5 is acknowledged per finding, never for a wildcard action.
    assert not [w for w in acks if "IAM5[Action::" in w]


def test_nag_is_wired_into_the_app(layer_dir, tmp_path):
    """An unencrypted queue without a DLQ added to the app must fail the synth."""
    from aws_cdk import aws_sqs as sqs

    from infra.app import build_app

    app, stack = build_app(context={"layer_dir": layer_dir, "local": True}, outdir=str(tmp_path))
    sqs.Queue(stack, "Careless", encryption=sqs.QueueEncryption.UNENCRYPTED)
    with pytest.raises(Exception, match=r"[Vv]alidation"):
        app.synth()
