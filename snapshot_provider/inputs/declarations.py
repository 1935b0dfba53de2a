"""The inputs every snapshot resource shares, declared once: where the provider acts, and how snapshots are taken.

Each resource's own `*Args` TypedDict extends these; `schema.Schema.of` reads the declarations.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypedDict

import pulumi

from snapshot_provider.inputs import lock, rules
from snapshot_provider.inputs.schema import Field, Schema

# Set by the program: names the resource on its snapshots (see `lifecycle`) and in progress messages.
URN_INPUT = "resource_urn"
URN_FIELD = (URN_INPUT, Field("the resource's URN, set by the program", on_change="none", internal=True))


def default_region(_given: Mapping[str, Any]) -> str | None:
    """The stack's aws:region, then AWS_REGION, then AWS_DEFAULT_REGION (as the AWS provider resolves it)."""
    return pulumi.Config("aws").get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def default_session_name(given: Mapping[str, Any]) -> str | None:
    """Identifies the stack in CloudTrail when a role is assumed."""
    if given.get("role_arn") is None:
        return None
    name = f"pulumi-{pulumi.get_project()}-{pulumi.get_stack()}"
    return "".join(c if c.isalnum() or c in "+=,.@-" else "-" for c in name)[:64]


DEFAULT_TIMEOUT = 24 * 3600  # the first snapshot of a multi-TiB volume can take many hours

REGION_MISSING = (
    "is not set: pass region=..., or set the stack's aws:region (pulumi config set aws:region us-east-1), "
    "or AWS_REGION / AWS_DEFAULT_REGION"
)


class AccountArgs(TypedDict, total=False):
    """Where the provider acts and as whom. Credentials are never inputs: they come from the standard AWS chain.

    A change of any of these but `region` is an update in place: the snapshots stay where they are, and the update
    first checks with STS that the new settings act in the account state records (`aws.ensure_recorded_account`)."""

    region: Annotated[
        pulumi.Input[str],
        Field(
            "the stack's `aws:region`, then `AWS_REGION` / `AWS_DEFAULT_REGION` when unset",
            rule=rules.region,
            required=True,
            missing=REGION_MISSING,
            on_change="replace",
            program_default=default_region,
        ),
    ]
    profile: Annotated[
        pulumi.Input[str],
        Field(
            "a named profile from `~/.aws/config`; unset: the standard credential chain",
            rule=rules.profile,
            on_change="state",
        ),
    ]
    role_arn: Annotated[
        pulumi.Input[str],
        Field(
            "assume this role (cross-account), renewed during long waits while the base credentials last; a role in "
            "another account than the snapshots' is refused (snapshots cannot move)",
            rule=rules.role_arn,
            on_change="state",
        ),
    ]
    external_id: Annotated[
        pulumi.Input[str],
        Field(
            "external id for `role_arn`; stored as a secret",
            rule=rules.external_id,
            on_change="state",
            secret=True,
            requires="role_arn",
        ),
    ]
    role_session_name: Annotated[
        pulumi.Input[str],
        Field(
            "session name for `role_arn`; unset: `pulumi-<project>-<stack>`, so CloudTrail names the stack",
            rule=rules.role_session_name,
            on_change="state",
            requires="role_arn",
            program_default=default_session_name,
        ),
    ]
    allowed_account_ids: Annotated[
        pulumi.Input[Sequence[pulumi.Input[str]]],
        Field(
            "refuse, before any change, to act in another account (checked with STS)",
            rule=rules.allowed_account_ids,
            on_change="state",
        ),
    ]
    endpoint_url: Annotated[
        pulumi.Input[str],
        Field(
            "EC2 endpoint (a VPC endpoint, an emulator), for EC2 only; unset: `AWS_ENDPOINT_URL_EC2` / "
            "`AWS_ENDPOINT_URL`",
            rule=rules.endpoint_url,
            on_change="state",
        ),
    ]
    sts_endpoint_url: Annotated[
        pulumi.Input[str],
        Field(
            "STS endpoint (GetCallerIdentity, AssumeRole), e.g. an STS VPC endpoint; unset: `AWS_ENDPOINT_URL_STS`, "
            "the shared config's `services`, `AWS_ENDPOINT_URL`, then STS's regional endpoint",
            rule=rules.endpoint_url,
            on_change="state",
        ),
    ]


