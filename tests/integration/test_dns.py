"""Host names in [databases] are resolved asynchronously (a slow DNS server never stalls other
clients) and again every dns_max_ttl_s, so a failover that moves the name is followed."""
import socket
import struct
import threading
import time
import urllib.error
import urllib.request

import psycopg
import pytest

from helpers import wait_for


def test_host_name_is_resolved_and_used(wedpool, pg):
    wedpool.databases["appdb"] = f"host=localhost port={pg.port} dbname=appdb"
    wedpool.start()
    with wedpool.connect() as c:
        assert c.execute("select 1").fetchone()[0] == 1
    with wedpool.connect() as c:  # a pool that exists already: its address is known
        assert c.execute("select inet_server_addr()::text").fetchone()[0].startswith("127.0.0.1")
    assert "could not resolve" not in wedpool.log()


def test_host_name_is_looked_up_again(wedpool, pg):
    """With dns_max_ttl_s = 1 the name is resolved again while the pool is in use; an unchanged
    answer changes nothing: no server is replaced, nothing is logged as moved."""
    wedpool.databases["appdb"] = f"host=localhost port={pg.port} dbname=appdb"
    wedpool.settings["dns_max_ttl_s"] = 1
    wedpool.start()
    with wedpool.connect() as c:
        pid = c.execute("select pg_backend_pid()").fetchone()[0]
        time.sleep(2.5)
        assert c.execute("select pg_backend_pid()").fetchone()[0] == pid
    assert "now resolves to" not in wedpool.log()


def test_reload_from_address_to_host_name(wedpool, pg):
    wedpool.start()
    with wedpool.connect() as c:
        c.execute("select 1")
    wedpool.databases["appdb"] = f"host=localhost port={pg.port} dbname=appdb"
    wedpool.write_config()
    assert wedpool.admin("RELOAD") == "RELOAD"
    with wedpool.connect() as c:
        assert c.execute("select 2").fetchone()[0] == 2



def test_ready_with_a_host_name_backend(wedpool, pg):
    """The health probe and the PostgreSQL statistics collector use host names too, without a
    blocking lookup: /readyz, wedpool_backend_up, wedpool_pg_up."""
    wedpool.databases = {"appdb": f"host=localhost port={pg.port} dbname=appdb"}
    wedpool.settings["http_listen"] = f"127.0.0.1:{wedpool.http_port}"
    wedpool.settings["pg_stats_interval_s"] = 1
    wedpool.start()
    assert wait_for(lambda: http_get(wedpool.http_port, "/readyz")[0] == 200, timeout=10)
    assert f'wedpool_backend_up{{database="appdb",host="localhost:{pg.port}"}} 1' in http_get(wedpool.http_port, "/metrics")[1]
    with wedpool.connect() as c:
        c.execute("select 1")
    assert wait_for(lambda: 'wedpool_pg_up{database="appdb"} 1' in http_get(wedpool.http_port, "/metrics")[1],
                    timeout=10)


def http_get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class DnsServer:
    """A tiny authoritative DNS server on a loopback UDP port: every A query is answered with
    self.address (TTL 0); other types get an empty NOERROR answer. Counts the A queries."""

    def __init__(self, address):
        self.address = address
        self.queries = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.running:
            try:
                data, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            if len(data) < 12:
                continue
            qid, _flags, qdcount = struct.unpack("!HHH", data[:6])
            end = 12
            while end < len(data) and data[end] != 0:
                end += data[end] + 1
            question = data[12:end + 5]
            qtype = struct.unpack("!H", data[end + 1:end + 3])[0] if end + 3 <= len(data) else 0
            answers = b""
            if qtype == 1:
                self.queries += 1
                answers = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 0, 4) + socket.inet_aton(self.address)
            header = struct.pack("!HHHHHH", qid, 0x8180, 1, 1 if answers else 0, 0, 0)
            self.sock.sendto(header + question + answers, peer)

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def dns():
    d = DnsServer("127.0.0.3")
    yield d
    d.close()


def test_a_dns_failover_is_followed(wedpool, pg, dns):
    """The name first points where no PostgreSQL listens: clients get 08006 naming the pool. The
    answer changes (a failover moved the name): within dns_max_ttl_s wedpool follows it, logs the
    move, and clients are served."""
    wedpool.databases = {"appdb": f"host=db.wedding.test port={pg.port} dbname=appdb"}
    wedpool.settings.update({"dns_nameserver": f"127.0.0.1:{dns.port}", "dns_max_ttl_s": 1,
                             "server_login_retry_ms": 200, "server_connect_timeout_ms": 1000})
    wedpool.start()
    with pytest.raises(psycopg.OperationalError) as e:
        with wedpool.connect() as c:
            c.execute("select 1")
    assert 'could not connect to server db.wedding.test (127.0.0.3)' in str(e.value), e.value
    assert dns.queries >= 1
    dns.address = "127.0.0.1"

    def served():
        try:
            with wedpool.connect() as c:
                return c.execute("select 1").fetchone()[0] == 1
        except psycopg.Error:
            return False
    assert wait_for(served, timeout=10, interval=0.3)
    assert 'host "db.wedding.test" now resolves to 127.0.0.1' in wedpool.log()


def test_a_bad_dns_nameserver_is_refused_at_start(wedpool):
    wedpool.settings["dns_nameserver"] = "not-an-address"
    wedpool.start(wait=False)
    assert wedpool.proc.wait(10) == 1
    assert 'dns_nameserver "not-an-address"' in wedpool.log()
    wedpool.proc = None
