"""EC2's request throttling: a token bucket per account, region and API action (EC2 developer guide, "Request
throttling for the Amazon EC2 API", https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html).

"Each API is evaluated individually": every action has its own bucket, sized by its category (non-mutating,
unfiltered-and-unpaginated non-mutating, mutating, resource-intensive) unless the guide lists it among the
"uncategorized actions" with sizes of its own. A request takes one token; an empty bucket answers
`RequestLimitExceeded` (HTTP 503, as EC2 does) and the request is not carried out. Buckets refill continuously at their
rate up to their capacity. The guide's resource-rate buckets (RunInstances and friends: tokens per instance) are not
reproduced: none of this project's calls uses them.

Only EC2 actions are throttled here (STS has limits of its own that AWS does not publish per action).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from emulator import strict

# Category -> (bucket maximum capacity, refill rate per second), from the guide's "Request token bucket sizes".
PUBLISHED_CLASSES: dict[str, tuple[float, float]] = {
    "non_mutating": (100, 20),
    "unfiltered": (50, 10),
    "mutating": (50, 5),
    "resource_intensive": (50, 5),
}
# Non-mutating actions that take from the smaller "unfiltered" bucket when called with neither a filter nor pagination.
UNFILTERED_ACTIONS = frozenset(
    {
        "DescribeInstances",
        "DescribeInstanceStatus",
        "DescribeNetworkInterfaces",
        "DescribeSecurityGroups",
        "DescribeSnapshots",
        "DescribeSpotInstanceRequests",
        "DescribeVolumes",
    }
)
RESOURCE_INTENSIVE_ACTIONS = frozenset(
    {
        "AcceptVpcPeeringConnection",
        "AuthorizeSecurityGroupIngress",
        "CancelSpotInstanceRequests",
        "CreateKeyPair",
        "CreateVpcPeeringConnection",
        "DeleteVpcPeeringConnection",
        "RejectVpcPeeringConnection",
        "RevokeSecurityGroupIngress",
        "RequestSpotInstances",
    }
)
# The guide's "uncategorized actions" this project's calls (and the emulator's seeding) can reach, with their own sizes.
PUBLISHED_ACTIONS: dict[str, tuple[float, float]] = {
    "CopyImage": (100, 1),
    "CreateSnapshot": (100, 5),
    "CreateSnapshots": (100, 5),
    "CreateTags": (100, 10),
    "CreateVolume": (100, 5),
    "DeleteSnapshot": (100, 5),
    "DeleteTags": (100, 10),
    "DeleteVolume": (100, 5),
    "DeregisterImage": (100, 5),
    "ModifyImageAttribute": (100, 5),
    "ModifySnapshotAttribute": (100, 5),
    "RunInstances": (5, 2),
    "StartInstances": (5, 2),
    "TerminateInstances": (100, 5),
}
NON_MUTATING_PREFIXES = ("Describe", "List", "Search", "Get")
# Pagination or a narrowing of the result: what moves a call out of the "unfiltered" bucket. The guide names filters and
# pagination; ids are taken as narrowing too (it does not say).
NARROWING_PREFIXES = ("Filter.", "MaxResults", "NextToken", "SnapshotId.", "VolumeId.", "InstanceId.", "GroupId.")


def category(action: str, params: dict[str, str]) -> str:
    """The guide's category of one request: `uncategorized` (own sizes), `unfiltered`, `non_mutating`, ..."""
    if action in PUBLISHED_ACTIONS:
        return "uncategorized"
    if action in RESOURCE_INTENSIVE_ACTIONS:
        return "resource_intensive"
    if action.startswith(NON_MUTATING_PREFIXES):
        if action in UNFILTERED_ACTIONS and not any(k.startswith(NARROWING_PREFIXES) for k in params):
            return "unfiltered"
        return "non_mutating"
    return "mutating"


def bucket_name(action: str, params: dict[str, str]) -> str:
    """The bucket a request takes from: the action's own, or its smaller unfiltered one."""
    return f"{action} (unfiltered)" if category(action, params) == "unfiltered" else action


def size(action: str, bucket_category: str) -> tuple[float, float]:
    """(capacity, refill per second) of an action's bucket in a category, overrides first (action, then class)."""
    overrides = strict.SETTINGS.bucket_overrides
    if action in overrides:
        return overrides[action]
    if bucket_category == "uncategorized":
        return PUBLISHED_ACTIONS[action]
    return overrides.get(bucket_category, PUBLISHED_CLASSES[bucket_category])


@dataclass
class Bucket:
    capacity: float
    refill_per_second: float
    tokens: float
    updated_at: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated_at) * self.refill_per_second)
        self.updated_at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Throttle:
    """Every bucket, by (account, region, bucket name), and how many requests each action had refused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, str], Bucket] = {}
        self._throttled: Counter[str] = Counter()

    def admit(self, account_id: str, region: str, action: str, params: dict[str, str]) -> bool:
        """Take a token for one request; False (and counted) when its bucket is empty. Always True when off."""
        if not strict.SETTINGS.throttling or not action:
            return True
        bucket_category = category(action, params)
        capacity, refill = size(action, bucket_category)
        key = (account_id, region, bucket_name(action, params))
        now = strict.CLOCK.monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None or (bucket.capacity, bucket.refill_per_second) != (capacity, refill):
                # New, or resized by an override: starts full, as an account's bucket does.
                bucket = self._buckets[key] = Bucket(capacity, refill, capacity, now)
            if bucket.take(now):
                return True
            self._throttled[action] += 1
            return False

    def throttled(self) -> dict[str, int]:
        with self._lock:
            return dict(self._throttled)

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._throttled.clear()


THROTTLE = Throttle()


def effective_sizes(actions: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """The bucket sizes in force (overrides applied): each class, each published action, and any action asked for."""
    sizes: dict[str, dict[str, Any]] = {}
    for name in PUBLISHED_CLASSES:
        capacity, refill = size(f"<{name}>", name)
        sizes[f"<{name}>"] = {"capacity": capacity, "refill_per_second": refill, "class": name}
    for action in sorted(set(PUBLISHED_ACTIONS) | set(actions or [])):
        bucket_category = category(action, {"Filter.1.Name": "x"})
        capacity, refill = size(action, bucket_category)
        sizes[action] = {"capacity": capacity, "refill_per_second": refill, "class": bucket_category}
        if action in UNFILTERED_ACTIONS:
            capacity, refill = size(action, "unfiltered")
            sizes[f"{action} (unfiltered)"] = {"capacity": capacity, "refill_per_second": refill, "class": "unfiltered"}
    return sizes


def api_floor_seconds(calls: int, capacity: float, refill_per_second: float) -> float:
    """The least time `calls` requests from one full bucket can take: the burst is free, the rest come at the rate."""
    if calls <= capacity:
        return 0.0
    if refill_per_second <= 0:
        return float("inf")
    return (calls - capacity) / refill_per_second
