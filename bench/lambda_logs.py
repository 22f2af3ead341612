"""Lambda log ingest benchmark: builds a directory of gzip CloudWatch Logs subscription payloads
(as Firehose delivers them) holding at least 1,000,000 log lines of 250,000 invocations, in
both Lambda log formats, then times `trailhound ingest lambda-logs` over it and prints lines/s
and peak RSS."""

import argparse
import gzip
import json
import random
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

PAYLOADS_PER_FILE = 50
EVENTS_PER_PAYLOAD = 100


def invocation_lines(rng, t_ms, json_format):
    rid = str(uuid.UUID(int=rng.getrandbits(128)))
    cold = rng.random() < 0.05
    dur = round(rng.uniform(1, 900), 2)
    mem = rng.choice([128, 256, 512])
    used = rng.randint(40, mem)
    status = rng.choices(["success", "error", "timeout"], [0.96, 0.03, 0.01])[0]
    lines = []
    if json_format:
        if cold:
            lines.append((t_ms, {"time": "", "type": "platform.initStart", "record": {"initializationType": "on-demand", "phase": "init", "runtimeVersion": "python:3.12.v18"}}))
        lines.append((t_ms, {"time": "", "type": "platform.start", "record": {"requestId": rid, "version": "$LATEST"}}))
        lines.append((t_ms + 1, {"timestamp": "", "level": "ERROR" if status == "error" else "INFO", "message": f"order {rng.randint(1, 10**6)} processed", "requestId": rid}))
        lines.append((t_ms + int(dur), {"time": "", "type": "platform.runtimeDone", "record": {"requestId": rid, "status": "failure" if status == "error" else status}}))
        metrics = {"durationMs": dur, "billedDurationMs": int(dur) + 1, "memorySizeMB": mem, "maxMemoryUsedMB": used}
        if cold:
            metrics["initDurationMs"] = round(rng.uniform(100, 900), 2)
        lines.append((t_ms + int(dur) + 1, {"time": "", "type": "platform.report", "record": {"requestId": rid, "status": status, "metrics": metrics}}))
        return [(t, json.dumps(m)) for t, m in lines]
    if cold:
        lines.append((t_ms, "INIT_START Runtime Version: python:3.12.v18\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:abc\n"))
    lines.append((t_ms, f"START RequestId: {rid} Version: $LATEST\n"))
    level = "ERROR" if status == "error" else "INFO"
    lines.append((t_ms + 1, f"[{level}]\t2024-08-02T10:00:00.000Z\t{rid}\torder {rng.randint(1, 10**6)} processed\n"))
    if status == "timeout":
        lines.append((t_ms + int(dur), f"2024-08-02T10:00:03.000Z {rid} Task timed out after 3.00 seconds\n"))
    lines.append((t_ms + int(dur), f"END RequestId: {rid}\n"))
    init = f"Init Duration: {rng.uniform(100, 900):.2f} ms\t" if cold else ""
    lines.append((t_ms + int(dur) + 1, f"REPORT RequestId: {rid}\tDuration: {dur:.2f} ms\tBilled Duration: {int(dur) + 1} ms\tMemory Size: {mem} MB\tMax Memory Used: {used} MB\t{init}\n"))
    return lines


def build(out: Path, invocations: int, seed: int):
    # Bookkeeping lives beside the corpus, not in it (the ingest would read it as log lines).
    marker = out.with_name(out.name + ".complete")
    if marker.exists() and marker.read_text().split()[0] == f"{invocations}:{seed}":
        return int(marker.read_text().split()[1])
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rng = random.Random(seed)
    functions = [f"fn-{i:02d}" for i in range(20)]
    t0 = 1_722_592_800_000
    streams = {}
    total = 0
    for i in range(invocations):
        fn = functions[i % len(functions)]
        json_format = (i % len(functions)) % 2 == 1
        key = (fn, i % 3)
        streams.setdefault(key, []).extend(invocation_lines(rng, t0 + i * 50, json_format))
    payloads = []
    for (fn, s), lines in streams.items():
        total += len(lines)
        for k in range(0, len(lines), EVENTS_PER_PAYLOAD):
            chunk = lines[k:k + EVENTS_PER_PAYLOAD]
            payloads.append(json.dumps({
                "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": f"/aws/lambda/{fn}",
                "logStream": f"2024/08/02/[$LATEST]{s:032x}", "subscriptionFilters": ["firehose"],
                "logEvents": [{"id": f"{t}{n:06d}", "timestamp": t, "message": m} for n, (t, m) in enumerate(chunk)],
            }))
    for f in range(0, len(payloads), PAYLOADS_PER_FILE):
        (out / f"firehose-{f // PAYLOADS_PER_FILE:05d}.gz").write_bytes(
            gzip.compress("".join(payloads[f:f + PAYLOADS_PER_FILE]).encode(), 6))
    marker.write_text(f"{invocations}:{seed} {total}")
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--invocations", type=int, default=250_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", default=str(Path(__file__).resolve().parent / "out"))
    a = ap.parse_args()
    work = Path(a.work)
    corpus = work / "lambda-corpus"
    lines = build(corpus, a.invocations, a.seed)
    files = sum(1 for _ in corpus.glob("*.gz"))
    size = sum(p.stat().st_size for p in corpus.glob("*.gz"))
    print(f"corpus: {lines:,} log lines of {a.invocations:,} invocations in {files} gzip payload files, {size / 2**20:.0f} MiB")
    walls, peak = [], 0
    for _ in range(a.runs):
        lake = work / "lambda-lake"
        shutil.rmtree(lake, ignore_errors=True)
        t = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", a.bin, "ingest", "lambda-logs", str(corpus), "--lake", str(lake), "--json"],
                           capture_output=True, text=True)
        walls.append(time.perf_counter() - t)
        if p.returncode != 0:
            sys.exit(f"trailhound failed: {p.stderr}")
        s = json.loads(p.stdout)
        assert s["log_events"] == lines, s
        assert s["invocations_written"] + s["invocations_open"] == a.invocations, s
        peak = max(peak, int(p.stderr.strip().splitlines()[-1]))
    wall = sorted(walls)[len(walls) // 2]
    print(f"trailhound ingest lambda-logs: {lines / wall:>12,.0f} lines/s  (median {wall:.2f} s of "
          f"{', '.join(f'{w:.2f}' for w in walls)}, peak RSS {peak / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
