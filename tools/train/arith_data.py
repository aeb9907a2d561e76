"""The built-in arithmetic task as training data: chat formatting, steps, corruptions, labels.

The problems come from the C++ generator (`ponder datasets export arith`, datasets/arith_task.h):
each solution paragraph (separated by "\\n\\n") holds exactly one equation `a op b = c` with op in
+ - * / and positive integers, and the last paragraph ends with "The answer is \\boxed{N}.".
Nothing here generates problems; it only reads and rewrites the exporter's solutions.
"""

import json
import re

SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."
STEP_DELIMITER = "\n\n"
STEP_TAG = "<extra_0>"

EQUATION = re.compile(r"(?<![\d.])(\d+)\s*([-+*/])\s*(\d+)\s*=\s*(\d+)(?!\.?\d)")
BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
NUMBER = re.compile(r"(?<![\d.])\d+(?!\.?\d)")


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def apply_op(a, op, b):
    """The integer result, or None where the generator's rules forbid it (inexact, <= 0)."""
    if op == "+":
        c = a + b
    elif op == "-":
        c = a - b
    elif op == "*":
        c = a * b
    else:
        if b == 0 or a % b != 0:
            return None
        c = a // b
    return c if 0 < c < 100000 else None


def split_steps(solution):
    return [s for s in solution.split(STEP_DELIMITER) if s]


def equation_of(step):
    """(a, op, b, c, match) of the step's first equation, or None."""
    m = EQUATION.search(step)
    if m is None:
        return None
    return int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4)), m


def boxed_answer(text):
    found = BOXED.findall(text)
    return found[-1].strip() if found else None


def policy_messages(problem, with_system):
    messages = [("system", SYSTEM_PROMPT)] if with_system else []
    return messages + [("user", problem)]


def prm_text(problem, steps, chat_text):
    """The Qwen2.5-Math-PRM input (verifiers/reward_model_verifier.cc, QwenMathPrm)."""
    assistant = STEP_TAG.join(steps) + STEP_TAG
    return chat_text([("system", SYSTEM_PROMPT), ("user", problem), ("assistant", assistant)],
                     add_generation_prompt=False)


def swap_operands(solution, rng, share):
    """The solution with the operands of some + and * equations written the other way round."""

    def swap(m):
        if m.group(2) in "+*" and rng.random() < share:
            return f"{m.group(3)} {m.group(2)} {m.group(1)} = {m.group(4)}"
        return m.group(0)

    return EQUATION.sub(swap, solution)


# How the first paragraph of a split step begins: split_additions' `openers` uses the first
# `openers` of these, one drawn per split step. Their first words differ from each other's and from
# the reference's paragraph openings (after `Split ...` with name_parts); see tools/train/README.md,
# sweep 8, for why there is more than one.
SPLIT_OPENERS = ("First, ", "In parts, ", "Using parts, ")


def split_step(step, a, op, b, c, ones_first=False, name_parts=False, restate=False, opener="First, "):
    """`a op b = c` (op + or -, b of two digits or more, not a multiple of ten) done in two
    paragraphs: first the tens of b, then its ones (or the ones first); None when the step
    does not fit. With `name_parts` the first paragraph starts by naming b and its two parts
    ("Split 39 into 30 and 9."), so the parts are written next to the number they come from;
    `restate` as in last_paragraph; `opener` begins the first paragraph's computation."""
    tens, ones = b - b % 10, b % 10
    if op not in "+-" or tens == 0 or ones == 0:
        return None
    part, rest = (ones, tens) if ones_first else (tens, ones)
    middle = a + part if op == "+" else a - part
    if middle <= 0:
        return None
    first = f"{split_sentence(b, part, rest) if name_parts else ''}{opener}{a} {op} {part} = {middle}."
    return [first, last_paragraph(step, "Then", f"{middle} {op} {rest} = {c}", restate)]


def equation_first(step, restate=False):
    """The step with its equation first and its sentence after, with the result only
    ("67 - 39 = 28. Tara has 28 stamps." for "Tara has 67 - 39 = 28 stamps."): the same
    computation written after other words, so a policy trained on both phrasings slips in
    different places in each (see tools/train/README.md, sweep 9). With `restate` the sentence
    keeps its equation ("67 - 39 = 28. Tara has 67 - 39 = 28 stamps."), so the arithmetic checker
    also sees an equation whose operands were written after the words that name them."""
    m = EQUATION.search(step)
    if restate:
        return f"{m.group(0)}. " + step
    return f"{m.group(0)}. " + step[:m.start()] + m.group(4) + step[m.end():]


