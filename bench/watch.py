"""Alert latency of `trailhound watch` (driven by bench/watch).

Writes simulated activity to the local AWS emulator at a steady rate — CloudTrail delivery
files into a bucket whose notifications go to an SQS queue, and Lambda platform log lines into
one CloudWatch Logs group per function — while `trailhound watch` runs with a 1 s poll and an
SNS topic whose alerts land on a subscribed queue. Every `--attack-every` seconds one file
carries an attack (a function role stopping the trail: `defense-evasion`), from a role used
once. For each attack it measures the time from its object becoming readable (PutObject
returned) to its alert arriving on the subscribed queue (the message's SentTimestamp), and
it samples the watch's resident memory. Prints one JSON object.
"""

import argparse
import gzip
import json
import os
import random
import signal
import subprocess
import threading
import time
import uuid

import boto3

ACCOUNT = "123456789012"


def client(name):
    return boto3.client(name, endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def call(role, fn, t, name, source, ip="3.5.1.2", read_only=True):
    return {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": f"AROABENCH:{fn}",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{fn}",
            "accountId": ACCOUNT,
            "accessKeyId": "ASIABENCH" + fn[-6:].upper(),
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": "AROABENCH",
                                  "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                                  "accountId": ACCOUNT, "userName": role},
                "attributes": {"creationDate": iso(t - 600), "mfaAuthenticated": "false"},
            },
        },
        "eventTime": iso(t),
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": ip,
        "userAgent": "aws-sdk-js/3.0 exec-env/AWS_Lambda_nodejs20.x",
        "requestParameters": {"tableName": "orders"},
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": source != "dynamodb.amazonaws.com",
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Data" if source == "dynamodb.amazonaws.com" else "Management",
    }


