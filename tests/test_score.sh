#!/bin/sh
# End-to-end checks of graft score on the committed 512-image
# Fashion-MNIST fixture: ranking table, random-init baseline, CSV/JSON,
# error exits.
# Usage: test_score.sh GRAFT_EXECUTABLE SOURCE_ROOT
# Prints "ok - ..." / "not ok - ..." per check and "N passed, M failed";
# exits 1 on any failure, 77 (skip) when no OpenCL device exists.
set -u
G=${1:?usage: test_score.sh GRAFT SOURCE_ROOT}
SRC=${2:?usage: test_score.sh GRAFT SOURCE_ROOT}
FIX="$SRC/data/fixtures/fmnist512-images-idx3-ubyte.gz"
. "$SRC/tests/shlib.sh"

# ---- usage (no device needed)
run "$G" score --help
if [ "$rc" -eq 0 ] && grep -q '^usage: graft score' "$T/out"; then ok "score --help"; else bad "score --help (exit $rc)"; fi
run "$G" score --bogus x.graft
if [ "$rc" -eq 2 ] && grep -q "unknown option '--bogus'" "$T/err"; then ok "unknown flag exits 2"; else bad "unknown flag (exit $rc)"; fi
run "$G" score --per-class abc --data "$FIX" x.graft
if [ "$rc" -eq 2 ] && grep -q "per-class" "$T/err"; then ok "--per-class abc exits 2"; else bad "--per-class abc (exit $rc)"; fi
run "$G" score --data "$FIX"
if [ "$rc" -eq 2 ] && grep -q "MODEL" "$T/err"; then ok "no model exits 2"; else bad "no model (exit $rc)"; fi
run "$G" score x.graft
if [ "$rc" -eq 2 ] && grep -q -- "--data" "$T/err"; then ok "no --data exits 2"; else bad "no --data (exit $rc)"; fi
run "$G" score --data "$FIX" --layers , x.graft
expect_layers=$rc
if [ "$expect_layers" -eq 2 ]; then ok "--layers , exits 2"; else bad "--layers , (exit $rc)"; fi

# ---- device
run "$G" devices
if [ "$rc" -ne 0 ]; then
    echo "# no OpenCL device; skipping the rest"
    finish 77
fi

M="$T/tiny.graft"
run "$G" train --quiet --data "$FIX" --epochs 1 --batch 32 --per-class 20 --out "$M"
if [ "$rc" -eq 0 ] && [ -s "$M" ]; then ok "train a tiny model"; else bad "train (exit $rc)"; finish; fi
cp "$M" "$T/copy.graft"

# A missing candidate: exit 1, its name in the message, before any work.
run "$G" score --quiet --data "$FIX" "$M" "$T/missing.graft"
if [ "$rc" -eq 1 ] && grep -q "missing.graft" "$T/err"; then ok "missing model exits 1 naming it"
else bad "missing model (exit $rc)"; fi
run "$G" score --quiet --data "$FIX" --layers nosuchlayer "$M"
if [ "$rc" -eq 1 ] && grep -q "nosuchlayer" "$T/err"; then ok "unknown layer exits 1 naming it"
else bad "unknown layer (exit $rc)"; fi

# ---- the ranking: the model, itself twice more (one a copy), random init
run "$G" score --quiet --data "$FIX" --per-class 30 --csv "$T/s.csv" --json "$T/s.json" "$M" "$M" "$T/copy.graft"
cp "$T/out" "$T/table"
if [ "$rc" -eq 0 ]; then ok "score runs"; else bad "score (exit $rc)"; finish; fi
if grep -Eq '^ *rank +model +layer +dim +LogME +seconds$' "$T/table"; then ok "table header"; else bad "table header"; fi
if [ "$(grep -c "tiny.graft  " "$T/table")" -eq 2 ] && grep -q "copy.graft  " "$T/table"
then ok "table has every candidate"; else bad "candidates missing"; fi
if grep -Eq '^ +[1-4] +random-init +gap +128 ' "$T/table"; then ok "table has a random-init row (gap, 128 features)"
else bad "no random-init row"; fi
if [ "$(grep -Ec '^ +[0-9]+  ' "$T/table")" -eq 4 ]; then ok "4 rows"; else bad "row count"; fi
# LogME column: finite numbers; the identical candidates score the same.
if awk '/^ +[0-9]+  / { v = $(NF-1); if (v !~ /^-?[0-9]+\.[0-9]+$/) bad = 1; if ($2 != "random-init") s[v]++ }
        END { n = 0; for (k in s) n++; exit bad || n != 1 }' "$T/table"
then ok "LogME values are finite and equal for identical candidates"; else bad "LogME values"; fi
if python3 - "$T/s.json" "$T/s.csv" >"$T/out" 2>"$T/err" <<'PY'
import csv, json, math, sys
d = json.load(open(sys.argv[1]))
r = d["ranking"]
assert d["images"] == 300 and d["classes"] == 10, d
assert len(r) == 4 and [x["rank"] for x in r] == [1, 2, 3, 4]
assert sum(x["random_init"] for x in r) == 1
assert all(math.isfinite(x["logme"]) and x["dim"] == 128 for x in r)
assert all(r[i]["logme"] >= r[i + 1]["logme"] for i in range(3))
assert isinstance(d["negative_transfer_warning"], bool)
rows = list(csv.DictReader(open(sys.argv[2])))
assert [float(x["logme"]) for x in rows] == [round(x["logme"], 6) for x in r]
PY
then ok "--json parses, sorted, matches --csv"; else bad "--json/--csv"; fi

# The warning follows the JSON flag.
w=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["negative_transfer_warning"]))' "$T/s.json")
if [ "$w" -eq "$(grep -c '^warning: the best candidate does not beat a randomly initialised network' "$T/table")" ]
then ok "negative-transfer warning matches the JSON flag"; else bad "warning vs JSON"; fi

# ---- --layers: spatial maps are averaged per channel
run "$G" score --quiet --data "$FIX" --per-class 20 --layers conv4.act,pool1 "$M"
if [ "$rc" -eq 0 ] && grep -Eq ' conv4\.act +64 ' "$T/out" && grep -Eq ' pool1 +32 ' "$T/out" \
    && [ "$(grep -c 'random-init' "$T/out")" -eq 2 ]
then ok "--layers conv4.act,pool1 (64 and 32 features, random rows too)"; else bad "--layers (exit $rc)"; fi

# ---- the table stays aligned for long layer and model names: the layer
# column is as wide as the longest name (up to 40), the model column up to
# 60, longer names end in '~'
LONG="$T/a_candidate_with_a_file_name_longer_than_the_model_column_allows.graft"
run "$G" import "$SRC/data/onnx/mobile_mini.onnx" --out "$LONG"
run "$G" score --quiet --data "$FIX" --per-class 5 --layers 4,MatMul "$LONG"
if [ "$rc" -eq 0 ] && grep -q '  b1_body_body.0_body.0.0_Conv  *24 ' "$T/out" \
    && [ "$(grep -c '~  ' "$T/out")" -eq 2 ] \
    && [ "$(grep -E '^ *(rank|[0-9]+)  ' "$T/out" | awk '{ print length($0) }' | sort -u | wc -l)" -eq 1 ]
then ok "table aligned with a 28-character layer name and a shortened model name"
else bad "long names misalign the table (exit $rc)"; cat "$T/out"; fi

finish
