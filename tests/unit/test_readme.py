"""The README's input tables are what the schemas declare (scripts/readme_tables.py writes them)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("readme_tables", ROOT / "scripts" / "readme_tables.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
