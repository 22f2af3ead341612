"""Ingest benchmark driver (see bench/ingest). Prints events/s for trailhound and DuckDB on
the same corpus and threads, their ratio, trailhound's peak RSS, and trailhound from s3://."""

import argparse
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from multiprocessing import Pool
from pathlib import Path

# The public recordings vendored for the tests (sources and licences in NOTICE).
DATA = Path(os.environ.get("TRAILHOUND_BENCH_DATA", Path(__file__).resolve().parents[1] / "tests" / "data"))
PER_FILE = 400


def sample_events():
    """Every valid CloudTrail record of the vendored samples (real recordings and the edge-case
    fixtures)."""
    events = []
    for f in sorted((DATA / "stratus_red_team_detonation_logs" / "detonation-logs").glob("*.json")):
        events += json.loads(f.read_text())
    for f in sorted((DATA / "cloudtrail_edge_cases").glob("*.log")):
        for line in f.read_text().splitlines():
            if line.strip():
                events.append(json.loads(line))
    doc = json.loads((DATA / "awsdocs_cloudtrail_log_examples" / "cloudtrail_user_guide_event_examples.json").read_text())
    events += [e["event"] for e in doc["events"]]
    with gzip.open(DATA / "traildiscover_event_catalog" / "log_examples.ndjson.gz", "rt") as f:
        events += [json.loads(line)["event"] for line in f]
    return [e for e in events if isinstance(e.get("eventTime"), str) and isinstance(e.get("eventName"), str)]


ONE_ACCOUNT_REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
# An organization trail's regions: every region enabled by default, in this order.
ORG_REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3",
    "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2",
    "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "ca-central-1", "sa-east-1",
]
ORG_ID = "o-exampleorg1"


def account_id(i: int) -> str:
    """The i-th member account's id (the first one is the one-account corpus's)."""
    return f"{123456789012 + i * 1_000_003:012d}"


