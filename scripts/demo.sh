#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, starts `ponderd` on the shipped
# model (models/arith-policy.gguf, with its process reward model models/arith-prm.gguf), runs a
# benchmark of held-out arithmetic problems over several strategies and budgets through the
# service, prints the accuracy table and writes the HTML report.
#
#   scripts/demo.sh [--limit 100] [--budgets 1,4,16]
#
# Everything it writes goes to out/demo/ (the experiment database demo.db, ponderd's log and
# report/report.html).
set -euo pipefail
cd "$(dirname "$0")/.."

limit=100
budgets=1,4,16
while [[ $# -gt 0 ]]; do
  case "$1" in
    --limit) limit="$2"; shift ;;
    --budgets) budgets="$2"; shift ;;
    *) echo "demo.sh: unknown argument $1 (use --limit N, --budgets 1,4,16)" >&2; exit 2 ;;
  esac
  shift
done

scripts/setup.sh
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B build -G Ninja "${launcher[@]}" >/dev/null
cmake --build build -j "$(nproc)" --target ponder ponderd

policy=models/arith-policy.gguf
prm=models/arith-prm.gguf
for f in "$policy" "$prm"; do
  [[ -f "$f" ]] || { echo "demo.sh: $f is missing (tools/train/README.md regenerates it)" >&2; exit 1; }
done

out=out/demo
rm -rf "$out"
mkdir -p "$out"

# The service, on a free loopback port; stopped (SIGTERM, a graceful shutdown) on exit.
build/bin/ponderd --model "$policy" --prm "prm=$prm" --db "$out/demo.db" \
  --listen 127.0.0.1:0 --experiment-parallelism 8 >"$out/ponderd.log" 2>&1 &
ponderd_pid=$!
trap 'kill -TERM $ponderd_pid 2>/dev/null; wait $ponderd_pid 2>/dev/null || true' EXIT
address=""
for _ in $(seq 1 300); do
  address=$(sed -n 's/^ponderd: listening on \([^ ]*\).*/\1/p' "$out/ponderd.log")
  [[ -n "$address" ]] && break
  kill -0 $ponderd_pid 2>/dev/null || { cat "$out/ponderd.log" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$address" ]] || { echo "demo.sh: ponderd did not start; see $out/ponderd.log" >&2; exit 1; }
echo "== ponderd serving $policy on $address"

echo "== one held-out problem through the service (self-consistency, 8 samples)"
build/bin/ponder solve --server "$address" --strategy self_consistency --budget 8 --reference 52 \
  --problem "Noah has 44 crayons. Then Noah gives 19 crayons to Dan. Eli has 3 times as many crayons as Noah has now. Hugo has 23 fewer crayons than Eli. How many crayons does Hugo have?"

echo "== benchmark: $limit held-out arithmetic problems"
# Greedy decoding, then self-consistency, best-of-N and weighted best-of-N ranked by the
# arithmetic step checker and particle filtering guided by the shipped PRM at temperature 0.8
# (tools/train/README.md).
scripts/bench_arith.sh --server "$address" --limit "$limit" --budgets "$budgets" >/dev/null

echo "== accuracy by strategy and budget (from $out/demo.db)"
build/bin/ponder query --db "$out/demo.db" accuracy --experiment 1,2
build/bin/ponder report --db "$out/demo.db" --experiment 2 --out "$out/report"
echo "== report: $out/report/report.html"
