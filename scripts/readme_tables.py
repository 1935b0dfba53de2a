"""Writes the documentation's input tables from the resources' schemas: `venv/bin/python scripts/readme_tables.py`.

Each table sits between `<!-- inputs: NAME -->` and `<!-- /inputs -->` in README.md or any page under docs/ (a
resource's page under docs/resources/ holds its own); tests/unit/test_readme.py fails when one differs from what this
script would write, so a changed input declaration and its documentation cannot drift apart.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from snapshot_provider.inputs import consistency, declarations
from snapshot_provider.inputs.ebs_snapshot import SCHEMA as EBS_SNAPSHOT
from snapshot_provider.inputs.instance_snapshots import SCHEMA as INSTANCE_SNAPSHOTS
from snapshot_provider.inputs.schema import Schema
from snapshot_provider.inputs.series import SCHEMA as SNAPSHOT_SERIES
from snapshot_provider.inputs.volume_removal import SCHEMA as VOLUME_REMOVAL

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
MARKER = re.compile(r"(<!-- inputs: (?P<name>[\w-]+) -->\n)(?P<table>.*?)(<!-- /inputs -->)", re.DOTALL)

_SHARED = Schema.of(declarations.SnapshotArgs)
_ACCOUNT = Schema.of(declarations.AccountArgs)
_CONSISTENCY = Schema.of(consistency.ConsistencyArgs)  # its own table, in docs/consistency.md


def _own(schema: Schema, *shared: Schema) -> list[str]:
    return [name for name, _ in schema.public() if not any(name in s.fields for s in shared)]


TABLES = {
    "EbsSnapshot": EBS_SNAPSHOT.docs_table(_own(EBS_SNAPSHOT, _SHARED, _CONSISTENCY)),
    "consistency": _CONSISTENCY.docs_table(),
    "InstanceSnapshots": INSTANCE_SNAPSHOTS.docs_table(_own(INSTANCE_SNAPSHOTS, _SHARED, _CONSISTENCY)),
    "snapshot-settings": _SHARED.docs_table(_own(_SHARED, _ACCOUNT)),
    "account": _ACCOUNT.docs_table(),
    "VolumeRemoval": VOLUME_REMOVAL.docs_table(_own(VOLUME_REMOVAL, _ACCOUNT)),
    "SnapshotSeries": SNAPSHOT_SERIES.docs_table(_own(SNAPSHOT_SERIES, _ACCOUNT, _CONSISTENCY)),
}


def render(text: str) -> str:
    """`text` with every marked table replaced by the one its schema declares."""

    def table(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in TABLES:
            raise KeyError(f"README names an unknown inputs table {name!r} (known: {', '.join(TABLES)})")
        return f"{match.group(1)}{TABLES[name]}\n{match.group(4)}"

    return MARKER.sub(table, text)


def main() -> int:
    for document in DOCUMENTS:
        text = document.read_text()
        document.write_text(render(text))
        print(f"{document.relative_to(ROOT)}: {len(MARKER.findall(text))} input tables written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
