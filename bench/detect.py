"""Detector benchmark driver (see bench/detect): times every detector of the pack in one
`trailhound detect` run, DuckDB on the same SQL for the portable detectors, and prints both
with their ratio."""

import argparse
import json
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
# The views trailhound computes once per run (detectors/src/views.rs, MATERIALIZED) that the
# portable detectors read; DuckDB computes them once too. (api_first_use, also computed once,
# serves only detectors written in DataFusion SQL: it is timed, not compared.)
MATERIALIZED = {"lambda_session_hours", "lambda_runtime_calls", "lambda_roles", "lambda_functions",
                "lambda_hourly", "lambda_durations"}
SQL = ROOT / "sql"


def trailhound_run(binary, lake, detectors=()):
    """One `detect` over the whole lake (of every detector, or of `detectors`): per-detector
    seconds (from its log), total wall seconds, peak RSS in MiB, and findings."""
    cmd = ["/usr/bin/time", "-f", "%e %M", binary, "-v", "detect", "--lake", lake,
           "--no-write", "--format", "ndjson"]
    for d in detectors:
        cmd += ["--detector", d]
    p = subprocess.run(cmd, capture_output=True, text=True, env={"TRAILHOUND_LOG": "info", "PATH": "/usr/bin:/bin"})
    if p.returncode != 0:
        sys.exit(f"trailhound detect failed:\n{p.stderr}")
    per = {}
    for m in re.finditer(r"detector ran detector=(\S+) findings=(\d+) rows=(\d+) seconds=([0-9.e-]+)", p.stderr):
        per[m.group(1)] = (float(m.group(4)), int(m.group(2)))
    views = {m.group(1): float(m.group(2)) for m in
             re.finditer(r"shared view computed view=(\S+) rows=\d+ seconds=([0-9.e-]+)", p.stderr)}
    per["(shared views)"] = (sum(s for v, s in views.items() if v in MATERIALIZED), 0)
    for v, s in views.items():
        if v not in MATERIALIZED:
            per[f"(view {v})"] = (s, 0)
    wall, rss = p.stderr.strip().splitlines()[-1].split()
    findings = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    return per, float(wall), int(rss) / 1024, findings


def duckdb_session(lake):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    # `/` on two integers divides to a whole number in DataFusion (the views bin times that
    # way); DuckDB gives a fraction unless told otherwise.
    con.execute("SET integer_division = true")
    for table in ["cloudtrail", "lambda_invocations", "lambda_logs"]:
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{lake}/{table}/**/*.parquet', "
            "hive_partitioning = true, hive_types_autocast = false, union_by_name = true)")
    # The views the portable detectors read, from the same files trailhound embeds; the small
    # shared ones computed once, as trailhound does (timed).
    started = time.perf_counter()
    for view in ["cloudtrail_evidence", "lambda_session_hours", "lambda_runtime_calls", "lambda_roles",
                 "lambda_sessions", "lambda_functions", "invocation_evidence", "lambda_hourly",
                 "lambda_durations"]:
        kind = "TEMP TABLE" if view in MATERIALIZED else "VIEW"
        con.execute(f"CREATE {kind} {view} AS {(SQL / 'views' / f'{view}.sql').read_text()}")
    return con, time.perf_counter() - started


# The columns trailhound's runner reads of a detector's result (detectors/src/runner.rs); DuckDB
# is asked for the same, so that neither engine reads the other columns of `e.*`.
EVIDENCE = ["subject", "event_time", "actor_arn", "function_name", "event_id", "source_uri",
            "source_record_index", "source_ip_address", "user_agent", "access_key_id",
            "event_source", "event_name", "error_code", "request_id", "reason", "account_id",
            "region"]


