"""Taking new snapshots: each request made when the volume's limits allow it, never repeated blindly (a lost
answer is looked for by its attempt id first).
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapshot_provider.core import waiting
from snapshot_provider.core.lifecycle.shapes import ATTEMPT_TAG, RESOURCE_TAG, Requests, Taken, resource_token, say
from snapshot_provider.core.sources import Member, Source
from snapshot_provider.core.volume_limits import GATE, PER_VOLUME_CODES, RECHECK, TOO_MANY_PENDING, LimitWaitExpired
from snapshot_provider.core.waiting import (
    consistency_window,
)
from snapshot_provider.ec2 import cancel, clients, pacing, snapshots
from snapshot_provider.ec2.errors import (
    SnapshotProviderError,
    SnapshotTimedOut,
    error_code,
    explain,
    is_throttling,
)
from snapshot_provider.inputs import rules
from snapshot_provider.inputs.declarations import AccountSelection

# Requests throttled, never sent or answered ambiguously before a create gives up (botocore's own retries: 20).
MAX_REQUESTS = 20
# A volume or instance made moments ago (by pulumi-aws in the same stack) is refused with these until EC2 knows it
# ("Eventual consistency in the Amazon EC2 API": retry with backoff): asked again within the consistency window.
JUST_MADE_NOT_FOUND = frozenset({"InvalidVolume.NotFound", "InvalidInstanceID.NotFound"})


def desired_tags(ec2: Any, kind: Source, inputs: Mapping[str, Any], members: list[Member]) -> dict[str, dict[str, str]]:
    """Each volume's snapshot tags as the inputs ask: the volume's own when copied, then the input tags (they win)."""
    volume_ids = [m.volume_id for m in members]
    copied = snapshots.volume_tags(ec2, volume_ids, inputs["region"]) if kind.copies_volume_tags(inputs) else {}
    desired = {v: {**copied.get(v, {}), **inputs["tags"]} for v in volume_ids}
    limit = rules.MAX_TAGS - rules.LIFECYCLE_TAG_COUNT
    for volume_id, tags in desired.items():
        if len(tags) > limit:  # the input tags alone were checked at preview; the volume's are known only now
            raise SnapshotProviderError(
                f"tags: the snapshot of {volume_id} would carry {len(tags)} tags with the volume's "
                f"{len(copied[volume_id])} copied, and EC2 allows {rules.MAX_TAGS} per snapshot, this provider using "
                f"{rules.LIFECYCLE_TAG_COUNT}: at most {limit}. Nothing was changed: pass fewer tags, or stop copying "
                "the volume's"
            )
    return desired


def asker(urn: str | None, attempt: str) -> str:
    """Who asks for a take's snapshots, `<resource token>/<attempt id>`: what an instance's stopped-by tag names."""
    return f"{resource_token(urn) if urn else 'unnamed'}/{attempt}"


def request_tags(
    kind: Source,
    inputs: Mapping[str, Any],
    desired: Mapping[str, Mapping[str, str]],
    urn: str | None,
    extra_tags: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The tags every request of a create sets (each adds its own ATTEMPT_TAG): the volumes' `desired` tags as the
    kind's request carries them, `extra_tags` (a series' id), and the resource's token."""
    tags = {**kind.request_tags(inputs, desired), **(extra_tags or {})}
    return tags | ({RESOURCE_TAG: resource_token(urn)} if urn else {})


def take(
    account: AccountSelection,
    kind: Source,
    inputs: Mapping[str, Any],
    members: list[Member],
    urn: str | None,
    deadline: float,
    extra_tags: Mapping[str, str] | None = None,
) -> Taken:
    """Start new snapshots, tagged with this resource and each request's own attempt id; never two for one create
    (see the module docstring), and each request only when the volumes' limits allow it."""
    ec2 = clients.client(account)
    once = clients.client(account, single_attempt=True)
    tags = request_tags(kind, inputs, desired_tags(ec2, kind, inputs, members), urn, extra_tags)
    volumes = [m.volume_id for m in members]
    what = f"the {kind.noun} of {kind.source(inputs)}"
    requests = Requests()
    told: set[str] = set()

    def tell(key: str, line: str) -> None:
        if key not in told:
            told.add(key)
            say(urn, line)

    failures = 0
    while True:
        try:
            turn = GATE.turn(volumes, deadline, lambda line: tell("turn", line))
        except LimitWaitExpired:
            if requests.not_found is not None:
                raise SnapshotProviderError(_never_found(requests.not_found, what, inputs)) from requests.not_found
            raise SnapshotTimedOut(_not_requested(what, inputs)) from None
        if requests.lost:  # one more look before asking again: the turn may have come after a long wait
            found = look_for_lost(ec2, requests, members, time.monotonic())
            if found is not None:
                GATE.release(volumes)
                return found
        attempt = secrets.token_hex(8)
        requests.sent[attempt] = {**tags, ATTEMPT_TAG: attempt}
        requested_at = time.time()  # wait_time and the poll schedule count from the request that went through
        by = asker(urn, attempt)
        try:
            started = kind.start(ec2, once, inputs, members, requests.sent[attempt], by)
            requested_at = max(requested_at, pacing.last_sent_at() or 0.0)  # after its turn in the API's queue
        except cancel.LookCancelled:  # Ctrl-C while in EC2's API queue: this request was not sent
            GATE.release(volumes)
            raise
        except (ClientError, BotoCoreError) as error:
            code = error_code(error)
            if code in PER_VOLUME_CODES:
                GATE.refused(str(code), volumes)
            elif is_throttling(error) or snapshots.never_sent(error):
                GATE.give_back(turn)
            else:
                GATE.release(volumes)
            found = _after_refusal(ec2, error, attempt, requests, members, deadline, what, inputs, tell)
            if found is not None:
                return found
            failures += 0 if code in PER_VOLUME_CODES else 1
            if failures >= MAX_REQUESTS:
                raise SnapshotProviderError(
                    explain(error, f"taking {what}", region=inputs.get("region"))
                    + f" ({failures} requests failed; any snapshot they made is tagged as this resource's, and the "
                    "next `pulumi up` adopts or deletes it)"
                ) from error
            if not snapshots.is_ambiguous(error) and code not in PER_VOLUME_CODES:
                cancel.pause(min(10.0, 0.25 * 2**failures) * random.uniform(0.5, 1.0), f"to ask again for {what}")
            continue
        requests.answered = attempt
        written = {s["SnapshotId"]: requests.sent[attempt] for s in started}
        return Taken(started, requested_at, written, requests=requests, gated=volumes)


