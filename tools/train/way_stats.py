"""How often a policy takes each way through a step, and how often each way goes wrong.

Reads a `ponder bench` SQLite file written by scripts/bench_arith.sh (experiment 1 greedy,
experiment 2 the sampled strategies) and, for greedy decoding and for the 16 samples of
self-consistency, counts the steps that could be split (see arith_data.split_additions: a + or -
step whose second operand is 10 or more and not a multiple of ten, a * step of such a number by
a digit) by the way the policy wrote them:

- one-shot: `a op b = c` in one paragraph; wrong when the equation does not hold;
- split: a paragraph starting "First," (or another of arith_data.SPLIT_OPENERS) and the
  paragraphs of the same step after it ("Then,", "Now,", or without `--restate-split` the step's
  own paragraph with the split's last equation); wrong when one of the split's own equations does
  not hold. The step restated at the end of the last paragraph
  (`--restate-split`) is left out: it repeats the operands and the split's result, so a slip
  there (usually a copied operand) does not change the value the solution goes on with. A split
  of the wrong number whose equations all hold counts as right here, so the split's figure is a
  lower bound on its errors.

    /usr/bin/python3 tools/train/way_stats.py out/eval/test500.db
"""

import argparse
import collections
import sqlite3

from arith_data import EQUATION, SPLIT_OPENERS, STEP_DELIMITER, apply_op

SPLIT_STARTS = tuple(opener.rstrip() for opener in SPLIT_OPENERS)
SPLIT_CONTINUATIONS = ("Then,", "Now,")


def equations(paragraph):
    return [(int(a), op, int(b), int(c)) for a, op, b, c in EQUATION.findall(paragraph)]


def holds(a, op, b, c):
    return apply_op(a, op, b) == c


def splittable(a, op, b):
    if op in "+-":
        return b >= 10 and b % 10 != 0
    if op == "*":
        long, digit = max(a, b), min(a, b)
        return 2 <= digit < 10 and long >= 10 and long % 10 != 0
    return False


def ways(text):
    """(way, op, right) for each splittable step of a solution, in order."""
    paragraphs = text.split(STEP_DELIMITER)
    i = 0
    while i < len(paragraphs):
        if paragraphs[i].startswith(SPLIT_STARTS):
            j = i + 1
            while j < len(paragraphs) and paragraphs[j].startswith(SPLIT_CONTINUATIONS):
                j += 1
            restated = len(equations(paragraphs[j - 1])) == 2
            if not restated and j < len(paragraphs):
                j += 1  # without --restate-split the split's last paragraph is the step's own
            group = paragraphs[i:j]
            own = [e for p in group for e in equations(p)]
            if restated:
                own = own[:-1]  # the restated step
            if own:
                op = "*" if any(p.startswith("Now,") for p in group) else own[0][1]
                yield "split", op, all(holds(*e) for e in own)
            i = j
            continue
        eqs = equations(paragraphs[i])
        if eqs and splittable(*eqs[0][:3]):
            yield "one-shot", eqs[0][1], holds(*eqs[0])
        i += 1


def table(db, where):
    counts = collections.Counter()
    query = f"SELECT c.text FROM candidates c JOIN runs r ON r.id = c.run_id WHERE {where}"
    for (text,) in db.execute(query):
        for way, op, right in ways(text):
            counts[way, op, right] += 1
    for op in "+-*":
        cells = []
        total = {}
        for way in ("one-shot", "split"):
            n = counts[way, op, True] + counts[way, op, False]
            total[way] = n
            wrong = counts[way, op, False] / n if n else 0.0
            cells.append(f"{way} {n:6d} wrong {wrong:.3f}")
        share = total["split"] / max(1, sum(total.values()))
        print(f"  {op}  " + " | ".join(cells) + f" | split {share:.2f} of the steps")


def operand_orders(db, where):
    """Of the one-shot + and * steps of a problem that slip in both operand orders (`a op b` and
    `b op a`, see --swap-operands), how often the most common wrong result differs between the
    two orders: whether writing a computation another way spreads its slips (sweep 9)."""
    wrong = collections.defaultdict(lambda: (collections.Counter(), collections.Counter()))
    query = (f"SELECT r.problem_id, c.text FROM candidates c JOIN runs r ON r.id = c.run_id "
             f"WHERE {where}")
    for problem, text in db.execute(query):
        for paragraph in text.split(STEP_DELIMITER):
            if paragraph.startswith(SPLIT_STARTS + SPLIT_CONTINUATIONS):
                continue  # a split's paragraphs
            eqs = equations(paragraph)
            if len(eqs) != 1 or eqs[0][1] not in "+*" or holds(*eqs[0]):
                continue
            a, op, b, c = eqs[0]
            wrong[problem, op, min(a, b), max(a, b)][int(a > b)][c] += 1
    both = [orders for orders in wrong.values() if orders[0] and orders[1]]
    differ = sum(orders[0].most_common(1)[0][0] != orders[1].most_common(1)[0][0] for orders in both)
    print(f"  + and * steps slipped in both operand orders: {len(both)}; the most common wrong "
          f"result differs between the orders in {differ}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("db", help="a SQLite file of scripts/bench_arith.sh")
    p.add_argument("--budget", type=int, default=16, help="the self-consistency budget to read")
    args = p.parse_args()
    db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    print("greedy decoding")
    table(db, "r.experiment_id = 1")
    print(f"samples of self-consistency@{args.budget}")
    samples = f"r.experiment_id = 2 AND r.strategy = 'self-consistency' AND r.budget_n = {args.budget}"
    table(db, samples)
    operand_orders(db, samples)


if __name__ == "__main__":
    main()
