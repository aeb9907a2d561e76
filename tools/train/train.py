#!/usr/bin/python3
"""Trains Ponder's shipped models from scratch: tokenizer, policy, process reward model.

  tools/train/train.py --ponder build/bin/ponder --work out/train --models models

Stages (all by default; --stages picks some, each reads what the earlier ones wrote in --work):
  data       `ponder datasets export arith --split train` -> WORK/train.jsonl (and a test
             slice for monitoring, WORK/test.jsonl)
  tokenizer  byte-level BPE trained on the exported text -> WORK/tokenizer.json
  policy     Llama-architecture LM on chat(problem) -> solution<|im_end|>, loss on the solution
             -> WORK/policy.pt
  prm        the policy's trunk + Qwen2.5-Math-PRM head, trained to tell correct steps from
             corrupted ones (and from the policy's own wrong steps) -> WORK/prm.pt
  export     Hugging Face folders MODELS/arith-policy, MODELS/arith-prm (f16) and GGUF files
             MODELS/arith-policy.gguf, MODELS/arith-prm.gguf via `ponder convert`
Every setting and the loss curves go to MODELS/training_log.json.

Uses Debian's python3-torch and python3-numpy (run with /usr/bin/python3); CPU only.
"""

import argparse
import json
import math
import os
import platform
import random
import sqlite3
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import arith_data  # noqa: E402
import bpe_tokenizer  # noqa: E402
import hf_folder  # noqa: E402
import llama  # noqa: E402
import sampling  # noqa: E402

