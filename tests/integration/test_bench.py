"""wedpool-bench, the load generator (bench/wedpool-bench), against a real wedpool and PostgreSQL:
a 100-client closed loop in three lanes with zero errors and the pooler's acquisition percentiles
read from /metrics; argument errors (exit 2); an unreachable target (exit 1); and Ctrl-C (partial
results, JSON written). The bench binary sits next to WEDPOOL_BIN (build/ or build-asan/)."""
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
    with open(errlog, "w") as err:
        proc = subprocess.Popen([str(BENCH_BIN), "--dsn", dsn(wedpool), "--sql", "SELECT 1", "-c", "20", "-T", "60",
                                 "--json", str(result), "--progress"],
                                stdout=subprocess.PIPE, stderr=err, text=True, env=bench_env())
        try:
            # progress lines come once a second: two of the workload, then Ctrl-C
            assert wait_for(lambda: errlog.read_text().count("] run:") >= 2, 30), errlog.read_text()
            proc.send_signal(signal.SIGINT)
            stdout, _ = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    stderr = errlog.read_text()
    check_sanitizer(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    assert proc.returncode == 128 + signal.SIGINT, stderr
    assert "SIGINT: stopping, partial results follow" in stderr
    doc = json.loads(result.read_text())
    assert doc["interrupted"] is True
    assert doc["total"]["transactions"]["completed"] > 0
    assert 1 < doc["workload"]["elapsed_s"] < 30
    assert "INTERRUPTED" in stdout
