#!/usr/bin/env bash
# The shipped model's benchmark: greedy decoding (budget 1), then self-consistency, best-of-N
# and weighted best-of-N ranked by the arithmetic step checker and particle filtering guided by
# the shipped PRM at several budgets, on held-out problems of the built-in arithmetic task;
# prints the accuracy table. scripts/demo.sh runs it through ponderd; the README's 500-problem
# table runs it in process. Needs build/bin/ponder.
#
#   scripts/bench_arith.sh --server ADDR [options]                     through a running ponderd
#   scripts/bench_arith.sh --model POLICY --prm PRM --db FILE [options] in this process
#
# options: --limit N (held-out problems, default 100) | --problems FILE.jsonl (instead of the
#          test split, e.g. `ponder datasets export arith --split test --seed 900000`),
#          --budgets 1,4,16, --temperature 0.8, --min-p 0, --no-prm (no particle filtering)
# The database gets two experiments: "greedy" and "scaling".
set -euo pipefail
cd "$(dirname "$0")/.."

target=() db="" limit=100 problems="" budgets=1,4,16 temperature=0.8 min_p=0 with_prm=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --server) target=(--server "$2"); shift ;;
    --model) target+=(--model "$2"); shift ;;
    --prm) target+=(--prm "prm=$2"); shift ;;
    --db) db="$2"; shift ;;
    --limit) limit="$2"; shift ;;
    --problems) problems="$2"; shift ;;
    --budgets) budgets="$2"; shift ;;
    --temperature) temperature="$2"; shift ;;
    --min-p) min_p="$2"; shift ;;
    --no-prm) with_prm=0 ;;
    *) echo "bench_arith.sh: unknown argument $1 (see the comment at the top)" >&2; exit 2 ;;
  esac
  shift
done
[[ ${#target[@]} -gt 0 ]] || { echo "bench_arith.sh: give --server ADDR or --model PATH" >&2; exit 2; }

common=("${target[@]}")
[[ -n "$db" ]] && common+=(--db "$db")
if [[ -n "$problems" ]]; then
  common+=(--problems "$problems" --limit "$limit")
else
  common+=(--dataset arith --limit "$limit")
fi
sampling="\"sampling\":{\"temperature\":$temperature,\"minP\":$min_p}"
strategies=(
  --strategy "self-consistency={\"selfConsistency\":{},$sampling}"
  # A solution is as good as its worst step: the checker's minimum over steps.
  --strategy "best-of-n.checker={\"bestOfN\":{},$sampling,\"verifier\":{\"arithmetic\":{},\"aggregation\":\"AGGREGATION_MIN\"}}"
  # Weighted best-of-N: the same scores summed per answer; the heaviest answer wins.
  --strategy "weighted-best-of-n.checker={\"weightedBestOfN\":{},$sampling,\"verifier\":{\"arithmetic\":{},\"aggregation\":\"AGGREGATION_MIN\"}}"
)
if [[ $with_prm == 1 ]]; then
  strategies+=(--strategy "particle-filter.prm={\"particleFilter\":{},$sampling,\"verifier\":{\"prm\":{\"model\":\"prm\",\"format\":\"FORMAT_QWEN_MATH_PRM\"}}}")
fi

build/bin/ponder bench "${common[@]}" --quiet --name greedy --budget 1 \
  --strategy 'greedy={"bestOfN":{},"sampling":{"temperature":0},"verifier":{"arithmetic":{}}}'
build/bin/ponder bench "${common[@]}" --name scaling --budget "$budgets" "${strategies[@]}"
