"""The generated SDKs in sdk/ are what the Pulumi code generators write today (scripts/gen_sdks.sh) from the plugin's
schema and sdk/languages.json: a schema change without regenerating, or an edit by hand, fails here."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "sdk"
LANGUAGES = ("nodejs", "python", "go")
# Its tests share one generation (a session fixture): under pytest-xdist they run in one worker, which generates once.
pytestmark = pytest.mark.xdist_group("sdks")


def committed_files(language: str) -> dict[str, bytes]:
    """The SDK's files in the work tree, as git sees them (build output such as bin/ is ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", f"sdk/{language}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {
        str(Path(name).relative_to(f"sdk/{language}")): (ROOT / name).read_bytes()
        for name in listed
        if (ROOT / name).exists()
    }


def generated_files(out: Path, language: str) -> dict[str, bytes]:
    base = out / language
    return {str(p.relative_to(base)): p.read_bytes() for p in base.rglob("*") if p.is_file()}


@pytest.fixture(scope="session")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("go") is None:
        reason = "scripts/gen_sdks.sh builds the generator with Go, and there is no Go toolchain"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("sdk")
    subprocess.run(["bash", str(ROOT / "scripts" / "gen_sdks.sh"), str(out)], check=True)
    return out


@pytest.mark.parametrize("language", LANGUAGES)
def test_committed_sdk_is_what_the_generator_writes_from_the_schema(regenerated: Path, language: str) -> None:
    committed = committed_files(language)
    generated = generated_files(regenerated, language)
    assert sorted(committed) == sorted(generated), f"sdk/{language}: run scripts/gen_sdks.sh and commit the result"
    changed = [name for name in generated if committed[name] != generated[name]]
    assert not changed, f"sdk/{language}: {changed} differ from the generator's: run scripts/gen_sdks.sh"
