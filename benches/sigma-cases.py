#!/usr/bin/env python3
"""The hand-written log lines of tests/data/sigmahq/proxy-cases.yml, one file per excerpt.

    benches/sigma-cases.py tests/data/sigmahq/proxy-cases.yml OUTDIR

For benches/sigma-peer.sh: the world's Squid log raises none of the SigmaHQ proxy rules (it
has no user agents and no attacks), so the engines are also compared on these lines, written
for each rule: a line it must alert on (`match`) and a near miss (`no-match`). Writes
OUTDIR/NNN-match.log and OUTDIR/NNN-no-match.log (with the case's W3C header prepended when it
has one) and prints one line per file: `PATH FORMAT RULE`, FORMAT being the reconwatch format
the lines are read as. Needs PyYAML (Debian: python3-yaml).
"""

import os
import sys

try:
    import yaml
except ImportError:
    sys.exit("sigma-cases.py needs PyYAML (apt-get install -y python3-yaml)")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: sigma-cases.py CASES.yml OUTDIR")
    with open(sys.argv[1]) as f:
        doc = yaml.safe_load(f)
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    headers = doc.get("headers", {})
    for i, case in enumerate(doc["cases"]):
        header = headers[case["header"]] if case.get("header") else ""
        for kind in ("match", "no-match"):
            path = os.path.join(out, f"{i:03d}-{kind}.log")
            with open(path, "w") as f:
                f.write(header + case[kind])
            print(path, case["format"], case["rule"])


if __name__ == "__main__":
    main()
