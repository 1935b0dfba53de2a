"""Red team of issue 20 (the package's layout): behaviour a user relied on before the move, which must not change.

Each test here fails on the code as it stands and is marked xfail(strict) with its finding's id (RT-L<n>), so the
suite stays green until the finding is fixed; the fix turns it into an XPASS, which fails the run: then drop the mark.
"""

from __future__ import annotations

import logging

import pytest

from snapshot_provider.process.engine_log import EngineLog

# The logger names of 0.1.0 and main before the move (`logging.getLogger(__name__)` in each flat module). Outside the
# provider host (a program under Pulumi mocks, a plain script, the user's tests) the progress lines go to `logging`
# under these names, and users select them by name to see or silence them.
PROGRESS_LOGGER = "snapshot_provider.progress"


def test_progress_lines_outside_the_host_reach_the_logger_name_users_filter_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=PROGRESS_LOGGER)
    EngineLog(None).info("urn:pulumi:dev::p::t::snap", "still waiting: 50% after 1m")
    lines = [r.getMessage() for r in caplog.records if r.name == PROGRESS_LOGGER]
    assert lines == ["urn:pulumi:dev::p::t::snap: still waiting: 50% after 1m"]
