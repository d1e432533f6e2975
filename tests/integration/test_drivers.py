"""Real drivers through transaction pooling with protocol-level named prepared statements (issue
#11), beyond those in test_prepared.py: node-postgres (npm pg, installed by `make deps` into
tests/drivers/node) with named queries, and JDBC (Debian libpostgresql-jdbc-java) with
prepareThreshold=1, i.e. server-side prepared statements from the first execution. Many clients
over few servers: zero errors, every result checked by the driver program."""
import json
import os
import pathlib
import shutil
import subprocess

import pytest

from helpers import PASSWORDS

DRIVERS = pathlib.Path(__file__).resolve().parents[1] / "drivers"
JDBC_JAR = pathlib.Path("/usr/share/java/postgresql.jar")


def driver_env(wedpool):
    env = dict(os.environ)
    env.update(PGUSER="app", PGPASSWORD=PASSWORDS["app"], PGDATABASE="appdb")
    return env


def prepared_counters(wedpool):
    return {r["name"]: int(r["value"]) for r in wedpool.admin("SHOW PREPARED")}


def table(wedpool, name):
    wedpool.pg.sql(f"drop table if exists {name}", f"create table {name} (k int, i int)",
                   f"grant all on {name} to app", db="appdb")


@pytest.mark.time_limit(90)
def test_node_postgres_named_queries_many_clients_few_servers(wedpool):
    if shutil.which("node") is None:
        pytest.fail("node is not installed (make deps)")
    if not (DRIVERS / "node" / "node_modules" / "pg").is_dir():
        pytest.fail("node-postgres is not installed in tests/drivers/node: run `make deps` (npm ci)")
    table(wedpool, "node_named")
    wedpool.settings["max_pool_size"] = 4
    wedpool.start()
    p = subprocess.run(["node", str(DRIVERS / "node" / "named_queries.js"), str(wedpool.port), "30", "15"],
                       env=driver_env(wedpool), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out == {"queries": 30 * 15 * 4, "errors": 0, "wrong": 0, "messages": []}
    assert wedpool.pg.sql("select count(*) from node_named", db="appdb") == [(30 * 15,)]
    m = prepared_counters(wedpool)
    # node-postgres Parses each name once per connection, then only Binds: the servers got the
    # statements from wedpool (one per distinct text and server, at most, plus re-prepares)
    assert m["client_parses"] >= 30 * 4
    assert m["server_parses"] > 0


@pytest.mark.time_limit(90)
@pytest.mark.parametrize("min_version", ["", "9.4"], ids=["default", "assumeMinServerVersion"])
def test_jdbc_prepare_threshold_1_many_clients_few_servers(wedpool, min_version):
    if shutil.which("java") is None or not JDBC_JAR.exists():
        pytest.fail("java or the PostgreSQL JDBC driver is missing (make deps: libpostgresql-jdbc-java)")
    table(wedpool, "jdbc_named")
    wedpool.settings.update(max_pool_size=4, log_level="debug")
    wedpool.start()
    p = subprocess.run(["java", "-cp", str(JDBC_JAR), str(DRIVERS / "jdbc" / "PreparedThreshold.java"),
                        str(wedpool.port), "20", "15", min_version],
                       env=driver_env(wedpool), capture_output=True, text=True, timeout=80)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip().splitlines()[-1] == f"queries={20 * 15 * 4} errors=0 wrong=0 []"
    m = prepared_counters(wedpool)
    assert m["client_parses"] >= 20 * 4  # server-side (named) statements from the first execution
    # the servers were shared, not held: pgjdbc's SET extra_float_digits = 3 (without
    # assumeMinServerVersion) follows each client instead of pinning it
    assert "pinned to its server" not in wedpool.log()
    if not min_version:
        assert "extra_float_digits = 3 follows the client" in wedpool.log()
