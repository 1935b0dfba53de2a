"""End to end, where and as whom the provider acts: access settings changed, another account's credentials, session
credentials that expire during a wait, and Ctrl-C. Each test writes a user's program, runs the real Pulumi CLI against
the emulator (STS on its own endpoint, accounts chosen by the credentials, sessions that expire), and checks what the
emulator holds afterwards.
"""

from __future__ import annotations

import signal
import textwrap
import time
from typing import Any

import boto3
import pytest
from stack_harness import PulumiStack, StackFactory, wait_for

from emulator import Ec2Emulator
from snapshot_provider.core.lifecycle.shapes import ATTEMPT_TAG, RECORDED
from testbed import REGION

HOME_ACCOUNT = "123456789012"  # the emulator's default account: the harness's fake keys act there
OTHER_ACCOUNT = "210987654321"
SAME_ACCOUNT_ROLE = f"arn:aws:iam::{HOME_ACCOUNT}:role/snapshots"
EBS_SNAPSHOT = "pulumi-python:dynamic/ebs-snapshots:EbsSnapshot"
SERIES = "pulumi-python:dynamic/ebs-snapshots:SnapshotSeries"


@pytest.fixture
def emulator_settings() -> dict[str, Any]:
    """EC2 and STS on their own endpoints (as in AWS, and as `run.sh` sets them) and sessions that expire."""
    return {"pending_seconds": 1.0, "sts_separate_endpoint": True, "session_expiry": True}


def program(body: str) -> str:
    return "import pulumi\nfrom snapshot_provider import EbsSnapshot, SnapshotSeries\n\n" + textwrap.dedent(body)


def snapshot_and_series(volume_id: str, timeout: int = 120) -> str:
    """An EbsSnapshot and a nightly SnapshotSeries of one volume; role_arn and the series' trigger from the config."""
    return program(
        f"""
        config = pulumi.Config()
        access = {{"role_arn": config.get("role_arn")}} if config.get("role_arn") else {{}}
        EbsSnapshot("db-backup", volume_id={volume_id!r}, description="before upgrade", timeout={timeout}, **access)
        SnapshotSeries(
            "nightly", volume_id={volume_id!r}, trigger=config.get("trigger") or "day-1", keep_last=5, timeout=120,
            **access,
        )
        """
    )


def one_snapshot(volume_id: str, timeout: int) -> str:
    return program(f'EbsSnapshot("db-backup", volume_id={volume_id!r}, description="nightly", timeout={timeout})\n')


def held(emulator: Ec2Emulator, account_id: str = HOME_ACCOUNT) -> dict[str, dict[str, Any]]:
    return {s["snapshot_id"]: s for s in emulator.snapshots(account_id=account_id)}


def output(result: Any) -> str:
    return " ".join((result.stdout + result.stderr).split())


def waiting_for_its_snapshot(emulator: Ec2Emulator) -> bool:
    """The create has taken its snapshot and looks at it (a DescribeSnapshots after the CreateSnapshot)."""
    actions = [c.action for c in emulator.calls()]
    return "CreateSnapshot" in actions and "DescribeSnapshots" in actions[actions.index("CreateSnapshot") :]


def use_keys(stack: PulumiStack, access_key_id: str, secret: str, token: str | None = None, **extra: str) -> None:
    """The credentials the next CLI runs find in their environment (the standard chain's first link)."""
    for name in ("AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION"):
        stack.env.pop(name, None)
    stack.env.update(AWS_ACCESS_KEY_ID=access_key_id, AWS_SECRET_ACCESS_KEY=secret, **extra)
    if token:
        stack.env["AWS_SESSION_TOKEN"] = token


def recorded_in_state(stack: PulumiStack) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """Every resource of this package in state: type, id, inputs and outputs (not the checkpoint's timestamps, nor the
    serialized provider, a secret that is encrypted anew on each write)."""

    def plain(values: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if k != "__provider"}

    return sorted(((r["type"], r["id"], plain(r["inputs"]), plain(r["outputs"])) for r in stack.resources()), key=str)


def resources_in_state(stack: PulumiStack) -> list[tuple[str, str]]:
    return sorted((r["type"], r["id"]) for r in stack.resources())


