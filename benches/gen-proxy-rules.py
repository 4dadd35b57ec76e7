#!/usr/bin/env python3
"""Generated Sigma rules of `category: proxy` for benches/throughput.sh's memory measurement.

    benches/gen-proxy-rules.py N DIR

Writes N rule files (DIR/gen-0000.yml ...) shaped like real proxy rules and like those
benches/rules.rs generates for the criterion bench (which keeps its generator in Rust, inside
the bench): URL paths (`c-uri|contains`, `|startswith`, `|endswith`), IOC host lists
(`cs-host`, `cs-host|endswith`), tool user agents (`c-useragent|startswith`, `|contains`),
method + extension + status, query `contains|all`, regexes on `c-uri` and `c-useragent`,
`not filter` and `1 of selection_*`. Values are varied (words, numbers, domains drawn at
random), so the automata grow with N as a real rule set's would. As in production almost none
match; one rule in 40 is written to match some of the generated world's traffic.

Deterministic: the same arguments give the same files.
"""

import os
import random
import sys

WORDS = ("gate panel admin login update config install shell cmd upload bot check connect loader "
         "main post submit track stat beacon report auth session secure verify account invoice "
         "document payment office cloud mail portal service support sync backup download file "
         "image cdn web app online global system data host").split()
TLDS = "top xyz info online site club ru cn tk pw cc biz live icu buzz su ws me io net org com".split()
UA_PREFIXES = ("sqlmap/ Nikto/ curl/ Wget/ python-requests/ Python-urllib/ Go-http-client/ "
               "Java/ libwww-perl/ masscan/ zgrab/ Nuclei/").split()
UA_WORDS = ["sqlmap", "Nikto", "Nmap Scripting Engine", "masscan", "zgrab", "Nuclei", "WPScan",
            "dirbuster", "gobuster", "Havij", "Acunetix", "Metasploit", "hydra", "Cobalt"]
METHODS = ["POST", "PUT", "DELETE", "PROPFIND", "OPTIONS", "TRACE", "PATCH"]
STATUSES = ["401", "403", "404", "405", "500", "501", "502", "503"]
SCRIPT_EXTS = ["php", "jsp", "aspx", "asp", "cgi", "pl", "do", "action", "ashx", "cfm"]
DROP_EXTS = ["exe", "dll", "scr", "ps1", "hta", "vbs", "bat", "msi", "jar", "lnk", "iso"]
LEGIT = [".microsoft.com", ".windowsupdate.com", ".adobe.com", ".google.com", ".apple.com",
         ".mozilla.org", ".cloudflare.com", ".akamaihd.net"]
QUERY_PAIRS = [("cmd=", "whoami"), ("cmd=", "exec"), ("action=", "upload"), ("file=", "../"),
               ("page=", "php://"), ("q=", "union select"), ("url=", "169.254.169.254")]
LEVELS = ["low", "medium", "medium", "high", "high", "critical"]
# Rules that match some of the generated world's traffic (one in HIT_EVERY).
HIT_EVERY = 40
HITS = [
    ("Tracking Pixel Fetch",
     "  selection_pixel:\n    c-uri|contains:\n      - '/p.gif?'\n      - '/o.gif?'\n"
     "      - '/open.gif?'\n  selection_get:\n    cs-method: 'GET'\n  condition: all of selection_*\n"),
    ("Executable Download Outside Update Hosts",
     "  selection:\n    c-uri|endswith: '.exe'\n  filter:\n    cs-host|endswith:\n"
     "      - 'download.windowsupdate.com'\n      - '.microsoft.com'\n"
     "  condition: selection and not filter\n"),
    ("Mailing-List Open Tracking",
     "  selection:\n    cs-host|endswith: '.list-manage.com'\n    c-uri|contains: '/track/open'\n"
     "  condition: selection\n"),
]


def quote(v):
    return "'" + v.replace("'", "''") + "'"


