"""Resources a client can exhaust: file descriptors (accept pauses instead of spinning), client slots
(max_client_conn counted from accept, with a few kept for admin users), the admin console's output
memory (bounded whatever a console user pipelines) and the loop's CPU while the console waits."""
import os
import re
import resource
import socket
import struct
import time
import urllib.request

import psycopg
import pytest

from helpers import WireError, cstr, message, parse_fields, spawn, wait_for

CLK_TCK = os.sysconf("SC_CLK_TCK")
ACCEPT_FAILURE = re.compile(r"accept: .*(Too many open files|out of file descriptors)")


def cpu_seconds(pid):
    """User plus system CPU time the process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_share(pid, seconds=2.0):
    """Fraction of one core the process used over the next `seconds`."""
    t0, c0 = time.monotonic(), cpu_seconds(pid)
    time.sleep(seconds)  # a measurement window, not a wait for a condition
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def status_kib(pid, field):
    """A VmRSS/VmHWM-style line of /proc/PID/status, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def quiescent(pid, interval=0.3):
    """True once the process used no CPU over interval (it has done what it was given)."""
    c0 = cpu_seconds(pid)
    time.sleep(interval)
    return cpu_seconds(pid) == c0


def metrics(wedpool):
    with urllib.request.urlopen(f"http://127.0.0.1:{wedpool.http_port}/metrics", timeout=5) as r:
        return r.read().decode()


def metric_value(text, name):
    m = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def login_clients(wedpool):
    return metric_value(metrics(wedpool), r'wedpool_clients\{database="",user="",state="login"\}')


def silent(wedpool):
    """A TCP connection that never sends its startup packet."""
    return socket.create_connection(("127.0.0.1", wedpool.port), timeout=5)


def can_query(wedpool):
    try:
        with wedpool.connect(connect_timeout=3) as c:
            return c.execute("select 42").fetchone()[0] == 42
    except psycopg.OperationalError:
        return False


# ---------------------------------------------------------------------------------------------
# out of file descriptors

@pytest.mark.time_limit(60)
def test_out_of_descriptors_pauses_accepting_without_spinning(wedpool):
    wedpool.settings["http_listen"] = f"127.0.0.1:{wedpool.http_port}"
    wedpool.start()
    pid = wedpool.proc.pid
    limit = len(os.listdir(f"/proc/{pid}/fd")) + 6
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, resource.prlimit(pid, resource.RLIMIT_NOFILE)[1]))
    socks = [silent(wedpool) for _ in range(limit + 10)]  # the surplus waits in the listen backlog
    try:
        assert wait_for(lambda: ACCEPT_FAILURE.search(wedpool.log()), timeout=5), wedpool.log()[-2000:]
        share = cpu_share(pid, 2.0)
        assert share < 0.2, f"wedpool used {share:.0%} of a core while out of descriptors"
        lines = [ln for ln in wedpool.log().splitlines() if ACCEPT_FAILURE.search(ln)]
        assert len(lines) <= 5, f"{len(lines)} accept failure lines in about 2 s, e.g. {lines[:3]}"
        assert "limit" in lines[0] and str(limit) in lines[0], lines[0]  # names the limit it hit
    finally:
        for s in socks:
            s.close()
    assert wait_for(lambda: can_query(wedpool), timeout=10), wedpool.log()[-2000:]
    assert metric_value(metrics(wedpool), "wedpool_accept_pauses_total") >= 1


# ---------------------------------------------------------------------------------------------
# max_client_conn

def test_max_client_conn_counts_from_accept_and_keeps_admin_slots(wedpool):
    wedpool.settings["max_client_conn"] = 3
    wedpool.settings["http_listen"] = f"127.0.0.1:{wedpool.http_port}"
    wedpool.start()
    held = [silent(wedpool) for _ in range(3)]
    assert wait_for(lambda: login_clients(wedpool) == 3)
    # a plain client over the limit is refused, as are stats_users; an admin user gets in
    for user, db in (("app", "appdb"), ("stats", "wedpool")):
        with wedpool.wire() as w, pytest.raises(WireError) as e:
            w.login(user=user, database=db)
        assert e.value.sqlstate == "53300", (user, e.value.message)
        assert "max_client_conn=3" in e.value.message
    with wedpool.wire() as admin:
        admin.login(user="postgres", database="wedpool")
        assert admin.query("SHOW VERSION").rows[0][0].startswith("wedpool")
        # past max_client_conn plus the admin slots, connections are refused at accept, before
        # they send anything
        held += [silent(wedpool) for _ in range(2)]
        assert wait_for(lambda: login_clients(wedpool) == 5)
        with silent(wedpool) as s:
            data = b""
            while len(data) < 5 or len(data) < 1 + struct.unpack("!I", data[1:5])[0]:
                d = s.recv(4096)
                assert d, f"closed without an error after {data!r}"
                data += d
        assert data[:1] == b"E", data
        fields = parse_fields(data[5:])
        assert fields["C"] == "53300" and "max_client_conn" in fields["M"], fields
    for s in held:
        s.close()
    assert wait_for(lambda: can_query(wedpool)), wedpool.log()[-2000:]


