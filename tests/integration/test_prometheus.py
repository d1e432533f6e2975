"""The monitoring artifacts wedpool ships (deploy/prometheus, deploy/grafana, deploy/datadog,
docs/runbook.md) against a live wedpool: promtool on the rules and on our /metrics, the real
Prometheus server scraping wedpool and loading the rules, and every PromQL expression of the rules
and the dashboard naming only metrics wedpool really exports."""
import datetime
import json
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest

from helpers import ROOT, free_port, wait_for

RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
SCRAPE = ROOT / "deploy" / "prometheus" / "scrape.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "wedpool.json"
DATADOG = ROOT / "deploy" / "datadog" / "openmetrics.yaml"
RUNBOOK = ROOT / "docs" / "runbook.md"

MAX_POOL = 2
TOKEN = "prom-scrape-token"
SEVERITIES = {"critical", "warning", "info"}
# Series Prometheus itself makes; everything else in an expression must come from wedpool.
PROMETHEUS_SERIES = {"up"}
# PromQL words that look like metric names: aggregations, keywords, binary operators.
PROMQL_WORDS = {"sum", "min", "max", "avg", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile",
                "count_values", "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
                "unless", "bool", "offset", "inf", "nan"}


def load_yaml(path):
    yaml = pytest.importorskip("yaml", reason="python3-yaml is needed to read the deploy/ YAML files")
    return yaml.safe_load(path.read_text())


def tool(name):
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (Debian package prometheus; `make deps` installs it)")
    return path


def http_get(port, path, token=None, timeout=5):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read().decode()


# ---------------------------------------------------------------------------------------------
# a live wedpool with every kind of series: pools, lanes with a shed client and a reserve
# connection in use, errors of two SQLSTATE classes, PostgreSQL statistics

@pytest.fixture
def busy_wedpool(wedpool):
    """busy_wedpool(token=None) starts wedpool with lanes, fills its pool (MAX_POOL transactions
    held open), sheds one background client, puts one critical client on the reserve, waits for
    PostgreSQL statistics and returns the wedpool. The transactions stay open until teardown."""
    held = []

    def start(token=None):
        fill_pool(wedpool, token, held)
        return wedpool
    yield start
    for c in held:
        c.close()


def fill_pool(wedpool, token, held):
    wedpool.settings.update({"http_listen": f"127.0.0.1:{wedpool.http_port}", "pg_stats_interval_s": 1,
                             "max_pool_size": MAX_POOL, "reserve_pool_size": 1})
    # a calendar with one wedding ten days ahead: the calendar series exist, the context stays routine
    start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(days=10)
    calendar = wedpool.dir / "weddings.csv"
    calendar.write_text("name,start,end,timezone,guests,vendors,venue\n"
                        f"Monitoring wedding,{start:%Y-%m-%dT%H:%M}Z,{start + datetime.timedelta(hours=8):%Y-%m-%dT%H:%M}Z,"
                        ",120,8,Barn\n")
    wedpool.calendars = {"internal": f"source={calendar}"}
    if token:
        wedpool.settings["http_auth_token"] = token
    wedpool.lanes = {"critical": "priority=1400 reserve=yes", "background": "priority=10 max_waiting=0"}
    wedpool.lane_rules = [("critical", "application_name=ceremony*"), ("background", "application_name=batch*")]
    wedpool.start()
    for _ in range(MAX_POOL):
        c = wedpool.connect(application_name="web")
        c.execute("begin")
        c.execute("select 1")
        held.append(c)
    shed_background_client(wedpool)
    with pytest.raises(Exception):
        wedpool.connect(password="wrong").close()  # SQLSTATE class 28
    critical = wedpool.connect(application_name="ceremony-live")
    critical.execute("begin")
    critical.execute("select 1")  # the pool is full: served from the reserve at once
    held.append(critical)
    assert wait_for(lambda: 'wedpool_pg_up{database="appdb"} 1' in scrape(wedpool, token), timeout=15), \
        "wedpool never collected PostgreSQL statistics"


def shed_background_client(wedpool):
    """A background client while the pool is full is refused at once (max_waiting=0): 53300."""
    with wedpool.wire() as w:
        w.login(params={"application_name": "batch-report"})
        err = w.query_error("select 1")
    assert err is not None and err.sqlstate == "53300", err


def scrape(wedpool, token=None):
    return http_get(wedpool.http_port, "/metrics", token)


