"""Byte-level BPE tokenizer: training, encoding, and the tokenizer.json the engine reads.

The tokenizer is the one Qwen2 uses in kind (GPT-2 byte-to-unicode mapping, the Qwen2
pre-tokenizer expression, which splits numbers into single digits), with a vocabulary trained
here on the exported task text. The engine's loader (engine/tokenizer/hf_tokenizer.cc) reads the
tokenizer.json written by `tokenizer_json`; engine/tokenizer/gguf_export.cc recognises the
expression and names it `qwen2` in GGUF files.

Python's `re` has no \\p{L} / \\p{N}, so `pre_tokenize` implements the expression with ASCII
classes. That is exactly the Qwen2 expression on ASCII text, which is all the task generator
writes (the training data is checked to be ASCII). Other text (a sampled solution with stray
bytes) goes through an approximation (letters = [^\\W\\d_], numbers = \\d) that may split
differently from the engine; it is only used to score such samples. tests/models checks that
the engine tokenizes the task text to the same ids.
"""

import collections
import re

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<extra_0>"]

# engine/tokenizer/pre_tokenizer.h, kQwen2Pattern (as written into tokenizer.json).
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+"
                 r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# The same expression for ASCII text: \p{L} = [A-Za-z], \p{N} = [0-9], \s = PCRE2's ASCII white
# space (Python's \s would also match \x1c-\x1f).
_S = r" \t\n\x0b\x0c\r"
_ASCII_QWEN2 = re.compile(
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)"
    r"|[^\r\nA-Za-z0-9]?[A-Za-z]+"
    r"|[0-9]"
    rf"| ?[^{_S}A-Za-z0-9]+[\r\n]*"
    rf"|[{_S}]*[\r\n]+"
    rf"|[{_S}]+(?![^{_S}])"
    rf"|[{_S}]+")