def write_files(args):
    """Write files [lo, hi) of the corpus; deterministic for the seed. One account: files in
    turn from three regions, one every five minutes. An organization (accounts > 0): in each
    five-minute slot one file from every account and region, under the organization trail's
    prefix `AWSLogs/o-…/ACCOUNT/CloudTrail/REGION/…`."""
    lo, hi, out, seed, events, accounts, regions = args
    rng = random.Random(seed * 1_000_003 + lo)
    start = datetime(2026, 10, 1, tzinfo=timezone.utc)
    for n in range(lo, hi):
        if accounts:
            slot, place = divmod(n, accounts * regions)
            account, region = account_id(place % accounts), ORG_REGIONS[place // accounts]
            prefix = f"AWSLogs/{ORG_ID}/{account}/CloudTrail"
        else:
            slot, account, region = n, account_id(0), ONE_ACCOUNT_REGIONS[n % 3]
            prefix = f"AWSLogs/{account}/CloudTrail"
        t0 = start + timedelta(minutes=5 * slot)
        records = []
        for i in range(PER_FILE):
            e = dict(rng.choice(events))
            e["eventID"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            e["eventTime"] = (t0 + timedelta(milliseconds=rng.randrange(300_000))).strftime("%Y-%m-%dT%H:%M:%SZ")
            e["awsRegion"] = region
            e["recipientAccountId"] = account
            records.append(e)
        d = out / prefix / region / t0.strftime("%Y/%m/%d")
        d.mkdir(parents=True, exist_ok=True)
        name = f"{account}_CloudTrail_{region}_{t0.strftime('%Y%m%dT%H%MZ')}_{n:06d}.json.gz"
        with gzip.open(d / name, "wb", compresslevel=6) as f:
            f.write(json.dumps({"Records": records}, separators=(",", ":")).encode())


def build_corpus(out: Path, events_wanted: int, seed: int, accounts: int = 0, regions: int = 0):
    """The corpus under `out`, built once (a marker records what it holds). `accounts` 0: one
    account's trail; otherwise an organization trail of that many accounts and regions."""
    files = -(-events_wanted // PER_FILE)
    marker = out / ".complete"
    key = f"{files}:{seed}:{accounts}:{regions}:{DATA}"
    if marker.exists() and marker.read_text() == key:
        return files * PER_FILE
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    events = sample_events()
    print(f"building corpus: {files} files x {PER_FILE} records from {len(events)} sample records ({DATA})", file=sys.stderr)
    chunks = [(lo, min(lo + 100, files), out, seed, events, accounts, regions) for lo in range(0, files, 100)]
    with Pool(os.cpu_count()) as p:
        p.map(write_files, chunks)
    marker.write_text(key)
    return files * PER_FILE


def run_trailhound(binary, src, lake, threads):
    shutil.rmtree(lake, ignore_errors=True) if not str(lake).startswith("s3://") else None
    cmd = ["/usr/bin/time", "-f", "%M %U %S", binary, "ingest", "cloudtrail", str(src), "--lake", str(lake), "--json", "--threads", str(threads)]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"trailhound failed: {p.stderr}")
    summary = json.loads(p.stdout)
    rss, user, system = p.stderr.strip().splitlines()[-1].split()
    return summary, wall, int(rss), float(user) + float(system)


def run_trailhound_median(binary, src, lake, threads, runs, events):
    """Run `runs` times (the machine is shared, timings vary): the median wall time, the
    highest peak RSS, every wall time and the median CPU seconds."""
    walls, cpus, peak = [], [], 0
    for _ in range(runs):
        summary, wall, rss, cpu = run_trailhound(binary, src, lake, threads)
        assert summary["events_ingested"] == events, summary
        walls.append(wall)
        cpus.append(cpu)
        peak = max(peak, rss)
    return sorted(walls)[len(walls) // 2], peak, walls, sorted(cpus)[len(cpus) // 2]


def process_cpu_seconds(pid):
    """User + system CPU seconds a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# The same flattened columns trailhound writes (without its derived ones), as DuckDB SQL.
STRINGS = {
    "event_version": "eventVersion", "event_id": "eventID", "event_type": "eventType",
    "event_category": "eventCategory", "event_source": "eventSource", "event_name": "eventName",
    "aws_region": "awsRegion", "source_ip_address": "sourceIPAddress", "user_agent": "userAgent",
    "error_code": "errorCode", "error_message": "errorMessage", "request_id": "requestID",
    "recipient_account_id": "recipientAccountId", "shared_event_id": "sharedEventID",
    "vpc_endpoint_id": "vpcEndpointId", "vpc_endpoint_account_id": "vpcEndpointAccountId",
    "user_identity_type": "userIdentity.type", "user_identity_principal_id": "userIdentity.principalId",
    "user_identity_arn": "userIdentity.arn", "user_identity_account_id": "userIdentity.accountId",
    "user_identity_access_key_id": "userIdentity.accessKeyId", "user_identity_user_name": "userIdentity.userName",
    "user_identity_invoked_by": "userIdentity.invokedBy",
    "session_issuer_type": "userIdentity.sessionContext.sessionIssuer.type",
    "session_issuer_principal_id": "userIdentity.sessionContext.sessionIssuer.principalId",
    "session_issuer_arn": "userIdentity.sessionContext.sessionIssuer.arn",
    "session_issuer_account_id": "userIdentity.sessionContext.sessionIssuer.accountId",
    "session_issuer_user_name": "userIdentity.sessionContext.sessionIssuer.userName",
    "source_identity": "userIdentity.sessionContext.sourceIdentity",
}
JSONS = {
    "request_parameters": "requestParameters", "response_elements": "responseElements",
    "additional_event_data": "additionalEventData", "resources": "resources", "tls_details": "tlsDetails",
    "service_event_details": "serviceEventDetails", "insight_details": "insightDetails", "user_identity": "userIdentity",
}


def run_duckdb(src, out, threads):
    import duckdb

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cols = ["CAST(json_extract_string(r, '$.eventTime') AS TIMESTAMPTZ) AS event_time"]
    cols += [f"json_extract_string(r, '$.{path}') AS {name}" for name, path in STRINGS.items()]
    cols += [
        "CAST(json_extract(r, '$.readOnly') AS BOOLEAN) AS read_only",
        "CAST(json_extract(r, '$.managementEvent') AS BOOLEAN) AS management_event",
        "CAST(json_extract_string(r, '$.userIdentity.sessionContext.attributes.mfaAuthenticated') AS BOOLEAN) AS session_mfa_authenticated",
        "TRY_CAST(json_extract_string(r, '$.userIdentity.sessionContext.attributes.creationDate') AS TIMESTAMPTZ) AS session_creation_date",
    ]
    cols += [f"CAST(json_extract(r, '$.{path}') AS VARCHAR) AS {name}" for name, path in JSONS.items()]
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    sql = f"""
        COPY (
          SELECT {', '.join(cols)}, filename AS source_uri
          FROM (SELECT unnest(Records) AS r, filename
                FROM read_json('{src}/**/*.json.gz', columns = {{'Records': 'JSON[]'}}, filename = true,
                               maximum_object_size = 1073741824))
        ) TO '{out / "cloudtrail.parquet"}' (FORMAT parquet, COMPRESSION zstd)
    """
    t = time.perf_counter()
    con.execute(sql)
    wall = time.perf_counter() - t
    n = con.execute(f"SELECT count(*) FROM '{out / 'cloudtrail.parquet'}'").fetchone()[0]
    return n, wall


def upload_corpus(src: Path, bucket: str):
    """Upload the corpus to the local emulator (boto3, 16 PUTs at a time)."""
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    s3.create_bucket(Bucket=bucket)
    paths = sorted(src.rglob("*.json.gz"))

    def put(path):
        s3.put_object(Bucket=bucket, Key=path.relative_to(src).as_posix(), Body=path.read_bytes())

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, paths))


def emulator_floor(src: Path, bucket: str) -> float:
    """Seconds the emulator alone takes to serve every GET of the corpus (16 curl processes,
    signed requests, bodies discarded, nothing parsed): the least an s3:// ingest on this
    machine can take, since the emulator runs on the same cores."""
    endpoint = os.environ["AWS_ENDPOINT_URL"].rstrip("/")
    region = os.environ.get("AWS_REGION", "us-east-1")
    user = f"{os.environ['AWS_ACCESS_KEY_ID']}:{os.environ['AWS_SECRET_ACCESS_KEY']}"
    # Each URL with its own `-o /dev/null`, 50 URLs per curl.
    args = "\n".join(f"-o\n/dev/null\n{endpoint}/{bucket}/{p.relative_to(src).as_posix()}"
                     for p in sorted(src.rglob("*.json.gz")))
    # The credentials go in a private curl config file, not on the command line.
    with tempfile.NamedTemporaryFile("w", suffix=".curlrc") as conf:
        conf.write(f'user = "{user}"\naws-sigv4 = "aws:amz:{region}:s3"\n')
        conf.flush()
        t = time.perf_counter()
        subprocess.run(["xargs", "-P", "16", "-n", "150", "curl", "-sSf", "-K", conf.name],
                       input=args.encode(), check=True)
        return time.perf_counter() - t


def fmt(walls):
    return ", ".join(f"{w:.2f}" for w in walls)


def time_local(a, corpus, events, lake, duckdb_out):
    """trailhound over the corpus's local files (median of the runs) and, unless skipped,
    DuckDB over the same files: prints both rates and their ratio; trailhound's median wall
    seconds."""
    wall, rss, walls, _ = run_trailhound_median(a.bin, corpus, lake, a.threads, a.runs, events)
    th_rate = events / wall
    print(f"trailhound (local files):  {th_rate:>12,.0f} events/s  (median {wall:.2f} s wall of {fmt(walls)}, peak RSS {rss / 1024:.0f} MiB)")
    if not a.skip_duckdb:
        n, dwall = run_duckdb(corpus, duckdb_out, a.threads)
        assert n == events, (n, events)
        d_rate = events / dwall
        print(f"duckdb {__import__('duckdb').__version__} (same files):   {d_rate:>12,.0f} events/s  ({dwall:.2f} s)")
        print(f"ratio trailhound/duckdb:   {th_rate / d_rate:>12.1f}x")
    return wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-s3", action="store_true")
    ap.add_argument("--skip-duckdb", action="store_true")
    ap.add_argument("--runs", type=int, default=3, help="trailhound runs per source (median reported)")
    ap.add_argument("--work", default=str(Path(__file__).resolve().parent / "out"))
    ap.add_argument("--accounts", type=int, default=100, help="member accounts of the organization-trail corpus")
    ap.add_argument("--regions", type=int, default=17, help=f"regions of each account (at most {len(ORG_REGIONS)})")
    ap.add_argument("--org-events", type=int, default=300_000, help="events of the organization-trail corpus")
    ap.add_argument("--skip-org", action="store_true")
    a = ap.parse_args()
    if not 1 <= a.regions <= len(ORG_REGIONS) or a.accounts < 1:
        ap.error(f"--accounts must be at least 1 and --regions from 1 to {len(ORG_REGIONS)}")
    work = Path(a.work)
    corpus = work / "corpus"
    events = build_corpus(corpus, a.events, a.seed)
    size = sum(p.stat().st_size for p in corpus.rglob("*.json.gz"))
    files = sum(1 for _ in corpus.rglob("*.json.gz"))
    print(f"one account, three regions: {events:,} events in {files:,} .json.gz files, {size / 2**20:.0f} MiB, threads={a.threads}")

    wall = time_local(a, corpus, events, work / "lake", work / "duckdb")
    th_rate = events / wall

    if not a.skip_org:
        org = work / f"corpus-org-{a.accounts}x{a.regions}"
        org_events = build_corpus(org, a.org_events, a.seed, a.accounts, a.regions)
        org_files = sum(1 for _ in org.rglob("*.json.gz"))
        places = min(org_files, a.accounts * a.regions)
        print(f"organization trail, {a.accounts} accounts x {a.regions} regions: {org_events:,} events in "
              f"{org_files:,} .json.gz files over {places:,} account-region partitions")
        time_local(a, org, org_events, work / "lake-org", work / "duckdb-org")

    if not a.skip_s3 and os.environ.get("AWS_ENDPOINT_URL"):
        bucket = f"bench-{os.getpid()}"
        t = time.perf_counter()
        upload_corpus(corpus, bucket)
        print(f"(uploaded corpus to the emulator in {time.perf_counter() - t:.1f} s)")
        emulator = os.environ.get("EMULATOR_PID")
        emu_before = process_cpu_seconds(emulator) if emulator else None
        s3wall, s3rss, s3walls, s3cpu = run_trailhound_median(
            a.bin, f"s3://{bucket}/AWSLogs/", work / "lake-s3", a.threads, a.runs, events)
        emu_cpu = (process_cpu_seconds(emulator) - emu_before) / a.runs if emulator else None
        s3_rate = events / s3wall
        print(f"trailhound (s3://, emulator): {s3_rate:>9,.0f} events/s  (median {s3wall:.2f} s of {fmt(s3walls)}, peak RSS {s3rss / 1024:.0f} MiB)")
        print(f"ratio s3/local:            {s3_rate / th_rate:>12.2f}")
        floor = emulator_floor(corpus, bucket)
        print(f"(the emulator alone serves these {files:,} GETs in {floor:.2f} s, nothing parsed)")
        if emu_cpu is not None:
            cores = os.cpu_count() or 1
            least = max(floor, (emu_cpu + s3cpu) / cores)
            print(f"(in an s3:// run the emulator, on the same {cores} cores, used {emu_cpu:.1f} CPU-s and "
                  f"trailhound {s3cpu:.1f}: such a run takes at least {least:.2f} s here, "
                  f"so s3/local cannot exceed {wall / least:.2f})")


if __name__ == "__main__":
    main()