def _after_refusal(
    ec2: Any,
    error: ClientError | BotoCoreError,
    attempt: str,
    requests: Requests,
    members: list[Member],
    deadline: float,
    what: str,
    inputs: Mapping[str, Any],
    tell: Callable[[str, str], None],
) -> Taken | None:
    """What a failed request means: the snapshots an earlier request made (found), or None to ask again once the
    cause has passed. Raises for errors asking again cannot fix."""
    code = error_code(error)
    if snapshots.is_ambiguous(error):
        requests.lost.append(attempt)
        requests.lost_at = time.monotonic()
        tell(
            "lost",
            f"the answer to the request for {what} was lost ({str(error).split(':')[0]}); looking for what it made "
            f"before asking again (EC2 lists a new snapshot only after a delay: up to "
            f"{consistency_window():g}s, SNAPSHOT_CONSISTENCY_WINDOW)",
        )
        return look_for_lost(ec2, requests, members, deadline)
    if code in PER_VOLUME_CODES:
        if requests.lost:  # a refusal of this volume's next request: the lost one most likely went through
            requests.lost_at = time.monotonic()  # so look for it a while longer
            found = look_for_lost(ec2, requests, members, deadline)
            if found is not None:
                return found
        if code == TOO_MANY_PENDING:
            tell(
                "pending",
                f"waiting to request {what}: the volume has as many pending snapshots as EC2 allows "
                "(ConcurrentSnapshotLimitExceeded); the request goes once one of them completes, within timeout",
            )
            try:
                GATE.wait_for_room([m.volume_id for m in members], deadline, RECHECK)
            except LimitWaitExpired:
                raise SnapshotTimedOut(_not_requested(what, inputs)) from None
        return None  # the rate limit: the gate spaces the next request
    if is_throttling(error) or snapshots.never_sent(error):
        return None
    if code in JUST_MADE_NOT_FOUND and time.monotonic() < requests.first_at + consistency_window():
        requests.not_found = error
        tell(
            "not listed",
            f"EC2 does not know the source of {what} yet ({code}): one made moments ago (in this stack) is known "
            f"only after a delay; asking again for up to {consistency_window():g}s (SNAPSHOT_CONSISTENCY_WINDOW)",
        )
        return None
    raise SnapshotProviderError(explain(error, f"taking {what}", region=inputs.get("region"))) from error


def look_for_lost(ec2: Any, requests: Requests, members: list[Member], deadline: float) -> Taken | None:
    """The snapshots of a request whose answer was lost: looked for, with backoff, until the consistency window after
    the last lost answer has passed (or the deadline)."""
    volumes = {m.volume_id for m in members}

    def look() -> Taken | None:
        for attempt in requests.lost:
            made = {s["VolumeId"]: s for s in snapshots.find_tagged(ec2, ATTEMPT_TAG, attempt)}
            if volumes <= set(made):
                found = [made[v] for v in sorted(volumes)]
                written = {s["SnapshotId"]: requests.sent[attempt] for s in found}
                return Taken(found, _start_time(found), written, requests=requests)
        return None

    looked_for_until = min(deadline, requests.lost_at + consistency_window())
    return waiting.until(
        look,
        lambda found: found is not None,
        looked_for_until - time.monotonic(),
        what="for EC2 to list what a request whose answer was lost made",
        every=1.0,
        most=30.0,
    )


def _not_requested(what: str, inputs: Mapping[str, Any]) -> str:
    return (
        f"{what} was not requested: the volume's snapshot limits (pending snapshots, one request per 15 s) left no "
        f"room within the timeout of {float(inputs['timeout']):g}s. Nothing was taken: run `pulumi up` again once "
        "the volume's pending snapshots completed, or raise timeout"
    )


def _never_found(error: ClientError | BotoCoreError, what: str, inputs: Mapping[str, Any]) -> str:
    """A source EC2 said does not exist until the timeout ended the retries (the volume's limits only spaced them)."""
    return (
        explain(error, f"taking {what}", region=inputs.get("region"))
        + f" It was asked again until the timeout ({float(inputs['timeout']):g}s): EC2 may list a volume or instance "
        "created moments ago only after a delay; if it was just created, run `pulumi up` again (or raise timeout). "
        "Nothing was taken."
    )


def _start_time(found: list[dict[str, Any]]) -> float:
    return min(snapshots.aware(s["StartTime"]) for s in found).timestamp()