# ---------------------------------------------------------------------------------------------
# the admin console's memory and CPU

def read_exactly(sock, n):
    chunks, got = [], 0
    while got < n:
        d = sock.recv(min(1 << 20, n - got))
        assert d, f"connection closed after {got} of {n} bytes"
        chunks.append(d)
        got += len(d)
    return b"".join(chunks)


@pytest.mark.time_limit(90)
def test_console_pipelining_without_reading_has_bounded_memory(wedpool):
    """A stats_users member sends SHOW CONFIG 60,000 times (about 110 MB of results) and reads
    nothing: wedpool's memory stays bounded; then every result arrives, complete and in order."""
    wedpool.start()
    pid = wedpool.proc.pid
    n = 60000
    with wedpool.wire(timeout=30) as w:
        w.login(user="stats", database="wedpool")
        w.send_msg(b"Q", cstr("SHOW CONFIG"))
        one = b""
        while True:
            t, body = w.recv_msg()
            one += message(t, body)
            if t == b"Z":
                break
        base_kib = status_kib(pid, "VmRSS")
        payload = message(b"Q", cstr("SHOW CONFIG")) * n
        w.sock.setblocking(False)
        sent, stalled_since = 0, None
        while sent < len(payload):  # until all is sent or wedpool stops reading for a second
            try:
                sent += w.sock.send(payload[sent:sent + 65536])
                stalled_since = None
            except BlockingIOError:
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > 1.0:
                    break
                time.sleep(0.01)
        assert wait_for(lambda: quiescent(pid), timeout=20)
        grown_mib = (status_kib(pid, "VmHWM") - base_kib) / 1024
        assert grown_mib < 50, f"wedpool's RSS grew by {grown_mib:.0f} MiB"
        # now read: wedpool goes on, and every answer comes
        w.sock.setblocking(True)
        sender = spawn(w.sock.sendall, payload[sent:])
        data = w.buf + read_exactly(w.sock, len(one) * n - len(w.buf))
        sender.join(10)
    assert sender.error is None, sender.error
    assert data.count(one) == n


@pytest.mark.time_limit(60)
def test_pause_waiting_with_full_console_buffers_does_not_spin(wedpool):
    wedpool.start()
    pid = wedpool.proc.pid
    holder = wedpool.connect()
    holder.execute("begin")
    holder.execute("select 1")  # a server in use: PAUSE waits for it
    with wedpool.wire(timeout=10) as w:
        w.login(user="postgres", database="wedpool")
        w.send_msg(b"Q", cstr("PAUSE"))
        assert wait_for(lambda: "PAUSE from the admin console: waiting" in wedpool.log())
        # more commands than the console buffers while it waits, and nothing read
        w.sock.settimeout(3)
        more = message(b"Q", cstr("SHOW VERSION")) * 4000
        sent = 0
        try:
            while sent < len(more):
                sent += w.sock.send(more[sent:sent + 65536])
        except (socket.timeout, BlockingIOError):
            pass
        share = cpu_share(pid, 2.0)
        assert share < 0.2, f"wedpool used {share:.0%} of a core while PAUSE waited"
        holder.execute("commit")
        w.sock.settimeout(10)
        r = w.read_result()
        assert r.tags == ["PAUSE"], r.tags
        w.sock.sendall(more[sent:])
        results = [w.read_result() for _ in range(4000)]
        assert all(x.rows and x.rows[0][0].startswith("wedpool") for x in results)
        assert w.query("RESUME").tags == ["RESUME"]
    assert holder.execute("select 2").fetchone()[0] == 2
    holder.close()
