#!/usr/bin/python3
"""Worst relative error between two float32 logit files of N x K values:
max over images of max|a - b| / max|b| (b is the reference), printed as one
number; exit status 1 when the files' sizes differ or do not divide by K.

  tools/logits_error.py GOT.f32 REF.f32 K
"""
import array
import sys


def load(path):
    a = array.array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    return a


def main():
    if len(sys.argv) != 4:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    got, ref, k = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
    if len(got) != len(ref) or k <= 0 or len(ref) % k:
        print(f"logits_error: {len(got)} and {len(ref)} values, not two N x {k}", file=sys.stderr)
        return 1
    worst = 0.0
    for i in range(0, len(ref), k):
        scale = max(abs(v) for v in ref[i:i + k]) or 1.0
        diff = max(abs(g - r) for g, r in zip(got[i:i + k], ref[i:i + k]))
        worst = max(worst, diff / scale)
    print(f"{worst:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