def equation_last(step):
    """The step with the words after its equation moved before it and the equation ending the
    sentence ("Tara has stamps: 67 - 39 = 28." for "Tara has 67 - 39 = 28 stamps."): the words
    that say what is computed still come first, the computation after other words than the
    reference's (tools/train/README.md, sweep 9)."""
    m = EQUATION.search(step)
    end = step.find(".", m.end())
    if end < 0:
        return step
    return f"{step[:m.start()].rstrip()}{step[m.end():end]}: {m.group(0)}" + step[end:]


STEP_LEAD = "Next: "


def step_lead(step):
    """The step with STEP_LEAD before it ("Next: Tara has 67 - 39 = 28 stamps."): the one-shot way
    begun with another first token, its words and equation as the reference writes them, so the
    one-shot way's first tokens share its probability and the split way's "First" becomes the most
    likely start of a step (as with equation_first) while the words before the equation stay the
    reference's (tools/train/README.md, sweep 10)."""
    return STEP_LEAD + step


def split_sentence(number, first, second):
    return f"Split {number} into {first} and {second}. "


def last_paragraph(step, lead, equation, restate):
    """The last paragraph of a split step: the step with `equation` (the split's last computation,
    whose result is the step's) in place of its own; or, with `restate` 1, `equation` and then the
    step as the reference writes it ("Then, 37 - 9 = 28. Tara has 67 - 39 = 28 stamps."), so the
    arithmetic checker also recomputes the step with the problem's own operands and sees a split
    that went wrong without a false equation; with `restate` 2, the same equations in another
    order (below)."""
    m = EQUATION.search(step)
    if restate == 2:
        # The step's own equation right after the split's, then the step with its result only
        # ("Then, 37 - 9 = 28, so 67 - 39 = 28. Tara has 28 stamps."): the restated result is
        # next to the split's, away from the words that precede a step computed in one go.
        return f"{lead}, {equation}, so {m.group(0)}. " + step[:m.start()] + m.group(4) + step[m.end():]
    if restate:
        return f"{lead}, {equation}. " + step
    return step[:m.start()] + equation + step[m.end():]


def split_product(step, a, b, c, name_parts=False, restate=False, opener="First, "):
    """`a * b = c` (one operand of two digits or more, not a multiple of ten; the other of one
    digit) done in three paragraphs: the tens times the digit, the ones times the digit, and their
    sum; None when the step does not fit. `name_parts` and `opener` as in split_step, `restate` as
    in last_paragraph."""
    long, digit = (a, b) if a >= b else (b, a)
    tens, ones = long - long % 10, long % 10
    if digit >= 10 or digit < 2 or tens == 0 or ones == 0:
        return None
    named = split_sentence(long, tens, ones) if name_parts else ""
    first = f"{named}{opener}{tens} * {digit} = {tens * digit}."
    second = f"Then, {ones} * {digit} = {ones * digit}."
    return [first, second, last_paragraph(step, "Now", f"{tens * digit} + {ones * digit} = {c}", restate)]


def split_additions(solution, rng, share, ones_first_share=0.0, product_share=0.0, name_parts=False,
                    restate=False, openers=1, equation_first_share=0.0, equation_first_restate=False,
                    equation_last_share=0.0, lead_share=0.0):
    """The solution with some + and - steps done in two (tens, then ones) and, with
    `product_share`, some * steps done in three (split_product): other correct ways through the
    same problem whose arithmetic differs from the one-step way, so the samples of a policy
    trained on all of them do not all repeat the same slip (see tools/train/README.md). Each
    split's first paragraph begins with one of the first `openers` SPLIT_OPENERS, drawn evenly
    (with 1, no draw: "First, "). With `equation_first_share`, that share of the steps not split
    is written equation first (equation_first, with `equation_first_restate` as its `restate`),
    with `equation_last_share` that share of the others equation last (equation_last), and with
    `lead_share` that share of the rest begun with STEP_LEAD (step_lead)."""
    out = []
    for step in split_steps(solution):
        eq = equation_of(step)
        parts = None
        draw = rng.random() if eq is not None else 1.0
        if eq is not None and eq[1] in "+-" and draw < share:
            ones_first = ones_first_share > 0 and rng.random() < ones_first_share
            parts = split_step(step, *eq[:4], ones_first=ones_first, name_parts=name_parts,
                               restate=restate, opener=_opener(rng, openers))
        elif eq is not None and eq[1] == "*" and draw < product_share:
            parts = split_product(step, eq[0], eq[2], eq[3], name_parts=name_parts, restate=restate,
                                  opener=_opener(rng, openers))
        # Steps not split may be rephrased; a share of 0 draws nothing (the shipped recipe's draws).
        if parts is None and eq is not None:
            if equation_first_share > 0 and rng.random() < equation_first_share:
                parts = [equation_first(step, equation_first_restate)]
            elif equation_last_share > 0 and rng.random() < equation_last_share:
                parts = [equation_last(step)]
            elif lead_share > 0 and rng.random() < lead_share:
                parts = [step_lead(step)]
        out.extend(parts or [step])
    return STEP_DELIMITER.join(out)


