"""The components' `lock` and `copies`: what is refused before anything is registered, and how copies are named."""

from __future__ import annotations

from typing import Any

import pytest

from snapshot_provider.components.protection import label, refusals

HOME = "us-east-1"
BACKUP_ROLE = "arn:aws:iam::210987654321:role/backup"
GOVERNANCE_90 = {"mode": "governance", "duration_days": 90}


@pytest.mark.parametrize(
    "lock,copies",
    [
        (None, []),
        (GOVERNANCE_90, [{"region": "eu-west-1"}]),
        (None, [{"role_arn": BACKUP_ROLE}]),
        (None, [{"role_arn": BACKUP_ROLE, "region": HOME}]),
        (None, [{"region": "eu-west-1", "kms_key_id": "alias/backup", "completion_duration_minutes": 60}]),
        (None, [{"region": "eu-west-1"}, {"region": "eu-west-1", "role_arn": BACKUP_ROLE}]),
    ],
)
def test_a_lock_and_copies_elsewhere_are_accepted(lock: Any, copies: list[Any]) -> None:
    assert refusals(lock, copies, HOME) == []


@pytest.mark.parametrize(
    "lock,copies,words",
    [
        ({"duration_days": 90}, [], "lock: mode must be 'governance' or 'compliance' (got None)"),
        ({"mode": "governance"}, [], "lock: give exactly one of duration_days or expires_at"),
        (None, [{}], "copies[0]: give region (another region) and/or role_arn"),
        (None, [{"kms_key_id": "alias/backup"}], "copies[0]: give region (another region) and/or role_arn"),
        (None, [{"region": HOME}], f"copies[0]: copies into the source's own region ({HOME}) and account"),
        (None, [{"region": "eu-west-1", "account": "210987654321"}], "copies[0]: unknown key 'account'"),
        (None, ["eu-west-1"], "copies[0]: must be an object"),
        (None, [{"region": "eu-west-1"}, {"region": "eu-west-1"}], "copies[1]: names eu-west-1 again"),
        (
            None,
            [{"role_arn": BACKUP_ROLE}, {"role_arn": BACKUP_ROLE, "region": HOME}],
            "copies[1]: names us-east-1 as arn:aws:iam::210987654321:role/backup again",
        ),
    ],
)
def test_a_bad_lock_or_copy_target_is_refused_saying_which_and_why(lock: Any, copies: list[Any], words: str) -> None:
    assert words in "; ".join(refusals(lock, copies, HOME))


@pytest.mark.parametrize(
    "target,expected",
    [
        ({"region": "eu-west-1"}, "eu-west-1"),
        ({"role_arn": BACKUP_ROLE}, "210987654321"),
        ({"role_arn": BACKUP_ROLE, "region": "eu-west-1"}, "210987654321-eu-west-1"),
    ],
)
def test_a_copy_is_named_by_where_it_goes(target: dict[str, str], expected: str) -> None:
    assert label(target) == expected