IGNORE = -100


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ponder", default="build/bin/ponder", help="the ponder executable")
    p.add_argument("--work", default="out/train", help="folder for intermediate files")
    p.add_argument("--models", default="models", help="folder for the shipped models and log")
    p.add_argument("--stages", default="data,tokenizer,policy,prm,export")
    p.add_argument("--seed", type=int, default=9)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="torch device (cpu; cuda works for experiments)")
    p.add_argument("--bf16", type=int, default=1,
                   help="1: matrix products in bfloat16 (torch.autocast), weights and optimizer in f32")
    # data
    p.add_argument("--train-count", type=int, default=40000)
    p.add_argument("--train-data-seed", type=int, default=1)
    p.add_argument("--monitor-count", type=int, default=400, help="test problems for monitoring")
    p.add_argument("--monitor-data-seed", type=int, default=900000,
                   help="test seeds for monitoring (the benchmark's 500 are seeds 0-499; keep apart)")
    p.add_argument("--difficulty", type=int, default=0, help="0 = mixed 2..5 steps")
    # tokenizer
    p.add_argument("--vocab-size", type=int, default=1024)
    p.add_argument("--tokenizer-texts", type=int, default=10000)
    # model
    p.add_argument("--hidden", type=int, default=192)
    p.add_argument("--intermediate", type=int, default=512)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--max-positions", type=int, default=1024)
    # policy
    p.add_argument("--policy-steps", type=int, default=2000)
    p.add_argument("--policy-batch", type=int, default=32)
    p.add_argument("--policy-lr", type=float, default=1e-3)
    p.add_argument("--swap-operands", type=float, default=0.5,
                   help="share of + and * steps whose operands are written the other way round in "
                   "the policy's training solutions (more than one way to a correct answer)")
    p.add_argument("--split-steps", type=float, default=0.5,
                   help="share of + and - steps (second operand of two digits) written as two steps, "
                   "tens then ones, in the policy's training solutions (another way to the answer)")
    p.add_argument("--split-ones-first", type=float, default=0.5,
                   help="share of the split steps that take the ones first (a third way)")
    p.add_argument("--split-products", type=float, default=0.5,
                   help="share of * steps (a two-digit operand, not a multiple of ten, times a digit) "
                   "written as three steps: tens times the digit, ones times the digit, the sum")
    p.add_argument("--name-split-parts", type=int, default=0,
                   help="1: a split step first names the number it splits and its parts "
                   "(\"Split 39 into 30 and 9.\"), so they are written next to where they come from")
    p.add_argument("--restate-split", type=int, default=1,
                   help="1: the last paragraph of a split step ends with the whole step as the "
                   "reference writes it (\"Then, 37 - 9 = 28. Tara has 67 - 39 = 28 stamps.\"); "
                   "2: the step's equation right after the split's, then the step with its result "
                   "only (\"Then, 37 - 9 = 28, so 67 - 39 = 28. Tara has 28 stamps.\")")
    p.add_argument("--split-openers", type=int, default=1,
                   help="how many ways a split step's first paragraph may begin (1 to 3: \"First, \", "
                   "\"In parts, \", \"Using parts, \"), drawn evenly; see tools/train/README.md, sweep 8")
    p.add_argument("--equation-first", type=float, default=0.0,
                   help="share of the steps not split written equation first (\"67 - 39 = 28. Tara "
                   "has 28 stamps.\"), another phrasing of the same computation; see "
                   "tools/train/README.md, sweep 9")
    p.add_argument("--equation-first-restate", type=int, default=0,
                   help="1: a step written equation first keeps its equation in the sentence too "
                   "(\"67 - 39 = 28. Tara has 67 - 39 = 28 stamps.\"); see tools/train/README.md, sweep 9")
    p.add_argument("--equation-last", type=float, default=0.0,
                   help="share of the steps neither split nor written equation first written with "
                   "the equation last (\"Tara has stamps: 67 - 39 = 28.\"); see tools/train/README.md, "
                   "sweep 9")
    p.add_argument("--step-lead", type=float, default=0.5,
                   help="share of the steps not otherwise rewritten begun with \"Next: \" (\"Next: Tara "
                   "has 67 - 39 = 28 stamps.\"); see tools/train/README.md, sweep 10")
    p.add_argument("--system-prompt-share", type=float, default=0.5,
                   help="share of policy examples with the PRM-style system prompt")
    # prm
    p.add_argument("--prm-steps", type=int, default=800)
    p.add_argument("--prm-batch", type=int, default=32)
    p.add_argument("--prm-lr", type=float, default=5e-4)
    p.add_argument("--prm-problems", type=int, default=16000, help="training problems for the PRM")
    p.add_argument("--prm-clean-share", type=float, default=0.4)
    p.add_argument("--prm-joined-share", type=float, default=0.4,
                   help="share of PRM examples with the partial solution as one step "
                   "(the 'model' aggregation particle filtering uses)")
    p.add_argument("--prm-policy-problems", type=int, default=1000,
                   help="training problems whose policy samples are labelled and added")
    p.add_argument("--prm-policy-samples", type=int, default=8)
    p.add_argument("--sample-temperature", type=float, default=1.0)
    p.add_argument("--prm-corrupt-policy-ways", type=int, default=1,
                   help="1: corrupted solutions are rewritten the policy's ways (swapped operands, "
                   "split steps) like the clean ones and relabelled against the reference chain, so "
                   "the way a solution is written tells the PRM nothing")
    p.add_argument("--prm-held-out-policy", type=int, default=200,
                   help="monitor problems whose policy samples (4 each) measure the PRM on the "
                   "policy's own solutions")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--checkpoint-every", type=int, default=50,
                   help="policy steps between checkpoints (WORK/policy_checkpoint.pt); an interrupted "
                   "run with the same settings resumes from the last one")
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------


class Log:
    """MODELS/training_log.json: settings, per-stage timings, loss curves, monitoring figures."""

    def __init__(self, path, args):
        self.path = path
        self.data = {"settings": vars(args), "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": args.threads,
            "machine": platform.machine(),
        }, "stages": {}}
        if os.path.exists(path):
            with open(path) as f:
                old = json.load(f)
            self.data["stages"] = old.get("stages", {})

    def stage(self, name, **values):
        self.data["stages"].setdefault(name, {}).update(values)
        self.save()

    def save(self):
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        with open(self.path, "w") as f:
            json.dump(self.data, f, indent=1)
            f.write("\n")


def run_export(args, split, count, seed, path):
    cmd = [args.ponder, "datasets", "export", "arith", "--split", split, "--count", str(count),
           "--seed", str(seed)]
    if args.difficulty:
        cmd += ["--difficulty", str(args.difficulty)]
    with open(path, "w") as out:
        subprocess.run(cmd, stdout=out, check=True)
    return cmd


def stage_data(args, log):
    t0 = time.time()
    train = os.path.join(args.work, "train.jsonl")
    test = os.path.join(args.work, "monitor.jsonl")
    cmd = run_export(args, "train", args.train_count, args.train_data_seed, train)
    run_export(args, "test", args.monitor_count, args.monitor_data_seed, test)
    log.stage("data", command=" ".join(cmd), train_problems=len(arith_data.read_jsonl(train)),
              seconds=round(time.time() - t0, 1))


