"""Summarises an Nsight Compute CSV written by bench/engine/cuda_device_check.sh: the kernels of
the last decode step (or of the last step of `--tokens` tokens), grouped by kernel and grid, with
their time and, where measured, the bytes they read from device memory.

  python3 bench/engine/ncu_summary.py ncu_decode.csv
  python3 bench/engine/ncu_summary.py ncu_prefill.csv --tokens 8192

A step starts at an EmbeddingGatherKernel launch (one block per token of the step).
"""
import argparse
import collections
import csv
import io
import re
import sys


def kernels(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [line for line in f if line.startswith('"')]
    by_id = collections.OrderedDict()
    for row in csv.DictReader(io.StringIO("".join(lines))):
        kernel = by_id.setdefault(int(row["ID"]), {"name": row["Kernel Name"],
                                                   "grid": row["Grid Size"]})
        kernel[row["Metric Name"]] = float(row["Metric Value"].replace(",", ""))
    return list(by_id.values())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("csv")
    parser.add_argument("--tokens", type=int, default=0,
                        help="the step's token count (default: the last step, whatever its size)")
    args = parser.parse_args()
    launches = kernels(args.csv)
    starts = [i for i, k in enumerate(launches) if "EmbeddingGather" in k["name"] and
              (args.tokens == 0 or k["grid"].startswith(f"({args.tokens},"))]
    if not starts:
        sys.exit(f"{args.csv}: no step of {args.tokens or 'any number of'} tokens")
    begin = starts[-1]
    end = next((i for i, k in enumerate(launches) if i > begin and "EmbeddingGather" in k["name"]),
               len(launches))
    step = launches[begin:end]
    total = sum(k["gpu__time_duration.sum"] for k in step)
    print(f"{len(step)} kernels, {total / 1e3:.1f} us")
    groups = collections.OrderedDict()
    for k in step:
        name = re.sub(r"\(.*", "", k["name"]).replace("void ", "")
        name = re.sub(r"ponder::(engine::cuda::)?<unnamed>::", "", name)
        group = groups.setdefault((name[:70], k["grid"]), [0, 0.0, 0.0])
        group[0] += 1
        group[1] += k["gpu__time_duration.sum"]
        group[2] += k.get("dram__bytes_read.sum", 0.0)
    for (name, grid), (count, ns, read) in sorted(groups.items(), key=lambda g: -g[1][1]):
        traffic = f"{read / count / 1e6:8.2f} MB {read / ns:6.0f} GB/s" if read else ""
        print(f"{count:4d} x {ns / count / 1e3:8.2f} us = {ns / 1e3:9.1f} us "
              f"{traffic:>23}  {name} {grid}")


if __name__ == "__main__":
    main()
