"""cfn-lint finds no errors in the synthesized templates (both flavours)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("flavour", ["synth_aws", "synth_local"])
def test_cfn_lint_has_no_errors(flavour, request):
    from cfnlint.api import ManualArgs, lint_file

    synth = request.getfixturevalue(flavour)
    matches = lint_file(
        synth.outdir / f"{synth.stack_name}.template.json", config=ManualArgs(regions=["us-east-1", "eu-west-1"])
    )
    errors = [m for m in matches if m.rule.id.startswith("E")]
    assert not errors, "\n".join(str(m) for m in errors)
    # W3005: CDK's Function adds DependsOn on its role although Role is already a GetAtt: harmless, not ours.
    warnings = [str(m) for m in matches if m.rule.id.startswith("W") and m.rule.id != "W3005"]
    assert not warnings, "\n".join(warnings)