def percentile(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    k = (len(xs) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trailhound", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rate", type=int, default=2000, help="events per second (CloudTrail + log events)")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--functions", type=int, default=20)
    ap.add_argument("--attack-every", type=float, default=5)
    ap.add_argument("--log-share", type=float, default=0.4, help="share of events that are Lambda log events")
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    run = uuid.uuid4().hex[:8]
    s3, sqs, sns, logs = client("s3"), client("sqs"), client("sns"), client("logs")
    bucket = f"bench-watch-{run}"
    s3.create_bucket(Bucket=bucket)
    trail_q = sqs.create_queue(QueueName=f"{bucket}-trail")["QueueUrl"]
    trail_arn = sqs.get_queue_attributes(QueueUrl=trail_q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": trail_arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    topic = sns.create_topic(Name=f"{bucket}-alerts")["TopicArn"]
    alerts_q = sqs.create_queue(QueueName=f"{bucket}-alerts")["QueueUrl"]
    alerts_arn = sqs.get_queue_attributes(QueueUrl=alerts_q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=alerts_arn)
    functions = [f"bench-{run}-fn{i:03d}" for i in range(args.functions)]
    for fn in functions:
        logs.create_log_group(logGroupName=f"/aws/lambda/{fn}")
        logs.create_log_stream(logGroupName=f"/aws/lambda/{fn}", logStreamName="2026/11/29/[$LATEST]bench")

    config = os.path.join(args.out, "watch.toml")
    with open(config, "w") as f:
        f.write(f"""lake = "lake"
poll_interval = "1s"
[[cloudtrail]]
queue_url = "{trail_q}"
[[lambda]]
log_group_prefix = "/aws/lambda/bench-{run}-"
[[sink]]
type = "sns"
topic_arn = "{topic}"
[status]
interval = "10s"
""")
    stderr = open(os.path.join(args.out, "watch.stderr"), "w")
    watch = subprocess.Popen([args.trailhound, "watch", "--config", config], stderr=stderr, stdout=subprocess.DEVNULL)

    injected = {}  # role -> readable time
    arrived = {}   # role -> [latency seconds]
    rss = []       # (t, KiB)
    stop = threading.Event()

    def consume():
        c = client("sqs")
        while not (stop.is_set() and len(arrived) >= len(injected)):
            resp = c.receive_message(QueueUrl=alerts_q, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                     AttributeNames=["SentTimestamp"])
            got = time.time()
            for m in resp.get("Messages", []):
                env = json.loads(m["Body"])
                actor = env.get("MessageAttributes", {}).get("actor_arn", {}).get("Value", "")
                role = actor.rsplit("/", 1)[-1]
                sent = int(m.get("Attributes", {}).get("SentTimestamp", 0)) / 1000 or got
                if role in injected:
                    arrived.setdefault(role, []).append(sent - injected[role])
                c.delete_message(QueueUrl=alerts_q, ReceiptHandle=m["ReceiptHandle"])
            if stop.is_set() and time.time() > deadline[0]:
                return

    def sample():
        while not stop.is_set():
            try:
                with open(f"/proc/{watch.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            rss.append((time.time(), int(line.split()[1])))
            except OSError:
                pass
            time.sleep(5)

    deadline = [float("inf")]
    threads = [threading.Thread(target=consume, daemon=True), threading.Thread(target=sample, daemon=True)]
    for t in threads:
        t.start()

    rng = random.Random(7)
    log_rate = int(args.rate * args.log_share)
    ct_rate = args.rate - log_rate
    per_fn_invocations = max(1, log_rate // 3 // len(functions))
    started = time.time()
    tick = 0
    written_ct = written_logs = 0
    behind = 0.0
    next_attack = started + 10
    attack_n = 0
    apis = [("GetItem", "dynamodb.amazonaws.com"), ("PutItem", "dynamodb.amazonaws.com"),
            ("Query", "dynamodb.amazonaws.com"), ("GetObject", "s3.amazonaws.com"),
            ("SendMessage", "sqs.amazonaws.com")]
    req = 0
    while time.time() - started < args.minutes * 60:
        t0 = started + tick
        now = time.time()
        if now < t0:
            time.sleep(t0 - now)
        else:
            behind = max(behind, now - t0)
        records = []
        for _ in range(ct_rate):
            fn = rng.choice(functions)
            name, source = rng.choice(apis)
            records.append(call(fn + "-role", fn, t0 - rng.random(), name, source))
        attacker = None
        if time.time() >= next_attack:
            attack_n += 1
            attacker = f"bench-{run}-attacker-{attack_n:04d}"
            # Its own session and key: one finding per attack, nothing else flagged.
            records[-1] = call(attacker, attacker + "-fn", t0, "StopLogging", "cloudtrail.amazonaws.com",
                               ip="198.51.100.23", read_only=False)
            next_attack += args.attack_every
        body = gzip.compress(json.dumps({"Records": records}).encode(), 1)
        key = (f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/{time.strftime('%Y/%m/%d', time.gmtime(t0))}/"
               f"{ACCOUNT}_CloudTrail_us-east-1_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(t0))}_{run}{tick:06d}.json.gz")
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        if attacker:
            injected[attacker] = time.time()
        written_ct += len(records)
        ms = int(t0 * 1000)
        for fn in functions:
            events = []
            for i in range(per_fn_invocations):
                req += 1
                rid = f"{req:08x}-0000-4000-8000-{run}0000"
                t = ms - 900 + i * 3
                events.append({"timestamp": t, "message": f"START RequestId: {rid} Version: $LATEST"})
                events.append({"timestamp": t + 1, "message": f"END RequestId: {rid}"})
                events.append({"timestamp": t + 2, "message":
                               f"REPORT RequestId: {rid}\tDuration: 12.50 ms\tBilled Duration: 13 ms\t"
                               f"Memory Size: 128 MB\tMax Memory Used: 64 MB\t"})
            logs.put_log_events(logGroupName=f"/aws/lambda/{fn}", logStreamName="2026/11/29/[$LATEST]bench",
                                logEvents=events)
            written_logs += len(events)
        tick += 1
    elapsed = time.time() - started
    deadline[0] = time.time() + 30
    stop.set()
    threads[0].join(timeout=40)
    watch.send_signal(signal.SIGINT)
    try:
        watch.wait(timeout=60)
    except subprocess.TimeoutExpired:
        watch.kill()
    stderr.close()

    # Per five minutes of the run (by when the attack was written): the detectors' windows
    # (up to 20 minutes) fill during the first twenty, so later blocks show the steady state.
    blocks = []
    for b in range(0, int(elapsed), 300):
        xs = [arrived[r][0] for r, t in injected.items() if r in arrived and b <= t - started < b + 300]
        if xs:
            blocks.append({"from_minute": b // 60, "alerts": len(xs),
                           "p50_s": round(percentile(xs, 0.5), 3), "p99_s": round(percentile(xs, 0.99), 3),
                           "max_s": round(max(xs), 3)})
    first = [x for v in arrived.values() for x in v[:1]]
    dup = sum(len(v) - 1 for v in arrived.values())
    minute = [k for (t, k) in rss if t - started < 60]
    last = [k for (t, k) in rss if t - started > elapsed - 60]
    try:
        with open(os.path.join(args.out, "lake", "_watch", "status.json")) as f:
            status = json.load(f)
    except OSError:
        status = {}
    print(json.dumps({
        "seconds": round(elapsed, 1),
        "events_written": written_ct + written_logs,
        "events_per_second": round((written_ct + written_logs) / elapsed),
        "cloudtrail_events": written_ct,
        "log_events": written_logs,
        "producer_max_behind_seconds": round(behind, 2),
        "attacks": len(injected),
        "alerts": len(first),
        "lost": len(injected) - len(first),
        "duplicates": dup,
        "latency_p50_s": percentile(first, 0.5) and round(percentile(first, 0.5), 3),
        "latency_p95_s": percentile(first, 0.95) and round(percentile(first, 0.95), 3),
        "latency_p99_s": percentile(first, 0.99) and round(percentile(first, 0.99), 3),
        "latency_max_s": max(first) if first else None,
        "latency_every_5_minutes": blocks,
        "rss_first_minute_mib": round(max(minute) / 1024, 1) if minute else None,
        "rss_last_minute_mib": round(max(last) / 1024, 1) if last else None,
        "rss_max_mib": round(max(k for _, k in rss) / 1024, 1) if rss else None,
        "rss_mib_every_30s": [round(max([k for (t, k) in rss if b <= t - started < b + 30] or [0]) / 1024)
                              for b in range(0, int(elapsed), 30)],
        "watch_polls": status.get("polls"),
        "watch_events_total": status.get("events_total"),
        "watch_last_poll_seconds": status.get("last_poll_seconds"),
    }, indent=1))


if __name__ == "__main__":
    main()