def load_tokenizer(args):
    with open(os.path.join(args.work, "tokenizer.json")) as f:
        return bpe_tokenizer.Tokenizer.from_tokenizer_json(json.load(f))


def stage_tokenizer(args, log):
    t0 = time.time()
    records = arith_data.read_jsonl(os.path.join(args.work, "train.jsonl"))[:args.tokenizer_texts]
    texts = [r["problem"] for r in records] + [r["solution"] for r in records] + [arith_data.SYSTEM_PROMPT]
    non_ascii = [t for t in texts if not t.isascii()]
    if non_ascii:
        raise SystemExit(f"the exported text is not ASCII, which bpe_tokenizer.pre_tokenize assumes: {non_ascii[0]!r}")
    tokens, merges = bpe_tokenizer.train_bpe(texts, args.vocab_size)
    tokenizer = bpe_tokenizer.Tokenizer(tokens, merges)
    with open(os.path.join(args.work, "tokenizer.json"), "w") as f:
        json.dump(tokenizer.tokenizer_json(), f)
    sample = records[0]["problem"] + "\n\n" + records[0]["solution"]
    assert tokenizer.decode(tokenizer.encode(sample)) == sample
    lengths = [len(tokenizer.encode(r["solution"])) for r in records[:500]]
    log.stage("tokenizer", vocab_size=len(tokenizer), merges=len(merges),
              mean_solution_tokens=round(sum(lengths) / len(lengths), 1), seconds=round(time.time() - t0, 1))


def model_config(args, tokenizer):
    return llama.LlamaConfig(vocab_size=len(tokenizer), hidden_size=args.hidden,
                             intermediate_size=args.intermediate, num_hidden_layers=args.layers,
                             num_attention_heads=args.heads, num_key_value_heads=args.kv_heads,
                             max_position_embeddings=args.max_positions)


def autocast(args):
    device_type = "cuda" if args.device.startswith("cuda") else "cpu"
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=bool(args.bf16))


def make_optimizer(model, lr):
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.95), eps=1e-8)


def lr_at(step, total, peak, warmup):
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def length_batches(lengths, batch_size, rng):
    """Batches of indexes with similar lengths (less padding), in random order, forever."""
    while True:
        order = list(range(len(lengths)))
        rng.shuffle(order)
        pool = batch_size * 50
        batches = []
        for k in range(0, len(order), pool):
            chunk = sorted(order[k:k + pool], key=lambda i: lengths[i])
            batches += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
        rng.shuffle(batches)
        for b in batches:
            if len(b) == batch_size:
                yield b


def pad_batch(seqs, labels, pad_id):
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    lab = torch.full((len(seqs), width), IGNORE, dtype=torch.long)
    for r, (s, l) in enumerate(zip(seqs, labels)):
        ids[r, :len(s)] = torch.tensor(s)
        lab[r, :len(l)] = torch.tensor(l)
    return ids, lab


def lm_loss(model, ids, labels):
    """Next-token cross-entropy where labels are set (the solution tokens)."""
    logits = model.lm_logits(model.hidden_states(ids[:, :-1]))
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                           ignore_index=IGNORE)


def reward_loss(model, ids, labels):
    """Cross-entropy of the two-way head at the step tags (labels set there only)."""
    logits = model.reward_logits(model.hidden_states(ids))
    return F.cross_entropy(logits.float().reshape(-1, 2), labels.reshape(-1), ignore_index=IGNORE)


def optimizer_step(model, opt, lr, batch, pad, args, loss_fn):
    """One AdamW step on `batch` [(ids, labels)]; returns (loss, tokens in the padded batch)."""
    for g in opt.param_groups:
        g["lr"] = lr
    ids, labels = pad_batch([e[0] for e in batch], [e[1] for e in batch], pad)
    ids, labels = ids.to(args.device), labels.to(args.device)
    with autocast(args):
        loss = loss_fn(model, ids, labels)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return float(loss), int(ids.numel())


# ---------------------------------------------------------------------------------------------
# Policy


