#!/usr/bin/env python3
"""Per-package and overall statement coverage from a Go coverprofile.

    python3 scripts/cover.py [coverage.out] [--weakest N] [--check]

`make cover` runs it on the profile of `go test -coverpkg=./... ./...`. With
-coverpkg every test binary reports every block of every package, so one
block appears once per test binary; a block counts as covered when any
binary ran it (what `go tool cover -func` does too). Each package's figure
comes from the blocks of its own files only, whichever package's tests ran
them: a package is covered by the whole suite, not only by its own tests.

It prints every package, then the overall figure and the issue #15 targets
(overall >= 85%, pipeline / txn / pdclient >= 90%). For a target package
under its goal it lists the N files with the most statements left
uncovered (default 5). --check exits 1 when a target is missed.
"""
import argparse
import os
import sys
from collections import defaultdict

MODULE = "github.com/tikvgo/tikv"
OVERALL_TARGET = 85.0
PACKAGE_TARGETS = {"pipeline": 90.0, "txn": 90.0, "pdclient": 90.0}


def read_profile(path):
    """Returns {(file, block): [statements, covered]} merged over binaries."""
    blocks = {}
    with open(path) as f:
        first = f.readline()
        if not first.startswith("mode:"):
            sys.exit(f"{path}: not a coverprofile (no mode line)")
        for n, line in enumerate(f, start=2):
            line = line.strip()
            if not line:
                continue
            # name.go:line.col,line.col numStmts count
            try:
                loc, stmts, count = line.rsplit(" ", 2)
                file, block = loc.rsplit(":", 1)
                stmts, count = int(stmts), int(count)
            except ValueError:
                sys.exit(f"{path}:{n}: malformed line {line!r}")
            b = blocks.setdefault((file, block), [stmts, False])
            b[1] = b[1] or count > 0
    return blocks


def rel_package(file):
    """The package directory of a profile file, relative to the module."""
    pkg = os.path.dirname(file)
    if pkg == MODULE:
        return "."
    if pkg.startswith(MODULE + "/"):
        return pkg[len(MODULE) + 1:]
    return pkg


def pct(covered, total):
    return 100.0 * covered / total if total else 100.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("profile", nargs="?", default="coverage.out")
    ap.add_argument("--weakest", type=int, default=5, metavar="N")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()

    per_pkg = defaultdict(lambda: [0, 0])   # package -> [statements, covered]
    per_file = defaultdict(lambda: [0, 0])  # file -> [statements, covered]
    for (file, _), (stmts, covered) in read_profile(args.profile).items():
        for acc in (per_pkg[rel_package(file)], per_file[file]):
            acc[0] += stmts
            acc[1] += stmts if covered else 0

    width = max(len(p) for p in per_pkg) if per_pkg else 10
    print(f"{'package':<{width}}  {'statements':>10}  {'coverage':>8}")
    for pkg in sorted(per_pkg):
        total, covered = per_pkg[pkg]
        print(f"{pkg:<{width}}  {total:>10}  {pct(covered, total):>7.1f}%")

    all_stmts = sum(t for t, _ in per_pkg.values())
    all_cov = sum(c for _, c in per_pkg.values())
    overall = pct(all_cov, all_stmts)
    print()
    missed = []

    def target_line(label, value, goal):
        ok = value >= goal
        if not ok:
            missed.append(label)
        print(f"{label:<10} {value:5.1f}%  (target >= {goal:.0f}%: {'met' if ok else 'UNDER'})")
        return ok

    target_line("overall", overall, OVERALL_TARGET)
    for pkg, goal in PACKAGE_TARGETS.items():
        total, covered = per_pkg.get(pkg, (0, 0))
        if target_line(pkg, pct(covered, total), goal) or args.weakest <= 0:
            continue
        prefix = f"{MODULE}/{pkg}/"
        files = [(f, t, c) for f, (t, c) in per_file.items()
                 if f.startswith(prefix) and "/" not in f[len(prefix):]]
        files.sort(key=lambda x: (x[2] - x[1], x[0]))  # most uncovered first
        for f, t, c in files[:args.weakest]:
            print(f"    {f[len(MODULE) + 1:]}: {t - c} of {t} statements uncovered ({pct(c, t):.1f}%)")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
