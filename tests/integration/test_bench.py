"""wedpool-bench, the load generator (bench/wedpool-bench), against a real wedpool and PostgreSQL:
a 100-client closed loop in three lanes with zero errors and the pooler's acquisition percentiles
read from /metrics; the bench's own login (--login raw) with SCRAM, md5 and trust, a wrong password
and a pooler restart under idle clients; argument errors (exit 2); an unreachable target (exit 1);
and Ctrl-C (partial results, JSON written). The bench binary sits next to WEDPOOL_BIN (build/ or
build-asan/)."""
import json
import os
import pathlib
import signal
import subprocess
import time

import pytest

from helpers import SANITIZED, WEDPOOL_BIN, free_port, sanitizer_env, sanitizer_reports, wait_for

BENCH_BIN = pathlib.Path(WEDPOOL_BIN).parent / "wedpool-bench"
LANES = {"critical": 5, "default": 80, "background": 15}

pytestmark = pytest.mark.skipif(not os.access(BENCH_BIN, os.X_OK), reason=f"wedpool-bench not built: {BENCH_BIN}")


def bench_env():
    return sanitizer_env()


def check_sanitizer(out):
    reports = sanitizer_reports(out.stdout + out.stderr)
    assert not reports, f"sanitizer report from wedpool-bench:\n{out.stderr[-8000:]}"