def archive_is_one_way(old: Any, new: Any) -> str | None:
    if old == "archive" and new == "standard":
        return (
            "an archived snapshot cannot be moved back to 'standard' by this resource: restore it with "
            "ec2:RestoreSnapshotTier, or replace the resource"
        )
    return None


class PermissionCheckArgs(TypedDict, total=False):
    """The opt-in preview check of a resource's permissions (`ec2.permissions`)."""

    permission_check: Annotated[
        pulumi.Input[bool],
        Field(
            "at preview, ask EC2 with `DryRun` whether the create would be allowed: the request with its tags and "
            "every EC2 call its plan makes (tagging, archive, lock, stopping the instance, sharing a copy's source); "
            "SSM commands are not asked (needs credentials at preview; docs/ci.md)",
            rule=rules.boolean,
            on_change="none",
        ),
    ]


class SnapshotArgs(AccountArgs, PermissionCheckArgs, total=False):
    """How snapshots are taken: shared by EbsSnapshot and InstanceSnapshots."""

    description: Annotated[
        pulumi.Input[str],
        Field(
            "at most 255 characters; EC2 cannot change it on an existing snapshot",
            rule=rules.description,
            on_change="replace",
            compared_as=lambda value: value or None,  # "" and unset: the same empty description, no new snapshot
        ),
    ]
    tags: Annotated[
        pulumi.Input[Mapping[str, pulumi.Input[str]]],
        Field(
            "applied at creation (`TagSpecifications`), then only the keys given here are managed; at most 48, "
            "no `aws:` or `pulumi-snapshot:` keys",
            rule=rules.tags,
            default={},
        ),
    ]
    outpost_arn: Annotated[
        pulumi.Input[str],
        Field("take a local snapshot on this Outpost", rule=rules.outpost_arn, on_change="replace"),
    ]
    storage_tier: Annotated[
        pulumi.Input[Literal["standard", "archive"]],
        Field(
            "`archive` is requested once the snapshot completed; archive back to standard is refused (use "
            "`RestoreSnapshotTier`)",
            rule=rules.storage_tier,
            default="standard",
            transition=archive_is_one_way,
        ),
    ]
    lock: Annotated[
        pulumi.Input[Mapping[str, Any]],
        Field(
            "EBS snapshot lock, applied once `completed`: `mode` (governance or compliance), `duration_days` (1 to "
            "36500) or `expires_at` (ISO time), `cool_off_hours` (1 to 72, compliance only); changed or removed in "
            "place where EC2 allows; a locked snapshot is never deleted (docs/lock-and-copy.md)",
            rule=lock.rule,
            transition=lock.lock_change_at_check,
        ),
    ]
    timeout: Annotated[
        pulumi.Input[float],
        Field(
            "seconds to wait for `completed`, 1 s to 7 days",
            rule=rules.timeout,
            default=DEFAULT_TIMEOUT,
            on_change="none",
        ),
    ]
    triggers: Annotated[
        pulumi.Input[Mapping[str, Any]],
        Field(
            "any change of a value takes a new snapshot (new one completed first, then the old one deleted): a "
            "release version, a maintenance date",
            rule=rules.triggers,
            on_change="replace",
        ),
    ]


ACCOUNT_FIELDS = tuple(Schema.of(AccountArgs).fields)


@dataclass(frozen=True)
class AccountSelection:
    """Where and as whom the provider acts: the values of `AccountArgs`. Hashable: clients and pollers are shared
    per selection."""

    values: tuple[tuple[str, Any], ...]

    @classmethod
    def of(cls, **values: Any) -> AccountSelection:
        return cls.from_props(values)

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> AccountSelection:
        """Taken as they are (no rules), so that refresh and destroy work whatever today's rules say."""
        values = dict(props)
        values["region"] = values.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        return cls(tuple((name, _hashable(values.get(name))) for name in ACCOUNT_FIELDS))

    def get(self, name: str) -> Any:
        return dict(self.values).get(name)

    @property
    def region(self) -> str:
        return str(self.get("region") or "")


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, (list, tuple)) else value