def exported_names(text):
    """Every name a PromQL expression may use: sample names, and for each # TYPE the family (with
    _bucket/_sum/_count for histograms), so families without samples yet count too."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(None, 3)
            names |= {family + s for s in ("_bucket", "_sum", "_count")} if kind == "histogram" else {family}
        elif line and not line.startswith("#"):
            names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return names


def metric_names(expr):
    """The metric names a PromQL expression (or a Grafana label_values() query) refers to."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", expr, re.S)
    if m:
        expr = m.group(1)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)              # strings: label values
    expr = re.sub(r"\{[^}]*\}", " ", expr)                       # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)                      # ranges, $__rate_interval
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)  # label lists
    words = re.findall(r"(?<![\w.$:])[a-zA-Z_:][\w:]*(?![\w:]|\s*\()", expr)  # not functions
    return {w for w in words if w not in PROMQL_WORDS}


def assert_only_exported(exprs, text, what):
    exported = exported_names(text) | PROMETHEUS_SERIES
    used = set()
    for where, expr in exprs:
        names = metric_names(expr)
        assert names, f"{what} {where}: no metric found in {expr!r}"
        unknown = names - exported
        assert not unknown, f"{what} {where} uses {sorted(unknown)}, which wedpool does not export: {expr!r}"
        used |= names
    return used


def rules_exprs(doc):
    return [(r["alert"], r["expr"]) for g in doc["groups"] for r in g["rules"]]


def dashboard_exprs(doc):
    """(where, expr) of every panel target, annotation and template variable query."""
    out = []
    for p in doc["panels"]:
        out += [(("panel", p["title"]), t["expr"]) for t in p.get("targets", [])]
    out += [(("annotation", a["name"]), a["expr"]) for a in doc["annotations"]["list"] if "expr" in a]
    for v in doc["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            out.append((("variable", v["name"]), q))
    return out


# ---------------------------------------------------------------------------------------------
# rules and runbook, without a daemon

def test_promtool_accepts_rules_and_scrape_config():
    promtool = tool("promtool")
    out = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    # scrape.yml names rules.yml relative to itself, so this checks both together
    out = subprocess.run([promtool, "check", "config", SCRAPE.name], capture_output=True, text=True, timeout=60,
                         cwd=SCRAPE.parent)
    assert out.returncode == 0, out.stdout + out.stderr


def github_anchors(markdown):
    """The anchors GitHub gives the headings of a markdown file."""
    anchors = set()
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.M | re.S)
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", prose, re.M):
        anchors.add(re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-"))
    return anchors


def test_every_alert_has_severity_summary_and_a_runbook_section():
    doc = load_yaml(RULES)
    runbook = RUNBOOK.read_text()
    anchors = github_anchors(runbook)
    names = []
    for group in doc["groups"]:
        for rule in group["rules"]:
            name = rule["alert"]
            names.append(name)
            assert rule["labels"]["severity"] in SEVERITIES, name
            ann = rule["annotations"]
            assert ann["summary"] and ann["description"], name
            url, _, anchor = ann["runbook_url"].partition("#")
            assert url.endswith("docs/runbook.md") and anchor == name.lower(), (name, ann["runbook_url"])
            assert anchor in anchors, f"docs/runbook.md has no section for {name}"
    assert len(names) == len(set(names)), "duplicate alert names"
    alerts_part = runbook.split("\n## Alerts\n", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"^### (\S+)$", alerts_part, re.M)) == set(names), "runbook sections and alerts differ"
    broken = {a for a in re.findall(r"\]\(#([^)]+)\)", runbook) if a not in anchors}
    assert not broken, f"runbook links to missing sections: {broken}"


# ---------------------------------------------------------------------------------------------
# against a live wedpool's /metrics

def test_rules_use_only_metrics_wedpool_exports(busy_wedpool):
    used = assert_only_exported(rules_exprs(load_yaml(RULES)), scrape(busy_wedpool()), "alert")
    assert {"wedpool_pool_utilization_ratio", "db_pool_waiting_connections", "db_pool_acquire_seconds_bucket",
            "wedpool_reserve_in_use", "wedpool_backend_up", "wedpool_pg_up",
            "wedpool_calendar_last_success_timestamp_seconds", "wedpool_calendar_fetch_failures_total",
            "wedpool_protection_override_active", "wedpool_active_weddings", "wedpool_scale_hook_runs_total",
            "wedpool_wedding_criticality"} <= used


def test_promtool_check_metrics_accepts_live_output(busy_wedpool):
    promtool = tool("promtool")
    text = scrape(busy_wedpool())
    for family in ("wedpool_reserve_in_use", "wedpool_lane_shed_total", "wedpool_errors_total", "wedpool_pg_backends"):
        assert re.search(re.escape(family) + r"\{.*\} [1-9]", text), f"the workload left {family} at zero"
    out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and not out.stdout.strip() and not out.stderr.strip(), out.stdout + out.stderr


