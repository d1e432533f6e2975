"""A primary and a streaming standby for the failover tests: two throwaway PostgreSQL 15 clusters
run as the postgres user on free ports, the standby made with pg_basebackup -R. After a test
promotes, stops or splits them, restore() rebuilds whichever is not the primary as a fresh standby,
so one pair serves a whole module."""
import os
import shutil
import subprocess
import tempfile
import time

import psycopg

from helpers import PGBIN, as_postgres, free_port, wait_for


class Node:
    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"wedpool-ha-{name}-")
        shutil.chown(self.dir, "postgres")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()

    def _conf(self):
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 100\n"
                    "wal_level = replica\nmax_wal_senders = 5\nhot_standby = on\nwal_keep_size = 64MB\n"
                    "wal_receiver_status_interval = 1s\n")

    def init_primary(self):
        as_postgres(PGBIN / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "--no-sync")
        self._conf()
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all postgres trust\nlocal replication postgres trust\n"
                    "host all all 127.0.0.1/32 scram-sha-256\n")
        self.start()
        self.sql("CREATE ROLE app LOGIN SUPERUSER PASSWORD 'apppass'", "CREATE DATABASE appdb OWNER app")
        self.sql("CREATE TABLE t (id serial primary key, v text)", db="appdb")

    def init_standby(self, primary):
        """A fresh copy of primary's data that streams from it (pg_basebackup -R)."""
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)
        as_postgres(PGBIN / "pg_basebackup", "-D", self.data, "-R", "-X", "stream", "-c", "fast",
                    "-h", primary.dir, "-p", primary.port, "-U", "postgres")
        self._conf()
        self.start()

    def start(self):
        as_postgres(PGBIN / "pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w", "start")

    def stop(self, mode="fast"):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            subprocess.run(["runuser", "-u", "postgres", "--", PGBIN / "pg_ctl", "-D", self.data, "-m", mode, "-w",
                            "stop"], capture_output=True, timeout=60)

    def running(self):
        r = subprocess.run(["runuser", "-u", "postgres", "--", PGBIN / "pg_ctl", "-D", self.data, "status"],
                           capture_output=True, timeout=30)
        return r.returncode == 0

    def promote(self):
        as_postgres(PGBIN / "pg_ctl", "-D", self.data, "-w", "promote")

    def sql(self, *stmts, db="postgres"):
        result = None
        with psycopg.connect(host=self.dir, port=self.port, user="postgres", dbname=db, autocommit=True) as c:
            for stmt in stmts:
                cur = c.execute(stmt)
                result = cur.fetchall() if cur.description else None
        return result

    def in_recovery(self):
        return self.sql("select pg_is_in_recovery()")[0][0]

    def destroy(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class HaPair:
    def __init__(self):
        self.a, self.b = Node("a"), Node("b")
        self.primary, self.standby = self.a, self.b

    def start(self):
        self.a.init_primary()
        self.b.init_standby(self.a)
        self.wait_streaming()

    def wait_streaming(self, timeout=30):
        ok = wait_for(lambda: self.primary.sql("select count(*) from pg_stat_replication "
                                               "where state = 'streaming'")[0][0] >= 1, timeout=timeout)
        assert ok, "the standby does not stream from the primary"

    def hosts(self, **opts):
        """A [databases] value naming both nodes (a first, as configured, whatever their roles)."""
        extra = " ".join(f"{k}={v}" for k, v in opts.items())
        return f"host=127.0.0.1,127.0.0.1 port={self.a.port},{self.b.port} dbname=appdb {extra}".strip()

    def restore(self):
        """One running primary (self.primary) and a standby streaming from it, replay not paused."""
        if not self.primary.running():
            if self.standby.running() and not self.standby.in_recovery():
                self.primary, self.standby = self.standby, self.primary  # it was promoted
            else:
                self.primary.start()
        if self.primary.in_recovery():
            self.primary.promote()
        standby_ok = False
        if self.standby.running():
            try:
                standby_ok = self.standby.in_recovery()
                if standby_ok:
                    self.standby.sql("select pg_wal_replay_resume()")
            except psycopg.Error:
                standby_ok = False
        if not standby_ok:
            self.standby.init_standby(self.primary)
        self.wait_streaming()

    def stop(self):
        self.a.destroy()
        self.b.destroy()


def catch_up(pair, timeout=10):
    """Waits until the standby has replayed what the primary has written."""
    lsn = pair.primary.sql("select pg_current_wal_lsn()::text")[0][0]
    assert wait_for(lambda: pair.standby.sql(f"select pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn")[0][0],
                    timeout=timeout)


def elapsed(t0):
    return time.monotonic() - t0
