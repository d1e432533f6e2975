#!/usr/bin/env python3
"""bench/summarize.py SCENARIO INPUT RESULT [options] — turns the raw output of a scenario script
(wedpool-bench --json files, RSS samples) into its short table and bench/results/<scenario>.json.
Benchmarks never fail on timing: goals are reported as met or missed, the exit status is 0 unless
the input is broken."""
import argparse
import json
import os
import platform
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def meta(pairs):
    out = {}
    for p in pairs or []:
        k, _, v = p.partition("=")
        try:
            out[k] = int(v)
        except ValueError:
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def machine():
    return {"cpus": os.cpu_count(), "kernel": platform.release()}


def fmt(v, digits=3):
    return "-" if v is None else f"{v:.{digits}f}"


def goal(text, ok):
    return f"{text}: {'met' if ok else 'MISSED'}"


def acquire(run, lane):
    """The pooler's acquisition-wait percentiles of a lane (ms), or None when not measured."""
    pa = run.get("pooler_acquisition") or {}
    if not pa.get("measured"):
        return None
    return (pa.get("lanes") or {}).get(lane) if lane != "total" else pa.get("total")


def lane_rows(run):
    names = list(run["lanes"].keys()) + ["total"]
    for name in names:
        lane = run["total"] if name == "total" else run["lanes"][name]
        tx = lane["transactions"]
        yield name, lane, tx, acquire(run, name)


def print_run(title, run):
    print(f"\n{title}")
    print(f"{'lane':<12}{'clients':>8}{'done':>9}{'errors':>8}{'tx/s':>9}{'e2e p50':>9}{'e2e p99':>9}"
          f"{'acq p50':>9}{'acq p99':>9}  (ms)")
    for name, lane, tx, acq in lane_rows(run):
        lat = tx.get("latency_ms") or {}
        print(f"{name:<12}{lane['clients']:>8}{tx['completed']:>9}{tx['errors']:>8}{tx['per_s']:>9.1f}"
              f"{fmt(lat.get('p50')):>9}{fmt(lat.get('p99')):>9}"
              f"{fmt(acq and acq.get('p50')):>9}{fmt(acq and acq.get('p99')):>9}")


def errors_by_sqlstate(run):
    out = {}
    for lane in run["lanes"].values():
        for state, n in (lane["transactions"].get("errors_by_sqlstate") or {}).items():
            out[state] = out.get(state, 0) + n
    return out


def int002(args):
    run = load(args.input)
    snapshots = []
    if args.snapshots and os.path.exists(args.snapshots):
        for line in open(args.snapshots):
            line = line.strip()
            if line:
                snapshots.append(json.loads(line))
    print_run("int002: wedpool, pool max 20 (DB_POOL_MAX_CONNECTIONS)", run)
    tx = run["total"]["transactions"]
    attempted = tx["completed"] + tx["errors"]
    rate = tx["errors"] / attempted if attempted else 1.0
    peak = {"active": 0, "waiting": 0, "max": None}
    for s in snapshots:
        for p in s.get("pools", []):
            peak["active"] = max(peak["active"], p["active"])
            peak["waiting"] = max(peak["waiting"], p["waiting"])
            peak["max"] = p["max"]
    print(f"\n{len(snapshots)} pool snapshots (every 5 s): peak active {peak['active']}, peak waiting "
          f"{peak['waiting']}, max {peak['max']}")
    print(goal(f"error rate {100 * rate:.3f} % < 1 %", rate < 0.01))
    print(goal(f"throughput {tx['per_s']:.1f} tx/s >= 95 % of {run['config']['rate']:.0f} offered",
               tx["per_s"] >= 0.95 * run["config"]["rate"]))
    return {"error_rate": rate, "errors_by_sqlstate": errors_by_sqlstate(run), "pool_peak": peak,
            "snapshots": snapshots, "bench": run}


def saturday_peak(args):
    steady, spike = load(args.input), load(args.spike)
    print_run("phase steady (80 % of capacity)", steady)
    print_run("phase spike (10x)", spike)
    d = acquire(steady, "default")
    c = acquire(spike, "critical")
    print()
    print(goal(f"default-lane acquisition p99 at 80 %: {fmt(d and d.get('p99'))} ms < 10 ms",
               d is not None and d.get("p99") is not None and d["p99"] < 10))
    print(goal(f"critical-lane acquisition p99 during the spike: {fmt(c and c.get('p99'))} ms < 1 ms",
               c is not None and c.get("p99") is not None and c["p99"] < 1))
    return {"steady": steady, "spike": spike,
            "goals": {"default_p99_ms_steady": d and d.get("p99"), "critical_p99_ms_spike": c and c.get("p99")}}