def policy_ways(solution, rng, args):
    """The solution written the policy's ways: some operands swapped, some steps split, some
    written another way, some begun with "Next: " (the flags of sweeps 8 to 10)."""
    if args.swap_operands > 0:
        solution = arith_data.swap_operands(solution, rng, args.swap_operands)
    if args.split_steps > 0 or args.split_products > 0 or args.equation_first > 0 or args.equation_last > 0 \
            or args.step_lead > 0:
        solution = arith_data.split_additions(
            solution, rng, args.split_steps, ones_first_share=args.split_ones_first,
            product_share=args.split_products, name_parts=bool(args.name_split_parts),
            restate=args.restate_split, openers=args.split_openers,
            equation_first_share=args.equation_first,
            equation_first_restate=bool(args.equation_first_restate),
            equation_last_share=args.equation_last, lead_share=args.step_lead)
    return solution


def policy_examples(records, tokenizer, rng, args):
    eos = "<|im_end|>"
    out = []
    for r in records:
        messages = arith_data.policy_messages(r["problem"], rng.random() < args.system_prompt_share)
        prompt = tokenizer.encode(bpe_tokenizer.chat_text(messages, True))
        target = tokenizer.encode(policy_ways(r["solution"], rng, args) + eos)
        out.append((prompt + target, [IGNORE] * len(prompt) + target))
    return out


# At most this many tokens in a sampled solution: the longest solutions written the policy's ways
# (five steps, each split) are about 280 tokens.
SAMPLE_TOKENS = 320


def answer_accuracy(model, tokenizer, records, with_system, temperature=0.0, seed=0):
    results = sampling.sample_solutions(model, tokenizer, [r["problem"] for r in records], 1, SAMPLE_TOKENS,
                                        temperature, 1.0, seed, with_system)
    correct = sum(arith_data.boxed_answer(results[i][0][0]) == str(r["answer"]) for i, r in enumerate(records))
    return correct / len(records)


