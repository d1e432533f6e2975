"""The capacity plan (issue #9): `wedpool plan` run on a small calendar fixture, without PostgreSQL.
Exit status 0 when the plan fits and 3 when it exceeds capacity, the JSON's fields, and an SVG that
parses as XML."""
import json
import os
import pathlib
import subprocess
import xml.etree.ElementTree as ET

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
WEDPOOL_BIN = os.environ.get("WEDPOOL_BIN", str(ROOT / "build" / "wedpool"))
CALENDAR = pathlib.Path(__file__).resolve().parent / "fixtures" / "plan_weddings.csv"
SVG_NS = "{http://www.w3.org/2000/svg}"

PLAN_BIN = [WEDPOOL_BIN, "plan"]


def write_config(tmp_path, appdb_max=200, reports_max=60, scale_max=0):
    ini = tmp_path / "wedpool.ini"
    ini.write_text(
        "[databases]\n"
        f"appdb = host=127.0.0.1 dbname=appdb min_pool_size=10 max_pool_size={appdb_max}\n"
        f"reports = host=127.0.0.1 dbname=appdb min_pool_size=2 max_pool_size={reports_max}\n"
        f"[wedpool]\nlisten_addr = 127.0.0.1\nauth_type = trust\nscale_max_pool_size = {scale_max}\n")
    return ini


