"""The default commands of `consistency: frozen` on Linux: freeze the volumes' file systems, each with a timer that
thaws it in any case, and thaw them."""

from __future__ import annotations

import shlex

from snapshot_provider.core.quiesce.instance import Attachment


def _find_mounts(at: Attachment) -> list[str]:
    """Shell lines setting `mounts` to the mount points of the volumes' disks: each found by its NVMe serial on Nitro
    (`vol` and the id's hex), else by the attachment's device name (`/dev/sdf` is `/dev/xvdf` on Xen)."""
    pairs = " ".join(shlex.quote(f"{volume.replace('-', '')}:{device}") for volume, device in at.volumes)
    return [
        'mounts=""',
        f"for pair in {pairs}; do",
        "  serial=${pair%%:*}; device=${pair#*:}",
        "  disk=$(lsblk -dnpo NAME,SERIAL | awk -v s=\"$serial\" '$2 == s {print $1}')",
        '  [ -n "$disk" ] || disk=$(readlink -f "$device" 2>/dev/null || echo "$device" | sed s,/dev/sd,/dev/xvd,)',
        '  mounts="$mounts $(lsblk -lnpo MOUNTPOINT "$disk" | grep -v "^$" || true)"',
        "done",
    ]


# SSM user guide, "SSM Agent technical reference" (files and directories on Linux): the agent writes each Run Command
# script and its output under /var/lib/amazon/ssm and logs to /var/log/amazon/ssm. A frozen file system holding
# either blocks the agent: the pre command cannot report, the post command cannot even be written down to run.
AGENT_PATHS = ("/var/lib/amazon/ssm", "/var/log/amazon/ssm")


def freeze_script(at: Attachment, max_pause_seconds: int) -> list[str]:
    """Linux: freeze each file system mounted from the volumes, each followed at once by a timer that thaws it
    `max_pause_seconds` after its freeze in any case. Refuses (exit 2, nothing frozen) a mount holding `/` or SSM
    Agent's own directories."""
    agent_paths = " ".join(AGENT_PATHS)
    return [
        "set -eu",
        *_find_mounts(at),
        "for m in $mounts; do",
        f"  for p in / {agent_paths}; do",
        '    case "$p/" in "${m%/}/"*)',
        '      echo "refusing to freeze $m: it holds $p, which the SSM agent running this command needs (SSM Agent '
        'technical reference); use pre_commands of your own, or consistency stopped" >&2; exit 2;;',
        "    esac",
        "  done",
        "done",
        # The flush first, outside the pause: it may take long on a busy file system.
        'for m in $mounts; do sync -f "$m"; done',
        # Each timer counts from its own freeze, so no frozen file system is ever left without one.
        "for m in $mounts; do",
        '  fsfreeze -f "$m"',
        f'  nohup sh -c "sleep {max_pause_seconds}; fsfreeze -u $m" >/dev/null 2>&1 &',
        "done",
        'echo "frozen:$mounts"',
    ]


def thaw_script(at: Attachment) -> list[str]:
    """Linux: thaw each file system mounted from the volumes that is frozen."""
    return [
        "set -u",
        *_find_mounts(at),
        'failed=""',
        "for m in $mounts; do",
        # fsfreeze -u on a file system that is not frozen fails EINVAL: only a thaw that leaves it frozen counts.
        '  fsfreeze -u "$m" 2>/dev/null || timeout 5 sync -f "$m" || failed="$failed $m"',
        "done",
        '[ -z "$failed" ] || { echo "still frozen:$failed" >&2; exit 1; }',
        'echo "thawed"',
    ]