def stage_policy(args, log):
    t0 = time.time()
    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    tokenizer = load_tokenizer(args)
    records = arith_data.read_jsonl(os.path.join(args.work, "train.jsonl"))
    monitor = arith_data.read_jsonl(os.path.join(args.work, "monitor.jsonl"))
    examples = policy_examples(records, tokenizer, rng, args)
    model = llama.Llama(model_config(args, tokenizer)).to(args.device)
    opt = make_optimizer(model, args.policy_lr)
    pad = tokenizer.special_id("<|endoftext|>")
    batches = length_batches([len(e[0]) for e in examples], args.policy_batch, rng)
    curve, window, tokens_seen, start, elapsed_before = [], [], 0, 0, 0.0
    checkpoint_path = os.path.join(args.work, "policy_checkpoint.pt")
    key = policy_settings_key(args)
    if os.path.exists(checkpoint_path):
        checkpoint = torch.load(checkpoint_path, map_location="cpu")
        if checkpoint["key"] == key:
            model.load_state_dict(checkpoint["model"])
            opt.load_state_dict(checkpoint["optimizer"])
            start, curve, tokens_seen = checkpoint["step"], checkpoint["curve"], checkpoint["tokens"]
            elapsed_before = checkpoint["seconds"]
            for _ in range(start):  # the same batches as an uninterrupted run
                next(batches)
            print(f"policy: resuming at step {start} from {checkpoint_path}", flush=True)
    print(f"policy: {model.num_parameters():,} parameters, {len(examples)} examples", flush=True)
    t0 -= elapsed_before
    model.train()
    for step in range(start, args.policy_steps):
        lr = lr_at(step, args.policy_steps, args.policy_lr, warmup=min(200, args.policy_steps // 10))
        loss, tokens = optimizer_step(model, opt, lr, [examples[i] for i in next(batches)], pad, args,
                                      lm_loss)
        tokens_seen += tokens
        window.append(loss)
        if (step + 1) % args.log_every == 0 or step + 1 == args.policy_steps:
            point = {"step": step + 1, "loss": round(sum(window) / len(window), 4), "lr": round(lr, 6),
                     "tokens": tokens_seen, "seconds": round(time.time() - t0, 1)}
            window = []
            if (step + 1) % (args.log_every * 10) == 0 or step + 1 == args.policy_steps:
                model.eval()
                point["monitor_greedy_accuracy"] = round(answer_accuracy(model, tokenizer, monitor[:100], True), 3)
                model.train()
            curve.append(point)
            print("policy", point, flush=True)
        if (step + 1) % args.checkpoint_every == 0 and step + 1 < args.policy_steps:
            torch.save({"key": key, "step": step + 1, "model": model.state_dict(), "optimizer": opt.state_dict(),
                        "curve": curve, "tokens": tokens_seen, "seconds": time.time() - t0},
                       checkpoint_path + ".tmp")
            os.replace(checkpoint_path + ".tmp", checkpoint_path)
    model.eval()
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, os.path.join(args.work, "policy.pt"))
    if os.path.exists(checkpoint_path):
        os.remove(checkpoint_path)
    log.stage("policy", parameters=model.num_parameters(), examples=len(examples), loss_curve=curve,
              seconds=round(time.time() - t0, 1),
              monitor_greedy_accuracy_with_system=round(answer_accuracy(model, tokenizer, monitor[:200], True), 3),
              monitor_greedy_accuracy_without_system=round(answer_accuracy(model, tokenizer, monitor[:200], False), 3))


def policy_settings_key(args):
    """The settings a policy checkpoint depends on: a checkpoint is resumed only if they match."""
    names = ["seed", "train_count", "train_data_seed", "difficulty", "vocab_size", "tokenizer_texts", "hidden",
             "intermediate", "layers", "heads", "kv_heads", "max_positions", "policy_steps", "policy_batch",
             "policy_lr", "system_prompt_share", "swap_operands", "split_steps", "split_ones_first",
             "split_products", "name_split_parts", "restate_split", "split_openers", "equation_first",
             "equation_first_restate", "equation_last", "step_lead", "bf16"]
    return json.dumps({n: getattr(args, n) for n in names}, sort_keys=True)


def load_policy(args, tokenizer):
    model = llama.Llama(model_config(args, tokenizer))
    model.load_state_dict(torch.load(os.path.join(args.work, "policy.pt"), map_location="cpu"))
    model.to(args.device)
    return model.eval()


# ---------------------------------------------------------------------------------------------
# Process reward model


def engine_samples(args, gguf, records, per_problem, temperature, seed, name):
    """[(problem, reference solution, answer, [the policy's solutions])] for `records`, sampled
    by Ponder's engine: `ponder bench` on the policy's GGUF file runs self-consistency at budget
    `per_problem` (every candidate is stored in WORK/NAME.db) with the benchmark's chat prompt,
    at most SAMPLE_TOKENS each. About 20 times faster here than sampling in PyTorch (sampling.py),
    and these are the samples a strategy sees."""
    problems = os.path.join(args.work, name + ".jsonl")
    with open(problems, "w") as out:
        for i, r in enumerate(records):
            out.write(json.dumps({"id": f"{name}/{i}", "problem": r["problem"], "answer": r["answer"]}) + "\n")
    db = os.path.join(args.work, name + ".db")
    if os.path.exists(db):
        os.remove(db)
    sampling_config = {"temperature": temperature, "maxTokens": SAMPLE_TOKENS}
    strategy = "samples=" + json.dumps({"selfConsistency": {}, "sampling": sampling_config})
    # `--seeds S,` is the one seed S (a bare number is a count of seeds from 0).
    subprocess.run([args.ponder, "bench", "--model", gguf, "--problems", problems, "--strategy", strategy,
                    "--budget", str(per_problem), "--seeds", f"{seed},", "--threads", str(args.threads),
                    "--db", db, "--name", name, "--quiet"], check=True, stdout=subprocess.DEVNULL)
    texts = [[] for _ in records]
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT p.problem_index, c.text FROM candidates c JOIN runs r ON r.id = c.run_id "
                            "JOIN problems p ON p.id = r.problem_id "
                            "ORDER BY p.problem_index, c.candidate_index").fetchall()
    for index, text in rows:
        texts[index].append(text)
    assert all(len(t) == per_problem for t in texts), f"{db}: expected {per_problem} samples per problem"
    return [(r["problem"], r["solution"], r["answer"], t) for r, t in zip(records, texts)]


def prm_example(tokenizer, problem, steps, labels, joined):
    """(ids, labels at the step tags) for QwenMathPrm's input; `joined` scores the whole partial
    solution as one step (the 'model' aggregation) with the label of its last step."""
    if joined:
        steps, labels = [arith_data.STEP_DELIMITER.join(steps)], [labels[-1]]
    ids = tokenizer.encode(arith_data.prm_text(problem, steps, bpe_tokenizer.chat_text))
    tag = tokenizer.special_id(arith_data.STEP_TAG)
    positions = [i for i, t in enumerate(ids) if t == tag]
    assert len(positions) == len(labels), (steps, labels)
    out = [IGNORE] * len(ids)
    for pos, label in zip(positions, labels):
        out[pos] = label
    return ids, out