def duckdb_time(con, sql):
    have = [d[0] for d in con.execute(f"DESCRIBE {sql}").fetchall()]
    cols = ", ".join(c for c in EVIDENCE if c in have)
    started = time.perf_counter()
    rows = len(con.execute(f"SELECT {cols} FROM ({sql})").fetchall())
    return time.perf_counter() - started, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--lake", required=True)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()

    ct_rows = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{a.lake}/cloudtrail/**/*.parquet')").fetchall()[0][0]
    inv_rows = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{a.lake}/lambda_invocations/**/*.parquet')").fetchall()[0][0]
    print(f"lake: {ct_rows:,} CloudTrail events, {inv_rows:,} Lambda invocations ({a.lake})")

    runs = [trailhound_run(a.bin, a.lake) for _ in range(a.runs)]
    walls = sorted(r[1] for r in runs)
    median_run = sorted(runs, key=lambda r: r[1])[len(runs) // 2]
    per, wall, rss, findings = median_run
    total_detector_s = sum(s for d, (s, _) in per.items() if not d.startswith("("))

    metas = {p.stem: tomllib.loads(p.read_text()) for p in sorted((SQL / "detectors").glob("*.toml"))}
    views = []
    for _ in range(a.runs):
        con, s = duckdb_session(a.lake)
        views.append(s)
    duck_views = sorted(views)[len(views) // 2]
    th_views = per["(shared views)"][0]
    # trailhound runs two detectors at once (and its independent shared views two at once):
    # a detector's seconds in the pack include the time it shared the cores with another. The
    # comparison is of the portable detectors' whole run, views included: trailhound's `detect`
    # of them alone (wall, process start included) against DuckDB's views and queries one after
    # the other, each with every core.
    portable = [d for d, m in metas.items() if m.get("portable")]
    subset = sorted(trailhound_run(a.bin, a.lake, portable)[1] for _ in range(a.runs))
    th_portable = subset[len(subset) // 2]
    print(f"\n{'detector':<28} {'trailhound s':>12} {'findings':>9} {'DuckDB s':>9} {'rows':>7}")
    print(f"{'(shared views, once)':<28} {th_views:>12.2f} {'':>9} {duck_views:>9.2f} {'':>7}")
    duck_total = duck_views
    for name, (s, _) in per.items():
        if name.startswith("(view "):
            print(f"{name + ', once':<28} {s:>12.2f} {'':>9} {'-':>9} {'':>7}  (DataFusion SQL)")
    for did, meta in metas.items():
        th_s, n = per.get(did, (float('nan'), 0))
        if meta.get("portable"):
            sql = (SQL / "detectors" / f"{did}.sql").read_text()
            times = []
            for _ in range(a.runs):
                s, rows = duckdb_time(con, sql)
                times.append(s)
            d = sorted(times)[len(times) // 2]
            duck_total += d
            print(f"{did:<28} {th_s:>12.2f} {n:>9} {d:>9.2f} {rows:>7}")
        else:
            print(f"{did:<28} {th_s:>12.2f} {n:>9} {'-':>9} {'-':>7}  (DataFusion SQL)")
    print(f"\nwhole pack: {sum(not d.startswith('(') for d in per)} detectors, {sum(n for _, n in per.values())} findings; "
          f"trailhound detect wall {wall:.2f} s (median of {a.runs}: {', '.join(f'{w:.2f}' for w in walls)}), "
          f"detectors {total_detector_s:.2f} s (two at a time), peak RSS {rss:.0f} MiB")
    print(f"portable detectors ({len(portable)}) with their shared views: trailhound detect of them "
          f"{th_portable:.2f} s (median of {a.runs}: {', '.join(f'{w:.2f}' for w in subset)}), "
          f"DuckDB {duck_total:.2f} s, ratio DuckDB/trailhound {duck_total / th_portable:.2f}x")
    rate = ct_rows / wall
    print(f"throughput: {rate:,.0f} CloudTrail events/s through the whole pack")

    labels = Path(a.lake) / "labels.json"
    if labels.exists():
        p = subprocess.run([a.bin, "eval", "--lake", a.lake, "--labels", str(labels), "--json"],
                           capture_output=True, text=True)
        if p.returncode == 0:
            r = json.loads(p.stdout)
            print(f"eval: recall {r['recall']:.2f}, precision {r['precision']:.2f}, "
                  f"{r['false_findings']} false findings = {r['false_findings_per_function_week'] * 100:.2f} "
                  f"per 100 function-weeks over {r['function_weeks']:.0f} function-weeks")
            for f in r["false_finding_list"]:
                print(f"  not labelled: {f['detector']} {f['first_seen']} {f['summary']}")


if __name__ == "__main__":
    main()
