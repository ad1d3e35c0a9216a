#!/bin/sh
# Runs a model's C walker and the project's `passthrough bench --model` on the same workload, back
# to back (as /work/shared/bench/compare.sh does for the VT-d anchor); prints both JSON lines,
# then whether every non-timing field matches and the ratio of best-of-REPS Mtps per workload.
# Usage: bench/compare.sh amd-vi|smmuv3 [N] [REPS] [PAIRS]
#   PAIRS (default 1): repeat the pair and print the median ratio per workload.
#   PROJECT: the command printing the project's JSON line (default: node dist/cli.mjs bench).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
MODEL=${1:?usage: compare.sh amd-vi|smmuv3 [N] [REPS] [PAIRS]}
N=${2:-10000000}
REPS=${3:-3}
PAIRS=${4:-1}
PROJECT=${PROJECT:-"node $here/../dist/cli.mjs bench"}
case "$MODEL" in
  amd-vi) WALKER=amdvi_walker ;;
  smmuv3) WALKER=smmuv3_walker ;;
  *) echo "compare.sh: model must be amd-vi or smmuv3, got \"$MODEL\"" >&2; exit 2 ;;
esac
make -s -C "$here" "$WALKER"
RATIOS=""
i=0
status=0
while [ "$i" -lt "$PAIRS" ]; do
  i=$((i + 1))
  C_LINE=$("$here/$WALKER" "$N" "$REPS")
  echo "$C_LINE"
  P_LINE=$(sh -c "$PROJECT --model $MODEL $N $REPS" | grep '^{' | tail -n 1)
  echo "$P_LINE"
  R=$(C_LINE=$C_LINE P_LINE=$P_LINE node -e '
const c = JSON.parse(process.env.C_LINE), p = JSON.parse(process.env.P_LINE);
const strip = (o) => JSON.stringify(Object.fromEntries(Object.entries(o)
  .filter(([k]) => k !== "impl" && !k.endsWith("_mtps") && !k.endsWith("_runs"))));
const same = strip(c) === strip(p);
const r = ["w1", "w2", "w3"].map((w) => (p[w + "_mtps"] / c[w + "_mtps"]).toFixed(3));
console.log(`${same ? "MATCH" : "MISMATCH"} ${r.join(" ")}`);
') || true
  set -- $R
  echo "pair $i: fields $1; project/C best Mtps: w1 $2, w2 $3, w3 $4"
  [ "$1" = MATCH ] || status=1
  RATIOS="$RATIOS$2 $3 $4
"
done
if [ "$PAIRS" -gt 1 ]; then
  printf '%s' "$RATIOS" | node -e '
const rows = require("fs").readFileSync(0, "utf8").trim().split("\n").map((l) => l.split(" ").map(Number));
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
console.log(`median of ${rows.length} pairs: ` + ["w1", "w2", "w3"].map((w, k) => `${w} ${med(rows.map((r) => r[k])).toFixed(3)}`).join(", "));
'
fi
exit $status
