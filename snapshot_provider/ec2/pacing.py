"""EC2's request token buckets, kept on this side too: a big stack waits for tokens here instead of being throttled.

EC2 throttles each account's requests per region with a token bucket per API action (EC2 developer guide, "Request
throttling for the Amazon EC2 API": an action's bucket holds up to `capacity` tokens and gets `refill` back per
second; a request that finds it empty is refused with `RequestLimitExceeded`). A stack of a thousand snapshots starts a
thousand CreateSnapshot at once, against a bucket of 100. Retrying them is not enough: botocore's standard retry mode
keeps one retry quota per client (500; a throttled retry costs 5, a success gives 1 back, a success after retries
gives its cost back), and the provider process shares one client per account selection among all its resources, so
a hundred throttled retries in flight spend it, and from then on every throttled call fails at once and the user sees
`RequestLimitExceeded`.

So every EC2 request of the process, retries included, first takes a token from a bucket of the same size here, one
per account, region and action, shared by every resource and client of the process: requests beyond the bucket wait
their turn here (first come, first served), and EC2 sees no more than it allows. A wait happens before botocore signs
the request (its `before-sign` event), so a long queue cannot expire a signature. When EC2 still answers
`RequestLimitExceeded` (another client spent the account's tokens), this side's bucket of that action is emptied, so
the process waits for the refill rather than pressing on. The engine's Cancel (Ctrl-C) ends every wait in the queue,
and no request that starts something (`STARTS`: a snapshot, a volume) is sent after it.

Settings, in the environment of `pulumi up` (the provider process inherits it):

- `SNAPSHOT_API_RATE_SHARE` (default 1): the share of each of EC2's buckets this process uses (its capacity and its
  refill rate): lower it when other tools use the account's API at the same time (0.5: half of it). The capacity
  used is a further 10% lower (`HEADROOM`), for the timing differences between here and EC2 (requests on the way,
  EC2 adding its tokens once a second).
- `SNAPSHOT_API_BUCKETS`: EC2's bucket sizes where AWS raised an account's limits, or for the emulator:
  `CreateSnapshot=200/10,CreateTags=100/10` (capacity/refill per second, by action; the share applies to them too).
- `SNAPSHOT_API_PACING=off`: no pacing (botocore's retries alone, as before).
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any

from snapshot_provider.ec2 import cancel
from snapshot_provider.process.engine_log import duration, engine_log

SHARE_ENV = "SNAPSHOT_API_RATE_SHARE"
BUCKETS_ENV = "SNAPSHOT_API_BUCKETS"
PACING_ENV = "SNAPSHOT_API_PACING"
DEFAULT_SHARE = 1.0
# Of each bucket's capacity: requests that left here together may reach EC2 closer together than they left, and EC2
# adds its tokens once a second rather than continuously; a few tokens of margin absorb both.
HEADROOM = 0.9
# A wait this long is worth a line next to the run's progress (else a queue of creates looks like a hang), at most one
# a bucket every TELL_EVERY seconds.
TELL_AFTER = 5.0
TELL_EVERY = 30.0
# Requests that start something (a snapshot, a volume, a deletion of a volume): after the engine's Cancel (Ctrl-C),
# none is sent any more, wherever it stands in the queue. Any other request waiting in the queue then ends too.
STARTS = frozenset({"CreateSnapshot", "CreateSnapshots", "CreateVolume", "DeleteVolume"})


@dataclass(frozen=True)
class Size:
    """A token bucket's size: at most `capacity` tokens, `refill` more per second."""

    capacity: float
    refill: float

    def used(self, share: float) -> Size:
        """The part of this bucket a process takes: `share` of it, less the headroom on the capacity."""
        return Size(max(1.0, self.capacity * share * HEADROOM), self.refill * share)


