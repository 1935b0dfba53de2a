"""What runs in the Pulumi program rather than the provider: defaults from the stack and the common inputs."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi


def creation_token(resource_name: str) -> str:
    """Stable per stack and resource name: lets the next run find snapshots a crashed run started."""
    key = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}/{resource_name}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def default_region() -> str | None:
    """The stack's aws:region, then AWS_REGION, then AWS_DEFAULT_REGION (as the AWS provider resolves it)."""
    return pulumi.Config("aws").get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def default_session_name() -> str:
    """Identifies the stack in CloudTrail when a role is assumed."""
    name = f"pulumi-{pulumi.get_project()}-{pulumi.get_stack()}"
    return "".join(c if c.isalnum() or c in "+=,.@-" else "-" for c in name)[:64]


def common_props(
    resource_name: str,
    *,
    region: pulumi.Input[str] | None,
    description: pulumi.Input[str] | None,
    tags: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None,
    outpost_arn: pulumi.Input[str] | None,
    storage_tier: pulumi.Input[str] | None,
    timeout: pulumi.Input[float] | None,
    profile: pulumi.Input[str] | None,
    role_arn: pulumi.Input[str] | None,
    external_id: pulumi.Input[str] | None,
    role_session_name: pulumi.Input[str] | None,
    allowed_account_ids: pulumi.Input[Sequence[pulumi.Input[str]]] | None,
    endpoint_url: pulumi.Input[str] | None,
    permission_check: pulumi.Input[bool] | None = None,
) -> dict[str, Any]:
    """The inputs both snapshot resources share, with program-side defaults applied."""
    return {
        "region": region or default_region(),
        "description": description,
        "tags": tags,
        "outpost_arn": outpost_arn,
        "storage_tier": storage_tier,
        "timeout": timeout,
        "profile": profile,
        "role_arn": role_arn,
        "external_id": pulumi.Output.secret(external_id) if external_id is not None else None,
        "role_session_name": role_session_name or (default_session_name() if role_arn else None),
        "allowed_account_ids": allowed_account_ids,
        "endpoint_url": endpoint_url,
        "creation_token": creation_token(resource_name),
        "permission_check": permission_check,
    }
