#!/usr/bin/env python3
"""ECS JSON lines (`reconwatch parse`) to flat JSON lines with Sigma proxy taxonomy field names.

    reconwatch parse access.log | benches/ecs-to-sigma-proxy.py [RULES_DIR] > events.ndjson

For a generic Sigma engine (benches/sigma-peer.sh runs rsigma on the output): every event gets
the taxonomy names (`c-uri`, `cs-host`, `c-useragent`, `sc-status`, ...) with the values of the
ECS fields reconwatch maps them to, so both engines see the same value under a rule's field
name. The mapping is not repeated here: it is read from reconwatch's one table,
`src/rules/fields.rs` (taxonomy name -> `Field` variant), and the ECS name of each variant from
`src/event.rs`. An event without a field gets no key for it (Sigma: the field is absent). Values
keep their JSON type (`sc-status` stays a number, as in the ECS document).

Several taxonomy names map to one ECS field (`c-uri` and `cs-uri`, `cs-host` and `r-dns`, ...).
Each value is written once, under its first W3C-style name in the table (`c-ip`, not `src_ip`),
unless RULES_DIR is given: then under every name the rules there use, or that name when they use
none (so keyword searches still see every value). Repeating every value under each alias would double the JSON a peer
engine parses.
"""

import json
import os
import re
import sys
from collections import defaultdict

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def mapping():
    """[(taxonomy name, [ECS path components])] from reconwatch's source."""
    with open(os.path.join(REPO, "src/rules/fields.rs")) as f:
        table = re.findall(r'\("([a-z_-]+)",\s*Field::(\w+)\)', f.read().split("pub fn resolve")[0])
    with open(os.path.join(REPO, "src/event.rs")) as f:
        names = dict(re.findall(r'^\s*(\w+) = "([a-z0-9_.]+)",', f.read(), re.M))
    if not table or not names:
        sys.exit("ecs-to-sigma-proxy.py: cannot read the taxonomy table in src/rules/fields.rs "
                 "or the Field names in src/event.rs (has their layout changed?)")
    missing = [v for _, v in table if v not in names]
    if missing:
        sys.exit(f"ecs-to-sigma-proxy.py: no ECS name found for Field::{missing[0]} in src/event.rs")
    return [(name, names[variant].split(".")) for name, variant in table]


def used_names(rules_dir):
    """Every word followed by `:` or `|` in the rule files: a superset of the field names used."""
    names = set()
    for root, _, files in os.walk(rules_dir):
        for f in files:
            if f.endswith((".yml", ".yaml")):
                with open(os.path.join(root, f), encoding="utf-8") as text:
                    names.update(re.findall(r"^\s*'?([A-Za-z0-9_.-]+)[|:]", text.read(), re.M))
    return names


def select(fields, used):
    """Per ECS field, the taxonomy names to write its value under (see the module doc)."""
    by_path = defaultdict(list)
    for name, path in fields:
        by_path[tuple(path)].append(name)
    out = []
    for path, names in by_path.items():
        # Unused: the first W3C-style name (`c-ip` rather than `src_ip`), as a proxy log has it.
        keep = [n for n in names if n in used] or [next((n for n in names if "-" in n), names[0])]
        out.extend((n, list(path)) for n in keep)
    return out


def main():
    fields = mapping()
    fields = select(fields, used_names(sys.argv[1]) if len(sys.argv) > 1 else set())
    out = sys.stdout
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for line in sys.stdin:
        event = json.loads(line)
        flat = {}
        for name, path in fields:
            v = event
            for p in path:
                v = v.get(p) if isinstance(v, dict) else None
                if v is None:
                    break
            if v is not None:
                flat[name] = v
        out.write(dumps(flat))
        out.write("\n")


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        sys.exit(0)