# --- role_arn set, then unset, for a role in the same account -----------------------------------------------------
@pytest.mark.long
def test_role_in_the_same_account_set_then_unset_retakes_and_deletes_nothing(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = new_stack(snapshot_and_series(volume_id))
    for night in ("day-1", "day-2", "day-3"):  # a nightly series with three snapshots, and one EbsSnapshot
        stack.config(trigger=night)
        stack.up()
    before = held(emulator)
    assert len(before) == 4
    recorded = resources_in_state(stack)

    for change in ("set", "unset"):
        if change == "set":
            stack.config(role_arn=SAME_ACCOUNT_ROLE)
        else:
            stack.unset("role_arn")
        preview = output(stack.preview())
        assert "replace" not in preview and "update" in preview, preview
        emulator.clear_calls()
        stack.up()

        assert held(emulator).keys() == before.keys(), change  # nothing re-taken, nothing deleted
        assert emulator.mutating_calls("CreateSnapshot") == [] and emulator.mutating_calls("DeleteSnapshot") == []
        assert resources_in_state(stack) == recorded
        for resource in stack.resources():
            assert resource["outputs"].get("role_arn") == (SAME_ACCOUNT_ROLE if change == "set" else None)
    assert emulator.accounts() == {HOME_ACCOUNT: {REGION: {"volumes": 1, "snapshots": 4, "images": 0}}}


# --- refresh and destroy under another account's credentials -------------------------------------------------------
def test_refresh_and_destroy_under_another_accounts_credentials_are_refused_and_change_nothing(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = new_stack(snapshot_and_series(volume_id))
    stack.up()
    snapshots = held(emulator)
    state_before = recorded_in_state(stack)
    home_keys = (stack.env["AWS_ACCESS_KEY_ID"], stack.env["AWS_SECRET_ACCESS_KEY"])
    other = emulator.credentials(OTHER_ACCOUNT)
    use_keys(stack, other["aws_access_key_id"], other["aws_secret_access_key"])

    for command in (("refresh", "--yes"), ("up", "--yes", "--skip-preview", "--refresh"), ("destroy", "--yes")):
        result = stack.run(*command, check=False)

        assert result.returncode != 0, command
        said = output(result)
        verb = "delete" if command[0] == "destroy" else "refresh"
        assert f"refusing to {verb}" in said and HOME_ACCOUNT in said and OTHER_ACCOUNT in said, said
        assert "Traceback" not in said
        assert held(emulator).keys() == snapshots.keys(), command
        assert recorded_in_state(stack) == state_before, command
    assert held(emulator, OTHER_ACCOUNT) == {}

    use_keys(stack, *home_keys)  # with the account's own credentials, destroy converges
    stack.run("destroy", "--yes")
    assert held(emulator) == {} and stack.resources() == []


# --- a wait that outlives its session credentials ------------------------------------------------------------------
def test_wait_past_session_expiry_ends_and_next_up_with_fresh_credentials_adopts(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    emulator.configure(pending_seconds=3600.0)  # a big first snapshot
    stack = new_stack(one_snapshot(volume_id, timeout=7200))
    home_keys = (stack.env["AWS_ACCESS_KEY_ID"], stack.env["AWS_SECRET_ACCESS_KEY"])
    # What the GitHub Actions recipe's job has: a one-hour role session in the environment, its expiry exported.
    sts = boto3.client("sts", region_name=REGION, endpoint_url=emulator.sts_url)
    session = sts.assume_role(RoleArn=SAME_ACCOUNT_ROLE, RoleSessionName="ci", DurationSeconds=3600)["Credentials"]
    use_keys(
        stack,
        session["AccessKeyId"],
        session["SecretAccessKey"],
        session["SessionToken"],
        AWS_CREDENTIAL_EXPIRATION=session["Expiration"].isoformat(),
    )
    running = stack.start_up()
    try:
        wait_for(lambda: waiting_for_its_snapshot(emulator), timeout=120)
        emulator.advance_clock(3601)  # an hour passes (for the sessions; the snapshot is still pending)
        said, _ = running.communicate(timeout=120)
    finally:
        running.kill()

    said = " ".join(said.split())
    assert running.returncode != 0
    assert "expire at" in said and "before the timeout" in said  # warned before the wait
    assert "credentials stopped working (ExpiredToken)" in said and "It was left in place" in said, said
    assert "Traceback" not in said
    [(snapshot_id, snapshot)] = held(emulator).items()
    assert snapshot["state"] == "pending" and snapshot["tags"][ATTEMPT_TAG] != RECORDED
    assert stack.resources(EBS_SNAPSHOT) == []

    emulator.age_snapshot(snapshot_id, seconds_ago=3600)  # it completes meanwhile
    use_keys(stack, *home_keys)  # fresh credentials
    result = stack.up()

    assert f"adopting {snapshot_id}" in output(result)
    [(kept_id, kept)] = held(emulator).items()
    assert kept_id == snapshot_id and kept["state"] == "completed" and kept["tags"][ATTEMPT_TAG] == RECORDED
    assert [r["id"] for r in stack.resources(EBS_SNAPSHOT)] == [snapshot_id]


# --- Ctrl-C ----------------------------------------------------------------------------------------------------------
def test_ctrl_c_ends_the_wait_within_seconds_and_next_up_adopts(new_stack: StackFactory, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    emulator.configure(pending_seconds=3600.0)
    stack = new_stack(one_snapshot(volume_id, timeout=86400))
    running = stack.start_up()
    try:
        wait_for(lambda: waiting_for_its_snapshot(emulator), timeout=120)
        interrupted = time.monotonic()
        running.send_signal(signal.SIGINT)  # the first Ctrl-C
        said, _ = running.communicate(timeout=120)
        took = time.monotonic() - interrupted
    finally:
        running.kill()

    said = " ".join(said.split())
    assert running.returncode != 0
    assert took < 30, f"the CLI took {took:.0f}s to stop after Ctrl-C"
    assert "cancelled (Ctrl-C)" in said and "the next `pulumi up` adopts it" in said, said
    [(snapshot_id, snapshot)] = held(emulator).items()
    assert snapshot["state"] == "pending" and snapshot["tags"][ATTEMPT_TAG] != RECORDED

    emulator.age_snapshot(snapshot_id, seconds_ago=3600)
    result = stack.up()

    assert f"adopting {snapshot_id}" in output(result)
    assert list(held(emulator)) == [snapshot_id] and held(emulator)[snapshot_id]["tags"][ATTEMPT_TAG] == RECORDED
    assert [r["id"] for r in stack.resources(EBS_SNAPSHOT)] == [snapshot_id]