def prm_examples(records, tokenizer, rng, args, policy_samples):
    """Reference solutions, corrupted ones, and the policy's own samples, each either per step
    or (with args.prm_joined_share) as a partial solution scored as one step."""
    out = []
    kinds = {}

    def add(problem, steps, labels, kind):
        if rng.random() < args.prm_joined_share:
            m = rng.randint(1, len(steps))
            out.append(prm_example(tokenizer, problem, steps[:m], labels[:m], joined=True))
        else:
            out.append(prm_example(tokenizer, problem, steps, labels, joined=False))
        kinds[kind] = kinds.get(kind, 0) + 1

    def steps_written_the_policy_ways(text):
        return arith_data.split_steps(policy_ways(text, rng, args))

    for r in records:
        steps = arith_data.split_steps(r["solution"])
        if rng.random() < args.prm_clean_share:
            clean = steps_written_the_policy_ways(r["solution"])
            add(r["problem"], clean, [1] * len(clean), "clean")
            continue
        for _ in range(10):
            corrupted = arith_data.corrupt(r["problem"], steps, rng)
            if corrupted is None:
                continue
            bad_steps, labels, kind = corrupted
            if args.prm_corrupt_policy_ways:
                # Written like the clean examples (a PRM trained on corrupted reference-style
                # solutions and clean policy-style ones learns that the reference's way of
                # writing a step is a sign of an error); the labels follow the steps.
                bad_steps = steps_written_the_policy_ways(arith_data.STEP_DELIMITER.join(bad_steps))
                labels = arith_data.prefix_labels(bad_steps, steps, r["answer"])
            add(r["problem"], bad_steps, labels, kind)
            break
    for problem, steps, labels in labelled_policy_samples(policy_samples):
        add(problem, steps, labels, "policy_correct" if labels[-1] else "policy_wrong")
    return out, kinds


def labelled_policy_samples(policy_samples):
    """(problem, steps, step labels) for each of the policy's samples (engine_samples)."""
    for problem, reference, answer, samples in policy_samples:
        ref_steps = arith_data.split_steps(reference)
        for text in samples:
            steps = arith_data.split_steps(text)[:12]  # unfinished, rambling samples: the first 12
            if not text.isascii() or not steps:
                continue
            yield problem, steps, arith_data.prefix_labels(steps, ref_steps, answer)


def prm_probabilities(model, examples, pad):
    """(P(correct) at every labelled tag, its label) for each example."""
    out = []
    with torch.no_grad():
        for k in range(0, len(examples), 64):
            chunk = examples[k:k + 64]
            ids, lab = pad_batch([e[0] for e in chunk], [e[1] for e in chunk], pad)
            p = torch.softmax(model.reward_logits(model.hidden_states(ids.to(model.inv_freq.device))), -1)[..., 1].cpu()
            for row in range(len(chunk)):
                mask = lab[row] != IGNORE
                out.append((p[row][mask].tolist(), lab[row][mask].tolist()))
    return out


def auc(probs, labels):
    """Area under the ROC curve by ranks (Mann-Whitney U, ties counted half)."""
    pos = sum(1 for l in labels if l == 1)
    neg = len(labels) - pos
    ranked = sorted(zip(probs, labels))
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        rank_sum += (i + j + 1) / 2 * sum(1 for _, l in ranked[i:j] if l == 1)  # mean rank of the tie
        i = j
    return (rank_sum - pos * (pos + 1) / 2) / max(1, pos * neg)


def prm_metrics(model, examples, pad):
    """Accuracy and AUC of P(correct) at the tags of held-out examples."""
    probs, labels = [], []
    for p, l in prm_probabilities(model, examples, pad):
        probs += p
        labels += l
    accuracy = sum((p > 0.5) == (l == 1) for p, l in zip(probs, labels)) / len(labels)
    pos = sum(1 for l in labels if l == 1)
    return {"accuracy": round(accuracy, 4), "auc": round(auc(probs, labels), 4), "tags": len(labels),
            "positive_share": round(pos / len(labels), 3)}


