#!/usr/bin/python3
"""Accuracy of test-time scaling strategies with the shipped models, through the C++ engine.

  tools/train/evaluate_engine.py --models models --test out/train/test.jsonl [--count 500]

Runs `ponder solve --model ... --reference ...` once per problem and strategy (in-process, the
same pipeline ponderd runs) and counts the answers the grader calls correct. It stands in for
`ponder bench` (the benchmark runner) until that exists. The strategies, each at budget --n:

  greedy        self_consistency, budget 1, temperature 0 (one greedy completion)
  sc            self_consistency (majority over answer classes)
  bon_arith     best_of_n with the arithmetic step checker (verifiers/arithmetic_step_checker.h),
                `min` aggregation
  bon_prm       best_of_n with the trained PRM (Qwen2.5-Math-PRM format, `model` aggregation)
  pf_prm        particle_filter with the trained PRM (its default `model` aggregation)

Sampling uses the strategies' defaults (temperature 0.8 unless --temperature, top-p 1, up to
1024 tokens) and seed --seed. Prints one JSON line per strategy and writes the per-problem results to --out.
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import arith_data  # noqa: E402


def strategies(n, prm_path, temperature=None):
    """{name: (budget, extra ponder solve flags)}; `temperature` overrides the sampling strategies'."""
    prm = {"prm": {"model": "arith", "format": "FORMAT_QWEN_MATH_PRM"}}
    out = {
        "greedy": (1, ["--strategy", "self_consistency", "--temperature", "0"]),
        "sc": (n, ["--strategy", "self_consistency"]),
        # min: a solution is as good as its worst step (one false equation makes it 0).
        "bon_arith": (n, ["--strategy", json.dumps({"best_of_n": {}, "verifier": {
            "arithmetic": {}, "aggregation": "AGGREGATION_MIN"}})]),
    }
    if prm_path:
        with_prm = ["--prm", f"arith={prm_path}"]
        out["bon_prm"] = (n, with_prm + ["--strategy", json.dumps({"best_of_n": {}, "verifier": {
            **prm, "aggregation": "AGGREGATION_MODEL"}})])
        out["pf_prm"] = (n, with_prm + ["--strategy", json.dumps({"particle_filter": {}, "verifier": prm})])
    if temperature is not None:
        for name, (budget, flags) in out.items():
            if name != "greedy":
                flags += ["--temperature", str(temperature)]
    return out


def solve(ponder, policy, record, budget, flags, seed):
    cmd = [ponder, "solve", "--model", policy, "--problem", record["problem"], "--budget", str(budget),
           "--reference", str(record["answer"]), "--seed", str(seed), "--threads", "1", "--json"] + flags
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not done.stdout.strip():
        # Counted as wrong and reported: one failing problem should not lose the whole table.
        error = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        print(f"{record['id']}: ponder solve failed: {error[0]}", file=sys.stderr, flush=True)
        return {"id": record["id"], "correct": False, "answer": None, "generated_tokens": 0, "seconds": 0,
                "error": error[0]}
    response = json.loads(done.stdout)
    usage = response.get("result", {}).get("usage", {})
    return {"id": record["id"], "correct": bool(response.get("correct", False)),
            "answer": response.get("result", {}).get("answer"),
            "generated_tokens": int(usage.get("generatedTokens", 0)),
            "seconds": float(usage.get("wallSeconds", 0))}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ponder", default="build/bin/ponder")
    p.add_argument("--models", default="models")
    p.add_argument("--policy", help="default: MODELS/arith-policy.gguf")
    p.add_argument("--prm", help="default: MODELS/arith-prm.gguf if present")
    p.add_argument("--test", required=True, help="JSONL from `ponder datasets export arith --split test`")
    p.add_argument("--count", type=int, default=500)
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2, help="ponder processes at once")
    p.add_argument("--temperature", type=float, help="sampling temperature (default: the strategies', 0.8)")
    p.add_argument("--strategies", default="greedy,sc,bon_arith,bon_prm,pf_prm")
    p.add_argument("--out", help="write per-problem results and the summary here (JSON)")
    args = p.parse_args()
    policy = args.policy or os.path.join(args.models, "arith-policy.gguf")
    prm = args.prm or os.path.join(args.models, "arith-prm.gguf")
    if not os.path.exists(prm):
        prm = None
    records = arith_data.read_jsonl(args.test)[:args.count]
    table = strategies(args.n, prm, args.temperature)
    summary, details = {}, {}
    for name in args.strategies.split(","):
        if name not in table:
            print(f"skipping {name}: no PRM", file=sys.stderr)
            continue
        budget, flags = table[name]
        t0 = time.time()
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            rows = list(pool.map(lambda r: solve(args.ponder, policy, r, budget, flags, args.seed), records))
        by_difficulty = {}
        for r, row in zip(records, rows):
            d = by_difficulty.setdefault(str(r.get("difficulty", 0)), [0, 0])
            d[0] += row["correct"]
            d[1] += 1
        summary[name] = {
            "budget": budget, "accuracy": round(sum(r["correct"] for r in rows) / len(rows), 4),
            "problems": len(rows), "by_difficulty": {k: round(c / t, 3) for k, (c, t) in sorted(by_difficulty.items())},
            "mean_generated_tokens": round(sum(r["generated_tokens"] for r in rows) / len(rows), 1),
            "failed_runs": sum(1 for r in rows if "error" in r),
            "wall_seconds": round(time.time() - t0, 1),
            "command": " ".join([args.ponder, "solve", "--model", policy, "--budget", str(budget)] +
                                [f"'{f}'" if f.startswith("{") else f for f in flags] +
                                ["--problem", "TEXT", "--reference", "ANSWER", "--seed", str(args.seed)]),
        }
        details[name] = rows
        print(json.dumps({"strategy": name, **summary[name]}), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"summary": summary, "details": details}, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
