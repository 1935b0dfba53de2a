"""Rules for single input values: pure functions that return why a value is refused (or nothing when it is fine).

Each reason names the rule and the fix; `schema` puts the property name in front. Values still unknown during a
preview (outputs of other resources) never reach a rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any
from urllib.parse import urlparse

from botocore.loaders import create_loader
from pulumi.output import Unknown

# A rule returns nothing for a good value, else one reason or several.
Rule = Callable[[Any], "str | Sequence[str] | None"]

VOLUME_ID = re.compile(r"^vol-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
INSTANCE_ID = re.compile(r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
SNAPSHOT_ID = re.compile(r"^snap-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
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
STORAGE_TIERS = ("standard", "archive")

# Tags under this prefix belong to the provider (see `lifecycle`); users may not set them.
MANAGED_TAG_PREFIX = "pulumi-snapshot:"
# How many of a snapshot's tags the lifecycle uses (the resource's and the attempt's): input tags get the rest.
LIFECYCLE_TAG_COUNT = 2
# EC2's limit on the values of one filter (DescribeSnapshots, DescribeImages): ids are asked for in batches of it.
MAX_FILTER_VALUES = 200


# How the engine sends a value that is not known yet (the output of a resource not created yet) to a provider: a
# constant of Pulumi's provider protocol. The SDK's dynamic-provider host turns it into a `pulumi.output.Unknown`
# before `check` and `diff` see it; both forms are accepted.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def is_unknown(value: Any) -> bool:
    """True for a value that is not known yet during a preview (the output of another resource)."""
    return isinstance(value, Unknown) or (isinstance(value, str) and value == UNKNOWN)


def contains_unknown(value: Any) -> bool:
    """True when `value`, or anything inside it (a list item, a map's value), is not known yet: an unknown can be
    nested (a tag value or an excluded volume id from another resource's output)."""
    if is_unknown(value):
        return True
    if isinstance(value, Mapping):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(contains_unknown(v) for v in value)
    return False


def _string(pattern: re.Pattern[str], what: str, *, echo: bool = True) -> Rule:
    """A rule for strings of a pattern; `echo=False` for a secret, whose value a reason must never show."""

    def rule(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be a string, got {type(value).__name__}"
        if not value:
            return f"must not be empty (expected {what})"
        if not pattern.match(value):
            return f"{value!r} is not {what}" if echo else f"is not {what}; the value is secret and not shown"
        return None

    return rule


volume_id = _string(VOLUME_ID, "a valid EBS volume id (expected vol- followed by 8 or 17 hex digits)")
snapshot_id = _string(SNAPSHOT_ID, "a valid EBS snapshot id (expected snap- followed by 8 or 17 hex digits)")
instance_id = _string(INSTANCE_ID, "a valid EC2 instance id (expected i- followed by 8 or 17 hex digits)")


@cache
def _partitions() -> list[tuple[str, frozenset[str], re.Pattern[str]]]:
    """Botocore's partitions (its data file `partitions.json`): id, known regions, and the pattern of its region
    names. botocore learns a new partition or region with each release, so the rule follows the installed one."""
    data = create_loader().load_data("partitions")
    return [(p["id"], frozenset(p["regions"]), re.compile(p["regionRegex"])) for p in data["partitions"]]


def partition_of(name: str) -> str | None:
    """The partition of a region name (aws, aws-cn, aws-eusc, ...): the one listing it, else the one whose region
    names it matches (a region newer than botocore); None for a name no partition takes."""
    listed = [pid for pid, known, _ in _partitions() if name in known and not name.endswith("-global")]
    matched = [pid for pid, _, pattern in _partitions() if pattern.match(name)]
    return next(iter(listed + matched), None)


def region(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if not value:
        return "must not be empty (expected an AWS region name, such as us-east-1)"
    if partition_of(value) is None:
        return f"{value!r} is not an AWS region name: no partition botocore knows has it (expected e.g. us-east-1)"
    return None


outpost_arn = _string(OUTPOST_ARN, "an Outpost ARN (expected arn:aws:outposts:REGION:ACCOUNT:outpost/op-...)")
role_arn = _string(ROLE_ARN, "an IAM role ARN (expected arn:aws:iam::123456789012:role/NAME)")
external_id = _string(
    EXTERNAL_ID, "a valid external id (2-1224 characters of letters, digits and +=,.@:/-)", echo=False
)
role_session_name = _string(
    ROLE_SESSION_NAME, "a valid role session name (2-64 characters of letters, digits and +=,.@-)"
)


def description(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if len(value) > MAX_DESCRIPTION:
        return f"is {len(value)} characters long; EC2 allows at most {MAX_DESCRIPTION}"
    return None


def profile(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if not value.strip() or value != value.strip():
        return f"{value!r} is not a profile name (empty or surrounded by spaces)"
    return None


def boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {type(value).__name__} {value!r}"


def storage_tier(value: Any) -> str | None:
    if value not in STORAGE_TIERS:
        return f"{value!r} is not a storage tier (expected one of: {', '.join(STORAGE_TIERS)})"
    return None


def timeout(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"must be a number of seconds, got {type(value).__name__} {value!r}"
    if not MIN_TIMEOUT <= value <= MAX_TIMEOUT:
        return f"{value} seconds is out of range (expected {MIN_TIMEOUT} to {MAX_TIMEOUT}, that is up to 7 days)"
    return None


def endpoint_url(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return f"{value!r} is not an http(s) URL (expected something like https://ec2.us-east-1.amazonaws.com)"
    return None


def allowed_account_ids(value: Any) -> str | None:
    if not isinstance(value, (list, tuple)):
        return f"must be a list of 12-digit account ids, got {type(value).__name__}"
    if not value:
        return "must not be empty: leave it unset to allow any account"
    bad = [v for v in value if not is_unknown(v) and (not isinstance(v, str) or not ACCOUNT_ID.match(v))]
    if bad:
        return f"{bad[0]!r} is not an AWS account id (expected 12 digits, as a string)"
    return None


def volume_ids(value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)):
        return [f"must be a list of volume ids, got {type(value).__name__}"]
    reasons = [str(reason) for v in value if not is_unknown(v) and (reason := volume_id(v))]
    known = [v for v in value if not is_unknown(v)]
    if len(set(known)) != len(known):
        reasons.append("lists a volume more than once")
    return reasons


def copy_tags_from_source(value: Any) -> str | None:
    return None if value == "volume" else f"{value!r} is not supported (the only value EC2 accepts is 'volume')"


def tags(value: Any, managed: int = LIFECYCLE_TAG_COUNT) -> list[str]:
    """EC2 tag rules: count, key and value lengths, and keys reserved for AWS and for this provider."""
    if not isinstance(value, Mapping):
        return [f"must be a map of strings to strings, got {type(value).__name__}"]
    reasons = []
    if len(value) > MAX_TAGS - managed:
        reasons.append(
            f"has {len(value)} tags; EC2 allows {MAX_TAGS} per snapshot and this provider uses {managed}, "
            f"so at most {MAX_TAGS - managed}"
        )
    for key, tag_value in value.items():
        if not is_unknown(key) and not is_unknown(tag_value):
            reasons += _tag_reasons(key, tag_value)
    return reasons


def _tag_reasons(key: Any, value: Any) -> list[str]:
    if not isinstance(key, str) or not key:
        return [f"tag key {key!r} must be a non-empty string"]
    reasons = []
    if len(key) > MAX_TAG_KEY:
        reasons.append(f"tag key {key[:20]!r}... is {len(key)} characters; at most {MAX_TAG_KEY}")
    if key.lower().startswith("aws:"):
        reasons.append(f"tag key {key!r} uses the prefix 'aws:', which is reserved for AWS")
    if key.startswith(MANAGED_TAG_PREFIX):
        reasons.append(f"tag key {key!r} uses the prefix {MANAGED_TAG_PREFIX!r}, which this provider manages")
    if not isinstance(value, str):
        reasons.append(f"tag {key!r} must have a string value, got {type(value).__name__}")
    elif len(value) > MAX_TAG_VALUE:
        reasons.append(f"tag {key!r} has a value of {len(value)} characters; at most {MAX_TAG_VALUE}")
    return reasons


def triggers(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return f"must be a map of names to values, got {type(value).__name__}"
    for name, v in value.items():
        reason = None if is_unknown(v) else trigger(v)
        if reason:
            return f"trigger {name!r} {reason}"
    return None


def role_account(role: Any) -> str | None:
    """The account id in a role ARN, or None."""
    match = ROLE_ARN.match(role) if isinstance(role, str) else None
    return match.group(1) if match else None


def trigger(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        # NaN equals nothing, not even itself (every run would take a snapshot); infinities do not fit in state.
        return f"must be a finite number, got {value!r}: use a string such as the date or the release instead"
    if isinstance(value, (str, int, float, bool)):
        return None
    return f"must be a string, number or boolean (it is compared between runs), got {type(value).__name__}"


def keep_last(value: Any) -> str | None:
    # Numbers come back from Pulumi state as floats: 3.0 is 3.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        return f"must be a whole number of snapshots, got {type(value).__name__} {value!r}"
    if value < 1:
        return f"is {value:g}; at least 1 (the newest completed snapshot is always kept)"
    return None


def days(minimum: float, inclusive: bool) -> Rule:
    """A number of days, at least (or more than) `minimum`."""

    def rule(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"must be a number of days, got {type(value).__name__} {value!r}"
        if value < minimum or (value == minimum and not inclusive):
            return f"is {value:g} days; it must be {'at least' if inclusive else 'more than'} {minimum:g}"
        return None

    return rule