def connect_storm(args):
    m = meta(args.meta)
    rows = {}
    for name, path in (("wedpool", args.input), ("pgbouncer", args.other)):
        run = load(path)
        total = run["total"]["logins"]
        cpu = m.get(f"{name}_cpu_us", 0)
        bench_cpu = run["connect"].get("bench_cpu_s")
        rows[name] = {"logins": total["ok"], "failed": total["failed"], "elapsed_s": run["connect"]["elapsed_s"],
                      "logins_per_s": run["connect"]["logins_per_s"],
                      "login_p50_ms": total["latency_ms"].get("p50"), "login_p99_ms": total["latency_ms"].get("p99"),
                      "pooler_cpu_us_per_login": cpu / total["ok"] if total["ok"] else None,
                      "bench_login": run["config"].get("login", "libpq"),
                      "bench_cpu_us_per_login": bench_cpu * 1e6 / total["ok"] if total["ok"] and bench_cpu else None}
    print(f"\n{'target':<11}{'logins':>8}{'failed':>8}{'seconds':>9}{'logins/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'CPU µs/login':>14}{'bench µs/login':>16}")
    for name, r in rows.items():
        print(f"{name:<11}{r['logins']:>8}{r['failed']:>8}{r['elapsed_s']:>9.2f}{r['logins_per_s']:>10.0f}"
              f"{fmt(r['login_p50_ms']):>9}{fmt(r['login_p99_ms']):>9}{fmt(r['pooler_cpu_us_per_login'], 0):>14}"
              f"{fmt(r['bench_cpu_us_per_login'], 0):>16}")
    print(f"(CPU: the pooler's; bench: wedpool-bench's own, {rows['wedpool']['bench_login']} login)")
    ratio = rows["wedpool"]["logins_per_s"] / rows["pgbouncer"]["logins_per_s"] if rows["pgbouncer"]["logins_per_s"] else None
    print(goal(f"\nwedpool/PgBouncer logins/s {fmt(ratio, 2)}x >= 10x", ratio is not None and ratio >= 10))
    return {"targets": rows, "ratio": ratio, **m}


def idle_10k(args):
    m = meta(args.meta)
    clients = m["clients"]
    rows = []
    for line in open(args.input):
        target, auth, before, peak, run = line.split()
        growth = int(peak) - int(before)
        run = load(run)
        rows.append({"target": target, "auth": auth, "rss_before_kib": int(before), "rss_peak_kib": int(peak),
                     "kib_per_client": round(growth / clients, 3), "logged_in": run["connect"]["connected"],
                     "login_s": run["connect"]["elapsed_s"], "lost": run["total"]["disconnects"],
                     "bench_login": run["config"].get("login", "libpq")})
    print(f"\n{'target':<11}{'auth':<15}{'RSS idle KiB':>13}{'RSS with clients':>18}{'KiB/client':>12}"
          f"{'logged in':>11}{'login s':>9}{'lost':>6}")
    for r in rows:
        print(f"{r['target']:<11}{r['auth']:<15}{r['rss_before_kib']:>13}{r['rss_peak_kib']:>18}"
              f"{r['kib_per_client']:>12.3f}{r['logged_in']:>11}{r['login_s']:>9.2f}{r['lost']:>6}")
    by = {(r["target"], r["auth"]): r for r in rows}
    for auth in sorted({r["auth"] for r in rows}):
        w, p = by.get(("wedpool", auth)), by.get(("pgbouncer", auth))
        if w and p and p["kib_per_client"] > 0:
            print(f"{auth}: wedpool/PgBouncer memory per client {w['kib_per_client'] / p['kib_per_client']:.2f}x")
    return {"rows": rows, **m}


SCENARIOS = {"int002": int002, "saturday-peak": saturday_peak, "connect-storm": connect_storm, "idle-10k": idle_10k}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("input")
    ap.add_argument("result")
    ap.add_argument("--snapshots")
    ap.add_argument("--spike")
    ap.add_argument("--other")
    ap.add_argument("--meta", nargs="*")
    args = ap.parse_args()
    doc = SCENARIOS[args.scenario](args)
    doc = {"scenario": args.scenario, "machine": machine(), **doc}
    with open(args.result, "w") as f:
        json.dump(doc, f, indent=2)
    print(f"\nwritten: {args.result}")


if __name__ == "__main__":
    sys.exit(main())
