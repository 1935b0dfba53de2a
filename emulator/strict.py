"""The strict EC2 mode: every setting that makes the emulator as hard as EC2, in one place.

`Ec2Emulator.configure(strict=True)` (or `python -m emulator --strict`, `EMULATOR_STRICT=1 ./run.sh`, or
`POST /_emulator/configure {"strict": true}`) sets every field below to its value in `STRICT`; `strict=False` sets them
back to `LENIENT`, the emulator's behaviour before the strict mode existed (the default). Any field can also be set on
its own, in the same call or later, to turn one behaviour up or off: `configure(strict=True, listing_delay=(20, 20))`,
`configure(throttling=False)`. Over HTTP the names are the same and a pair is a two-element list:
`{"strict": true, "listing_delay": [20, 20]}`. `Ec2Emulator.settings()` (`POST /_emulator/settings`) reads them back.

The helpers that go with it, each a method of `Ec2Emulator` and a control endpoint of the same name (dashes for
underscores, `POST /_emulator/<name>` with a JSON body of keyword arguments):

- `sts_url` (property; also `"sts_url"` in `python -m emulator`'s ready file): STS on its own port. Point botocore at
  it with `AWS_ENDPOINT_URL_STS` (or `boto3.client("sts", endpoint_url=...)`) next to `AWS_ENDPOINT_URL` for EC2.
- `credentials(account_id) -> {"aws_access_key_id", "aws_secret_access_key", "account_id"}`: static keys acting in
  that account (same keys on every call). Keys the emulator does not know act in `DEFAULT_ACCOUNT_ID` (123456789012),
  as before. `sts:AssumeRole` into `arn:aws:iam::<account>:role/<name>` gives keys acting in that account.
- `expire_credentials(access_key_id)`: every later call with that key (static or session) fails `ExpiredToken`.
- `sessions() -> [{"access_key_id", "account_id", "role_arn", "expires_at", "chained", "expired"}]`.
- `settle()`: every pending listing, tag and deletion delay ends now. `advance_clock(seconds)`: moves the strict
  behaviours' clock (`CLOCK`) forward.
- `throttled() -> {action: count}`: calls answered `RequestLimitExceeded` by the buckets (not by `throttle_rate`).
- `buckets() -> {action or "<class>": {"capacity", "refill_per_second", "class"}}`: the effective bucket sizes.
- `call_stats() -> {"actions": {action: {"count", "total_seconds", "mean_seconds", "cpu_seconds"}},
  "process_cpu_seconds"}`: the emulator's own time per action (server side).
- `accounts() -> {account_id: {region: {"volumes", "snapshots", "images"}}}`: what each account holds.
- `account_id=` and `region=` keyword arguments on `seed_volumes`, `seed_instance`, `seed_world`, `export_world`,
  `snapshots`, `age_snapshot` and `ec2_backend`: any account and region (default: `DEFAULT_ACCOUNT_ID`, the
  emulator's region).

Each field names the AWS document its behaviour and strict value come from; where AWS publishes no number, the field
says so and the strict value is the emulator's choice. The behaviours themselves live where their state does:
`consistency` (listing and tag delays), `models` (per-volume limits, encryption, archive restores, client tokens,
pagination), `throttling` (token buckets), `accounts` (accounts, credentials, sessions), `server` (the STS endpoint).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, fields, replace
from typing import Any

HOUR = 3600.0

# EBS user guide, "Create Amazon EBS snapshots": "a limit of five pending snapshots for a single gp2, io1, or Magnetic
# volume, and one pending snapshot for a single st1 or sc1 volume" (gp3 and io2, SSD types added since, as gp2/io1).
PUBLISHED_PENDING_SNAPSHOTS_PER_VOLUME = {"standard": 5, "gp2": 5, "gp3": 5, "io1": 5, "io2": 5, "st1": 1, "sc1": 1}


@dataclass
class StrictSettings:
    """The strict mode's knobs. Defaults are `LENIENT` (today's behaviour); `STRICT` holds the strict values."""

    # --- 1. eventual consistency (EC2 developer guide, "Eventual consistency in the Amazon EC2 API") -------------
    # AWS publishes no delay ("retry ... up to a few minutes"); each resource or tag change draws its own delay,
    # uniformly in [lo, hi] seconds, from the seeded random sequence (`seed`).
    listing_delay: tuple[float, float] = (0.0, 0.0)
    """Seconds a new snapshot, volume or image stays out of Describe* listings and filters; by id: `...NotFound`."""
    tag_delay: tuple[float, float] = (0.0, 0.0)
    """Seconds a tag change (CreateTags, DeleteTags, TagSpecifications) stays unseen by Describe* and tag filters."""
    deleted_listing_delay: tuple[float, float] = (0.0, 0.0)
    """Seconds a deleted snapshot, volume or image is still listed (as it was; a volume as `deleting`)."""
    mutations_see_delay: bool = False
    """Calls naming a not-yet-visible resource by id (DeleteSnapshot, CreateTags, CreateVolume from it...) fail
    with its `...NotFound`, as the eventual-consistency guide says modify calls may."""

    # --- 3. per-volume snapshot limits -------------------------------------------------------------------------
    pending_snapshots_per_volume: dict[str, int] = field(default_factory=dict)
    """Volume type -> most `pending` snapshots of one volume; one more: `ConcurrentSnapshotLimitExceeded`.
    A type not listed has no limit. Strict: `PUBLISHED_PENDING_SNAPSHOTS_PER_VOLUME` (EBS user guide)."""
    snapshot_interval_per_volume: float = 0.0
    """Seconds between two CreateSnapshot of one volume; sooner: `SnapshotCreationPerVolumeRateExceeded`
    (EC2 API error codes: "Wait at least 15 seconds between concurrent volume snapshots")."""

    # --- 4. throttling (EC2 developer guide, "Request throttling for the Amazon EC2 API") ----------------------
    throttling: bool = False
    """Token buckets per account, region and API action, with the published sizes (`throttling.PUBLISHED_*`);
    an empty bucket answers `RequestLimitExceeded` (HTTP 503)."""
    bucket_overrides: dict[str, tuple[float, float]] = field(default_factory=dict)
    """(capacity, refill per second) by action name (`CreateSnapshot`) or class (`mutating`, `non_mutating`,
    `unfiltered`, `resource_intensive`); an action's own entry wins over its class's."""

    # --- 6. STS on its own endpoint (AWS SDKs and Tools reference, "Service-specific endpoints") ---------------
    sts_separate_endpoint: bool = False
    """The EC2 URL refuses STS actions (`InvalidAction`, as an EC2 endpoint would); STS answers on `sts_url`.
    Off: the EC2 URL serves STS too. `sts_url` serves STS in either mode."""

    # --- 7. session credentials (STS API reference, AssumeRole `DurationSeconds`; IAM guide, role chaining) -----
    session_expiry: bool = False
    """AssumeRole / AssumeRoleWithWebIdentity sessions end after `DurationSeconds` (default 3600); every call with
    them then fails `ExpiredToken`. DurationSeconds outside 900..the role's maximum, or over 3600 for a chained role,
    fails `ValidationError`."""
    session_duration_scale: float = 1.0
    """Multiplies every session's duration (0.001: a 1 h session lasts 3.6 s); `Expiration` answers the scaled time."""
    role_max_session_seconds: int = 43200
    """Maximum DurationSeconds of a role that moto's IAM does not hold (a role created there uses its own
    MaxSessionDuration). AWS: 1 to 12 h per role; the emulator cannot know an unknown role's, so 12 h."""

    # --- 8. parameter rules (EC2 API reference: CreateVolume, RestoreSnapshotTier, DescribeSnapshots) ----------
    archive_restore_required: bool = False
    """CreateVolume from an archived snapshot fails `IncorrectState` until RestoreSnapshotTier has finished (the EBS
    user guide; AWS publishes no error code for it: the emulator's choice)."""
    restore_seconds: tuple[float, float] = (0.0, 0.0)
    """How long RestoreSnapshotTier takes, drawn in [lo, hi] per request (EBS user guide: 24 to 72 hours)."""
    parameter_rules: bool = False
    """Request rules moto skips: MaxResults at least 5 and never with SnapshotIds / VolumeIds; tag keys not `aws:...`,
    keys up to 128 and values up to 256 characters; CreateVolume no smaller than its snapshot
    (`InvalidParameterValue`, `InvalidParameterCombination`)."""
    client_token_idempotency: bool = True
    """CreateVolume with a ClientToken seen before: same parameters, the same volume; others:
    `IdempotentParameterMismatch` (EC2 developer guide, "Ensuring idempotency"). On in every mode."""

    def as_plain(self) -> dict[str, Any]:
        """The settings as JSON-ready data (pairs as lists)."""
        plain: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, dict):
                value = {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
            plain[f.name] = value
        return plain


LENIENT = StrictSettings()
STRICT = StrictSettings(
    listing_delay=(1.0, 5.0),
    tag_delay=(1.0, 5.0),
    deleted_listing_delay=(1.0, 5.0),
    mutations_see_delay=True,
    pending_snapshots_per_volume=dict(PUBLISHED_PENDING_SNAPSHOTS_PER_VOLUME),
    snapshot_interval_per_volume=15.0,
    throttling=True,
    sts_separate_endpoint=True,
    session_expiry=True,
    archive_restore_required=True,
    restore_seconds=(24 * HOUR, 72 * HOUR),
    parameter_rules=True,
)
SETTING_NAMES = frozenset(f.name for f in fields(StrictSettings))
PAIR_SETTINGS = frozenset({"listing_delay", "tag_delay", "deleted_listing_delay", "restore_seconds"})

# One instance, changed in place: modules read `strict.SETTINGS.<name>` at the moment they need it.
SETTINGS = replace(LENIENT)


def preset(strict: bool) -> StrictSettings:
    """A fresh copy of the strict or the lenient values."""
    chosen = STRICT if strict else LENIENT
    return replace(
        chosen,
        pending_snapshots_per_volume=dict(chosen.pending_snapshots_per_volume),
        bucket_overrides=dict(chosen.bucket_overrides),
    )


def apply(settings: dict[str, Any]) -> None:
    """Set strict-mode fields by name: `strict` first (the whole preset), then each named field (checked)."""
    checked = {name: _checked(name, value) for name, value in settings.items() if name != "strict"}
    if "strict" in settings:
        _copy(preset(bool(settings["strict"])))
    for name, value in checked.items():
        setattr(SETTINGS, name, value)


def reset() -> None:
    """Back to the lenient values, and the clock to real time."""
    _copy(preset(False))
    CLOCK.reset()


def _copy(source: StrictSettings) -> None:
    for f in fields(StrictSettings):
        setattr(SETTINGS, f.name, getattr(source, f.name))


def _checked(name: str, value: Any) -> Any:
    if name in PAIR_SETTINGS:
        lo, hi = _pair(name, value)
        if lo < 0 or hi < lo:
            raise ValueError(f"{name} must be [lo, hi] seconds with 0 <= lo <= hi (got {value!r})")
        return (lo, hi)
    if name == "pending_snapshots_per_volume":
        if not isinstance(value, dict) or not all(isinstance(v, int) and v >= 1 for v in value.values()):
            raise ValueError(f"{name} maps volume types to whole numbers >= 1 (got {value!r})")
        return dict(value)
    if name == "bucket_overrides":
        if not isinstance(value, dict):
            raise ValueError(f"{name} maps an action or class to [capacity, refill per second] (got {value!r})")
        return {key: _bucket(name, key, v) for key, v in value.items()}
    if name in ("snapshot_interval_per_volume", "session_duration_scale", "role_max_session_seconds"):
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be a number >= 0 (got {value!r})")
        return value
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false (got {value!r})")
    return value


def _pair(name: str, value: Any) -> tuple[float, float]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value), float(value)
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        return float(value[0]), float(value[1])
    raise ValueError(f"{name} must be [lo, hi] seconds or one number (got {value!r})")


def _bucket(name: str, key: str, value: Any) -> tuple[float, float]:
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        capacity, refill = float(value[0]), float(value[1])
        if capacity >= 1 and refill >= 0:
            return capacity, refill
    raise ValueError(f"{name}[{key!r}] must be [capacity >= 1, refill per second >= 0] (got {value!r})")


class Clock:
    """The strict behaviours' clock: real time plus an offset that `advance` moves forward (never back).

    Listing and tag delays, per-volume intervals, bucket refills, archive restores and session expiry read it, so a
    test can step over a 15 s interval or a 24 h restore without sleeping. Pending snapshots keep their own clock
    (`Ec2Emulator.age_snapshot` moves them).
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return time.monotonic() + self._offset

    def wall(self) -> float:
        """Seconds since the epoch, as `time.time()`, moved by the same offset."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"the clock only moves forward (got {seconds!r} seconds)")
        with self._lock:
            self._offset += seconds

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0


CLOCK = Clock()
