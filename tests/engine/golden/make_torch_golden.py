#!/usr/bin/python3
"""Golden outputs for the Hugging Face loading path, from an independent PyTorch forward pass.

Writes random Hugging Face model folders with the project's `random_model` tool, reads their
safetensors with its own small reader, and runs the forward pass exactly as Hugging Face
transformers' modelling code does it (LlamaModel / Qwen2Model / Qwen3Model: RMSNorm in float32,
rotate_half RoPE with cos/sin from float32 inv_freq, GQA by repeating K/V heads, causal softmax
attention, SwiGLU MLP) — written here from that code, since transformers is not packaged in
Debian. Records greedy continuations of a fixed prompt and the chosen-token log-probabilities.

    /usr/bin/python3 tests/engine/golden/make_torch_golden.py --random-model build/bin/random_model \
        --out tests/engine/golden/torch_golden.json

Needs Debian's python3-torch (scripts/setup.sh --tools), hence /usr/bin/python3.
"""
import argparse
import json
import os
import struct
import subprocess
import tempfile

import torch

MODELS = [("llama", "f32"), ("llama", "bf16"), ("qwen2", "f32"), ("qwen3", "f32"), ("qwen3", "bf16")]
SEED = 13
PROMPT = [5, 17, 99, 3, 250, 64, 7, 130, 42, 8, 311, 200]
N_PREDICT = 24
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        raw = bytearray(data[8 + n + begin:8 + n + end])
        t = torch.frombuffer(raw, dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])
        tensors[name] = t.to(torch.float32)  # compute in float32, like the engine
    return tensors


def rms_norm(x, weight, eps):
    variance = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(variance + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def forward(cfg, w, tokens):
    T = len(tokens)
    H, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or H // nh
    eps = cfg["rms_norm_eps"]
    inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    positions = torch.arange(T, dtype=torch.float32)
    freqs = torch.outer(positions, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    h = w["model.embed_tokens.weight"][torch.tensor(tokens)]
    mask = torch.full((T, T), float("-inf")).triu(1)
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % l
        x = rms_norm(h, w[p + "input_layernorm.weight"], eps)
        q = x @ w[p + "self_attn.q_proj.weight"].T
        k = x @ w[p + "self_attn.k_proj.weight"].T
        v = x @ w[p + "self_attn.v_proj.weight"].T
        if p + "self_attn.q_proj.bias" in w:
            q = q + w[p + "self_attn.q_proj.bias"]
            k = k + w[p + "self_attn.k_proj.bias"]
            v = v + w[p + "self_attn.v_proj.bias"]
        q = q.view(T, nh, hd).transpose(0, 1)
        k = k.view(T, nkv, hd).transpose(0, 1)
        v = v.view(T, nkv, hd).transpose(0, 1)
        if p + "self_attn.q_norm.weight" in w:
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(nh // nkv, dim=0)
        v = v.repeat_interleave(nh // nkv, dim=0)
        scores = q @ k.transpose(1, 2) / (hd ** 0.5) + mask
        attn = torch.softmax(scores, dim=-1) @ v
        attn = attn.transpose(0, 1).reshape(T, nh * hd)
        h = h + attn @ w[p + "self_attn.o_proj.weight"].T
        x = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
        gate = x @ w[p + "mlp.gate_proj.weight"].T
        up = x @ w[p + "mlp.up_proj.weight"].T
        h = h + (torch.nn.functional.silu(gate) * up) @ w[p + "mlp.down_proj.weight"].T
    h = rms_norm(h, w["model.norm.weight"], eps)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return h @ head.T


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--random-model", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(2)
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch, dtype in MODELS:
            folder = os.path.join(tmp, "%s-%s" % (arch, dtype))
            subprocess.run([args.random_model, "--out", folder, "--format", "hf", "--arch", arch,
                            "--dtype", dtype, "--seed", str(SEED)], check=True)
            with open(os.path.join(folder, "config.json")) as f:
                cfg = json.load(f)
            weights = read_safetensors(os.path.join(folder, "model.safetensors"))
            tokens = list(PROMPT)
            chosen, logprobs = [], []
            with torch.no_grad():
                for _ in range(N_PREDICT):
                    logits = forward(cfg, weights, tokens)[-1].double()
                    log_softmax = torch.log_softmax(logits, dim=-1)
                    token = int(torch.argmax(logits))
                    chosen.append(token)
                    logprobs.append(float(log_softmax[token]))
                    tokens.append(token)
            cases.append({"architecture": arch, "dtype": dtype, "seed": SEED, "prompt": PROMPT,
                          "tokens": chosen, "logprobs": logprobs})
    with open(args.out, "w") as f:
        f.write('{"generator": "make_torch_golden.py", "torch_version": "%s",\n "cases": [\n  '
                % torch.__version__)
        f.write(",\n  ".join(json.dumps(c) for c in cases))
        f.write("\n ]}\n")


if __name__ == "__main__":
    main()