def plan(tmp_path, *args, ini=None):
    ini = ini or write_config(tmp_path)
    cmd = [*PLAN_BIN, "-c", str(ini), "--timezone", "Europe/London",
           "--calendar", f"internal={CALENDAR}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_fits(tmp_path):
    # Saturday evening in June: appdb ceil(10 x 10 x 1.2) + 18 = 138, reports ceil(2 x 12) + 18 = 42
    r = plan(tmp_path, "--from", "2026-06-13", "--days", "1", "--max-connections", "200")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "the plan fits" in r.stdout
    assert "saturday_evening x10 (weekend with 2 weddings)" in r.stdout
    assert "needs max_connections 183" in r.stdout  # 138 + 42 + 3 reserved


def test_over_max_connections(tmp_path):
    r = plan(tmp_path, "--from", "2026-06-13", "--days", "1", "--max-connections", "150")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "OVER CAPACITY" in r.stdout
    assert "max_connections 150 cuts 33" in r.stdout  # 183 needed


def test_over_pool_ceiling(tmp_path):
    ini = write_config(tmp_path, reports_max=40, scale_max=40)
    r = plan(tmp_path, "--from", "2026-06-13", "--days", "1", ini=ini)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "reports ceiling 40 cuts 2" in r.stdout  # scale_max_pool_size caps every pool


def test_quiet_week_fits_anything(tmp_path):
    # the next weekend has no weddings: the windows stay off, only the peak-season factor
    ini = write_config(tmp_path, appdb_max=12, reports_max=3)
    r = plan(tmp_path, "--from", "2026-06-19", "--days", "3", ini=ini)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "saturday_evening off (weekend without weddings)" in r.stdout


def test_json(tmp_path):
    out = tmp_path / "plan.json"
    r = plan(tmp_path, "--from", "2026-06-12", "--days", "3", "--max-connections", "150", "--json", str(out))
    assert r.returncode == 3, r.stdout + r.stderr
    doc = json.loads(out.read_text())
    assert doc["from"] == "2026-06-12" and doc["days"] == 3 and doc["timezone"] == "Europe/London"
    assert doc["max_connections"] == 150 and doc["superuser_reserved_connections"] == 3
    assert doc["exceeds_capacity"] is True
    assert doc["peak_max_connections_needed"] == 183
    assert [p["name"] for p in doc["pools"]] == ["appdb", "reports"]
    # the ceiling is what the scaler may grow to: max_pool_size without scale_max_pool_size
    assert doc["pools"][0] == {"name": "appdb", "base": 10, "ceiling": 200}
    names = [w["name"] for w in doc["weddings"]]
    assert names == ["Smith & Jones", "Patel"]
    assert doc["weddings"][0]["start"] == "2026-06-13T13:00:00Z"
    assert doc["weddings"][1]["guests"] == 300
    assert len(doc["hours"]) == 72
    by_local = {h["local"]: h for h in doc["hours"]}
    tue = by_local["2026-06-12T10:00+01:00"]  # Friday morning: no window yet, peak season only
    assert tue["multiplier"] == 1.2 and tue["weddings"] == [] and tue["cut"] == 0
    fri = by_local["2026-06-12T18:00+01:00"]
    assert fri["multiplier"] == 2.4 and "friday_evening x2" in fri["why"]
    sat = by_local["2026-06-13T20:00+01:00"]
    assert sat["multiplier"] == 12
    assert sat["weddings"] == ["Smith & Jones", "Patel"] and sat["weddings_in_progress"] == 2
    assert sat["wedding_load"] == 18
    assert sat["pools"][0] == {"name": "appdb", "predicted": 138, "warm_target": 138, "ceiling": 200, "cut": 0}
    assert sat["max_connections_needed"] == 183
    assert sat["postgres_cut"] == 33 and sat["cut"] == 33
    # warm target: at 15:30 the 16:00 spike is already the target; the hour row at 15:00 shows it
    h15 = by_local["2026-06-13T15:00+01:00"]
    assert h15["pools"][0]["warm_target"] == 78 and h15["pools"][0]["predicted"] == 78
    for h in doc["hours"]:
        for key in ("start", "local", "weddings", "multiplier", "wedding_load", "why", "pools",
                    "max_connections_needed", "postgres_cut", "cut"):
            assert key in h


def test_svg(tmp_path):
    out = tmp_path / "plan.svg"
    r = plan(tmp_path, "--from", "2026-06-12", "--days", "3", "--max-connections", "150", "--svg", str(out))
    assert r.returncode == 3, r.stdout + r.stderr
    root = ET.parse(out).getroot()
    assert root.tag == SVG_NS + "svg"
    assert root.find(f".//{SVG_NS}polyline[@class='demand']") is not None
    assert root.find(f".//{SVG_NS}line[@class='capacity']") is not None
    texts = ["".join(t.itertext()) for t in root.iter(SVG_NS + "text")]
    assert "Smith & Jones" in texts and "Patel" in texts
    assert len(root.findall(f".//{SVG_NS}g[@class='wedding']")) == 2
    assert root.findall(f".//{SVG_NS}rect[@class='over']")


def test_dst_days_have_23_and_25_hours(tmp_path):
    for day, hours in (("2026-03-29", 23), ("2026-10-25", 25)):
        out = tmp_path / f"{day}.json"
        r = plan(tmp_path, "--from", day, "--days", "1", "--json", str(out))
        assert r.returncode == 0, r.stdout + r.stderr
        assert len(json.loads(out.read_text())["hours"]) == hours


@pytest.mark.parametrize("args", [
    [],                                   # no -c
    ["--days", "0"],
    ["--from", "13/06/2026"],
    ["--max-connections", "lots"],
    ["--timezone", "Mars/Olympus"],
    ["--calendar", "nopath"],
    ["stray"],
])
def test_usage_errors(tmp_path, args):
    ini = write_config(tmp_path)
    cmd = PLAN_BIN + ([] if args == [] else ["-c", str(ini)]) + args
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "usage: wedpool plan" in r.stderr


def test_bad_config_and_calendar(tmp_path):
    bad = tmp_path / "bad.ini"
    bad.write_text("[wedpool]\nmax_pool_size = many\n")
    r = subprocess.run([*PLAN_BIN, "-c", str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "max_pool_size" in r.stderr
    ini = write_config(tmp_path)
    r = subprocess.run([*PLAN_BIN, "-c", str(ini), "--calendar", f"x={tmp_path}/missing.csv"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "calendar 'x'" in r.stderr
