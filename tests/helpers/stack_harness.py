"""Drives the real Pulumi CLI on a copy of this project's stack, against the local EC2 emulator.

Each PulumiStack gets its own project directory, state backend (`file://`) and PULUMI_HOME, so tests never touch the
developer's stacks or credentials.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emulator import Ec2Emulator
from testbed import REGION, told_of

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "e2e-tests-only"
ENGINE_SCRIPT = ROOT / "scripts" / "engine.sh"


def pulumi_bin_dir() -> Path:
    """The Pulumi CLI's directory; fails in CI and skips elsewhere when there is none."""
    found = shutil.which("pulumi")
    if found:
        return Path(found).resolve().parent
    result = subprocess.run(["bash", str(ENGINE_SCRIPT)], capture_output=True, text=True)
    if result.returncode == 0 and result.stdout.strip():
        return Path(result.stdout.strip())
    reason = f"no Pulumi CLI and scripts/engine.sh could not build one: {result.stderr.strip()[-500:]}"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def quiet_environment() -> dict[str, str]:
    """This process's environment without Pulumi or AWS settings, and nothing on PYTHONPATH (the venv has this
    package installed, editable, so nothing points into the repository)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "AWS_", "PYTHONPATH"))}


def cli_environment(bin_dir: Path, home: Path, state_dir: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """Where the CLI runs in a test: its own PULUMI_HOME and file:// backend, no update check, no plugin download."""
    base = quiet_environment() if base is None else base
    return {
        **base,
        "PATH": f"{bin_dir}{os.pathsep}{base.get('PATH', '')}",
        "PULUMI_HOME": str(home),
        "PULUMI_BACKEND_URL": f"file://{state_dir}",
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }


def emulator_credentials(endpoint_url: str, sts_url: str) -> dict[str, str]:
    """The emulator's endpoints, EC2's and STS's own (as AWS serves them, and `run.sh` sets them: the strict mode
    answers STS on its own port only), and the fake keys the standard chain finds (tests grep state and logs for
    them). Every e2e test's CLI environment gets its AWS settings here."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ENDPOINT_URL_STS": sts_url,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
    }


def run_pulumi(
    args: tuple[str, ...], cwd: Path, env: dict[str, str], check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["pulumi", "--non-interactive", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(f"pulumi {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


class PulumiStack:
    """A stack of this project's program (or another one) run by the real CLI."""

    def __init__(
        self,
        workdir: Path,
        bin_dir: Path,
        endpoint_url: str,
        program: str | None = None,
        stack: str = "e2e",
        *,
        sts_url: str,
    ) -> None:
        self.project_dir = workdir / "project"
        self.state_dir = workdir / "state"
        self.home = workdir / "pulumi-home"
        self.stack = stack
        for d in (self.project_dir, self.state_dir, self.home):
            d.mkdir(parents=True, exist_ok=True)
        (self.project_dir / "Pulumi.yaml").write_text(
            "name: ebs-snapshots\n"
            "runtime:\n  name: python\n  options:\n    toolchain: pip\n"
            f"    virtualenv: {ROOT / 'venv'}\n"
        )
        self.write_program(program or (ROOT / "__main__.py").read_text())
        self.env = {
            **cli_environment(bin_dir, self.home, self.state_dir),
            **emulator_credentials(endpoint_url, sts_url),
        }
        self.run("stack", "init", stack)

    def strict(self, emulator: Ec2Emulator, **settings: Any) -> None:
        """The emulator as strict as EC2 (with `settings` changed, e.g. `listing_delay=(60, 60)`), and this stack's
        provider told its delays and limits (see `testbed.told_of`) for the runs to come."""
        emulator.configure(strict=True, **settings)
        self.env |= told_of(emulator, margin=5.0)

    def write_program(self, program: str) -> None:
        """Replace the stack's `__main__.py`: a user editing their program between runs."""
        (self.project_dir / "__main__.py").write_text(program)

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return run_pulumi(args, self.project_dir, self.env, check=check, timeout=timeout)

    def config(self, **values: Any) -> None:
        for key, value in values.items():
            # Objects as JSON text: the program reads them with Config.get_object.
            text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
            self.run("config", "set", key, "--", text)

    def unset(self, *keys: str) -> None:
        for key in keys:
            self.run("config", "rm", key)

    def up(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("up", "--yes", "--skip-preview", *args, check=check)

    def preview(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("preview", "--diff", *args, check=check)

    def outputs(self) -> dict[str, Any]:
        return dict(json.loads(self.run("stack", "output", "--json").stdout))

    def state_file(self) -> Path:
        return self.state_dir / ".pulumi" / "stacks" / "ebs-snapshots" / f"{self.stack}.json"

    def state(self) -> dict[str, Any]:
        return dict(json.loads(self.state_file().read_text()))

    def resources(self, type_prefix: str = "pulumi-python:dynamic") -> list[dict[str, Any]]:
        """The resources in state whose type starts with `type_prefix` (default: this package's)."""
        resources = self.state()["checkpoint"]["latest"].get("resources", [])
        return [r for r in resources if r["type"].startswith(type_prefix)]

    def urn(self, name: str, type_prefix: str = "pulumi-python:dynamic") -> str:
        """The URN of the one resource in state named `name` (of this package's types by default)."""
        [found] = [r["urn"] for r in self.resources(type_prefix) if r["urn"].rsplit("::", 1)[1] == name]
        return str(found)

    def start_up(self) -> subprocess.Popen[str]:
        """`pulumi up` in the background (for tests that kill it)."""
        return subprocess.Popen(
            ["pulumi", "up", "--yes", "--skip-preview", "--non-interactive"],
            cwd=self.project_dir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


def kill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant, like a machine or CI runner dying (plugins have their own groups)."""
    try:
        os.kill(pid, signal.SIGSTOP)  # no new children while the tree is collected
    except ProcessLookupError:
        return
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for child in children:
        kill_tree(int(child))
    os.kill(pid, signal.SIGKILL)


StackFactory = Callable[[str], PulumiStack]  # a program's text -> its stack (the e2e `new_stack` fixture)


def wait_for(condition: Any, timeout: float = 30, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(every)


def new_stack(workdir: Path, bin_dir: Path, emulator: Ec2Emulator, body: str) -> PulumiStack:
    """A user's project in its own directory with its own `file://` backend: stack `e2e` of project
    `ebs-snapshots`, whatever the directory (so two of them are two stacks of the same name)."""
    workdir.mkdir(parents=True, exist_ok=True)
    stack = PulumiStack(
        workdir, bin_dir, emulator.url, program="import pulumi\n" + textwrap.dedent(body), sts_url=emulator.sts_url
    )
    stack.config(**{"aws:region": REGION})
    return stack