# EC2 developer guide, "Request throttling for the Amazon EC2 API", tables "Request token bucket sizes and refill
# rates" (the actions this package calls with a bucket of their own, "Uncategorized actions") ...
PUBLISHED: dict[str, Size] = {
    "CreateSnapshot": Size(100, 5),
    "CreateSnapshots": Size(100, 5),
    "DeleteSnapshot": Size(100, 5),
    "CreateTags": Size(100, 10),
    "DeleteTags": Size(100, 10),
    "CreateVolume": Size(100, 5),
    "DeleteVolume": Size(100, 5),
}
# ... and the categories every other action falls in: "Mutating actions" (ModifySnapshotTier...), "Non-mutating
# actions" (Describe*, Get*, List*, Search*), and "Unfiltered and unpaginated non-mutating actions": these
# Describe* calls made with neither a filter nor pagination take from a smaller bucket of their own.
MUTATING = Size(50, 5)
NON_MUTATING = Size(100, 20)
UNFILTERED = Size(50, 10)
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
NON_MUTATING_PREFIXES = ("Describe", "Get", "List", "Search")
UNFILTERED_SUFFIX = " (unfiltered)"


def bucket_name(action: str, params: dict[str, Any]) -> str:
    """Which of EC2's buckets a request takes its token from: its action's, or the action's smaller unfiltered one."""
    if action in UNFILTERED_ACTIONS and not any(k in params for k in ("Filters", "MaxResults", "NextToken")):
        return action + UNFILTERED_SUFFIX
    return action


def published_size(name: str) -> Size:
    """EC2's published size of a bucket (an action, or an action's unfiltered bucket)."""
    if name.endswith(UNFILTERED_SUFFIX):
        return UNFILTERED
    if name in PUBLISHED:
        return PUBLISHED[name]
    return NON_MUTATING if name.startswith(NON_MUTATING_PREFIXES) else MUTATING