def prm_policy_metrics(model, tokenizer, policy_samples, pad):
    """The PRM on the policy's own samples of held-out problems: AUC at every step tag, AUC of
    the last step's score against the final answer's correctness (what best-of-N with
    AGGREGATION_LAST ranks by), and the accuracy of picking each problem's best-scored sample
    against the mean accuracy of its samples."""
    grouped = []
    for problem, steps, labels in labelled_policy_samples(policy_samples):
        if grouped and grouped[-1][0] == problem:
            grouped[-1][1].append((steps, labels))
        else:
            grouped.append((problem, [(steps, labels)]))
    examples = [prm_example(tokenizer, problem, steps, labels, joined=False)
                for problem, samples in grouped for steps, labels in samples]
    scored = iter(prm_probabilities(model, examples, pad))
    tag_p, tag_l, last_p, last_l, picked, mean = [], [], [], [], 0, 0.0
    for _, samples in grouped:
        finals = []
        for _ in samples:
            p, l = next(scored)
            tag_p += p
            tag_l += l
            finals.append((p[-1], l[-1]))
        last_p += [p for p, _ in finals]
        last_l += [l for _, l in finals]
        picked += finals[max(range(len(finals)), key=lambda i: finals[i][0])][1]
        mean += sum(l for _, l in finals) / len(finals)
    return {"step_auc": round(auc(tag_p, tag_l), 4), "solution_auc": round(auc(last_p, last_l), 4),
            "solutions": len(last_l), "correct_share": round(sum(last_l) / len(last_l), 3),
            "best_of_samples_accuracy": round(picked / len(grouped), 4),
            "sample_accuracy": round(mean / len(grouped), 4)}


def prm_slip_pairs(model, tokenizer, records, pad, seed):
    """Whether the PRM checks arithmetic: for each held-out problem, its reference solution and
    the same with one result slipped (arith_data.corrupt's wrong_result, carried into the later
    steps); the share of pairs where the correct step scores higher than the slipped one at the
    slipped step's tag (0.5 = chance)."""
    rng = random.Random(seed)
    pairs = []
    for r in records:
        steps = arith_data.split_steps(r["solution"])
        for _ in range(20):
            corrupted = arith_data.corrupt(r["problem"], steps, rng)
            if corrupted is not None and corrupted[2] == "wrong_result":
                bad_steps, labels, _ = corrupted
                pairs.append((prm_example(tokenizer, r["problem"], steps, [1] * len(steps), joined=False),
                              prm_example(tokenizer, r["problem"], bad_steps, labels, joined=False),
                              labels.index(0)))
                break
    scored = prm_probabilities(model, [e for good, bad, _ in pairs for e in (good, bad)], pad)
    wins = sum(scored[2 * i][0][k] > scored[2 * i + 1][0][k] for i, (_, _, k) in enumerate(pairs))
    return {"pairs": len(pairs), "correct_scored_higher": round(wins / max(1, len(pairs)), 4)}