def _opener(rng, openers):
    if not 1 <= openers <= len(SPLIT_OPENERS):
        raise ValueError(f"openers must be in [1, {len(SPLIT_OPENERS)}], got {openers}")
    return SPLIT_OPENERS[rng.randrange(openers)] if openers > 1 else SPLIT_OPENERS[0]


# ---------------------------------------------------------------------------------------------
# Step checking: whether a (sampled) solution's steps agree with the reference chain.


def prefix_labels(steps, reference_steps, answer):
    """1 for each step while all steps so far are right, then 0.

    A step is right when its equation holds, its result is a value the reference chain reaches
    (one of its results, the halfway value of a + or - step done in two, see split_step, or a
    partial product of a * step done in three, see split_product),
    and, for a step that states a boxed answer, that answer is the reference answer and every
    reference result has been reached. Operand order does not matter, so a solution with
    swapped operands or split steps is labelled like the reference.
    """
    ref = [equation_of(s)[:4] for s in reference_steps]
    results = {c for _, _, _, c in ref}
    halfway = set()
    for a, op, b, _ in ref:
        if op in "+-" and b >= 10 and b % 10:
            for part in (b - b % 10, b % 10):  # tens first or ones first
                halfway.add(a + part if op == "+" else a - part)
        if op == "*":
            long, digit = (a, b) if a >= b else (b, a)
            if digit < 10 and long >= 10 and long % 10:
                halfway.update({(long - long % 10) * digit, long % 10 * digit})
    labels = []
    reached = set()
    ok = True
    for step in steps:
        eq = equation_of(step)
        if ok:
            if eq is not None:
                a, op, b, c = eq[:4]
                ok = apply_op(a, op, b) == c and (c in results or c in halfway)
                reached.add(c)
            else:
                ok = boxed_answer(step) is not None  # an answer-only paragraph
            boxed = boxed_answer(step)
            if ok and boxed is not None:
                ok = boxed == str(answer) and results <= reached
        labels.append(1 if ok else 0)
    return labels


# ---------------------------------------------------------------------------------------------
# Corruptions of a reference solution, with the step labels they imply (1 up to the first
# wrong step, 0 from it on, as Qwen2.5-Math-PRM's and Math-Shepherd's hard labels).


def _replace_span(text, start, end, value):
    return text[:start] + str(value) + text[end:]


def _rewrite_step(step, a, b, c, changed):
    """The step with its equation made `a op b = c`, later mentions of changed earlier results
    (`changed`: {old: new}) replaced, and its boxed answer (if any) made c."""
    m = EQUATION.search(step)
    eq = step[m.start():m.end()]
    base = m.start()
    # Replace the operands and the result right to left so the offsets stay valid.
    for group, value in ((4, c), (3, b), (1, a)):
        eq = eq[:m.start(group) - base] + str(value) + eq[m.end(group) - base:]

    def sub(text):
        return NUMBER.sub(lambda n: str(changed.get(int(n.group()), n.group())), text)

    after = BOXED.sub(lambda _: "\\boxed{" + str(c) + "}", sub(step[m.end():]))
    return sub(step[:m.start()]) + eq + after


def propagate(steps, start, changed, problem_numbers):
    """Redoes the steps from `start` on with earlier results replaced as `changed` says.

    changed: {old result: new value}. An operand equal to an old result that is not also a number
    of the problem is taken to be that result. Returns the new steps, or None when a redone step
    breaks the generator's rules (a result that is not a positive integer).
    """
    out = list(steps[:start])
    changed = dict(changed)
    for step in steps[start:]:
        a, op, b, c, _ = equation_of(step)
        a2 = changed.get(a, a) if a not in problem_numbers else a
        b2 = changed.get(b, b) if b not in problem_numbers else b
        c2 = apply_op(a2, op, b2)
        if c2 is None:
            return None
        local = {k: v for k, v in changed.items() if k not in problem_numbers}
        out.append(_rewrite_step(step, a2, b2, c2, local))
        if c2 != c:
            changed[c] = c2
    return out


