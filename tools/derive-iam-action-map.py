#!/usr/bin/env python3
"""Derive detectors/data/iam-action-exceptions.tsv from iamlive's SDK-to-IAM map (MIT, Ian
Mckay; see NOTICE): `iam_sdk_to_action_map_iamlive/map.json.gz` in DATA_DIR.

Most CloudTrail events need the IAM action `<service prefix>:<event name>`. The file lists
only the API operations that need something else: `prefix <TAB> operation <TAB> actions`
(comma-separated, the action that authorizes the call first). Run from the repository root:
    python3 tools/derive-iam-action-map.py DATA_DIR
"""
import collections
import gzip
import json
import sys
from pathlib import Path

if len(sys.argv) != 2:
    sys.exit("usage: python3 tools/derive-iam-action-map.py DATA_DIR\n"
             "  DATA_DIR holds iam_sdk_to_action_map_iamlive/map.json.gz (iamlive's map)")
data = Path(sys.argv[1])
doc = json.load(gzip.open(data / "iam_sdk_to_action_map_iamlive" / "map.json.gz"))
methods = doc["sdk_method_iam_mappings"]

# The IAM prefix of each SDK service: the prefix most of its operations' actions use.
prefixes = collections.defaultdict(collections.Counter)
for key, mappings in methods.items():
    service = key.split(".", 1)[0]
    for m in mappings:
        prefixes[service][m["action"].split(":", 1)[0]] += 1
service_prefix = {s: c.most_common(1)[0][0] for s, c in prefixes.items()}

# The action that authorizes the call itself, where the map lists several and none is the
# operation's own name.
PRIMARY = {("s3", "CopyObject"): "s3:PutObject", ("s3", "UploadPartCopy"): "s3:PutObject"}

candidates = collections.defaultdict(list)
for key, mappings in methods.items():
    service, operation = key.split(".", 1)
    prefix = service_prefix[service]
    actions = list(dict.fromkeys(m["action"] for m in mappings))
    candidates[(prefix, operation)].append((service, actions))

rows = {}
for (prefix, operation), options in candidates.items():
    default = f"{prefix}:{operation}"
    # Several SDK services can share a prefix (S3 and S3Control): when one of them needs just
    # the default action, so does the CloudTrail event.
    if any(actions == [default] for _, actions in options):
        continue
    options.sort(key=lambda o: (o[0].lower() != prefix.replace("-", ""), o[0]))
    actions = options[0][1]
    # Outposts variants (s3-outposts:…) of an operation the plain service also has.
    if all(a.startswith(prefix + "-") for a in actions):
        continue
    own = [a for a in actions if a == PRIMARY.get((prefix, operation), default)]
    own = own or [a for a in actions if a.startswith(prefix + ":")]
    first = own[0] if own else actions[0]
    rows[(prefix, operation)] = [first] + [a for a in actions if a != first]

out = Path("detectors/data/iam-action-exceptions.tsv")
with out.open("w") as f:
    f.write("# CloudTrail operations whose IAM action is not <prefix>:<operation>.\n")
    f.write("# Derived by tools/derive-iam-action-map.py from iamlive's map.json (MIT, Ian Mckay); see NOTICE.\n")
    for (prefix, operation), actions in sorted(rows.items()):
        f.write(f"{prefix}\t{operation}\t{','.join(actions)}\n")
print(f"wrote {len(rows)} exceptions to {out}")
