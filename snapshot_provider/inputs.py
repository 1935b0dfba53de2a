"""Resource inputs: typed, parsed once, validated by pure functions that name the property, the rule and the fix.

`check` runs these before anything touches AWS, so every failure here shows up in `pulumi preview`.
Values that are still unknown during a preview (outputs of other resources) are accepted and checked later.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN

VOLUME_ID = re.compile(r"^vol-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
INSTANCE_ID = re.compile(r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
SNAPSHOT_ID = re.compile(r"^snap-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
REGION = re.compile(r"^(?:[a-z]{2}|us-gov|us-iso[a-z]?|eu-iso[a-z]?)-[a-z]+-\d{1,2}$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
OUTPOST_ARN = re.compile(r"^arn:aws(?:-[a-z]+)*:outposts:[a-z0-9-]+:\d{12}:outpost/op-[0-9a-f]{17}$")
ROLE_ARN = re.compile(r"^arn:aws(?:-[a-z]+)*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
ROLE_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")

MAX_TAGS = 50  # EC2's limit per resource, including the tags this provider manages
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_DESCRIPTION = 255
MIN_TIMEOUT = 1
MAX_TIMEOUT = 7 * 24 * 3600
DEFAULT_TIMEOUT = 24 * 3600  # the first snapshot of a multi-TiB volume can take many hours
STORAGE_TIERS = ("standard", "archive")

# Tags under this prefix belong to the provider (creation token for adoption after a crash); users may not set them.
MANAGED_TAG_PREFIX = "pulumi-snapshot:"
CREATION_TOKEN_TAG = MANAGED_TAG_PREFIX + "creation-token"
MANAGED_TAG_COUNT = 1

# Keys that would carry credentials; refused so that secrets never reach Pulumi state.
CREDENTIAL_KEYS = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "access_key",
    "secret_key",
    "session_token",
)


@dataclass(frozen=True)
class Failure:
    """One rule an input broke: which property, and what to do about it."""

    property: str
    reason: str


@dataclass(frozen=True)
class AccountSelection:
    """Where the provider acts: region, credentials source, and the accounts it may touch."""

    region: str
    profile: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    role_session_name: str | None = None
    allowed_account_ids: tuple[str, ...] = ()
    endpoint_url: str | None = None


@dataclass(frozen=True)
class SnapshotSettings:
    """What every snapshot resource shares: description, tags, tier, timeout, outpost, adoption token."""

    description: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    outpost_arn: str | None = None
    storage_tier: str = "standard"
    timeout: float = DEFAULT_TIMEOUT
    creation_token: str | None = None


@dataclass(frozen=True)
class EbsSnapshotInputs:
    volume_id: str
    account: AccountSelection
    settings: SnapshotSettings
    copy_volume_tags: bool = False
    # Adopt this existing snapshot instead of taking one (Pulumi's `import_` option does not reach dynamic
    # providers' read: pulumi/pulumi#16175).
    import_snapshot_id: str | None = None


@dataclass(frozen=True)
class InstanceSnapshotsInputs:
    instance_id: str
    account: AccountSelection
    settings: SnapshotSettings
    exclude_boot_volume: bool = False
    exclude_data_volume_ids: tuple[str, ...] = ()
    copy_tags_from_source: str | None = None


class InvalidInputs(ValueError):
    """Raised when inputs that `check` should have refused reach another method."""

    def __init__(self, failures: list[Failure]):
        self.failures = failures
        super().__init__("; ".join(f"{f.property}: {f.reason}" for f in failures))


def is_unknown(value: Any) -> bool:
    """True for a value that is not known yet during a preview (the output of another resource)."""
    return isinstance(value, Unknown) or (isinstance(value, str) and value == UNKNOWN)


# --- single-value rules: each returns a reason, or None when the value is fine --------------------------------------
Rule = Callable[[Any], "str | None"]


def _string(pattern: re.Pattern[str], what: str) -> Rule:
    def rule(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be a string, got {type(value).__name__}"
        if not value:
            return f"must not be empty (expected {what})"
        if not pattern.match(value):
            return f"{value!r} is not {what}"
        return None

    return rule


volume_id_rule = _string(VOLUME_ID, "a valid EBS volume id (expected vol- followed by 8 or 17 hex digits)")
snapshot_id_rule = _string(SNAPSHOT_ID, "a valid EBS snapshot id (expected snap- followed by 8 or 17 hex digits)")
instance_id_rule = _string(INSTANCE_ID, "a valid EC2 instance id (expected i- followed by 8 or 17 hex digits)")
region_rule = _string(REGION, "an AWS region name (expected something like us-east-1)")
outpost_arn_rule = _string(OUTPOST_ARN, "an Outpost ARN (expected arn:aws:outposts:REGION:ACCOUNT:outpost/op-...)")
role_arn_rule = _string(ROLE_ARN, "an IAM role ARN (expected arn:aws:iam::123456789012:role/NAME)")
external_id_rule = _string(EXTERNAL_ID, "a valid external id (2-1224 characters of letters, digits and +=,.@:/-)")
session_name_rule = _string(
    ROLE_SESSION_NAME, "a valid role session name (2-64 characters of letters, digits and +=,.@-)"
)


def description_rule(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if len(value) > MAX_DESCRIPTION:
        return f"is {len(value)} characters long; EC2 allows at most {MAX_DESCRIPTION}"
    return None


def profile_rule(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if not value.strip() or value != value.strip():
        return f"{value!r} is not a profile name (empty or surrounded by spaces)"
    return None


def bool_rule(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {type(value).__name__} {value!r}"


def storage_tier_rule(value: Any) -> str | None:
    if value not in STORAGE_TIERS:
        return f"{value!r} is not a storage tier (expected one of: {', '.join(STORAGE_TIERS)})"
    return None


def timeout_rule(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"must be a number of seconds, got {type(value).__name__} {value!r}"
    if not MIN_TIMEOUT <= value <= MAX_TIMEOUT:
        return f"{value} seconds is out of range (expected {MIN_TIMEOUT} to {MAX_TIMEOUT}, that is up to 7 days)"
    return None


def endpoint_url_rule(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return f"{value!r} is not an http(s) URL (expected something like https://ec2.us-east-1.amazonaws.com)"
    return None


def allowed_account_ids_rule(value: Any) -> str | None:
    if not isinstance(value, (list, tuple)):
        return f"must be a list of 12-digit account ids, got {type(value).__name__}"
    if not value:
        return "must not be empty: leave it unset to allow any account"
    bad = [v for v in value if not isinstance(v, str) or not ACCOUNT_ID.match(v)]
    if bad:
        return f"{bad[0]!r} is not an AWS account id (expected 12 digits, as a string)"
    return None


def tags_failures(value: Any, prop: str = "tags", managed: int = MANAGED_TAG_COUNT) -> list[Failure]:
    """EC2 tag rules: count, key and value lengths, and keys reserved for AWS and for this provider."""
    if not isinstance(value, Mapping):
        return [Failure(prop, f"must be a map of strings to strings, got {type(value).__name__}")]
    failures = []
    if len(value) > MAX_TAGS - managed:
        failures.append(
            Failure(
                prop,
                f"has {len(value)} tags; EC2 allows {MAX_TAGS} per snapshot and this "
                f"provider uses {managed}, so at most {MAX_TAGS - managed}",
            )
        )
    for key, tag_value in value.items():
        if is_unknown(key) or is_unknown(tag_value):
            continue
        if not isinstance(key, str) or not key:
            failures.append(Failure(prop, f"tag key {key!r} must be a non-empty string"))
            continue
        if len(key) > MAX_TAG_KEY:
            failures.append(Failure(prop, f"tag key {key[:20]!r}... is {len(key)} characters; at most {MAX_TAG_KEY}"))
        if key.lower().startswith("aws:"):
            failures.append(Failure(prop, f"tag key {key!r} uses the prefix 'aws:', which is reserved for AWS"))
        if key.startswith(MANAGED_TAG_PREFIX):
            failures.append(
                Failure(prop, f"tag key {key!r} uses the prefix {MANAGED_TAG_PREFIX!r}, which this provider manages")
            )
        if not isinstance(tag_value, str):
            failures.append(Failure(prop, f"tag {key!r} must have a string value, got {type(tag_value).__name__}"))
        elif len(tag_value) > MAX_TAG_VALUE:
            failures.append(
                Failure(prop, f"tag {key!r} has a value of {len(tag_value)} characters; at most {MAX_TAG_VALUE}")
            )
    return failures


# --- whole-resource parsing ---------------------------------------------------------------------------------------
def check_rules(props: Mapping[str, Any], rules: Mapping[str, Rule], required: tuple[str, ...]) -> list[Failure]:
    failures = []
    for key in CREDENTIAL_KEYS:
        if key in props:
            failures.append(
                Failure(
                    key,
                    "credentials are never resource inputs (they would be stored in state): "
                    "use profile, role_arn or the standard AWS environment variables",
                )
            )
    for key in required:
        if props.get(key) is None:
            failures.append(Failure(key, _missing_reason(key)))
    for key, rule in rules.items():
        value = props.get(key)
        if value is None or is_unknown(value):
            continue
        reason = rule(value)
        if reason:
            failures.append(Failure(key, reason))
    return failures


def _missing_reason(key: str) -> str:
    if key == "region":
        return (
            "is not set: pass region=..., or set the stack's aws:region (pulumi config set aws:region us-east-1), "
            "or AWS_REGION / AWS_DEFAULT_REGION"
        )
    return "is required"


ACCOUNT_RULES: dict[str, Rule] = {
    "region": region_rule,
    "profile": profile_rule,
    "role_arn": role_arn_rule,
    "external_id": external_id_rule,
    "role_session_name": session_name_rule,
    "allowed_account_ids": allowed_account_ids_rule,
    "endpoint_url": endpoint_url_rule,
}

SETTINGS_RULES: dict[str, Rule] = {
    "description": description_rule,
    "outpost_arn": outpost_arn_rule,
    "storage_tier": storage_tier_rule,
    "timeout": timeout_rule,
    "permission_check": bool_rule,
}


def tier_change_failures(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[Failure]:
    """Archive is one way for these resources: EC2 restores an archived snapshot with RestoreSnapshotTier."""
    if olds.get("storage_tier") == "archive" and news.get("storage_tier") == "standard":
        return [
            Failure(
                "storage_tier",
                "an archived snapshot cannot be moved back to 'standard' by this resource: "
                "restore it with ec2:RestoreSnapshotTier, or replace the resource",
            )
        ]
    return []


def _account_failures(props: Mapping[str, Any]) -> list[Failure]:
    failures = []
    if props.get("role_arn") is None:
        for key in ("external_id", "role_session_name"):
            if props.get(key) is not None:
                failures.append(Failure(key, "is only used when assuming a role: set role_arn too, or remove it"))
    return failures


def _settings_failures(props: Mapping[str, Any]) -> list[Failure]:
    tags = props.get("tags")
    if tags is None or is_unknown(tags):
        return []
    return tags_failures(tags)


def check_ebs_snapshot(props: Mapping[str, Any]) -> list[Failure]:
    rules = {
        **ACCOUNT_RULES,
        **SETTINGS_RULES,
        "volume_id": volume_id_rule,
        "copy_volume_tags": bool_rule,
        "import_snapshot_id": snapshot_id_rule,
    }
    return check_rules(props, rules, ("volume_id", "region")) + _account_failures(props) + _settings_failures(props)


def check_instance_snapshots(props: Mapping[str, Any]) -> list[Failure]:
    rules = {**ACCOUNT_RULES, **SETTINGS_RULES, "instance_id": instance_id_rule, "exclude_boot_volume": bool_rule}
    failures = (
        check_rules(props, rules, ("instance_id", "region")) + _account_failures(props) + _settings_failures(props)
    )
    excluded = props.get("exclude_data_volume_ids")
    if excluded is not None and not is_unknown(excluded):
        if not isinstance(excluded, (list, tuple)):
            failures.append(Failure("exclude_data_volume_ids", "must be a list of volume ids"))
        else:
            for volume_id in excluded:
                reason = None if is_unknown(volume_id) else volume_id_rule(volume_id)
                if reason:
                    failures.append(Failure("exclude_data_volume_ids", reason))
    copy_from = props.get("copy_tags_from_source")
    if copy_from is not None and not is_unknown(copy_from) and copy_from != "volume":
        failures.append(
            Failure("copy_tags_from_source", f"{copy_from!r} is not supported (the only value EC2 accepts is 'volume')")
        )
    return failures


def parse_account(props: Mapping[str, Any]) -> AccountSelection:
    return AccountSelection(
        region=props["region"],
        profile=props.get("profile"),
        role_arn=props.get("role_arn"),
        external_id=props.get("external_id"),
        role_session_name=props.get("role_session_name"),
        allowed_account_ids=tuple(props.get("allowed_account_ids") or ()),
        endpoint_url=props.get("endpoint_url"),
    )


def parse_settings(props: Mapping[str, Any]) -> SnapshotSettings:
    return SnapshotSettings(
        description=props.get("description"),
        tags=dict(props.get("tags") or {}),
        outpost_arn=props.get("outpost_arn"),
        storage_tier=props.get("storage_tier") or "standard",
        timeout=props.get("timeout") or DEFAULT_TIMEOUT,
        creation_token=props.get("creation_token"),
    )


def parse_ebs_snapshot(props: Mapping[str, Any]) -> EbsSnapshotInputs:
    """Typed inputs; raises InvalidInputs if `check` would have refused them."""
    failures = check_ebs_snapshot(props)
    if failures:
        raise InvalidInputs(failures)
    return EbsSnapshotInputs(
        volume_id=props["volume_id"],
        account=parse_account(props),
        settings=parse_settings(props),
        copy_volume_tags=bool(props.get("copy_volume_tags")),
        import_snapshot_id=props.get("import_snapshot_id"),
    )


def parse_instance_snapshots(props: Mapping[str, Any]) -> InstanceSnapshotsInputs:
    failures = check_instance_snapshots(props)
    if failures:
        raise InvalidInputs(failures)
    return InstanceSnapshotsInputs(
        instance_id=props["instance_id"],
        account=parse_account(props),
        settings=parse_settings(props),
        exclude_boot_volume=bool(props.get("exclude_boot_volume")),
        exclude_data_volume_ids=tuple(props.get("exclude_data_volume_ids") or ()),
        copy_tags_from_source=props.get("copy_tags_from_source"),
    )