def test_lane_and_database_names_are_escaped_in_label_values(wedpool, pg):
    """Lane and database names are free text in the config; ones with a quote and a backslash must
    not break the exposition (a single bad line fails the whole scrape in Prometheus): pool, lane,
    health-probe and PostgreSQL-statistics series alike."""
    promtool = tool("promtool")
    lane, db = 'vip"\\lane', 'we"ird\\db'
    wedpool.settings["http_listen"] = f"127.0.0.1:{wedpool.http_port}"
    wedpool.settings["pg_stats_interval_s"] = 1
    wedpool.databases[db] = f"host=127.0.0.1 port={pg.port} dbname=appdb"
    wedpool.lanes = {lane: "priority=500"}
    wedpool.lane_rules = [(lane, "application_name=vip*")]
    wedpool.start()
    with wedpool.connect(dbname=db.replace("\\", "\\\\"), application_name="vip-guest") as c:  # conninfo quoting
        c.execute("select 1")
        assert wait_for(lambda: 'wedpool_pg_up{database="we\\"ird\\\\db"} 1' in scrape(wedpool), timeout=15)
        text = scrape(wedpool)
    assert 'lane="vip\\"\\\\lane"' in text
    assert 'wedpool_backend_up{database="we\\"ird\\\\db",host=' in text
    assert 'db_pool_max_connections{database="we\\"ird\\\\db",user="app"}' in text
    out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_grafana_dashboard_is_well_formed_and_uses_only_exported_metrics(busy_wedpool):
    doc = json.loads(DASHBOARD.read_text())
    assert doc["uid"] and doc["title"] and doc["schemaVersion"] >= 36
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert {"instance", "database", "user", "lane"} <= set(variables)
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    cells = set()
    for p in doc["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        area = {(g["x"] + dx, g["y"] + dy) for dx in range(g["w"]) for dy in range(g["h"])}
        assert not cells & area, f"panel {p['title']!r} overlaps another"
        cells |= area
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", p["title"]
            assert p["targets"], p["title"]
    used = assert_only_exported(dashboard_exprs(doc), scrape(busy_wedpool()), "dashboard")
    assert {"db_pool_acquire_seconds_bucket", "db_pool_active_connections", "db_pool_idle_connections",
            "db_pool_max_connections", "db_pool_waiting_connections", "wedpool_lane_shed_total",
            "wedpool_reserve_in_use", "wedpool_errors_total", "wedpool_server_connect_failures_total",
            "wedpool_pg_backends", "wedpool_pg_oldest_transaction_age_seconds", "wedpool_pg_xact_commit_total",
            "wedpool_pg_replication_lag_seconds", "wedpool_pg_up", "wedpool_backend_up",
            "wedpool_wedding_criticality", "wedpool_active_weddings", "wedpool_guests_affected",
            "wedpool_protection_active", "wedpool_protection_override_active", "wedpool_pool_max_size",
            "wedpool_pool_configured_max_size", "wedpool_pool_warm_target", "wedpool_scaling_events_total",
            "wedpool_calendar_last_success_timestamp_seconds"} <= used


def test_datadog_check_config_names_exported_families(busy_wedpool):
    doc = load_yaml(DATADOG)
    assert "init_config" in doc
    (instance,) = doc["instances"]
    assert instance["openmetrics_endpoint"] == "http://127.0.0.1:9632/metrics" and instance["namespace"]
    kinds = dict(re.findall(r"^# TYPE (\S+) (\S+)$", scrape(busy_wedpool()), re.M))
    for entry in instance["metrics"]:
        name = entry if isinstance(entry, str) else next(iter(entry))
        # counters are named by family, without _total (OpenMetrics), as the V2 check expects
        assert kinds.get(name + "_total") == "counter" or kinds.get(name) in ("gauge", "histogram"), \
            f"openmetrics.yaml lists {name}, which wedpool does not export under that name"


# ---------------------------------------------------------------------------------------------
# the real Prometheus server

class PrometheusServer:
    """prometheus in a temp dir on a free loopback port; stop() at teardown."""

    def __init__(self, binary, tmp_path, config):
        self.port = free_port()
        self.dir = tmp_path / "prometheus"
        self.dir.mkdir()
        (self.dir / "prometheus.yml").write_text(config)
        self.log = self.dir / "prometheus.log"
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(
                [binary, f"--config.file={self.dir / 'prometheus.yml'}", f"--storage.tsdb.path={self.dir / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"], stdout=logf, stderr=subprocess.STDOUT)

    def api(self, path, **params):
        url = f"/api/v1/{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            doc = json.loads(http_get(self.port, url, timeout=10))
        except urllib.error.HTTPError as e:
            doc = json.loads(e.read().decode())
        assert doc["status"] == "success", f"{url}: {doc}"
        return doc["data"]

    def ready(self):
        assert self.proc.poll() is None, f"prometheus exited with {self.proc.returncode}:\n{self.output()}"
        try:
            return http_get(self.port, "/-/ready", timeout=2) is not None
        except OSError:
            return False

    def query(self, promql):
        return self.api("query", query=promql)["result"]

    def output(self):
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def prometheus(tmp_path):
    binary = tool("prometheus")
    servers = []

    def start(config):
        servers.append(PrometheusServer(binary, tmp_path, config))
        assert wait_for(servers[-1].ready, timeout=30), f"prometheus not ready:\n{servers[-1].output()}"
        return servers[-1]
    yield start
    for s in servers:
        s.stop()


def scrape_config_for(wedpool, tmp_path):
    """deploy/prometheus/scrape.yml as shipped, with its commented bearer-token example switched on,
    pointed at this wedpool, scraping and evaluating every second."""
    token_file = tmp_path / "wedpool.token"
    token_file.write_text(TOKEN)
    text = SCRAPE.read_text()
    edits = [("scrape_interval: 15s", "scrape_interval: 1s"), ("evaluation_interval: 15s", "evaluation_interval: 1s"),
             ("scrape_timeout: 5s", "scrape_timeout: 1s"), ("- rules.yml", f"- {RULES}"),
             ("'127.0.0.1:9632'", f"'127.0.0.1:{wedpool.http_port}'"),
             ("# authorization:", "authorization:"), ("#   type: Bearer", "  type: Bearer"),
             ("#   credentials_file: /etc/prometheus/wedpool.token", f"  credentials_file: {token_file}")]
    for old, new in edits:
        assert old in text, f"scrape.yml no longer contains {old!r}"
        text = text.replace(old, new)
    return text


# Panels that are empty on a single primary with this workload: no standby, no lock waits.
EMPTY_PANELS = {"Replication lag (standbys)", "Backends waiting, by wait event type"}


def dashboard_query(expr):
    expr = expr.replace("$__rate_interval", "1m")
    return re.sub(r"\$\{?(instance|database|user|lane)\}?", ".*", expr)


@pytest.mark.time_limit(90)
def test_real_prometheus_scrapes_wedpool_and_loads_the_rules(busy_wedpool, prometheus, tmp_path):
    wedpool = busy_wedpool(token=TOKEN)
    prom = prometheus(scrape_config_for(wedpool, tmp_path))

    # Prometheus' service discovery hands out targets a few seconds after start
    def target():
        targets = prom.api("targets")["activeTargets"]
        return targets[0] if targets and targets[0]["health"] != "unknown" else None
    t = wait_for(target, timeout=30, interval=0.2)
    assert t and t["health"] == "up" and t["lastError"] == "", f"{t}\n{prom.output()}"
    assert t["labels"]["job"] == "wedpool"

    result = wait_for(lambda: prom.query('wedpool_pool_configured_max_size{database="appdb"}'), timeout=15,
                      interval=0.2)
    assert len(result) == 1 and result[0]["metric"]["user"] == "app"
    assert float(result[0]["value"][1]) == MAX_POOL
    # the effective size: the full pool may already have grown (scale_up_utilization_pct), never shrunk
    result = prom.query('db_pool_max_connections{database="appdb"}')
    assert len(result) == 1 and float(result[0]["value"][1]) >= MAX_POOL
    up = prom.query('up{job="wedpool"} == 1')
    assert len(up) == 1 and up[0]["metric"]["instance"] == f"127.0.0.1:{wedpool.http_port}"

    # the rules loaded, and every one of them evaluates without error against real series
    alert_names = set(re.findall(r"^\s*- alert: (\w+)$", RULES.read_text(), re.M))

    def rules():
        listed = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
        return listed if all(r["health"] != "unknown" for r in listed) else None
    listed = wait_for(rules, timeout=15, interval=0.2)
    assert listed, "rules never evaluated"
    assert {r["name"] for r in listed} == alert_names
    assert [r for r in listed if r["health"] != "ok"] == []

    # the scenario trips the alerts it should: reserve in use, a full pool (both waiting out
    # their `for`), and a lane shedding once Prometheus is watching
    shed_background_client(wedpool)

    expected = {("WedpoolReserveInUse", "critical"): "pending", ("WedpoolPoolUtilizationHigh", ""): "pending",
                ("WedpoolLaneShedding", "background"): "firing"}

    def alerts():
        return {(a["labels"]["alertname"], a["labels"].get("lane", "")): a["state"] for a in prom.api("alerts")["alerts"]}
    assert wait_for(lambda: expected.items() <= alerts().items(), timeout=20, interval=0.2), f"alerts: {alerts()}"

    # every dashboard query runs, and all but the known-empty ones return series
    doc = json.loads(DASHBOARD.read_text())
    for (kind, name), expr in dashboard_exprs(doc):
        if kind == "variable":
            continue  # label_values() is Grafana's, not PromQL
        q = dashboard_query(expr)
        if kind == "panel" and name not in EMPTY_PANELS:
            assert wait_for(lambda: prom.query(q), timeout=10, interval=0.2), f"panel {name!r}: no data for {q}"
        else:
            prom.query(q)
