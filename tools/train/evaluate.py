#!/usr/bin/python3
"""Measures the trained models on held-out arith test problems with the PyTorch model.

  tools/train/evaluate.py --models models --test out/train/test.jsonl [--count 500] [--n 16]

Reports greedy accuracy, self-consistency (majority over the extracted answers), best-of-N with
the arithmetic step checker, best-of-N with the PRM, and coverage (pass@N), for N = 1, 2, 4, ...,
--n, all on the same N samples per problem (smaller budgets use the first samples, as
search-and-learn does). This is a stand-in for `ponder bench` (issue 6), which is not built
yet; its arithmetic checker mirrors verifiers/arithmetic_step_checker.h for the equations the
task writes (`a op b = c`, integers): a step scores 1 if all its equations hold, 0 if one does
not, 0.5 without equations; a solution's score is the minimum over its steps.
"""

import argparse
import collections
import json
import os
import re
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import arith_data  # noqa: E402
import hf_folder  # noqa: E402
import sampling  # noqa: E402

_EQUATION = re.compile(r"(-?\d+(?:\.\d+)?)\s*([-+*/x])\s*(-?\d+(?:\.\d+)?)\s*=\s*(-?\d+(?:\.\d+)?)")


def arithmetic_step_score(step):
    found = _EQUATION.findall(step)
    if not found:
        return 0.5
    for a, op, b, c in found:
        a, b, c = float(a), float(b), float(c)
        if op == "+":
            v = a + b
        elif op == "-":
            v = a - b
        elif op in "*x":
            v = a * b
        else:
            if b == 0:
                return 0.0
            v = a / b
        if abs(v - c) > 1e-6 * max(1.0, abs(v)):
            return 0.0
    return 1.0


def arithmetic_score(text):
    steps = arith_data.split_steps(text)
    return min((arithmetic_step_score(s) for s in steps), default=0.0)


def majority(answers):
    counts = collections.Counter(a for a in answers if a is not None)
    if not counts:
        return None
    best = max(counts.values())
    for a in answers:  # ties: the answer seen first
        if a is not None and counts[a] == best:
            return a
    return None


def auc(pos, neg):
    """Probability that a random positive scores above a random negative (ties count half)."""
    if not pos or not neg:
        return None
    ranked = sorted([(s, 1) for s in pos] + [(s, 0) for s in neg])
    total, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        mean_rank = (i + j + 1) / 2
        total += mean_rank * sum(l for _, l in ranked[i:j])
        i = j
    return round((total - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)), 4)


def budgets_up_to(n):
    out, b = [], 1
    while b <= n:
        out.append(b)
        b *= 2
    return out


def evaluate(policy, tokenizer, records, n=16, temperature=1.0, top_p=1.0, with_system=True, seed=0,
             prm=None, max_new_tokens=200):
    """{metric: accuracy} over `records` (dicts with problem, answer)."""
    problems = [r["problem"] for r in records]
    gold = [str(r["answer"]) for r in records]
    t0 = time.time()
    greedy = sampling.sample_solutions(policy, tokenizer, problems, 1, max_new_tokens, 0.0, 1.0, seed,
                                       with_system)
    samples = sampling.sample_solutions(policy, tokenizer, problems, n, max_new_tokens, temperature,
                                        top_p, seed, with_system)
    sample_seconds = time.time() - t0
    results = {"problems": len(records), "temperature": temperature, "top_p": top_p,
               "with_system_prompt": with_system, "sampling_seconds": round(sample_seconds, 1)}
    results["greedy"] = sum(arith_data.boxed_answer(greedy[i][0][0]) == g for i, g in enumerate(gold)) / len(gold)
    prm_scores = {}
    if prm is not None:
        items, where = [], []
        for i in range(len(records)):
            for j, (text, _) in enumerate(samples[i]):
                steps = arith_data.split_steps(text) or [text]
                items.append((problems[i], steps))
                items.append((problems[i], [arith_data.STEP_DELIMITER.join(steps)]))
                where.append((i, j))
        scores = sampling.prm_step_scores(prm, tokenizer, items)
        for k, (i, j) in enumerate(where):
            per_step, whole = scores[2 * k], scores[2 * k + 1]
            prm_scores[(i, j)] = {"min": min(per_step, default=0.0), "last": per_step[-1] if per_step else 0.0,
                                  "model": whole[-1] if whole else 0.0}
    if prm_scores:
        for agg in ("last", "model", "min"):
            pos = [prm_scores[(i, j)][agg] for i in range(len(gold)) for j, (t, _) in enumerate(samples[i])
                   if arith_data.boxed_answer(t) == gold[i]]
            neg = [prm_scores[(i, j)][agg] for i in range(len(gold)) for j, (t, _) in enumerate(samples[i])
                   if arith_data.boxed_answer(t) != gold[i]]
            results[f"prm_{agg}_auc_on_samples"] = auc(pos, neg)
    by_difficulty = collections.defaultdict(lambda: collections.Counter())
    for i, r in enumerate(records):
        d = r.get("difficulty", 0)
        texts = [t for t, _ in samples[i]]
        answers = [arith_data.boxed_answer(t) for t in texts]
        scores = [arithmetic_score(t) for t in texts]
        by_difficulty[d]["problems"] += 1
        by_difficulty[d]["greedy"] += arith_data.boxed_answer(greedy[i][0][0]) == gold[i]
        by_difficulty[d][f"sc@{n}"] += majority(answers) == gold[i]
        by_difficulty[d][f"bon_arith@{n}"] += answers[scores.index(max(scores))] == gold[i]
        by_difficulty[d][f"pass@{n}"] += gold[i] in answers
    results["by_difficulty"] = {
        str(d): {k: (v if k == "problems" else round(v / c["problems"], 3)) for k, v in c.items()}
        for d, c in sorted(by_difficulty.items())
    }
    for b in budgets_up_to(n):
        sc = bon = cover = 0
        prm_hits = collections.Counter()
        for i, g in enumerate(gold):
            texts = [t for t, _ in samples[i][:b]]
            answers = [arith_data.boxed_answer(t) for t in texts]
            sc += majority(answers) == g
            scores = [arithmetic_score(t) for t in texts]
            bon += answers[scores.index(max(scores))] == g
            cover += g in answers
            for agg in ("min", "last", "model"):
                if prm_scores:
                    s = [prm_scores[(i, j)][agg] for j in range(len(texts))]
                    prm_hits[agg] += answers[s.index(max(s))] == g
        results[f"sc@{b}"] = sc / len(gold)
        results[f"bon_arith@{b}"] = bon / len(gold)
        results[f"pass@{b}"] = cover / len(gold)
        for agg, hits in prm_hits.items():
            results[f"bon_prm_{agg}@{b}"] = hits / len(gold)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in results.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="models")
    p.add_argument("--test", required=True, help="JSONL from `ponder datasets export arith --split test`")
    p.add_argument("--count", type=int, default=500)
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--no-system", action="store_true", help="prompt without the system prompt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", help="write the figures here as JSON")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    policy, tokenizer = hf_folder.load_model_folder(os.path.join(args.models, "arith-policy"))
    prm_folder = os.path.join(args.models, "arith-prm")
    prm = hf_folder.load_model_folder(prm_folder)[0] if os.path.isdir(prm_folder) else None
    records = arith_data.read_jsonl(args.test)[:args.count]
    results = evaluate(policy, tokenizer, records, args.n, args.temperature, args.top_p, not args.no_system,
                       args.seed, prm)
    print(json.dumps(results, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