class TokenBucket:
    """A token bucket that makes callers wait for their token, first come, first served.

    A caller reserves the next token under the lock (the count may go below zero: that many are promised to callers
    already waiting) and sleeps, without the lock, until its token has been refilled."""

    def __init__(
        self,
        size: Size,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.size = size
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = size.capacity
        self._at = clock()
        self.waited = 0.0  # seconds callers spent waiting, in all
        self.taken = 0
        self.queued = 0  # callers waiting for a token when the last one arrived, that one included
        self._told_at = -TELL_EVERY

    def _refill(self, now: float) -> None:
        self._tokens = min(self.size.capacity, self._tokens + (now - self._at) * self.size.refill)
        self._at = now

    def take(self) -> float:
        """Take a token, waiting for it if there is none; returns the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def reserve(self) -> float:
        """Reserve the next token; returns how long until it exists (the caller waits that long)."""
        with self._lock:
            self._refill(self._clock())
            self._tokens -= 1
            self.taken += 1
            wait = -self._tokens / self.size.refill if self._tokens < 0 else 0.0
            self.waited += wait
            self.queued = math.ceil(-self._tokens) if self._tokens < 0 else 0
        return wait

    def time_to_tell(self) -> bool:
        """Whether a line about this bucket's queue is due (one every TELL_EVERY seconds at most)."""
        with self._lock:
            now = self._clock()
            if now - self._told_at < TELL_EVERY:
                return False
            self._told_at = now
            return True

    def empty(self) -> None:
        """EC2 said the account's bucket is empty: no token here either until the refill brings one."""
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(self._tokens, 0.0)


@dataclass(frozen=True)
class Policy:
    """The process's pacing settings (see the module's docstring)."""

    enabled: bool = True
    share: float = DEFAULT_SHARE
    sizes: tuple[tuple[str, Size], ...] = ()

    @classmethod
    def from_env(cls) -> Policy:
        enabled = os.environ.get(PACING_ENV, "").strip().lower() not in ("off", "0", "false", "no")
        raw_share = os.environ.get(SHARE_ENV, "").strip()
        try:
            share = float(raw_share) if raw_share else DEFAULT_SHARE
        except ValueError:
            share = -1.0
        if not 0 < share <= 1:
            raise ValueError(
                f"{SHARE_ENV}={raw_share!r} must be a number above 0 and at most 1 (default {DEFAULT_SHARE})"
            )
        return cls(enabled, share, tuple(parse_sizes(os.environ.get(BUCKETS_ENV, "")).items()))

    def size(self, name: str) -> Size:
        return dict(self.sizes).get(name, published_size(name)).used(self.share)


def parse_sizes(text: str) -> dict[str, Size]:
    """`CreateSnapshot=200/10,CreateTags=100/10` -> sizes by action."""
    sizes: dict[str, Size] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, size = item.partition("=")
        capacity, _, refill = size.partition("/")
        try:
            parsed = Size(float(capacity), float(refill))
        except ValueError:
            parsed = Size(0, 0)
        if not name.strip() or parsed.capacity < 1 or parsed.refill <= 0:
            raise ValueError(
                f"{BUCKETS_ENV}: {item!r} is not ACTION=CAPACITY/REFILL with a capacity of at least 1 and a refill "
                "above 0 per second (e.g. CreateSnapshot=200/10)"
            )
        sizes[name.strip()] = parsed
    return sizes


_buckets: dict[tuple[Hashable, str], TokenBucket] = {}
_lock = threading.Lock()


def bucket(account: Hashable, name: str) -> TokenBucket:
    """The process's bucket of `name` (an action's, see `bucket_name`) for `account` (its id and region)."""
    with _lock:
        found = _buckets.get((account, name))
        if found is None:
            found = _buckets[(account, name)] = TokenBucket(Policy.from_env().size(name))
        return found


def buckets() -> dict[tuple[Hashable, str], TokenBucket]:
    """Every bucket the process made (for tests and benchmarks)."""
    with _lock:
        return dict(_buckets)


def reset() -> None:
    """Forget every bucket (tests)."""
    with _lock:
        _buckets.clear()


def install(client: Any, account: Callable[[], Hashable]) -> None:
    """Pace every request `client` makes by the process's buckets of `account()` (called per request: the account
    id may become known after the client was made)."""
    if not Policy.from_env().enabled:
        return
    _paced[client] = account
    events = client.meta.events
    events.register("before-parameter-build.ec2", _remember_bucket)
    events.register("before-sign.ec2", lambda **kwargs: _take(account, **kwargs))
    events.register("response-received.ec2", lambda **kwargs: _on_response(account, **kwargs))


def _remember_bucket(model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    # This event comes once per call, with its parameters; before-sign comes once per attempt, without them.
    context["pacing_bucket"] = bucket_name(model.name, params)


_sent = threading.local()
_paced: weakref.WeakKeyDictionary[Any, Callable[[], Hashable]] = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def turn_taken(client: Any, action: str) -> Iterator[None]:
    """Wait now for a turn of `action` (CreateSnapshot) in `client`'s bucket, so that this thread's next `action`
    request within the block goes without waiting: taken before an instance's writes are paused, the request then
    follows the pause at once, not after a queue (a turn left unused is a token spent, nothing more)."""
    account = _paced.get(client)
    if account is None:  # pacing is off
        yield
        return
    _wait_turn(account, action, action)
    _sent.ahead = action
    try:
        yield
    finally:
        _sent.ahead = None


def last_sent_at() -> float | None:
    """When this thread's last EC2 request left its bucket's queue (wall clock), or None: the moment a create was
    really requested, for `wait_time` and the poll schedule, which a turn in the queue must not count in."""
    return getattr(_sent, "at", None)


def _take(account: Callable[[], Hashable], request: Any, operation_name: str, **_: Any) -> None:
    name = request.context.get("pacing_bucket") or operation_name
    if getattr(_sent, "ahead", None) == name and not cancel.cancelled():  # its turn was taken (`turn_taken`)
        _sent.ahead = None
        _sent.at = time.time()
        return
    _wait_turn(account, name, operation_name)


def _wait_turn(account: Callable[[], Hashable], name: str, operation_name: str) -> None:
    not_sent = f"its turn to send {operation_name} at EC2's API rate (it was not sent)"
    if operation_name in STARTS and cancel.cancelled():
        raise cancel.LookCancelled(f"for {not_sent}")
    chosen = bucket(account(), name)
    wait = chosen.reserve()
    if wait >= TELL_AFTER and chosen.time_to_tell():
        engine_log().info(
            None,
            f"{chosen.queued} {name} requests are waiting for EC2's API rate ({chosen.size.refill:g} a second in "
            f"this account and region): about {duration(wait)} for the last of them",
        )
    if wait > 0:
        cancel.pause(wait, f"for {not_sent}")
    _sent.at = time.time()


def _on_response(account: Callable[[], Hashable], parsed_response: Any, context: dict[str, Any], **_: Any) -> None:
    code = ((parsed_response or {}).get("Error") or {}).get("Code")
    if code == "RequestLimitExceeded" and context.get("pacing_bucket"):
        bucket(account(), context["pacing_bucket"]).empty()