def key(name, values):
    return f"    {name}:\n" + "".join(f"      - {quote(v)}\n" for v in values)


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def some(self, items, lo, hi):
        return self.r.sample(items, self.r.randint(lo, min(hi, len(items))))

    def unique(self, lo, hi, make):
        out = []
        for _ in range(self.r.randint(lo, hi)):
            v = make()
            if v not in out:
                out.append(v)
        return out

    def domain(self):
        r = self.r
        a, b, c, tld = r.choice(WORDS), r.choice(WORDS), r.choice(WORDS), r.choice(TLDS)
        return r.choice((f"{a}-{b}.{tld}", f"{a}{b}{r.randrange(1000)}.{tld}", f"{a}.{b}-{c}.{tld}"))

    def path(self):
        r = self.r
        a, b, c, ext = r.choice(WORDS), r.choice(WORDS), r.choice(WORDS), r.choice(SCRIPT_EXTS)
        return r.choice((f"/{a}/{b}.{ext}", f"/{a}{r.randrange(10000)}/{b}", f"/{a}-{b}/{c}.{ext}?id="))

    def detection(self):
        """(title, detection body) of one rule that should match nothing."""
        r, roll = self.r, self.r.randrange(100)
        if roll < 15:
            d = "  selection:\n" + key("c-uri|contains", self.unique(3, 12, self.path))
            if r.randrange(3) == 0:
                d += key("cs-method", [r.choice(METHODS)])
            return "Suspicious Web Path Requested", d + "  condition: selection\n"
        if roll < 27:
            hosts = self.unique(5, 40, lambda: ("." if r.randrange(2) else "") + self.domain())
            return ("Request to Known Malicious Domain",
                    "  selection:\n" + key("cs-host|endswith", hosts) + "  condition: selection\n")
        if roll < 35:
            return ("Known Malicious Host",
                    "  selection:\n" + key("cs-host", self.unique(5, 40, self.domain))
                    + "  condition: selection\n")
        if roll < 43:
            if r.randrange(2):
                ua = key("c-useragent|startswith",
                         [p + str(r.randrange(1, 9)) + "." for p in self.some(UA_PREFIXES, 1, 6)])
            else:
                ua = key("c-useragent|contains",
                         [w + r.choice(["", "/", " v", "-"]) for w in self.some(UA_WORDS, 1, 6)])
            return "Hacking Tool User Agent", "  selection:\n" + ua + "  condition: selection\n"
        if roll < 50:
            d = ("  selection:\n" + key("cs-method", ["POST"])
                 + key("c-uri-extension", self.some(SCRIPT_EXTS, 1, 4))
                 + key("sc-status", [r.choice(STATUSES)])
                 + key("c-uri|startswith", [f"/{r.choice(WORDS)}/{r.choice(WORDS)}"]))
            return "Script Posted Under Static Directory", d + "  condition: selection\n"
        if roll < 60:
            d = ("  selection:\n" + key("c-uri|endswith", ["." + e for e in self.some(DROP_EXTS, 2, 6)])
                 + key("cs-host|endswith", self.unique(3, 15, self.domain))
                 + "  filter:\n" + key("cs-host|endswith", self.some(LEGIT, 2, 6)))
            return "Payload Download From Suspicious Host", d + "  condition: selection and not filter\n"
        if roll < 70:
            d = ("  selection_path:\n" + key("c-uri|contains", self.unique(2, 6, self.path))
                 + "  selection_ua:\n" + key("c-useragent|contains", self.some(UA_WORDS, 1, 4)))
            return "Scanner Activity", d + "  condition: 1 of selection_*\n"
        if roll < 78:
            a, b = r.choice(QUERY_PAIRS)
            return ("Command Injection in Query",
                    "  selection:\n" + key("c-uri-query|contains|all", [a, b + str(r.randrange(100))])
                    + "  condition: selection\n")
        if roll < 86:
            w1, w2 = r.choice(WORDS), r.choice(WORDS)
            shape = r.randrange(4)
            if shape == 0:
                field, re = "c-uri|re", f"/[a-f0-9]{{{r.randint(16, 40)}}}/{w1}\\.{r.choice(SCRIPT_EXTS)}$"
            elif shape == 1:
                field, re = "c-uri|re", f"^https?://[0-9]{{1,3}}(\\.[0-9]{{1,3}}){{3}}(:[0-9]+)?/{w1}{r.randrange(100)}"
            elif shape == 2:
                field, re = "c-uri|re", f"/({w1}|{w2})/[A-Za-z0-9+/]{{{r.randint(40, 80)}}}={{0,2}}$"
            else:
                field, re = "c-useragent|re", f"^{r.choice(UA_WORDS)}[ /]v?[0-9]+\\.{r.randrange(10)}"
            return "Suspicious URL Pattern", "  selection:\n" + key(field, [re]) + "  condition: selection\n"
        d = ("  selection:\n" + key("cs-host|endswith", self.unique(2, 10, self.domain))
             + key("c-useragent|contains", self.some(UA_WORDS, 1, 3))
             + "  filter:\n" + key("cs-method", ["CONNECT"]))
        return "Tool Traffic to Suspicious Host", d + "  condition: selection and not filter\n"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gen-proxy-rules.py N DIR")
    n, out = int(sys.argv[1]), sys.argv[2]
    os.makedirs(out, exist_ok=True)
    g = Gen(0x5167_6D61)
    for i in range(n):
        if i % HIT_EVERY == 0:
            title, detection = HITS[(i // HIT_EVERY) % len(HITS)]
        else:
            title, detection = g.detection()
        with open(os.path.join(out, f"gen-{i:04d}.yml"), "w") as f:
            f.write(
                f"title: {title} {i}\n"
                f"id: 6e0b4a2c-0000-4000-8000-{i:012x}\n"
                "status: experimental\n"
                f"description: Generated by benches/gen-proxy-rules.py (rule {i}).\n"
                "author: reconwatch bench\n"
                "date: 2026-12-06\n"
                "logsource:\n  category: proxy\n"
                f"detection:\n{detection}"
                "falsepositives:\n  - Unknown\n"
                f"level: {g.r.choice(LEVELS)}\n")


if __name__ == "__main__":
    main()
