"""Hugging Face transformers' side of engine_bench --hf-python: the same workload on the same
model folder, on the GPU, printed as llama-batched-bench's JSON lines.

For each batch size `pl`: `pl` prompts of `npp` random tokens; T_PP is one forward pass over
them (the prefill generate also does), T_TG is generate(max_new_tokens=ntg, greedy, KV cache)
minus that prefill. Each figure is the median of --repeats runs after one warm-up.
"""
import argparse
import json
import statistics
import sys
import time

import torch
from transformers import AutoModelForCausalLM


def timed(fn):
    torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--npp", type=int, default=128)
    parser.add_argument("--ntg", type=int, default=64)
    parser.add_argument("--npl", default="1,16,64")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16).cuda().eval()
    vocab = model.config.vocab_size
    print(f"transformers: {type(model).__name__} on {torch.cuda.get_device_name()}, "
          f"attention {model.config._attn_implementation}", file=sys.stderr)
    generator = torch.Generator(device="cuda").manual_seed(0)
    for pl in [int(x) for x in args.npl.split(",")]:
        ids = torch.randint(0, vocab, (pl, args.npp), device="cuda", generator=generator)
        mask = torch.ones_like(ids)

        def prefill():
            with torch.no_grad():
                model(input_ids=ids, attention_mask=mask, use_cache=True, logits_to_keep=1)

        def generate():
            with torch.no_grad():
                out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False,
                                     max_new_tokens=args.ntg, min_new_tokens=args.ntg,
                                     pad_token_id=0, eos_token_id=None)
            assert out.shape[1] == args.npp + args.ntg, out.shape

        prefill()
        generate()  # warm-up
        t_pp = statistics.median(timed(prefill) for _ in range(args.repeats))
        t_all = statistics.median(timed(generate) for _ in range(args.repeats))
        t_tg = max(t_all - t_pp, 1e-9)
        print(json.dumps({"pl": pl, "t_pp": t_pp, "speed_pp": pl * args.npp / t_pp,
                          "t_tg": t_tg, "speed_tg": pl * args.ntg / t_tg}), flush=True)


if __name__ == "__main__":
    main()
