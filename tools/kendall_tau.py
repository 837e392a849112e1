#!/usr/bin/env python3
"""Kendall's tau-b between two numeric columns of a CSV file.

Usage: tools/kendall_tau.py FILE.csv COLUMN_X COLUMN_Y
Columns are named by their header. Rows where either value is empty are
skipped. Prints "tau_b=<value> n=<rows> concordant=<C> discordant=<D>".
Standard library only.
"""
import csv
import math
import sys


def kendall_tau_b(x, y):
    """tau-b = (C - D) / sqrt((n0 - n1) (n0 - n2)), ties handled as in
    scipy.stats.kendalltau (variant b). Returns (tau, C, D)."""
    n = len(x)
    c = d = tx = ty = 0
    for i in range(n):
        for j in range(i + 1, n):
            a = (x[i] > x[j]) - (x[i] < x[j])
            b = (y[i] > y[j]) - (y[i] < y[j])
            if a == 0 and b == 0:
                continue
            if a == 0:
                tx += 1
            elif b == 0:
                ty += 1
            elif a == b:
                c += 1
            else:
                d += 1
    den = math.sqrt((c + d + tx) * (c + d + ty))
    return ((c - d) / den if den > 0 else float("nan")), c, d


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    path, cx, cy = argv[1:]
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for col in (cx, cy):
        if rows and col not in rows[0]:
            sys.stderr.write("kendall_tau: %s: no column '%s'\n" % (path, col))
            return 2
    x, y = [], []
    for r in rows:
        if r[cx].strip() == "" or r[cy].strip() == "":
            continue
        x.append(float(r[cx]))
        y.append(float(r[cy]))
    if len(x) < 2:
        sys.stderr.write("kendall_tau: need at least 2 complete rows, got %d\n" % len(x))
        return 1
    tau, c, d = kendall_tau_b(x, y)
    print("tau_b=%.4f n=%d concordant=%d discordant=%d" % (tau, len(x), c, d))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
