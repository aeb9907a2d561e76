"""Writing and reading a Hugging Face model folder without transformers or safetensors.

safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header length
N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
then the raw little-endian tensor data, offsets relative to the start of the data. The header is
padded with spaces to a multiple of 8 bytes, as the reference writer does.
"""

import json
import os
import struct

import numpy as np
import torch

import bpe_tokenizer

_DTYPES = {
    torch.float32: ("F32", np.float32),
    torch.float16: ("F16", np.float16),
}
_NP_BY_NAME = {"F32": np.float32, "F16": np.float16}


def write_safetensors(path, tensors, metadata=None):
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().tobytes()
            dtype = "BF16"
        else:
            dtype, np_type = _DTYPES[t.dtype]
            raw = t.numpy().astype(np_type, copy=False).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    header["__metadata__"] = dict(metadata or {"format": "pt"})
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)
    os.replace(tmp, path)


def read_safetensors(path):
    """{name: float32 torch tensor} (F32, F16 and BF16 files)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[base + begin:base + end]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            array = bits.view(np.float32)
        else:
            array = np.frombuffer(raw, dtype=_NP_BY_NAME[info["dtype"]]).astype(np.float32)
        out[name] = torch.from_numpy(array.reshape(info["shape"]).copy())
    return out


def _write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2, ensure_ascii=False)
        f.write("\n")


def write_model_folder(folder, model, tokenizer, dtype=torch.float16):
    """config.json, model.safetensors (matrices and vectors in `dtype`), tokenizer files."""
    os.makedirs(folder, exist_ok=True)
    reward_head = model.score is not None
    dtype_name = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}[dtype]
    config = model.config.hf_config(reward_head, dtype_name,
                                    bos_token_id=tokenizer.special_id("<|endoftext|>"),
                                    eos_token_id=tokenizer.special_id("<|im_end|>"))
    _write_json(os.path.join(folder, "config.json"), config)
    tensors = {name: t.to(dtype) for name, t in model.hf_state_dict().items()}
    write_safetensors(os.path.join(folder, "model.safetensors"), tensors)
    _write_json(os.path.join(folder, "tokenizer.json"), tokenizer.tokenizer_json())
    _write_json(os.path.join(folder, "tokenizer_config.json"), bpe_tokenizer.tokenizer_config_json(tokenizer))
    if not reward_head:
        _write_json(os.path.join(folder, "generation_config.json"), {
            "bos_token_id": tokenizer.special_id("<|endoftext|>"),
            "eos_token_id": tokenizer.special_id("<|im_end|>"),
        })


def load_model_folder(folder):
    """(model, tokenizer) from a folder written by write_model_folder, weights in float32."""
    import llama  # pylint: disable=import-outside-toplevel
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    c = llama.LlamaConfig(
        vocab_size=config["vocab_size"],
        hidden_size=config["hidden_size"],
        intermediate_size=config["intermediate_size"],
        num_hidden_layers=config["num_hidden_layers"],
        num_attention_heads=config["num_attention_heads"],
        num_key_value_heads=config["num_key_value_heads"],
        max_position_embeddings=config["max_position_embeddings"],
        rms_norm_eps=config["rms_norm_eps"],
        rope_theta=config["rope_theta"],
    )
    reward_head = config["architectures"][0].endswith("ProcessRewardModel")
    model = llama.Llama(c, reward_head=reward_head)
    state = read_safetensors(os.path.join(folder, "model.safetensors"))
    model.load_state_dict(state, strict=True)
    with open(os.path.join(folder, "tokenizer.json")) as f:
        tokenizer = bpe_tokenizer.Tokenizer.from_tokenizer_json(json.load(f))
    return model.eval(), tokenizer
