#!/usr/bin/python3
"""Golden outputs from llama.cpp for random test models, for tests/engine/golden/.

Writes the random GGUF models with the project's own `random_model` tool, serves each with a
llama.cpp `llama-server` build on 127.0.0.1, and records greedy continuations of a fixed prompt
with the log-probability llama.cpp computes for each chosen token (softmax of the raw logits:
server `n_probs` with post_sampling_probs off) and its top-5 alternatives.

    tests/engine/golden/make_llama_cpp_golden.py \
        --llama-server /path/to/llama.cpp/build/bin/llama-server \
        --random-model build/bin/random_model --out tests/engine/golden/llama_cpp_golden.json

llama-server leaves out the probabilities of tokens after which the generated text ends in an
incomplete UTF-8 character (a lone byte token such as 0xE1; server.cpp, process_token), so its
per-token list would no longer line up with the tokens. The script therefore tries prompts from a
fixed, deterministic list until the greedy continuation has none of those tokens (checked
against the `tokens` the server returns), and records the prompt it used.

Only the Python standard library is used. llama.cpp is not part of this project: build it
yourself from its repository and point --llama-server at the binary.
"""
import argparse
import json
import math
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

# (architecture, dtype): llama.cpp reads these formats; the engine test regenerates the same files.
MODELS = [("llama", "f32"), ("llama", "f16"), ("llama", "q8_0"), ("qwen2", "f32")]
SEED = 11
BASE_PROMPT = [5, 17, 99, 3, 250, 64, 7, 130, 42, 8, 311, 200]
N_PREDICT = 24


def fnv1a64(path):
    h = 0xCBF29CE484222325
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            for byte in chunk:
                h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, path, body):
    request = urllib.request.Request(
        "http://127.0.0.1:%d%s" % (port, path), data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def wait_healthy(port, process):
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError("llama-server exited with %d" % process.returncode)
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=2) as r:
                if json.loads(r.read()).get("status") == "ok":
                    return
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError("llama-server did not become healthy")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--llama-server", required=True)
    parser.add_argument("--random-model", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    version = subprocess.run([args.llama_server, "--version"], capture_output=True, text=True)
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch, dtype in MODELS:
            path = os.path.join(tmp, "%s-%s.gguf" % (arch, dtype))
            subprocess.run([args.random_model, "--out", path, "--arch", arch, "--dtype", dtype,
                            "--seed", str(SEED)], check=True)
            port = free_port()
            server = subprocess.Popen(
                [args.llama_server, "-m", path, "--host", "127.0.0.1", "--port", str(port),
                 "-c", "256", "-t", "2", "-np", "1", "--no-warmup"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_healthy(port, server)
                for attempt in range(100):
                    prompt = [(t + 7 * attempt) % 256 for t in BASE_PROMPT]
                    result = post(port, "/completion", {
                        "prompt": prompt, "n_predict": N_PREDICT, "temperature": 0.0,
                        "n_probs": 5, "cache_prompt": False, "ignore_eos": True,
                        "return_tokens": True})
                    probs = result["completion_probabilities"]
                    if [p["id"] for p in probs] == result["tokens"]:
                        break
                else:
                    raise RuntimeError("no prompt gave a continuation llama-server reports whole")
            finally:
                server.terminate()
                server.wait()
            cases.append({
                "architecture": arch,
                "dtype": dtype,
                "seed": SEED,
                "model_fnv1a64": fnv1a64(path),
                "prompt": prompt,
                "tokens": [p["id"] for p in probs],
                "logprobs": [p["logprob"] for p in probs],
                "top_logprobs": [[[t["id"], t["logprob"]] for t in p["top_logprobs"]] for p in probs],
            })
            assert all(math.isfinite(l) for l in cases[-1]["logprobs"])
    with open(args.out, "w") as f:
        f.write('{"generator": "make_llama_cpp_golden.py",\n "llama_cpp_version": %s,\n "cases": [\n  '
                % json.dumps((version.stdout + version.stderr).strip().splitlines()[-2:]))
        f.write(",\n  ".join(json.dumps(c) for c in cases))
        f.write("\n ]}\n")


if __name__ == "__main__":
    main()
