"""What a change of inputs means (replace, update in place, or nothing): pure, so previews are testable without AWS."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi.dynamic import DiffResult

from snapshot_provider.inputs import DEFAULT_TIMEOUT

# Where and how a snapshot is made; EC2 cannot change these on an existing snapshot.
PLACEMENT_KEYS = ("region", "outpost_arn", "description")
# Changed on the existing snapshots.
UPDATE_KEYS = ("tags", "storage_tier")
# How the provider reaches the account: recorded in state (refresh and delete use them), nothing changes in AWS.
ACCESS_KEYS = ("profile", "role_arn", "external_id", "role_session_name", "allowed_account_ids", "endpoint_url")
ACCOUNT_INPUT_KEYS = ("region", *ACCESS_KEYS)
# Settings every snapshot resource has.
SETTINGS_INPUT_KEYS = (
    "description",
    "tags",
    "outpost_arn",
    "storage_tier",
    "timeout",
    "creation_token",
    "permission_check",
)


def plan_diff(
    olds: Mapping[str, Any],
    news: Mapping[str, Any],
    source_keys: Iterable[str],
    stable_keys: Iterable[str],
    extra_replaces: Iterable[str] = (),
) -> DiffResult:
    """Replace when the source (`source_keys`), the placement or the account changes; update tags, tier and access
    settings in place; ignore the rest (timeout, creation-only options)."""

    def changed(key: str) -> bool:
        return bool(_normalized(olds.get(key)) != _normalized(news.get(key)))

    replaces = [k for k in (*source_keys, *PLACEMENT_KEYS) if changed(k)] + list(extra_replaces)
    if changed("role_arn") and role_account(olds) != role_account(news):
        replaces.append("role_arn")
    updates = [k for k in (*UPDATE_KEYS, *ACCESS_KEYS) if changed(k) and k not in replaces]
    return DiffResult(
        changes=bool(replaces or updates),
        replaces=replaces,
        stables=[] if replaces else list(stable_keys),
        delete_before_replace=False,  # the new snapshot exists before the old one is deleted
    )


def _normalized(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def role_account(props: Mapping[str, Any]) -> str | None:
    role_arn = props.get("role_arn")
    return role_arn.split(":")[4] if isinstance(role_arn, str) and role_arn.count(":") >= 5 else None


def with_defaults(props: Mapping[str, Any], **defaults: Any) -> dict[str, Any]:
    """Inputs as stored: unset ones dropped, defaults filled in, so diffs compare like with like."""
    filled = {k: v for k, v in props.items() if v is not None}
    for key, value in {"storage_tier": "standard", "timeout": DEFAULT_TIMEOUT, "tags": {}, **defaults}.items():
        filled.setdefault(key, value)
    return filled