def stage_prm(args, log):
    t0 = time.time()
    rng = random.Random(args.seed + 1)
    torch.manual_seed(args.seed + 1)
    tokenizer = load_tokenizer(args)
    records = arith_data.read_jsonl(os.path.join(args.work, "train.jsonl"))
    monitor = arith_data.read_jsonl(os.path.join(args.work, "monitor.jsonl"))
    policy = load_policy(args, tokenizer)

    policy_samples, held_out_policy = [], []
    if args.prm_policy_problems > 0 or args.prm_held_out_policy > 0:
        gguf = os.path.join(args.work, "policy.gguf")
        export_model(args, policy.cpu(), tokenizer, os.path.join(args.work, "policy_hf"), gguf, "policy")
        policy.to(args.device)
    if args.prm_policy_problems > 0:
        chosen = rng.sample(records, args.prm_policy_problems)
        policy_samples = engine_samples(args, gguf, chosen, args.prm_policy_samples, args.sample_temperature,
                                        args.seed + 2, "prm_policy_samples")
    if args.prm_held_out_policy > 0:
        held_out_policy = engine_samples(args, gguf, monitor[:args.prm_held_out_policy], 4, 0.8, args.seed + 4,
                                         "prm_held_out_samples")
    sampled_seconds = round(time.time() - t0, 1)
    examples, kinds = prm_examples(records[-args.prm_problems:], tokenizer, rng, args, policy_samples)
    held_out, _ = prm_examples(monitor, tokenizer, random.Random(args.seed + 3), args, [])

    prm = llama.Llama(model_config(args, tokenizer), reward_head=True).to(args.device)
    missing = prm.load_state_dict(policy.state_dict(), strict=False)
    assert all(k.startswith("score.") for k in missing.missing_keys), missing
    opt = make_optimizer(prm, args.prm_lr)
    pad = tokenizer.special_id("<|endoftext|>")
    batches = length_batches([len(e[0]) for e in examples], args.prm_batch, rng)
    curve, window = [], []
    print(f"prm: {len(examples)} examples {kinds}", flush=True)
    prm.train()
    for step in range(args.prm_steps):
        lr = lr_at(step, args.prm_steps, args.prm_lr, warmup=min(100, args.prm_steps // 10))
        loss, _ = optimizer_step(prm, opt, lr, [examples[i] for i in next(batches)], pad, args, reward_loss)
        window.append(loss)
        if (step + 1) % args.log_every == 0 or step + 1 == args.prm_steps:
            point = {"step": step + 1, "loss": round(sum(window) / len(window), 4), "lr": round(lr, 6),
                     "seconds": round(time.time() - t0, 1)}
            window = []
            if (step + 1) % (args.log_every * 4) == 0 or step + 1 == args.prm_steps:
                prm.eval()
                point["held_out"] = prm_metrics(prm, held_out[:300], pad)
                if held_out_policy:
                    point["held_out_policy"] = prm_policy_metrics(prm, tokenizer, held_out_policy[:100], pad)
                prm.train()
            curve.append(point)
            print("prm", point, flush=True)
    prm.eval()
    torch.save({k: v.cpu() for k, v in prm.state_dict().items()}, os.path.join(args.work, "prm.pt"))
    log.stage("prm", examples=len(examples), example_kinds=kinds, loss_curve=curve,
              policy_sampling_seconds=sampled_seconds, seconds=round(time.time() - t0, 1),
              held_out=prm_metrics(prm, held_out, pad),
              held_out_policy=prm_policy_metrics(prm, tokenizer, held_out_policy, pad) if held_out_policy else None,
              held_out_slip_pairs=prm_slip_pairs(prm, tokenizer, monitor, pad, args.seed + 5))


# ---------------------------------------------------------------------------------------------
# Export


def export_model(args, model, tokenizer, folder, gguf, name):
    """`model` (on the CPU) as a Hugging Face folder in f16, then as GGUF via `ponder convert`."""
    hf_folder.write_model_folder(folder, model, tokenizer, dtype=torch.float16)
    subprocess.run([args.ponder, "convert", "--input", folder, "--output", gguf, "--dtype", "f16",
                    "--name", name], check=True, stdout=subprocess.DEVNULL)


def stage_export(args, log):
    t0 = time.time()
    tokenizer = load_tokenizer(args)
    policy = load_policy(args, tokenizer).cpu()
    prm = llama.Llama(model_config(args, tokenizer), reward_head=True)
    prm.load_state_dict(torch.load(os.path.join(args.work, "prm.pt"), map_location="cpu"))
    files = {}
    for name, model in (("arith-policy", policy), ("arith-prm", prm)):
        folder = os.path.join(args.models, name)
        gguf = os.path.join(args.models, name + ".gguf")
        export_model(args, model, tokenizer, folder, gguf, name)
        files[name] = {
            "folder_bytes": sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)),
            "gguf_bytes": os.path.getsize(gguf),
        }
    log.stage("export", files=files, dtype="f16", seconds=round(time.time() - t0, 1))


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(args.models, exist_ok=True)
    log = Log(os.path.join(args.models, "training_log.json"), args)
    stages = {"data": stage_data, "tokenizer": stage_tokenizer, "policy": stage_policy, "prm": stage_prm,
              "export": stage_export}
    t0 = time.time()
    for name in args.stages.split(","):
        print(f"== {name}", flush=True)
        log.data["stages"][name] = {}  # a rerun stage replaces what an earlier run logged for it
        wall, cpu = time.time(), time.process_time()
        stages[name](args, log)
        # CPU seconds (all threads) beside the wall time: on a shared machine the wall time says
        # more about the other jobs than about the training.
        log.stage(name, wall_seconds=round(time.time() - wall, 1), cpu_seconds=round(time.process_time() - cpu, 1),
                  device=args.device)
    log.data["total_seconds_last_run"] = round(time.time() - t0, 1)
    log.save()


if __name__ == "__main__":
    main()
