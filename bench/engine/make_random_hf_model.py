"""Writes a random Hugging Face model folder shaped like Qwen2.5-1.5B (or 0.5B, 7B), in BF16,
for engine_bench --device cuda on a machine with a GPU.

The weights follow engine/testing/random_model.cc's recipe (embedding N(0, 1), matrices
N(0, 1/fan_in), norms 1 + N(0, 0.1^2), biases N(0, 0.1^2)) but are drawn with torch on the GPU:
the C++ writer takes about a minute for 1.5B parameters, this a few seconds. No tokenizer is
written: the benchmark feeds token ids.

  python3 make_random_hf_model.py --out DIR [--shape qwen2.5-1.5b] [--seed 1]
"""
import argparse
import json
import os

import torch
from safetensors.torch import save_file

SHAPES = {
    # layers, hidden, intermediate, heads, kv heads, head dim, vocab, context, tied
    "qwen2.5-0.5b": (24, 896, 4864, 14, 2, 64, 151936, 32768, True),
    "qwen2.5-1.5b": (28, 1536, 8960, 12, 2, 128, 151936, 32768, True),
    "qwen2.5-7b": (28, 3584, 18944, 28, 4, 128, 152064, 32768, False),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--shape", default="qwen2.5-1.5b", choices=sorted(SHAPES))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    layers, hidden, inter, heads, kv_heads, head_dim, vocab, context, tied = SHAPES[args.shape]
    q, kv = heads * head_dim, kv_heads * head_dim
    device = "cuda" if torch.cuda.is_available() else "cpu"
    generator = torch.Generator(device=device).manual_seed(args.seed)

    def normal(shape, mean, std):
        t = torch.randn(shape, generator=generator, device=device, dtype=torch.float32)
        return (t * std + mean).to(torch.bfloat16).cpu()

    tensors = {"model.embed_tokens.weight": normal((vocab, hidden), 0.0, 1.0)}
    for l in range(layers):
        p = f"model.layers.{l}."
        tensors[p + "input_layernorm.weight"] = normal((hidden,), 1.0, 0.1)
        tensors[p + "self_attn.q_proj.weight"] = normal((q, hidden), 0.0, hidden ** -0.5)
        tensors[p + "self_attn.k_proj.weight"] = normal((kv, hidden), 0.0, hidden ** -0.5)
        tensors[p + "self_attn.v_proj.weight"] = normal((kv, hidden), 0.0, hidden ** -0.5)
        tensors[p + "self_attn.q_proj.bias"] = normal((q,), 0.0, 0.1)
        tensors[p + "self_attn.k_proj.bias"] = normal((kv,), 0.0, 0.1)
        tensors[p + "self_attn.v_proj.bias"] = normal((kv,), 0.0, 0.1)
        tensors[p + "self_attn.o_proj.weight"] = normal((hidden, q), 0.0, q ** -0.5)
        tensors[p + "post_attention_layernorm.weight"] = normal((hidden,), 1.0, 0.1)
        tensors[p + "mlp.gate_proj.weight"] = normal((inter, hidden), 0.0, hidden ** -0.5)
        tensors[p + "mlp.up_proj.weight"] = normal((inter, hidden), 0.0, hidden ** -0.5)
        tensors[p + "mlp.down_proj.weight"] = normal((hidden, inter), 0.0, inter ** -0.5)
    tensors["model.norm.weight"] = normal((hidden,), 1.0, 0.1)
    if not tied:
        tensors["lm_head.weight"] = normal((vocab, hidden), 0.0, hidden ** -0.5)

    os.makedirs(args.out, exist_ok=True)
    save_file(tensors, os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "hidden_size": hidden,
        "intermediate_size": inter,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
        "vocab_size": vocab,
        "max_position_embeddings": context,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0},
        "hidden_act": "silu",
        "tie_word_embeddings": tied,
        "use_sliding_window": False,
        "torch_dtype": "bfloat16",
        "bos_token_id": 151643,
        "eos_token_id": 151645,
    }
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    total = sum(t.numel() for t in tensors.values())
    print(f"wrote {args.out}: {args.shape}, {total / 1e9:.2f}B parameters, bf16")


if __name__ == "__main__":
    main()