def run_bench(*args, timeout=120):
    out = subprocess.run([str(BENCH_BIN), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                         env=bench_env())
    check_sanitizer(out)
    return out


def run_bench_until(args, errlog, ready, action, timeout=40):
    """Runs the bench with --progress; once ready(its stderr so far) holds, calls action(process),
    then waits for the bench to end. Returns it as a CompletedProcess (stderr from errlog)."""
    with open(errlog, "w") as err:
        proc = subprocess.Popen([str(BENCH_BIN), *map(str, args), "--progress"], stdout=subprocess.PIPE, stderr=err,
                                text=True, env=bench_env())
        try:
            assert wait_for(lambda: ready(errlog.read_text()), 30), errlog.read_text()
            action(proc)
            stdout, _ = proc.communicate(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    out = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, errlog.read_text())
    check_sanitizer(out)
    return out


def dsn(wedpool, **kw):
    parts = {"host": "127.0.0.1", "port": wedpool.port, "user": "app", "dbname": "appdb", "password": "apppass"}
    parts.update(kw)
    return " ".join(f"{k}={v}" for k, v in parts.items())


def lanes_wedpool(wedpool):
    wedpool.settings["http_listen"] = f"127.0.0.1:{wedpool.http_port}"
    wedpool.lanes = {"critical": "priority=1400 reserve=yes", "default": "priority=100", "background": "priority=10"}
    wedpool.lane_rules = [("critical", "application_name=wpbench-critical"),
                          ("background", "application_name=wpbench-background")]
    wedpool.start()


@pytest.mark.time_limit(120)
def test_closed_loop_100_clients_in_lanes(wedpool, tmp_path):
    lanes_wedpool(wedpool)
    result, plot = tmp_path / "bench.json", tmp_path / "bench.svg"
    out = run_bench("--dsn", dsn(wedpool), "--init", "--rows", "1000", "-c", "100", "-T", "5",
                    "--lanes", ",".join(f"{k}={v}" for k, v in LANES.items()),
                    "--metrics-url", f"http://127.0.0.1:{wedpool.http_port}/metrics",
                    "--json", result, "--plot", plot, "--no-progress", "--seed", "1")
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(result.read_text())
    total = doc["total"]
    assert doc["interrupted"] is False
    assert doc["config"]["rows"] == 1000 and doc["config"]["mode"] == "closed"
    assert total["clients"] == 100
    assert total["logins"]["ok"] == 100 and total["logins"]["failed"] == 0
    assert total["transactions"]["completed"] > 0, out.stdout
    assert total["transactions"]["errors"] == 0, total["transactions"]["error_messages"]
    assert total["transactions"]["errors_by_sqlstate"] == {}
    latency = total["transactions"]["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["p99_9"] <= latency["max"]
    assert set(doc["lanes"]) == set(LANES)
    for name, clients in LANES.items():
        lane = doc["lanes"][name]
        assert lane["clients"] == clients and lane["application_name"] == f"wpbench-{name}"
        assert lane["logins"]["ok"] == clients
        assert lane["transactions"]["completed"] > 0 and lane["transactions"]["errors"] == 0
    # wedpool classified the clients by application_name and timed every acquisition per lane
    acq = doc["pooler_acquisition"]
    assert acq["measured"] is True, acq
    assert acq["database"] == "appdb"
    for name in LANES:
        q = acq["lanes"][name]
        assert q["count"] > 0
        assert 0 <= q["p50"] <= q["p95"] <= q["p99"]
        assert doc["lanes"][name]["pooler_acquire_ms"] == q
    assert acq["total"]["count"] >= total["transactions"]["completed"]
    # per-second series and the plot
    series = doc["timeseries"]["total"]
    assert len(series["t_s"]) >= 4 and sum(series["tx"]) == total["transactions"]["completed"]
    svg = plot.read_text()
    assert svg.startswith("<?xml") and "<svg" in svg and svg.rstrip().endswith("</svg>")
    for name in LANES:
        assert name in svg
    # the text report names every lane and the pooler's percentiles
    assert "pooler acquisition wait" in out.stdout and "errors: none" in out.stdout
    for name in LANES:
        assert name in out.stdout


@pytest.mark.time_limit(60)
def test_open_loop_extended_multi_statement_transactions(wedpool, tmp_path):
    """Poisson arrivals at 400 tx/s; each transaction 1..3 statements in BEGIN/COMMIT over the
    extended protocol (unnamed statements, :aid as $1), which transaction pooling must carry."""
    wedpool.start()
    result = tmp_path / "bench.json"
    out = run_bench("--dsn", dsn(wedpool), "--init", "--rows", "500", "-c", "40", "--rate", "400", "-T", "3",
                    "--tx-statements", "3", "--extended", "--json", result, "-q", "--seed", "7")
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(result.read_text())
    tx = doc["total"]["transactions"]
    assert doc["config"]["mode"] == "open" and doc["config"]["protocol"] == "extended"
    assert tx["errors"] == 0, tx["error_messages"]
    assert 800 <= tx["completed"] <= 1600, tx  # 1200 offered
    assert doc["workload"]["queued_at_end"] == 0
    assert list(doc["lanes"]) == ["default"] and doc["lanes"]["default"]["clients"] == 40
    assert doc["pooler_acquisition"] == {"measured": False, "reason": "no --metrics-url"}
    assert "pooler acquisition: not measured" in out.stdout


@pytest.mark.parametrize("args, message", [
    (["--clients", "0"], "--clients: expected a number of clients from 1 to 10000"),
    (["--lanes", "critical=5,default=80"], "--lanes: the percentages must add up to 100"),
    (["--rate", "100", "--think-ms", "5"], "--think-ms applies to the closed loop only"),
    (["--no-such-option"], "unknown option --no-such-option"),
    (["--login", "raw", "-T", "5"], "--login raw only logs in: it needs --idle or -T 0"),
    (["--login", "raw", "--rate", "100"], "--login raw only logs in"),
    (["--login", "bogus", "--idle"], "--login: expected raw or libpq"),
])
def test_bad_arguments_exit_2(args, message):
    out = run_bench(*args, timeout=30)
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stderr
    assert out.stdout == ""


def test_unreachable_target_exits_1():
    port = free_port()
    out = run_bench("--dsn", f"host=127.0.0.1 port={port} user=app dbname=appdb password=x", "-c", "5", "-T", "1",
                    timeout=30)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "cannot connect to" in out.stderr and f"port={port}" in out.stderr
    assert "Connection refused" in out.stderr


@pytest.mark.time_limit(60)
def test_sigint_stops_with_partial_results(wedpool, tmp_path):
    lanes_wedpool(wedpool)
    result, errlog = tmp_path / "bench.json", tmp_path / "bench.err"
    # progress lines come once a second: two of the workload, then Ctrl-C
    out = run_bench_until(["--dsn", dsn(wedpool), "--sql", "SELECT 1", "-c", "20", "-T", "60", "--json", result],
                          errlog, lambda err: err.count("] run:") >= 2, lambda proc: proc.send_signal(signal.SIGINT),
                          timeout=20)
    assert out.returncode == 128 + signal.SIGINT, out.stderr
    assert "SIGINT: stopping, partial results follow" in out.stderr
    doc = json.loads(result.read_text())
    assert doc["interrupted"] is True
    assert doc["total"]["transactions"]["completed"] > 0
    assert 1 < doc["workload"]["elapsed_s"] < 30
    assert "INTERRUPTED" in out.stdout


@pytest.mark.time_limit(60)
def test_idle_raw_login_scram_100_clients(wedpool, tmp_path):
    """--idle logs in with the bench's own protocol code by default: 100 SCRAM logins in three
    lanes, held idle, no failures, no lost connections."""
    lanes_wedpool(wedpool)
    result = tmp_path / "bench.json"
    out = run_bench("--dsn", dsn(wedpool), "-c", "100", "--idle", "-T", "1", "--connect-rate", "0",
                    "--lanes", ",".join(f"{k}={v}" for k, v in LANES.items()), "--json", result, "--no-progress")
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(result.read_text())
    assert doc["config"]["mode"] == "idle" and doc["config"]["login"] == "raw"
    assert doc["server_version"] != ""
    logins = doc["total"]["logins"]
    assert logins["ok"] == 100 and logins["failed"] == 0, logins["failure_messages"]
    assert logins["latency_ms"]["count"] == 100 and logins["latency_ms"]["p50"] > 0
    assert doc["total"]["disconnects"] == 0 and logins["reconnects"] == 0
    assert doc["connect"]["connected"] == 100
    for name, clients in LANES.items():
        assert doc["lanes"][name]["logins"]["ok"] == clients
    assert "(raw login)" in out.stdout and "errors: none" in out.stdout


@pytest.mark.parametrize("auth", ["md5", "trust"])
@pytest.mark.time_limit(60)
def test_raw_login_md5_and_trust(wedpool, tmp_path, auth):
    wedpool.settings["auth_type"] = auth
    wedpool.start()
    result = tmp_path / "bench.json"
    out = run_bench("--dsn", dsn(wedpool), "-c", "50", "-T", "0", "--login", "raw", "--json", result, "-q")
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(result.read_text())
    assert doc["config"]["mode"] == "connect" and doc["config"]["login"] == "raw"
    assert doc["total"]["logins"]["ok"] == 50 and doc["total"]["logins"]["failed"] == 0


@pytest.mark.time_limit(60)
def test_raw_login_wrong_password_reports_28P01(wedpool, tmp_path):
    """No setup connection with --login raw: every client's login is refused with the server's
    SQLSTATE, counted per lane, and not one logging in is exit 1 (the report is still written)."""
    wedpool.start()
    result = tmp_path / "bench.json"
    out = run_bench("--dsn", dsn(wedpool, password="wrong"), "-c", "20", "--idle", "-T", "1", "--json", result,
                    "--no-progress")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "no client could log in" in out.stderr and "(SQLSTATE 28P01)" in out.stderr
    doc = json.loads(result.read_text())
    logins = doc["total"]["logins"]
    assert logins["ok"] == 0 and logins["failed"] == 20
    assert logins["failures_by_sqlstate"] == {"28P01": 20}
    assert "password authentication failed" in logins["failure_messages"]["28P01"]
    assert doc["lanes"]["default"]["logins"]["failures_by_sqlstate"] == {"28P01": 20}
    assert "28P01" in out.stdout


@pytest.mark.time_limit(90)
def test_raw_idle_clients_notice_a_pooler_restart(wedpool, tmp_path):
    """Idle raw connections are watched: when wedpool stops, each counts as a lost connection and
    logs in again (with back-off while the pooler is down) once it is back."""
    wedpool.start()
    result, errlog = tmp_path / "bench.json", tmp_path / "bench.err"

    def restart(proc):
        wedpool.stop()
        wedpool.start()
    out = run_bench_until(["--dsn", dsn(wedpool), "-c", "10", "--idle", "-T", "8", "--json", result], errlog,
                          lambda err: "] idle:" in err, restart)
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(result.read_text())
    total = doc["total"]
    assert total["disconnects"] == 10
    assert total["logins"]["reconnects"] == 10
    assert total["logins"]["ok"] == 20, total["logins"]
    assert "10 connections lost, 10 logged in again" in out.stdout
