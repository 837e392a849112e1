#!/usr/bin/env python3
"""Prints the names of the failed tests in a meson testlog.json whose only
problem was LeakSanitizer's own tracer crashing at exit; exits 1 (printing
the others on stderr) when any failure has another cause, so tools/test.sh
reruns the former and stops on the latter."""
import json
import sys

TRACER = "LeakSanitizer has encountered a fatal error"
REAL = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer: detected memory leaks",
        "runtime error:", "not ok", "Assertion")


def main(path):
    retry, other = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            t = json.loads(line)
            if t.get("result") in ("OK", "SKIP", "EXPECTEDFAIL"):
                continue
            out = (t.get("stdout") or "") + (t.get("stderr") or "")
            # Check's summary line says whether any check failed: "Failures: 0".
            checks_ok = "Failures: 0" in out or "ok - " in out
            if TRACER in out and checks_ok and not any(r in out for r in REAL):
                retry.append(t["name"])
            else:
                other.append(t["name"])
    if other:
        print("tests failed for other reasons: " + " ".join(other), file=sys.stderr)
        return 1
    print(" ".join(retry))
    return 0 if retry else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
