"""The README and docs/: the input tables are what the schemas declare (scripts/readme_tables.py writes them), the
README's first screens hold both commands and a real-AWS example, every link leads somewhere, and every Python example
parses."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
SCREEN = 50  # lines: a terminal's or a browser's first screen
FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```\n", re.DOTALL | re.MULTILINE)
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("readme_tables", ROOT / "scripts" / "readme_tables.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors for the page's headings (outside code blocks)."""
    text = FENCE.sub("", page.read_text())
    headings = re.findall(r"^#+ (.+)$", text, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_documented_input_tables_match_the_schemas() -> None:
    generator = _generator()
    names: set[str] = set()
    for document in generator.DOCUMENTS:
        text = document.read_text()
        names |= {m.group("name") for m in generator.MARKER.finditer(text)}
        assert generator.render(text) == text, (
            f"an input declaration changed without its table in {document.name}: "
            "run `venv/bin/python scripts/readme_tables.py`"
        )
    assert names == set(generator.TABLES), f"documented tables {sorted(names)} vs schemas {sorted(generator.TABLES)}"


def test_each_resource_page_holds_its_own_inputs_table_and_the_account_table() -> None:
    generator = _generator()
    pages = {
        "EbsSnapshot": "ebs-snapshot.md",
        "InstanceSnapshots": "instance-snapshots.md",
        "SnapshotSeries": "snapshot-series.md",
        "VolumeRemoval": "volume-removal.md",
    }
    for resource, page in pages.items():
        text = (ROOT / "docs" / "resources" / page).read_text()
        tables = {m.group("name") for m in generator.MARKER.finditer(text)}
        assert {resource, "account"} <= tables, f"docs/resources/{page} documents {sorted(tables)}"


def test_readme_shows_both_commands_and_a_real_aws_example_within_its_first_two_screens() -> None:
    first_screens = "\n".join(README.read_text().splitlines()[: 2 * SCREEN])
    assert "./run.sh " in first_screens and "./test.sh " in first_screens
    assert "## Using it against real AWS" in first_screens
    assert "EbsSnapshot(" in first_screens and "pulumi up" in first_screens


def test_ci_runs_the_test_command_the_readme_names() -> None:
    [command] = re.findall(r"^exec (\S+)$", (ROOT / ".ci" / "run").read_text(), re.MULTILINE)
    [commands] = [m.group("body") for m in FENCE.finditer(README.read_text()) if m.group("lang") == "bash"][:1]
    assert re.search(rf"^{re.escape(command)}\s+#", commands, re.MULTILINE), f"{command} not in {commands!r}"


def test_readme_stays_a_few_screens_long() -> None:
    assert len(README.read_text().splitlines()) <= 250


def test_every_relative_link_leads_to_a_file_and_heading_that_exist() -> None:
    broken = []
    for page in PAGES:
        for match in LINK.finditer(FENCE.sub("", page.read_text())):
            target = match.group("target")
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in _anchors(linked)):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken


def test_every_python_example_parses() -> None:
    for page in PAGES:
        for match in FENCE.finditer(page.read_text()):
            if match.group("lang") == "python":
                ast.parse(match.group("body"), filename=str(page.relative_to(ROOT)))
