"""The default freeze and thaw of `consistency: frozen` (`core.quiesce.default_scripts`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from snapshot_provider.core.quiesce import default_scripts, instance


def test_the_default_scripts_are_valid_shell(tmp_path: Path) -> None:
    at = instance.Attachment("i-0123456789abcdef0", (("vol-0a", "/dev/sdf"), ("vol-0b", "/dev/sdg")), False, False, "")
    for name, script in (("freeze", default_scripts.freeze_script(at, 60)), ("thaw", default_scripts.thaw_script(at))):
        path = tmp_path / f"{name}.sh"
        path.write_text("\n".join(script) + "\n")
        checked = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, f"{name}: {checked.stderr}"