def bytes_to_unicode():
    """GPT-2's mapping of the 256 bytes to printable characters (openai/gpt-2 encoder.py)."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) +
                 list(range(ord("\xae"), ord("\xff") + 1)))
    codes = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + n)
            n += 1
    return dict(zip(printable, (chr(c) for c in codes)))


BYTE_TO_UNICODE = bytes_to_unicode()
UNICODE_TO_BYTE = {v: k for k, v in BYTE_TO_UNICODE.items()}


# Non-ASCII text: an approximation (see the module comment).
_UNICODE_QWEN2 = re.compile(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|(?:[^\w\r\n]|_)?[^\W\d_]+|\d"
                            r"| ?(?:[^\s\w]|_)+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def pre_tokenize(text):
    if text.isascii():
        return _ASCII_QWEN2.findall(text)
    return _UNICODE_QWEN2.findall(text)


def _to_symbols(word):
    return tuple(BYTE_TO_UNICODE[b] for b in word.encode("utf-8"))


def train_bpe(texts, vocab_size):
    """Learns merges until the vocabulary (256 bytes + merges + specials) has `vocab_size` tokens.

    Classic BPE (Sennrich et al. 2016; GPT-2): count adjacent symbol pairs inside pre-tokenized
    words, merge the most frequent one, repeat. Ties go to the lexicographically smallest pair so
    the result is deterministic. Returns (tokens, merges): tokens in id order (bytes first, then
    one token per merge), merges as (left, right) pairs in rank order.
    """
    word_counts = collections.Counter()
    for text in texts:
        word_counts.update(pre_tokenize(text))
    words = [[list(_to_symbols(w)), c] for w, c in word_counts.items()]
    tokens = [BYTE_TO_UNICODE[b] for b in range(256)]
    merges = []
    target = vocab_size - len(SPECIAL_TOKENS)

    pair_counts = collections.Counter()
    where = collections.defaultdict(set)  # pair -> indexes of words that contain it
    for i, (symbols, count) in enumerate(words):
        for pair in zip(symbols, symbols[1:]):
            pair_counts[pair] += count
            where[pair].add(i)

    while len(tokens) < target and pair_counts:
        best_count = max(pair_counts.values())
        if best_count < 2:
            break
        best = min(p for p, c in pair_counts.items() if c == best_count)
        merged = best[0] + best[1]
        merges.append(best)
        tokens.append(merged)
        for i in list(where[best]):
            symbols, count = words[i]
            for pair in zip(symbols, symbols[1:]):
                pair_counts[pair] -= count
                if pair_counts[pair] <= 0:
                    del pair_counts[pair]
            out = []
            j = 0
            while j < len(symbols):
                if j + 1 < len(symbols) and symbols[j] == best[0] and symbols[j + 1] == best[1]:
                    out.append(merged)
                    j += 2
                else:
                    out.append(symbols[j])
                    j += 1
            words[i][0] = out
            for pair in zip(out, out[1:]):
                pair_counts[pair] += count
                where[pair].add(i)
        where.pop(best, None)
    return tokens, merges


class Tokenizer:
    """Encodes text the way the engine does with parse_special=true and no BOS."""

    def __init__(self, tokens, merges):
        self.tokens = list(tokens) + SPECIAL_TOKENS
        self.merges = [tuple(m) for m in merges]
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        self.ranks = {m: r for r, m in enumerate(self.merges)}
        self._cache = {}
        self._special_re = re.compile("(" + "|".join(re.escape(s) for s in SPECIAL_TOKENS) + ")")

    def __len__(self):
        return len(self.tokens)

    def special_id(self, text):
        return self.ids[text]

    def _bpe(self, word):
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        symbols = list(_to_symbols(word))
        while len(symbols) > 1:
            ranked = [(self.ranks.get(p, 1 << 30), k) for k, p in enumerate(zip(symbols, symbols[1:]))]
            rank, k = min(ranked)
            if rank == 1 << 30:
                break
            left, right = self.merges[rank]
            # Merge every occurrence of the best pair, left to right (GPT-2's bpe()).
            out = []
            j = 0
            while j < len(symbols):
                if j + 1 < len(symbols) and symbols[j] == left and symbols[j + 1] == right:
                    out.append(left + right)
                    j += 2
                else:
                    out.append(symbols[j])
                    j += 1
            symbols = out
        ids = [self.ids[s] for s in symbols]
        self._cache[word] = ids
        return ids

    def encode(self, text):
        ids = []
        for piece in self._special_re.split(text):
            if not piece:
                continue
            if piece in SPECIAL_TOKENS:
                ids.append(self.ids[piece])
                continue
            for word in pre_tokenize(piece):
                ids.extend(self._bpe(word))
        return ids

    def decode(self, ids, skip_special=False):
        out = bytearray()
        for i in ids:
            token = self.tokens[i]
            if token in SPECIAL_TOKENS:
                if not skip_special:
                    out += token.encode("utf-8")
            else:
                out += bytes(UNICODE_TO_BYTE[c] for c in token)
        return out.decode("utf-8", errors="replace")

    def tokenizer_json(self):
        """tokenizer.json (Hugging Face `tokenizers` format) with the Qwen2 pre-tokenizer."""
        first_special = len(self.tokens) - len(SPECIAL_TOKENS)
        added = [{
            "id": first_special + k,
            "content": s,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        } for k, s in enumerate(SPECIAL_TOKENS)]
        byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                      "use_regex": False}
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {
                "type": "Sequence",
                "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": QWEN2_PATTERN}, "behavior": "Isolated",
                     "invert": False},
                    byte_level,
                ],
            },
            "post_processor": None,
            "decoder": byte_level,
            "model": {
                "type": "BPE",
                "dropout": None,
                "unk_token": None,
                "continuing_subword_prefix": None,
                "end_of_word_suffix": None,
                "fuse_unk": False,
                "byte_fallback": False,
                "ignore_merges": False,
                "vocab": {t: i for i, t in enumerate(self.tokens[:first_special])},
                "merges": [f"{a} {b}" for a, b in self.merges],
            },
        }

    @classmethod
    def from_tokenizer_json(cls, data):
        vocab = data["model"]["vocab"]
        tokens = [None] * len(vocab)
        for t, i in vocab.items():
            tokens[i] = t
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in data["model"]["merges"]]
        added = sorted(data["added_tokens"], key=lambda a: a["id"])
        if [a["content"] for a in added] != SPECIAL_TOKENS or added[0]["id"] != len(tokens):
            raise ValueError("tokenizer.json: unexpected added tokens")
        return cls(tokens, merges)


# ChatML, as Qwen2's template writes it without a default system prompt (the engine's
# ChatTemplate recognises it as kChatML).
CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' "
    "}}{% endif %}")


def chat_text(messages, add_generation_prompt):
    """What CHAT_TEMPLATE renders for `messages` [(role, content)]."""
    out = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in messages)
    if add_generation_prompt:
        out += "<|im_start|>assistant\n"
    return out


def tokenizer_config_json(tokenizer):
    """tokenizer_config.json: ChatML template, <|im_end|> ends a turn (and generation), no BOS."""
    first_special = len(tokenizer) - len(SPECIAL_TOKENS)
    return {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(first_special + k): {"content": s, "lstrip": False, "normalized": False,
                                     "rstrip": False, "single_word": False, "special": True}
            for k, s in enumerate(SPECIAL_TOKENS)
        },
        "bos_token": None,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "model_max_length": 1024,
        "pad_token": "<|endoftext|>",
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": None,
    }
