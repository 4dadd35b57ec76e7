#!/usr/bin/env python3
"""A large watchlist for benches/throughput.sh: the world's real people, then synthetic ones.

    benches/gen-watchlist.py PEOPLE.csv N OUT.csv

Writes N rows in the CSV format of src/enrich/watchlist.rs (email,name,group,usernames,ips):
every row of PEOPLE.csv first (so the world's traffic still hits the list and scan raises the
same alerts), then synthetic people up to N. Enrichment then looks every address, user name and
IP of the traffic up in a table of N entries instead of ~500.

The synthetic people must not change what scan finds, only what it costs:
- nine in ten are on sub-domains of the real people's main registered domain, so that domain
  still holds a tenth of the addresses and stays the organisation's own (see Enricher::new in
  src/enrich/stage.rs: a domain is "own" when it holds a tenth of the watch-listed addresses);
  the others are spread over 40 partner domains (each far below a tenth: protected from
  lookalikes, never own), as a real list of partner institutions would be;
- their user names (`wlNNNNNNN`) and IPs (172.16.0.0/12, one each; the world uses 10.0.0.0/8)
  occur nowhere in the world's logs. 172.16.0.0/12 holds 1,048,576 addresses, enough for the
  1,000,000-entry list of the memory measurement.

Deterministic: the same arguments give the same file.
"""

import csv
import sys
from collections import Counter

FIRST = ("Ada Ben Cleo Dara Emil Fenna Gil Hana Ivo Jana Kai Lena Milo Nora Otto Pia Quinn Rosa "
         "Sami Tess Uma Vito Wren Xan Yara Zeno").split()
LAST = ("Abara Brandt Castel Dumont Eriksen Falk Gray Horvat Ilves Jansen Kovac Lind Moreau "
        "Novak Okafor Petrov Quist Rossi Silva Torres Ulm Vidal Weiss Yilmaz Zeller").split()
GROUPS = ("staff", "employee", "parliamentarian", "family", "journalist")
UNITS = ("ministry", "committee", "office", "services", "press", "library", "security", "it")
PARTNERS = 40
# Past 16 bits of the index: 172.16.0.0/12 has room for 2**20 people.
IP_LIMIT = 1 << 20


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: gen-watchlist.py PEOPLE.csv N OUT.csv")
    people, total, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(people, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "email" not in rows[0]:
        sys.exit(f"{people}: no CSV header with an email column")
    if total - len(rows) > IP_LIMIT:
        sys.exit(f"at most {IP_LIMIT} synthetic people (one IP each in 172.16.0.0/12)")
    # The real people's main registered domain (the last two labels: the world's domains are
    # `*.example`, where the Public Suffix List's default rule takes two labels).
    domains = Counter(".".join(r["email"].rsplit("@", 1)[-1].split(".")[-2:]) for r in rows)
    home = domains.most_common(1)[0][0]
    columns = ["email", "name", "group", "usernames", "ips"]
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([r.get(c) or "" for c in columns])
        for i in range(total - len(rows)):
            first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
            if i % 10 == 9:
                domain = f"partner{(i // 10) % PARTNERS:02d}-institute.example"
            else:
                domain = f"{UNITS[i % len(UNITS)]}.{home}"
            email = f"{first}.{last}.{i:07d}@{domain}".lower()
            ip = f"172.{16 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"
            w.writerow([email, f"{first} {last}", GROUPS[i % len(GROUPS)], f"wl{i:07d}", ip])


if __name__ == "__main__":
    main()
