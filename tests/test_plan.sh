#!/bin/sh
# graft plan run end to end on the 512-image Fashion-MNIST fixture, on
# PoCL's two CPU devices (POCL_DEVICES="pthread pthread", set by meson):
# a plan with a broken target finishes the other jobs and reports the
# broken ones; a rerun skips the finished jobs; a half-finished plan (job
# files removed) runs only what is missing; the recipe is a strategy too;
# data parallel train on two devices runs and writes its files once.
# Usage: test_plan.sh GRAFT_EXECUTABLE SOURCE_ROOT
set -u
G=${1:?usage: test_plan.sh GRAFT SOURCE_ROOT}
SRC=${2:?usage: test_plan.sh GRAFT SOURCE_ROOT}
FIX="$SRC/data/fixtures/fmnist512-images-idx3-ubyte.gz"
. "$SRC/tests/shlib.sh"

# ---- usage (no device needed)
run "$G" plan run --help
if [ "$rc" -eq 0 ] && grep -q '^usage: graft plan run' "$T/out"; then ok "plan run --help"; else bad "plan run --help (exit $rc)"; fi
run "$G" plan
expect "plan without run exits 2" 2
printf 'source x.graft\nepochs many\n' > "$T/bad.plan"
run "$G" plan run "$T/bad.plan"
if [ "$rc" -eq 1 ] && grep -q 'bad.plan:2' "$T/err"; then ok "a bad plan line is named"; else bad "bad plan line (exit $rc)"; fi

# ---- a source model (a few seconds)
run "$G" train --data "$FIX" --classes 0-4 --per-class 12 --epochs 1 --batch 20 --out "$T/src.graft" --quiet
expect "train the source" 0

cat > "$T/p.plan" <<PLAN
# two targets, one of them broken
source src.graft
strategies scratch,linear-probe
seeds 2
epochs 2
batch 16
target shirts data=$FIX classes=5-9 per-class=8 split=0.25
target broken data=no-such-folder per-class=4
PLAN
run "$G" plan run "$T/p.plan" --devices all
if [ "$rc" -eq 1 ] && grep -q '4 jobs ran (4 failed)\|8 jobs ran (4 failed)' "$T/out"; then ok "failed jobs reported, status 1"; else bad "plan with a broken target (exit $rc)"; fi
n=$(grep -c '^broken,.*,failed,.*no-such-folder' "$T/p-run/jobs.csv")
m=$(grep -c '^shirts,.*,ok,' "$T/p-run/jobs.csv")
if [ "$n" -eq 4 ] && [ "$m" -eq 4 ]; then ok "jobs.csv: 4 shirts jobs ok, 4 broken ones failed with the message"; else bad "jobs.csv ($m ok, $n failed)"; fi
if grep -q '^shirts,linear-probe,2,2,0,' "$T/p-run/summary.csv" && grep -q '^shirts,scratch,2,2,0,.*,0\.0$' "$T/p-run/summary.csv"; then ok "summary.csv: accuracy and time saved per strategy"; else bad "summary.csv"; cat "$T/p-run/summary.csv"; fi
if grep -q 'Failed jobs' "$T/p-run/summary.html" && [ -s "$T/p-run/shirts.html" ]; then ok "summary.html and the target's compare report"; else bad "html reports"; fi
# Both devices took jobs.
if grep -q '^\[.*on \[0\]' "$T/out" && grep -q '^\[.*on \[1\]' "$T/out"; then ok "jobs ran on both devices"; else bad "devices used"; fi

# ---- resume: finished jobs are skipped, failed ones run again
run "$G" plan run "$T/p.plan" --devices all
if [ "$rc" -eq 1 ] && grep -q '4 jobs ran (4 failed), 4 finished before' "$T/out" && [ "$(grep -c 'done before' "$T/out")" -eq 4 ]; then ok "rerun skips the 4 finished jobs"; else bad "rerun (exit $rc)"; fi
# Half-finished: one shirts job's file gone (as if killed before it ended);
# the broken target fixed by dropping it from the plan.
grep -v '^target broken' "$T/p.plan" > "$T/q.plan"
rm "$T/p-run/shirts_linear-probe_s2.job"
run "$G" plan run "$T/q.plan" --out "$T/p-run" --devices all
if [ "$rc" -eq 0 ] && grep -q '1 jobs ran (0 failed), 3 finished before' "$T/out" && grep -q 'shirts linear-probe seed 2: [0-9.]*%' "$T/out"; then ok "half-finished plan runs only the missing job"; else bad "resume of a half-finished plan (exit $rc)"; fi

# ---- the recipe (finetune's default) as a plan strategy
cat > "$T/r.plan" <<PLAN
source src.graft
strategies scratch,recipe
epochs 1
batch 16
target shirts data=$FIX classes=5-9 per-class=8 split=0.25
PLAN
run "$G" plan run "$T/r.plan"
if [ "$rc" -eq 0 ] && grep -q '^shirts,recipe,.*,ok,' "$T/r-run/jobs.csv" && grep -q '^shirts,recipe,1,1,0,' "$T/r-run/summary.csv"; then ok "recipe as a plan strategy"; else bad "plan with the recipe (exit $rc)"; cat "$T/r-run/jobs.csv" "$T/r-run/summary.csv"; fi

# ---- data parallel train on two devices: files written once, as usual
run "$G" train --data "$FIX" --classes 0-4 --per-class 8 --epochs 1 --batch 16 --devices 0,1 --out "$T/dp.graft"
if [ "$rc" -eq 0 ] && [ -s "$T/dp.graft" ] && [ "$(wc -l < "$T/dp-log.csv")" -eq 2 ]; then ok "train --devices 0,1 writes the model and the log"; else bad "train --devices 0,1 (exit $rc)"; fi
run "$G" train --data "$FIX" --classes 0-4 --per-class 8 --epochs 1 --batch 16 --devices 0,1 --out "$T/sb.graft" --sync-bn
if [ "$rc" -eq 0 ] && [ -s "$T/sb.graft" ]; then ok "train --devices 0,1 --sync-bn"; else bad "train --sync-bn (exit $rc)"; fi
run "$G" train --data "$FIX" --epochs 1 --devices 0,nonesuch --out "$T/x.graft"
if [ "$rc" -eq 1 ] && grep -q "nonesuch" "$T/err"; then ok "a device that does not exist is named"; else bad "bad --devices (exit $rc)"; fi
finish
