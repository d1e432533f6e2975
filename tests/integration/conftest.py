"""Fixtures of wedpool's integration tests: a real PostgreSQL 15 cluster for the whole session, a
fresh wedpool daemon (the real binary) per test, a time limit on every test, and a sanitizer check
of the daemon's log at teardown. The machinery itself lives in helpers.py."""
import os
import signal

import pytest

from helpers import SANITIZED, TEST_TIMEOUT_S, WEDPOOL_BIN, Postgres, Wedpool, sanitizer_reports


def pytest_collection_modifyitems(config, items):
    if not os.access(WEDPOOL_BIN, os.X_OK):
        skip = pytest.mark.skip(reason=f"wedpool binary not built: {WEDPOOL_BIN}")
        for item in items:
            item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line("markers", "time_limit(seconds): this test's own time limit")


@pytest.fixture(scope="session")
def pg():
    p = Postgres()
    try:
        p.start()
        yield p
    finally:
        p.stop()


@pytest.fixture
def wedpool(pg, tmp_path):
    """A configured but not yet started wedpool; tests adjust settings, then call .start()."""
    w = Wedpool(pg, tmp_path)
    yield w
    w.stop()
    pg.terminate_clients()
    log = w.log()
    if SANITIZED:
        reports = sanitizer_reports(log)
        assert not reports, f"sanitizer report in wedpool's log:\n{log[-8000:]}"
    if w.killed:
        pytest.fail(f"wedpool did not exit within 10 s of SIGINT and was killed:\n{log[-4000:]}")
    if w.proc is not None and w.proc.returncode not in (0, None):
        pytest.fail(f"wedpool exited with status {w.proc.returncode}:\n{log[-4000:]}")


@pytest.fixture(autouse=True)
def _time_limit(request):
    """Every test (with its fixtures' teardown) ends within its limit, whatever it waits on."""
    marker = request.node.get_closest_marker("time_limit")
    limit = int(marker.args[0]) if marker else TEST_TIMEOUT_S

    def on_alarm(signum, frame):
        raise TimeoutError(f"test exceeded its time limit of {limit}s")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)
