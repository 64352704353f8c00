#!/usr/bin/env python3
"""Recount docs/parity.md's summary table from its rows and rewrite it.

Run after editing rows: python3 scripts/parity_counts.py
"""
import re
import sys
from collections import Counter

PATH = "docs/parity.md"
STATUSES = ["done", "partial", "missing", "N-A"]


def main() -> int:
    text = open(PATH).read()
    rows = re.findall(r"^\| (core|txn|test)-\S+ \| .*? \| (done|partial|missing|N-A) \|(.*)$", text, re.M)
    counts = {sec: Counter() for sec in ("core", "txn", "test")}
    cases = Counter()
    for sec, status, rest in rows:
        counts[sec][status] += 1
        if sec == "test":
            m = re.search(r"\| (\d+) cases?\b", "|" + rest)
            cases[status] += int(m.group(1)) if m else 0

    def line(label, c):
        total = sum(c[s] for s in STATUSES)
        return f"| {label} | " + " | ".join(str(c[s]) for s in STATUSES) + f" | {total} |"

    allf = counts["core"] + counts["txn"]
    table = "\n".join([
        "| Section | done | partial | missing | N-A | total |",
        "|---|---|---|---|---|---|",
        line("Features: core (`core-*`)", counts["core"]),
        line("Features: transactions (`txn-*`)", counts["txn"]),
        line("Features: all", allf),
        line("Test files (`test-*`)", counts["test"]),
        line("Test cases in those files (by file status)", cases),
    ])
    new, n = re.subn(r"\| Section \| done .*?\n(?:\|.*\n)+", table + "\n", text, count=1)
    if n != 1:
        print("summary table not found", file=sys.stderr)
        return 1
    open(PATH, "w").write(new)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
