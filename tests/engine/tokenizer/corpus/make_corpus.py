#!/usr/bin/env python3
"""Writes the seed corpus of the tokenizer fuzz targets (see README.md). Run from this folder."""
import json
import struct


def bytes_to_unicode():
    """GPT-2's byte -> printable character map (openai/gpt-2 encoder.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_CHARS = bytes_to_unicode()
MERGES = [("l", "l"), ("h", "e"), ("he", "ll"), ("hell", "o"), ("Ġ", "w"), ("o", "r"),
          ("Ġw", "or"), ("l", "d"), ("Ġwor", "ld")]
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def tokenizer_json():
    vocab = {BYTE_CHARS[b]: b for b in range(256)}
    for i, (a, b) in enumerate(MERGES):
        vocab[a + b] = 256 + i
    added = [
        {"id": 300, "content": "<|end|>", "special": True, "lstrip": False, "rstrip": False,
         "normalized": False, "single_word": False},
        {"id": 301, "content": "<tag>", "special": False, "lstrip": True, "rstrip": True,
         "normalized": False, "single_word": False},
    ]
    return {
        "version": "1.0",
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated",
             "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
             "use_regex": False}]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "byte_fallback": False,
                  "ignore_merges": True, "vocab": vocab, "merges": [[a, b] for a, b in MERGES]},
    }


# GGUF v3 with metadata only (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md).
def gguf_string(text):
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def kv(key, type_id, payload):
    return gguf_string(key) + struct.pack("<I", type_id) + payload


def kv_string(key, value):
    return kv(key, 8, gguf_string(value))


def kv_uint32(key, value):
    return kv(key, 4, struct.pack("<I", value))


def kv_bool(key, value):
    return kv(key, 7, struct.pack("<?", value))


def kv_array(key, element_type, fmt_or_none, values):
    header = struct.pack("<IQ", element_type, len(values))
    if fmt_or_none is None:
        body = b"".join(gguf_string(v) for v in values)
    else:
        body = b"".join(struct.pack(fmt_or_none, v) for v in values)
    return kv(key, 9, header + body)


def gguf(kvs):
    return b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs)


def sentencepiece_gguf():
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    scores = [0.0] * len(tokens)
    types = [2, 3, 3] + [6] * 256
    for piece, score in [("▁", -1), ("a", -2), ("b", -3), ("ab", -4), ("▁a", -5), ("▁ab", -6),
                         ("c", -7), ("bc", -1), ("<|user|>", 0)]:
        tokens.append(piece)
        scores.append(score)
        types.append(3 if piece.startswith("<|") else 1)
    return gguf([
        kv_string("general.architecture", "llama"),
        kv_string("general.name", "phi3 tiny"),
        kv_string("tokenizer.ggml.model", "llama"),
        kv_array("tokenizer.ggml.tokens", 8, None, tokens),
        kv_array("tokenizer.ggml.scores", 6, "<f", scores),
        kv_array("tokenizer.ggml.token_type", 5, "<i", types),
        kv_uint32("tokenizer.ggml.bos_token_id", 1),
        kv_uint32("tokenizer.ggml.eos_token_id", 2),
        kv_bool("tokenizer.ggml.add_bos_token", True),
        kv_string("tokenizer.chat_template",
                  "{% for m in messages %}<|im_start|>{{ m.content }}{% endfor %}"),
    ])


def byte_level_gguf():
    tokens = [BYTE_CHARS[b] for b in range(256)] + [a + b for a, b in MERGES] + ["<|endoftext|>"]
    types = [1] * (len(tokens) - 1) + [3]
    return gguf([
        kv_string("general.architecture", "gpt2"),
        kv_string("tokenizer.ggml.model", "gpt2"),
        kv_string("tokenizer.ggml.pre", "llama-bpe"),
        kv_array("tokenizer.ggml.tokens", 8, None, tokens),
        kv_array("tokenizer.ggml.token_type", 5, "<i", types),
        kv_array("tokenizer.ggml.merges", 8, None, [a + " " + b for a, b in MERGES]),
        kv_uint32("tokenizer.ggml.eos_token_id", len(tokens) - 1),
    ])


def main():
    with open("json/tiny_tokenizer.json", "w", encoding="utf-8") as out:
        out.write(json.dumps(tokenizer_json(), ensure_ascii=False))
    with open("gguf/spm_vocab.gguf", "wb") as out:
        out.write(sentencepiece_gguf())
    with open("gguf/gpt2_vocab.gguf", "wb") as out:
        out.write(byte_level_gguf())
    texts = {
        "chat.txt": "<|im_start|>user\nhello world<|im_end|>\n<tag> <|end|>\n",
        "mixed.txt": "Grüße, 世界! I'm 12345 e\u0301 \t\n\n  🦙 hello  world\u0085 end",
        "code.txt": "def f(x):\n    return x**2  # ok\n",
    }
    for name, text in texts.items():
        with open("text/" + name, "w", encoding="utf-8") as out:
            out.write(text)
    with open("text/invalid.bin", "wb") as out:
        out.write(b"ab\xff\xe2\x82 \xf0\x9f\xa6\x99\xc0\xaf<|end|>\x00")


if __name__ == "__main__":
    main()
