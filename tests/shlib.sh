# shellcheck shell=sh
# Shared by the shell tests of the graft tool; sourced after G and SRC are
# set. Gives a temp dir $T (removed at exit) and the check helpers:
#   run CMD...       runs CMD with output in $T/out, $T/err; status in $rc
#   ok DESC / bad DESC   record a passed / failed check ("ok - ", "not ok - ")
#   expect DESC N    passes when $rc is N
#   finish [STATUS]  prints "N passed, M failed"; exits 1 on any failure
T=$(mktemp -d "${TMPDIR:-/tmp}/graft-test.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() {
    fail=$((fail + 1))
    echo "not ok - $1"
    for f in "$T/out" "$T/err"; do [ -s "$f" ] && sed 's/^/#   /' "$f" | tail -n 15; done
}
run() { "$@" >"$T/out" 2>"$T/err"; rc=$?; }
expect() { if [ "$rc" -eq "$2" ]; then ok "$1"; else bad "$1 (exit $rc, expected $2)"; fi; }
finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ] || exit 1
    exit "${1:-0}"
}
