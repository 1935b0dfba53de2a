"""The examples stay consistent with the package: what they install, import and run (fast checks; the examples run
end to end in test_e2e_package.py)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "volume-snapshots"
WORKFLOW = ROOT / "examples" / "github-actions" / "snapshots.yml"


def workflow() -> dict[str, Any]:
    return dict(yaml.safe_load(WORKFLOW.read_text()))


def pulumi_step(job: dict[str, Any]) -> dict[str, Any]:
    [step] = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    return dict(step)


def test_example_requires_this_version_of_the_package_with_components() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    lines = [line for line in (EXAMPLE / "requirements.txt").read_text().splitlines() if line and line[0] != "#"]
    [requirement] = [Requirement(line) for line in lines]
    assert requirement.name == "pulumi-ebs-snapshots"
    assert requirement.extras == {"components"}
    assert requirement.specifier.contains(version)


def test_example_imports_only_the_installed_namespace() -> None:
    tree = ast.parse((EXAMPLE / "__main__.py").read_text())
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    modules |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert {m.split(".")[0] for m in modules if m} <= {"pulumi", "snapshot_provider"}
    assert "snapshot_provider.components.cleanup" in modules


def test_example_runs_in_its_own_virtualenv() -> None:
    project = yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}


def test_pull_request_job_previews_with_a_comment_and_no_aws_credentials() -> None:
    flow = workflow()
    triggers = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) == {"pull_request", "push"}
    job = flow["jobs"]["preview"]
    assert "pull_request" in job["if"]
    step = pulumi_step(job)
    assert step["with"]["command"] == "preview"
    assert step["with"]["comment-on-pr"] is True and step["with"]["diff"] is True
    assert "refresh" not in step["with"]  # a refresh reads every snapshot: that would need credentials
    assert job["permissions"]["pull-requests"] == "write"
    text = yaml.safe_dump(job)
    assert "aws-actions/configure-aws-credentials" not in text
    assert "AWS_" not in text and "id-token" not in text


def test_main_job_runs_up_with_aws_credentials_only_on_main() -> None:
    job = workflow()["jobs"]["up"]
    assert "refs/heads/main" in job["if"]
    assert pulumi_step(job)["with"]["command"] == "up"
    assert any(s.get("uses", "").startswith("aws-actions/configure-aws-credentials@") for s in job["steps"])
    assert job["permissions"]["id-token"] == "write"


def test_main_job_credentials_last_as_long_as_the_job_and_the_provider_knows_when_they_end() -> None:
    job = workflow()["jobs"]["up"]
    [credentials] = [s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    # The provider cannot renew session keys: they must last the job (a 1 h default would end every longer wait).
    assert credentials["with"]["role-duration-seconds"] >= job["timeout-minutes"] * 60
    assert credentials["with"]["output-credentials"] is True
    [export] = [s for s in job["steps"] if "AWS_CREDENTIAL_EXPIRATION" in s.get("run", "")]
    assert f"steps.{credentials['id']}.outputs.aws-expiration" in export["env"]["EXPIRES"]
    steps = job["steps"]
    assert steps.index(credentials) < steps.index(export) < steps.index(pulumi_step(job))
