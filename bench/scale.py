"""Year-scale benchmark driver (see bench/scale).

A simulated 100-function account's lake grows day by day to a year: each batch of days is
simulated (`simulate --only-days`, days in parallel), ingested (CloudTrail and Lambda logs) and
its raw files deleted, so the disk holds the lake and one batch. When the lake first holds
--checkpoint events, and again at the end, the read side is timed on it: whole-lake `detect`,
the daily job (`detect` over the last simulated day), `drift --window 90d`, `baseline train`
and, unless --skip-cluster, the same `detect` on a Ballista cluster of two executors on this
machine. Prints each with its peak RSS at both sizes, the growth factor between them, and the
time projected for --project events."""

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

# The attacks the detection rules are for (bench/detect's lake has the same).
ATTACKS = ",".join([
    "credential-exfiltration", "credential-dual-use", "dormant-permission", "reconnaissance",
    "privilege-escalation", "lambda-persistence", "defense-evasion", "secrets-mass-retrieval",
    "invocation-flood", "cryptomining", "error-storm",
])


def timed(label, cmd, log, may_fail=False, memory_cap_gib=None, env=None, stderr_to=None):
    """Run cmd under /usr/bin/time: (wall seconds, peak RSS in MiB, stdout); with may_fail,
    None when it fails. memory_cap_gib: its address space is limited to that much. env: extra
    environment variables; stderr_to: a file its stderr is written to."""
    def cap():
        if memory_cap_gib:
            import resource
            n = memory_cap_gib * 2**30
            resource.setrlimit(resource.RLIMIT_AS, (n, n))
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        p = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", t.name, *cmd],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=cap,
                           env={**os.environ, **(env or {})})
        if stderr_to:
            Path(stderr_to).write_text(p.stderr)
        if p.returncode != 0:
            sys.stderr.write(p.stderr[-4000:])
            if may_fail:
                log.write(f"{label}: failed ({p.returncode})\n")
                return None
            sys.exit(f"{label} failed ({p.returncode}): {' '.join(cmd)}")
        wall, kib = t.read().split()[-2:]
    log.write(f"{label}: {float(wall):.2f} s, {int(kib) / 1024:.0f} MiB\n")
    log.flush()
    return float(wall), int(kib) / 1024, p.stdout