def _wrong_number(rng, value):
    """A plausible slip: one digit changed, off by a little, or two digits swapped."""
    for _ in range(20):
        digits = list(str(value))
        kind = rng.random()
        if kind < 0.5:
            i = rng.randrange(len(digits))
            digits[i] = str(rng.choice([d for d in range(10) if str(d) != digits[i]]))
            if digits[0] == "0":
                continue
            candidate = int("".join(digits))
        elif kind < 0.8 or len(digits) < 2:
            candidate = value + rng.choice([-1, 1]) * rng.randint(1, 10)
        else:
            i = rng.randrange(len(digits) - 1)
            digits[i], digits[i + 1] = digits[i + 1], digits[i]
            if digits[0] == "0":
                continue
            candidate = int("".join(digits))
        if candidate > 0 and candidate != value:
            return candidate
    return value + 1


def _with_step(steps, k, a, b, old_result, new_result, problem_numbers, kind):
    """Step k rewritten as `a op b = new_result`, the later steps redone from it, and labels 1
    before step k, 0 from it on; None when a redone step breaks the generator's rules."""
    first = _rewrite_step(steps[k], a, b, new_result, {})
    rest = propagate(steps, k + 1, {old_result: new_result}, problem_numbers)
    if rest is None:
        return None
    return steps[:k] + [first] + rest[k + 1:], [1] * k + [0] * (len(steps) - k), kind


def corrupt(problem, steps, rng):
    """(steps, labels, kind) for one corruption of a correct solution, or None if none fits.

    kinds: wrong_result (an arithmetic slip, carried into the later steps), wrong_operand (a
    wrong number used, computed correctly), skipped_step (a step left out; the next ones use the
    value from before it), wrong_answer (the boxed answer differs from the last result),
    early_answer (the solution stops after an earlier step and boxes that step's result).
    """
    problem_numbers = {int(x) for x in NUMBER.findall(problem)}
    eqs = [equation_of(s) for s in steps]
    n = len(steps)
    kind = rng.choices(["wrong_result", "wrong_operand", "skipped_step", "wrong_answer", "early_answer"],
                       weights=[4, 3, 2, 1, 2])[0]
    if kind == "wrong_result":
        k = rng.randrange(n)
        a, op, b, c, _ = eqs[k]
        return _with_step(steps, k, a, b, c, _wrong_number(rng, c), problem_numbers, kind)
    if kind == "wrong_operand":
        k = rng.randrange(n)
        a, op, b, c, _ = eqs[k]
        earlier = [e[3] for e in eqs[:k]]
        pool = [x for x in problem_numbers | set(earlier) if x not in (a, b)]
        which = rng.randrange(2)
        old = (a, b)[which]
        new_value = rng.choice(pool) if pool and rng.random() < 0.7 else _wrong_number(rng, old)
        a2, b2 = (new_value, b) if which == 0 else (a, new_value)
        c2 = apply_op(a2, op, b2)
        if c2 is None or c2 == c:
            return None
        return _with_step(steps, k, a2, b2, c, c2, problem_numbers, kind)
    if kind == "skipped_step":
        if n < 2:
            return None
        k = rng.randrange(n - 1)
        a, op, b, c, _ = eqs[k]
        # The lhs stands for the value before the step when it is an earlier result; otherwise
        # (the step starts from problem numbers) the later steps take its first operand.
        rest = propagate(steps, k + 1, {c: a}, problem_numbers)
        if rest is None:
            return None
        new = steps[:k] + rest[k + 1:]
        if new[k] == steps[k + 1]:
            return None  # the skipped result was not used by the next step: not detectable there
        return new, [1] * k + [0] * (n - 1 - k), kind
    if kind == "wrong_answer":
        a, op, b, c, _ = eqs[-1]
        wrong = rng.choice([e[3] for e in eqs[:-1]] + [_wrong_number(rng, c)])
        if wrong == c:
            return None
        last = BOXED.sub(lambda x: "\\boxed{" + str(wrong) + "}", steps[-1])
        return steps[:-1] + [last], [1] * (n - 1) + [0], kind
    # early_answer: stops after step k (1 <= k < n) and boxes that step's result.
    if n < 2:
        return None
    k = rng.randint(1, n - 1)
    c = eqs[k - 1][3]
    answer_sentence = BOXED.sub(lambda x: "\\boxed{" + str(c) + "}",
                                steps[-1][steps[-1].rfind("The answer is"):])
    if not answer_sentence.startswith("The answer is"):
        return None
    last = steps[k - 1].rstrip() + " " + answer_sentence
    return steps[:k - 1] + [last], [1] * (k - 1) + [0], kind
