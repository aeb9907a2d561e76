"""A Llama-architecture decoder in PyTorch, with the tensor names of transformers' LlamaModel.

It computes what the engine computes for model_type "llama" (engine/transformer/): pre-RMSNorm,
rotary embeddings in rotate_half (NeoX) pairing, grouped-query attention, SwiGLU MLP, tied input
and output embeddings. The process reward model adds Qwen2.5-Math-PRM's head
(score.0 = Linear(H, H), ReLU, score.2 = Linear(H, 2)).

Written for torch 1.13 (Debian 12's python3-torch): no scaled_dot_product_attention.
"""

import dataclasses
import math

import torch
from torch import nn
import torch.nn.functional as F


@dataclasses.dataclass
class LlamaConfig:
    vocab_size: int
    hidden_size: int = 256
    intermediate_size: int = 688
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 4
    max_position_embeddings: int = 1024
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0

    @property
    def head_dim(self):
        return self.hidden_size // self.num_attention_heads

    def hf_config(self, reward_head, torch_dtype, bos_token_id, eos_token_id):
        """config.json as transformers writes it (and engine/model/model_config.cc reads it)."""
        return {
            "architectures": ["Qwen2ForProcessRewardModel" if reward_head else "LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "vocab_size": self.vocab_size,
            "max_position_embeddings": self.max_position_embeddings,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": None,
            "attention_bias": False,
            "mlp_bias": False,
            "tie_word_embeddings": True,
            "bos_token_id": bos_token_id,
            "eos_token_id": eos_token_id,
            "torch_dtype": torch_dtype,
        }


class RMSNorm(nn.Module):

    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):

    def __init__(self, c):
        super().__init__()
        self.c = c
        d = c.head_dim
        self.q_proj = nn.Linear(c.hidden_size, c.num_attention_heads * d, bias=False)
        self.k_proj = nn.Linear(c.hidden_size, c.num_key_value_heads * d, bias=False)
        self.v_proj = nn.Linear(c.hidden_size, c.num_key_value_heads * d, bias=False)
        self.o_proj = nn.Linear(c.num_attention_heads * d, c.hidden_size, bias=False)

    def forward(self, x, cos, sin, mask, cache=None):
        """x [B, T, H]; cos/sin [T, d]; mask broadcastable to [B, heads, T, S] (additive).

        cache: None, or a dict holding "k"/"v" [B, kv_heads, S_past, d] that is extended in place.
        """
        c = self.c
        b, t, _ = x.shape
        d = c.head_dim
        q = self.q_proj(x).view(b, t, c.num_attention_heads, d).transpose(1, 2)
        k = self.k_proj(x).view(b, t, c.num_key_value_heads, d).transpose(1, 2)
        v = self.v_proj(x).view(b, t, c.num_key_value_heads, d).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        groups = c.num_attention_heads // c.num_key_value_heads
        if groups > 1:
            k = k.repeat_interleave(groups, dim=1)
            v = v.repeat_interleave(groups, dim=1)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + mask
        out = torch.matmul(torch.softmax(scores, dim=-1), v)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, -1))


class MLP(nn.Module):

    def __init__(self, c):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):

    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.mlp = MLP(c)

    def forward(self, x, cos, sin, mask, cache=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):

    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(c) for _ in range(c.num_hidden_layers))
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)


class Llama(nn.Module):
    """The policy (lm logits) and, with reward_head, the PRM (two-way logits per position)."""

    def __init__(self, c, reward_head=False):
        super().__init__()
        self.config = c
        self.model = LlamaModel(c)
        self.score = None
        if reward_head:
            self.score = nn.Sequential(nn.Linear(c.hidden_size, c.hidden_size), nn.ReLU(),
                                       nn.Linear(c.hidden_size, 2))
        inv_freq = 1.0 / (c.rope_theta**(torch.arange(0, c.head_dim, 2, dtype=torch.float64) / c.head_dim))
        self.register_buffer("inv_freq", inv_freq.float(), persistent=False)
        self.apply(self._init)
        # GPT-2 style: residual projections scaled down by depth.
        for name, p in self.named_parameters():
            if name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * c.num_hidden_layers))

    @staticmethod
    def _init(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    def rope(self, positions):
        freqs = positions.float()[:, None] * self.inv_freq[None, :]
        emb = torch.cat([freqs, freqs], dim=-1)
        return emb.cos(), emb.sin()

    def hidden_states(self, ids, attention_mask=None, cache=None, start=0):
        """Final-norm hidden states [B, T, H] for ids [B, T] at positions start..start+T-1.

        attention_mask [B, S] (1 = real token) masks padding keys (left or right padding);
        causal masking is always applied. cache: a list with one dict per layer, or None.
        """
        b, t = ids.shape
        s = start + t
        device = ids.device
        positions = torch.arange(start, s, device=device)
        cos, sin = self.rope(positions)
        causal = torch.full((t, s), float("-inf"), device=device).triu(start + 1)
        mask = causal[None, None]
        if attention_mask is not None:
            pad = torch.zeros(b, 1, 1, s, device=device)
            pad = pad.masked_fill(attention_mask[:, None, None, :s] == 0, float("-inf"))
            mask = mask + pad
            # A padded query row that sees only -inf would give NaN; let it see itself.
            mask = torch.where(torch.isinf(mask).all(-1, keepdim=True), torch.zeros_like(mask), mask)
        x = self.model.embed_tokens(ids)
        for i, layer in enumerate(self.model.layers):
            x = layer(x, cos, sin, mask, None if cache is None else cache[i])
        return self.model.norm(x)

    def lm_logits(self, hidden):
        return F.linear(hidden, self.model.embed_tokens.weight)

    def reward_logits(self, hidden):
        return self.score(hidden)

    def hf_state_dict(self):
        """Tensors by transformers' names (tied embeddings: no lm_head.weight)."""
        out = {}
        for name, p in self.state_dict().items():
            if name == "inv_freq":
                continue
            out[name] = p
        return out

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters())
