"""Batched sampling with the PyTorch model (the policy stage's monitor figures).

Sampling follows the engine's order of operations (engine/sampling/sampler.cc): temperature
scaling, then top-p (the smallest set of most likely tokens whose mass reaches p), then a draw;
temperature 0 is greedy. The random streams differ from the engine's, so samples agree in
distribution, not token for token.
"""

import torch

import arith_data
import bpe_tokenizer


@torch.no_grad()
def generate(model, prompts, n, max_new_tokens, temperature, top_p, eos_id, pad_id, generator=None):
    """Completions (token id lists, EOS excluded) for prompts, n per prompt.

    Prompts of different lengths are left-padded and the padding is masked out. Rotary
    embeddings make attention depend on relative positions only, so shifting a prompt right by
    its padding does not change what the model computes (up to rounding).
    Returns a list of len(prompts) lists of n completions each, plus whether each completion
    ended with EOS.
    """
    length = max(len(p) for p in prompts)
    device = model.inv_freq.device
    rows = [p for p in prompts for _ in range(n)]
    ids = torch.tensor([[pad_id] * (length - len(p)) + p for p in rows], dtype=torch.long, device=device)
    batch = ids.shape[0]
    attention = torch.ones(batch, length + max_new_tokens, dtype=torch.long, device=device)
    for b, p in enumerate(rows):
        attention[b, :length - len(p)] = 0
    padded = any(len(p) != length for p in prompts)
    cache = [dict() for _ in model.model.layers]
    hidden = model.hidden_states(ids, attention_mask=attention if padded else None, cache=cache, start=0)
    logits = model.lm_logits(hidden[:, -1]).float()
    out = [[] for _ in range(batch)]
    finished = [False] * batch
    for step in range(max_new_tokens):
        if temperature == 0:
            next_ids = logits.argmax(-1)
        else:
            probs = torch.softmax(logits / temperature, dim=-1)
            if top_p < 1.0:
                sorted_probs, order = probs.sort(dim=-1, descending=True)
                before = sorted_probs.cumsum(-1) - sorted_probs
                sorted_probs = sorted_probs.masked_fill(before >= top_p, 0.0)
                probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
            next_ids = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        next_list = next_ids.tolist()
        for b in range(batch):
            if finished[b]:
                continue
            token = next_list[b]
            if token == eos_id:
                finished[b] = True
            else:
                out[b].append(token)
        if all(finished) or step == max_new_tokens - 1:
            break
        hidden = model.hidden_states(next_ids[:, None], attention_mask=attention if padded else None, cache=cache,
                                     start=length + step)
        logits = model.lm_logits(hidden[:, -1]).float()
    grouped = [out[i * n:(i + 1) * n] for i in range(len(prompts))]
    ended_grouped = [finished[i * n:(i + 1) * n] for i in range(len(prompts))]
    return grouped, ended_grouped


def sample_solutions(model, tokenizer, problems, n, max_new_tokens, temperature, top_p, seed,
                     with_system, max_batch=256):
    """{index: [(text, ended_with_eos)] * n} for problems (texts), in batches of similar length."""
    chat = bpe_tokenizer.chat_text
    eos = tokenizer.special_id("<|im_end|>")
    pad = tokenizer.special_id("<|endoftext|>")
    prompts = [tokenizer.encode(chat(arith_data.policy_messages(p, with_system), True)) for p in problems]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    generator = torch.Generator(device=model.inv_freq.device).manual_seed(seed)
    per_batch = max(1, max_batch // n)
    results = {}
    for k in range(0, len(order), per_batch):
        chunk = order[k:k + per_batch]
        outs, ends = generate(model, [prompts[i] for i in chunk], n, max_new_tokens, temperature, top_p, eos, pad,
                              generator)
        for i, completions, flags in zip(chunk, outs, ends):
            results[i] = [(tokenizer.decode(c, skip_special=True), e) for c, e in zip(completions, flags)]
    return results