def du_gib(path: Path) -> float:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except FileNotFoundError:
                pass
    return total / 2**30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A scheduler and two executors (one slot each) on 127.0.0.1, under /usr/bin/time so that
    their peak RSS is known when they stop."""

    def __init__(self, binary, work: Path):
        self.work = work
        self.procs = []
        sp = free_port()
        self.engine = f"ballista://127.0.0.1:{sp}"
        self._start("scheduler", [binary, "cluster", "scheduler", "--bind", f"127.0.0.1:{sp}"])
        time.sleep(1)
        for i in (1, 2):
            self._start(f"executor-{i}", [binary, "cluster", "executor", "--scheduler",
                                          f"127.0.0.1:{sp}", "--bind", f"127.0.0.1:{free_port()}",
                                          "--slots", "1"])
        time.sleep(3)

    def _start(self, name, cmd):
        rss = self.work / f"{name}.rss"
        log = open(self.work / f"{name}.log", "w")
        p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", str(rss), *cmd],
                             stdout=log, stderr=log, start_new_session=True)
        self.procs.append((name, p, rss))

    def stop(self):
        """Stop every process; their peak RSS in MiB by name."""
        for _, p, _ in self.procs:
            # /usr/bin/time's child: interrupt it, time then writes the figure.
            subprocess.run(["pkill", "-INT", "-P", str(p.pid)], check=False)
        out = {}
        for name, p, rss in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            text = rss.read_text().split() if rss.exists() else []
            out[name] = int(text[-1]) / 1024 if text and text[-1].isdigit() else float("nan")
        return out


def slowest(stderr_file: Path, top=6):
    """The slowest detectors and shared views of a run logged at info: [(seconds, name)]."""
    out = []
    for line in stderr_file.read_text().splitlines():
        m = re.search(r"(?:detector|view)=(\S+).*?seconds=([0-9.]+)", line)
        if m and ("detector ran" in line or "shared view computed" in line):
            out.append((float(m.group(2)), m.group(1)))
    return sorted(out, reverse=True)[:top]


def measure(a, lake: Path, events: int, daily, log):
    """The read side on the lake as it is: {metric: (seconds, MiB)}; `daily` is the time and
    memory of the daily job run after the last batch."""
    th, r = a.bin, {}
    lk = str(lake)

    def best(label, cmd, **kw):
        runs = [timed(label, cmd, log, **kw) for _ in range(a.runs)]
        wall = statistics.median(w for w, _, _ in runs)
        return wall, max(m for _, m, _ in runs), runs[0][2]

    trace = Path(a.work) / f"detect-{events}.log"
    w, m, out = best("detect (whole lake)", [th, "detect", "--lake", lk, "--no-write", "--format", "json"],
                     env={"TRAILHOUND_LOG": "info"}, stderr_to=trace)
    r["detect, whole lake"] = (w, m)
    log.write("  slowest: " + ", ".join(f"{n} {s:.1f} s" for s, n in slowest(trace)) + "\n")
    findings = len(json.loads(out))
    r["detect --since 1d (the daily job)"] = daily
    with tempfile.TemporaryDirectory(dir=a.work) as d:
        w, m, _ = best("drift --window 90d", [th, "drift", "--lake", lk, "--window", "90d", "--out", d])
        r["drift --window 90d"] = (w, m)
        w, m, _ = best("baseline train", [th, "baseline", "train", "--lake", lk, "--model", f"{d}/model.bin"])
        r["baseline train"] = (w, m)
    if not a.skip_cluster:
        cdir = Path(tempfile.mkdtemp(dir=a.work))
        cluster = Cluster(th, cdir)
        try:
            # Its client once grew past this machine's memory: capped, so that it fails.
            ctrace = Path(a.work) / f"detect-cluster-{events}.log"
            ran = timed("detect on a 2-executor cluster",
                        [th, "detect", "--lake", lk, "--no-write", "--format", "json", "--engine", cluster.engine],
                        log, may_fail=True, memory_cap_gib=a.cluster_cap_gib,
                        env={"TRAILHOUND_LOG": "info"}, stderr_to=ctrace)
            log.write("  slowest: " + ", ".join(f"{n} {s:.1f} s" for s, n in slowest(ctrace)) + "\n")
        finally:
            rss = cluster.stop()
            shutil.rmtree(cdir, ignore_errors=True)
        if ran:
            w, m, out = ran
            same = len(json.loads(out)) == findings
            r["detect on a 2-executor cluster"] = (w, max([m, *[v for k, v in rss.items() if k.startswith("executor")]]))
            log.write(f"cluster: executors' peak RSS {rss}, same number of findings as local: {same}\n")
        else:
            r["detect on a 2-executor cluster"] = (float("nan"), float("nan"))
    log.write(f"at {events:,} events: {findings} findings\n")
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--events", type=int, default=100_000_000)
    ap.add_argument("--checkpoint", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--functions", type=int, default=100)
    ap.add_argument("--batch-days", type=int, default=5)
    ap.add_argument("--runs", type=int, default=1, help="runs of each read-side command (median)")
    ap.add_argument("--project", type=int, default=500_000_000)
    ap.add_argument("--start", default="2025-01-01")
    ap.add_argument("--work", default=str(Path(__file__).resolve().parent / "out" / "scale"))
    ap.add_argument("--skip-cluster", action="store_true")
    ap.add_argument("--cluster-cap-gib", type=int, default=12,
                    help="address space of the cluster run's client (it fails past it)")
    a = ap.parse_args()
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    a.work = str(work)
    lake, raw = work / "lake", work / "raw"
    log = sys.stderr
    # The simulator's volume lands some 7% under its per-day target (weekends, schedules).
    per_day = a.events * 108 // 100 // a.days
    start = date.fromisoformat(a.start)
    th = a.bin
    events = 0
    ingest = {"simulate": [0.0, 0.0], "ingest cloudtrail": [0.0, 0.0], "ingest lambda-logs": [0.0, 0.0]}
    peak_disk = 0.0
    at = {}
    day = 0
    t0 = time.monotonic()
    while day < a.days:
        last = min(day + a.batch_days, a.days)
        # Past the checkpoint, stop a batch at the day that reaches it, to measure there.
        w, m, out = timed(f"simulate days {day + 1}-{last}",
                          [th, "simulate", "--out", str(raw), "--functions", str(a.functions),
                           "--days", str(a.days), "--only-days", f"{day + 1}-{last}", "--start", a.start,
                           "--events-per-day", str(per_day), "--attacks", ATTACKS, "--json"], log)
        ingest["simulate"][0] += w
        ingest["simulate"][1] = max(ingest["simulate"][1], m)
        w, m, out = timed("ingest cloudtrail", [th, "ingest", "cloudtrail", str(raw / "AWSLogs"),
                                                "--lake", str(lake), "--json"], log)
        ingest["ingest cloudtrail"][0] += w
        ingest["ingest cloudtrail"][1] = max(ingest["ingest cloudtrail"][1], m)
        events += json.loads(out)["events_ingested"]
        w, m, _ = timed("ingest lambda-logs", [th, "ingest", "lambda-logs", str(raw / "lambda-logs"),
                                               "--lake", str(lake), "--json"], log)
        ingest["ingest lambda-logs"][0] += w
        ingest["ingest lambda-logs"][1] = max(ingest["ingest lambda-logs"][1], m)
        if day == 0:
            subprocess.run([th, "ingest", "iam", str(raw / "iam" / "account-authorization-details.json"),
                            "--lake", str(lake), "--date", a.start, "--json"], check=True,
                           stdout=subprocess.DEVNULL)
        peak_disk = max(peak_disk, du_gib(work))
        shutil.rmtree(raw)
        # The daily job, as a scheduled run after each delivery would: its kept history
        # brought up to date from this batch's files, findings over the batch's last day.
        w, m, _ = timed("detect --since <the batch's last day>",
                        [th, "detect", "--lake", str(lake), "--no-write", "--format", "json",
                         "--since", (start + timedelta(days=last - 1)).isoformat()], log)
        daily = (w, m)
        day = last
        log.write(f"day {day}/{a.days}: {events:,} events in the lake, {du_gib(lake):.1f} GiB, "
                  f"{time.monotonic() - t0:.0f} s so far\n")
        log.flush()
        size = "checkpoint" if "checkpoint" not in at and events >= a.checkpoint else None
        if day == a.days:
            size = "end"
        if size:
            at[size] = {
                "events": events,
                "days": day,
                "lake_gib": du_gib(lake),
                "ingest": {k: tuple(v) for k, v in ingest.items()},
                "read": measure(a, lake, events, daily, log),
            }

    small, big = at.get("checkpoint"), at["end"]
    if small is None or small["events"] == big["events"]:
        small = None
    print(f"bench/scale: {a.functions} functions, {a.days} days from {a.start}, batches of "
          f"{a.batch_days} days, {os.cpu_count()} CPUs; peak disk {peak_disk:.1f} GiB "
          f"(lake plus one batch's raw files); the daily job reads the batch's {a.batch_days} days' new files")
    sizes = [s for s in (small, big) if s]
    print("".ljust(38) + "".join(f"{s['events']:>14,} ev ({s['days']} d)".rjust(34) for s in sizes)
          + ("   growth   projected" if small else ""))
    names = list(ingest) + list(big["read"])
    for name in names:
        cells, vals = [], []
        for s in sizes:
            v = s["ingest"].get(name) or s["read"].get(name)
            vals.append(v)
            cells.append(f"{v[0]:9.1f} s {v[1]:7.0f} MiB".rjust(34))
        line = f"{name:38}" + "".join(cells)
        if small:
            (ts, _), (tb, _) = vals
            growth = tb / ts if ts > 0 else float("nan")
            ratio = big["events"] / small["events"]
            k = math.log(growth) / math.log(ratio) if growth > 0 and ratio > 1 else 1.0
            if name in ingest:
                k = 1.0  # the run's total: proportional to the events
            projected = tb * (a.project / big["events"]) ** k
            line += f"  {growth:6.2f}x  {projected:8.0f} s"
        print(line)
    if small:
        print(f"growth: the second size over the first ({big['events'] / small['events']:.1f}x the events); "
              f"projected: the time at {a.project:,} events from the measured growth (ingest: linear)")
    for s in sizes:
        ev = s["events"]
        ct = s["ingest"]["ingest cloudtrail"][0]
        print(f"at {ev:,} events: lake {s['lake_gib']:.1f} GiB; CloudTrail ingest so far {ev / ct:,.0f} events/s")


if __name__ == "__main__":
    main()
