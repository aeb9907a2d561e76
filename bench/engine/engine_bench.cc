// engine_bench: prefill and decode throughput of the engine's forward pass, side by side with
// llama.cpp's llama-batched-bench (CPU) or Hugging Face transformers' generate (GPU) on the same
// model file in the same run.
//
//   engine_bench --model M.gguf [--device cpu|cuda|auto] [--threads N] [--npp 128] [--ntg 64]
//                [--npl 1,4,16] [--ubatch 512] [--no-cuda-graphs] [--temperature T] [--top-p P]
//                [--top-k K]
//                [--llama-cpp-dir DIR]   (a llama.cpp build folder holding bin/llama-batched-bench)
//                [--hf-python PYTHON]    (runs bench/engine/hf_generate_bench.py on the same
//                                         Hugging Face folder: transformers' generate, greedy)
//
// On CUDA it also prints the memory roofline at batch 1: the bytes a decode step must read
// (every weight matrix once, 16-bit, plus the keys and values of the context) over the step time,
// against a device-to-device copy measured in the same run. With PONDER_CUDA_STEP_TIMING=1 in the
// environment it prints, per batch size, a decode step's wall time beside its time on the CUDA
// stream (cuda_backend.h CudaStepTiming): the difference is the GPU waiting for the host.
//   engine_bench --model M.gguf --workload tts [--threads N] [--prompt 512] [--samples 16]
//                [--step-tokens 40] [--steps 10]
//
// The workload mirrors llama-batched-bench without -pps: `npl` sequences, each with its own
// prompt of `npp` tokens, prefilled in micro-batches of at most `ubatch` tokens, then `ntg`
// decode steps in which every sequence gets one token. S_PP = npl*npp / T_PP,
// S_TG = npl*ntg / T_TG. Decode steps pick the greedy token in the backend (on a GPU the
// logits stay on the device, as in transformers' generate) and feed it back; with
// --temperature (and --top-p, --top-k) they draw it there instead (ForwardOptions::draws).
//
// The `tts` workload measures what test-time scaling costs through the whole engine
// (LocalEngine: scheduler, prefix cache, forks), with prefix caching on and off:
//  1. best-of-N: `samples` completions of one `prompt`-token prompt, as `samples` separate
//     concurrent requests, and as one request with n = samples (forked);
//  2. particle-filter shaped: `samples` sequences, each extended by one `step-tokens` step at a
//     time for `steps` steps, every step re-submitted as a full prompt (prompt + all steps so
//     far, as token ids), the samples of a step running concurrently.
// It prints prompt tokens requested, computed and unique, and wall time.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/flags.h"
#include "base/status_macros.h"
#include "engine/backend.h"
#include "engine/kv/kv_cache.h"
#include "engine/local_engine.h"
#include "engine/ops/ops.h"
#include "engine/transformer/transformer.h"
#include "engine/transformer/weights.h"
#include "nlohmann/json.hpp"

#if PONDER_HAVE_CUDA
#include "engine/cuda/cuda_backend.h"
#endif

namespace ponder::engine {
namespace {

constexpr int kBlockSize = 16;

struct Result {
  int npl = 0;
  double t_pp = 0, s_pp = 0, t_tg = 0, s_tg = 0;
};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

absl::StatusOr<Result> RunOurs(ForwardBackend& backend, const ModelConfig& c, int npp, int ntg,
                               int npl, int ubatch, const SamplingParams& sampling) {
  const int blocks_per_seq = (npp + ntg + kBlockSize - 1) / kBlockSize;
  if (npl * blocks_per_seq > backend.kv().num_blocks()) {
    return absl::ResourceExhaustedError(absl::StrCat("the KV cache holds ",
                                                     backend.kv().num_blocks(), " blocks; ",
                                                     npl * blocks_per_seq, " needed"));
  }
  std::vector<std::vector<int32_t>> tables(npl), prompts(npl);
  for (int s = 0; s < npl; ++s) {
    tables[s].resize(blocks_per_seq);
    std::iota(tables[s].begin(), tables[s].end(), s * blocks_per_seq);
    for (int i = 0; i < npp; ++i) prompts[s].push_back((i * 31 + s * 17 + 7) % c.vocab_size);
  }
  ForwardOutput out;
  Result result;
  result.npl = npl;
  // Prefill: fill micro-batches of up to `ubatch` tokens across sequences, last rows produce
  // logits.
  auto start = std::chrono::steady_clock::now();
  int seq = 0, offset = 0;
  while (seq < npl) {
    std::vector<SequenceChunk> chunks;
    std::vector<std::vector<int32_t>> rows;
    rows.reserve(npl);
    int budget = ubatch;
    while (seq < npl && budget > 0) {
      int n = std::min(budget, npp - offset);
      rows.emplace_back();
      if (offset + n == npp) rows.back().push_back(n - 1);
      chunks.push_back(
          {std::span(prompts[seq]).subspan(offset, n), offset, tables[seq], rows.back()});
      budget -= n;
      offset += n;
      if (offset == npp) {
        ++seq;
        offset = 0;
      }
    }
    PONDER_RETURN_IF_ERROR(backend.Forward(chunks, {}, out));
  }
  result.t_pp = Seconds(start);
  result.s_pp = npl * npp / result.t_pp;
  // Decode: every sequence gets one token per step, its greedy choice of the previous step.
  std::vector<int32_t> tokens(npl, 42), last_row = {0};
  std::vector<TokenDraw> draws = GreedyDraws(npl);
  for (int s = 0; s < npl && !sampling.greedy(); ++s) {
    draws[s] = {.row = s, .sampling = sampling, .stream = static_cast<uint64_t>(s)};
  }
  start = std::chrono::steady_clock::now();
  for (int step = 0; step < ntg; ++step) {
    std::vector<SequenceChunk> chunks;
    for (int s = 0; s < npl; ++s) {
      chunks.push_back({std::span(tokens).subspan(s, 1), npp + step, tables[s], last_row});
    }
    for (TokenDraw& draw : draws) draw.step = static_cast<uint64_t>(step);
    PONDER_RETURN_IF_ERROR(backend.Forward(chunks, {.logits = false, .draws = draws}, out));
    tokens = out.drawn_tokens;
  }
  result.t_tg = Seconds(start);
  result.s_tg = npl * ntg / result.t_tg;
  return result;
}

// Runs llama-batched-bench with the same workload; returns one Result per npl, or an error
// message (the comparison is then skipped with the reason printed).
absl::StatusOr<std::vector<Result>> RunJsonLines(const std::string& command);

absl::StatusOr<std::vector<Result>> RunLlamaCpp(const std::string& dir, const std::string& model,
                                                int threads, int npp, int ntg, int ubatch,
                                                const std::string& npl) {
  std::string binary = dir + "/bin/llama-batched-bench";
  return RunJsonLines(absl::StrCat(binary, " -m ", model, " -c ", 16 * (npp + ntg) + 16,
                                   " -b 2048 -ub ", ubatch, " -npp ", npp, " -ntg ", ntg, " -npl ",
                                   npl, " -t ", threads, " -tb ", threads,
                                   " --output-format jsonl 2>/dev/null"));
}

// Hugging Face transformers' generate (greedy) on the same folder, in the same JSON lines.
absl::StatusOr<std::vector<Result>> RunTransformers(const std::string& python,
                                                    const std::string& script,
                                                    const std::string& model, int npp, int ntg,
                                                    const std::string& npl) {
  return RunJsonLines(absl::StrCat(python, " ", script, " --model ", model, " --npp ", npp,
                                   " --ntg ", ntg, " --npl ", npl));
}

// Runs `command`, reading llama-batched-bench's JSON lines (pl, t_pp, speed_pp, t_tg, speed_tg).
absl::StatusOr<std::vector<Result>> RunJsonLines(const std::string& command) {
  std::fflush(stdout);
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::UnavailableError("cannot run " + command);
  std::vector<Result> results;
  std::array<char, 4096> line;
  while (std::fgets(line.data(), line.size(), pipe) != nullptr) {
    nlohmann::json json = nlohmann::json::parse(line.data(), nullptr, false);
    if (json.is_discarded() || !json.contains("speed_tg")) continue;
    results.push_back({json["pl"].get<int>(), json["t_pp"].get<double>(),
                       json["speed_pp"].get<double>(), json["t_tg"].get<double>(),
                       json["speed_tg"].get<double>()});
  }
  int rc = ::pclose(pipe);
  if (rc != 0 || results.empty()) {
    return absl::UnavailableError(absl::StrCat(command, " failed (exit ", rc, ")"));
  }
  return results;
}

struct TtsResult {
  int64_t requested = 0, computed = 0, decoded = 0, unique = 0;
  double seconds = 0;
};

// Runs `rounds` of concurrent requests built by make(round, i) through a fresh engine.
absl::StatusOr<TtsResult> RunTts(
    const std::string& model, int threads, bool prefix_caching, int samples, int rounds,
    int64_t unique,
    const std::function<GenerateRequest(int, int, const std::vector<std::vector<int32_t>>&)>&
        make) {
  LocalEngineOptions options;
  options.model_path = model;
  options.threads = threads;
  options.prefix_caching = prefix_caching;
  PONDER_ASSIGN_OR_RETURN(auto engine, LocalEngine::Create(options));
  std::vector<std::vector<int32_t>> generated(samples);
  auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < rounds; ++round) {
    std::vector<GenerateRequest> requests;
    for (int i = 0; i < samples; ++i) requests.push_back(make(round, i, generated));
    std::vector<absl::StatusOr<GenerateResult>> results(requests.size(), absl::UnknownError(""));
    std::vector<std::thread> callers;
    for (size_t i = 0; i < requests.size(); ++i) {
      callers.emplace_back([&, i] { results[i] = engine->Generate(requests[i]); });
    }
    for (auto& caller : callers) caller.join();
    for (size_t i = 0; i < results.size(); ++i) {
      PONDER_RETURN_IF_ERROR(results[i].status());
      const std::vector<int32_t>& tokens = results[i]->completions[0].tokens;
      generated[i].insert(generated[i].end(), tokens.begin(), tokens.end());
    }
  }
  TtsResult result;
  result.seconds = Seconds(start);
  EngineStats stats = engine->Stats();
  result.requested = stats.prompt_tokens_requested;
  result.computed = stats.prompt_tokens_computed;
  result.decoded = stats.tokens_decoded;
  result.unique = unique;
  return result;
}

absl::Status RunTtsWorkloads(const std::string& model, int threads, int prompt_length, int samples,
                             int step_tokens, int steps) {
  std::vector<int32_t> prompt;
  for (int i = 0; i < prompt_length; ++i) prompt.push_back((i * 31 + 7) % 256);
  auto sample = [&](int, int i, const std::vector<std::vector<int32_t>>&) {
    GenerateRequest r;
    r.prompt_tokens = prompt;
    r.max_tokens = step_tokens;
    r.sampling.seed = 1000 + i;
    r.ignore_eos = true;
    return r;
  };
  auto forked = [&](int, int, const std::vector<std::vector<int32_t>>&) {
    GenerateRequest r = sample(0, 0, {});
    r.n = samples;
    return r;
  };
  auto particle = [&](int round, int i, const std::vector<std::vector<int32_t>>& generated) {
    GenerateRequest r;
    r.prompt_tokens = prompt;
    r.prompt_tokens.insert(r.prompt_tokens.end(), generated[i].begin(), generated[i].end());
    r.max_tokens = step_tokens;
    r.sampling.seed = 1000 + i * 100 + round;
    r.ignore_eos = true;
    return r;
  };
  std::printf(
      "\n  test-time-scaling workloads (prompt %d tokens, %d samples, steps of %d tokens)\n",
      prompt_length, samples, step_tokens);
  std::printf(
      "  (unique = distinct tokens the workload feeds the model: prompt + every sample's\n"
      "   generated tokens; computed = prompt tokens prefilled + tokens decoded)\n");
  std::printf("  %-42s %-5s %10s %10s %9s %9s %9s %8s\n", "workload", "cache", "prompt tok",
              "prompt tok", "decoded", "unique", "computed/", "wall s");
  std::printf("  %-42s %-5s %10s %10s %9s %9s %9s %8s\n", "", "", "requested", "computed", "", "",
              "unique", "");
  struct Workload {
    const char* name;
    int requests, rounds;
    int64_t unique;
    std::function<GenerateRequest(int, int, const std::vector<std::vector<int32_t>>&)> make;
  };
  const int64_t bon_unique = prompt_length + static_cast<int64_t>(samples) * step_tokens;
  const int64_t pf_unique = prompt_length + static_cast<int64_t>(samples) * steps * step_tokens;
  std::vector<Workload> workloads = {
      {"best-of-N: N separate requests", samples, 1, bon_unique, sample},
      {"best-of-N: one request, n = N (fork)", 1, 1, bon_unique, forked},
      {"particle filter: N x steps re-submissions", samples, steps, pf_unique, particle},
  };
  for (const Workload& w : workloads) {
    for (bool cache : {false, true}) {
      PONDER_ASSIGN_OR_RETURN(
          TtsResult r, RunTts(model, threads, cache, w.requests, w.rounds, w.unique, w.make));
      std::printf("  %-42s %-5s %10lld %10lld %9lld %9lld %8.3fx %8.2f\n", w.name,
                  cache ? "on" : "off", static_cast<long long>(r.requested),
                  static_cast<long long>(r.computed), static_cast<long long>(r.decoded),
                  static_cast<long long>(r.unique),
                  static_cast<double>(r.computed + r.decoded) / r.unique, r.seconds);
    }
  }
  return absl::OkStatus();
}

absl::Status Main(std::span<char* const> args) {
  std::string model, llama_dir, npl_list = "1,4,16", workload = "throughput";
  std::string device_name = "auto", hf_python, hf_script = "bench/engine/hf_generate_bench.py";
  int64_t threads = 2, npp = 128, ntg = 64, prompt = 512, samples = 16, step_tokens = 40,
          steps = 10, ubatch = 512;
  FlagParser flags(
      "engine_bench --model M.gguf [--threads N] [--npp P] [--ntg G] [--npl 1,4,16] "
      "[--llama-cpp-dir DIR]");
  flags.AddString("model", &model, "GGUF file or Hugging Face folder");
  flags.AddInt("threads", &threads, "threads for both engines (default 2)");
  flags.AddInt("npp", &npp, "prompt tokens per sequence (default 128)");
  flags.AddInt("ntg", &ntg, "generated tokens per sequence (default 64)");
  flags.AddString("npl", &npl_list, "comma-separated sequence counts (default 1,4,16)");
  flags.AddString("llama-cpp-dir", &llama_dir, "llama.cpp build folder (bin/llama-batched-bench)");
  flags.AddString("device", &device_name, "cpu, cuda or auto (default: cuda when present)");
  flags.AddInt("ubatch", &ubatch, "prefill micro-batch in tokens (default 512)");
  bool no_cuda_graphs = false;
  flags.AddBool("no-cuda-graphs", &no_cuda_graphs,
                "CUDA: launch decode steps kernel by kernel, not from CUDA graphs");
  flags.AddString("hf-python", &hf_python, "python with torch + transformers: compare with HF");
  flags.AddString("hf-script", &hf_script,
                  "the HF side (default bench/engine/hf_generate_bench.py)");
  flags.AddString("workload", &workload, "throughput (default) or tts");
  flags.AddInt("prompt", &prompt, "tts: prompt tokens (default 512)");
  flags.AddInt("samples", &samples, "tts: samples / particles (default 16)");
  flags.AddInt("step-tokens", &step_tokens, "tts: tokens per step (default 40)");
  flags.AddInt("steps", &steps, "tts: particle-filter steps (default 10)");
  SamplingParams sampling{.temperature = 0.0};
  flags.AddDouble("temperature", &sampling.temperature,
                  "decode steps draw at this temperature (default 0: greedy)");
  flags.AddDouble("top-p", &sampling.top_p, "decode draws' top-p (default 1: off)");
  int64_t top_k = 0;
  flags.AddInt("top-k", &top_k, "decode draws' top-k (default 0: off)");
  PONDER_RETURN_IF_ERROR(flags.Parse(args));
  sampling.top_k = static_cast<int>(std::clamp<int64_t>(top_k, -1, INT32_MAX));
  PONDER_RETURN_IF_ERROR(sampling.Validate());
  if (model.empty()) return absl::InvalidArgumentError("--model is required");
  if (workload == "tts") {
    return RunTtsWorkloads(model, static_cast<int>(threads), static_cast<int>(prompt),
                           static_cast<int>(samples), static_cast<int>(step_tokens),
                           static_cast<int>(steps));
  }
  if (workload != "throughput")
    return absl::InvalidArgumentError("--workload must be throughput or tts");
  PONDER_ASSIGN_OR_RETURN(const std::vector<int> npls,
                          ParseCounts("npl", npl_list, 1, std::numeric_limits<int>::max()));

  PONDER_ASSIGN_OR_RETURN(Device device, ParseDevice(device_name));
  PONDER_ASSIGN_OR_RETURN(auto weights, ModelWeights::Load(model));
  const ModelConfig& c = weights->config();
  if (npp + ntg > c.max_context) {  // it failed part-way, after the first batch sizes' runs
    return absl::InvalidArgumentError(absl::StrCat("--npp ", npp, " + --ntg ", ntg, " = ",
                                                   npp + ntg, " positions; ", model, " holds ",
                                                   c.max_context));
  }
  ops::ThreadPool pool(static_cast<int>(threads));
  const int max_npl = *std::max_element(npls.begin(), npls.end());
  const KvCacheShape f32_shape{c.num_layers, c.num_kv_heads, c.head_dim, kBlockSize};
  const int64_t blocks_needed =
      static_cast<int64_t>(max_npl) * ((npp + ntg + kBlockSize - 1) / kBlockSize) + 1;
  std::vector<Result> ours;
  std::string description;
  double copy_bandwidth = 0;
  {
    PONDER_ASSIGN_OR_RETURN(
        std::unique_ptr<ForwardBackend> backend,
        CreateForwardBackend(
            *weights, pool,
            {.device = device,
             .block_size = kBlockSize,
             .kv_budget_bytes = blocks_needed * static_cast<int64_t>(f32_shape.bytes_per_block()),
             .max_batch_tokens = static_cast<int>(ubatch),
             .cuda_graphs = !no_cuda_graphs}));
    description = backend->description();
    std::printf("model %s: %s, %d layers, d %d, vocab %d, weights %s; device %s\n", model.c_str(),
                std::string(ArchitectureName(c.architecture)).c_str(), c.num_layers, c.hidden_size,
                c.vocab_size, weights->DTypeSummary().c_str(), description.c_str());
    PONDER_RETURN_IF_ERROR(RunOurs(*backend, c, 8, 2, 1, 512, sampling).status());  // warm-up
    for (int npl : npls) {
      if (backend->device() == Device::kCuda) {
        // Untimed first: cuBLAS and the CUDA runtime load kernels on the first use of each
        // shape (transformers' side is warmed up the same way).
        PONDER_RETURN_IF_ERROR(
            RunOurs(*backend, c, static_cast<int>(npp), 2, npl, static_cast<int>(ubatch), sampling)
                .status());
      }
#if PONDER_HAVE_CUDA
      const cuda::CudaStepTiming before = cuda::StepTiming(*backend);
#endif
      PONDER_ASSIGN_OR_RETURN(
          Result r, RunOurs(*backend, c, static_cast<int>(npp), static_cast<int>(ntg), npl,
                            static_cast<int>(ubatch), sampling));
      ours.push_back(r);
#if PONDER_HAVE_CUDA
      const cuda::CudaStepTiming after = cuda::StepTiming(*backend);
      if (const int64_t timed = after.steps - before.steps; timed == ntg) {
        const double stream = (after.stream_seconds - before.stream_seconds) / timed;
        const double enqueue = (after.enqueue_seconds - before.enqueue_seconds) / timed;
        const double wall = r.t_tg / static_cast<double>(ntg);
        std::printf(
            "decode step at batch %d: %.1f us wall, %.1f us on the stream, %.1f us enqueuing: "
            "the GPU waits %.1f to %.1f us (%.1f to %.1f%%) for the host\n",
            npl, wall * 1e6, stream * 1e6, enqueue * 1e6, (wall - stream) * 1e6,
            (wall - stream + enqueue) * 1e6, 100.0 * (wall - stream) / wall,
            100.0 * (wall - stream + enqueue) / wall);
      } else if (timed > 0) {  // a prefill of one-token chunks was timed too (--npp 1, ...)
        std::printf("decode step at batch %d: %lld steps timed for %lld decode steps; not shown\n",
                    npl, static_cast<long long>(timed), static_cast<long long>(ntg));
      }
#endif
    }
#if PONDER_HAVE_CUDA
    if (backend->device() == Device::kCuda) {
      PONDER_ASSIGN_OR_RETURN(copy_bandwidth, cuda::MeasureCopyBandwidth(size_t{1} << 31));
      const cuda::CudaGraphStats graphs = cuda::GraphStats(*backend);
      std::printf(
          "CUDA graphs: %s; %lld captured, %lld steps launched from one, %lld captures "
          "failed%s%s\n",
          no_cuda_graphs ? "off" : "on", static_cast<long long>(graphs.captures),
          static_cast<long long>(graphs.launches), static_cast<long long>(graphs.fallbacks),
          graphs.first_fallback.empty() ? "" : ": ", graphs.first_fallback.c_str());
    }
#endif
  }  // the backend's device memory is free again before the comparison runs
  absl::StatusOr<std::vector<Result>> theirs = absl::UnavailableError("no --llama-cpp-dir given");
  const char* their_name = "llama.cpp";
  if (!hf_python.empty()) {
    their_name = "transformers";
    theirs = RunTransformers(hf_python, hf_script, model, static_cast<int>(npp),
                             static_cast<int>(ntg), npl_list);
  } else if (!llama_dir.empty()) {
    theirs = RunLlamaCpp(llama_dir, model, static_cast<int>(threads), static_cast<int>(npp),
                         static_cast<int>(ntg), static_cast<int>(ubatch), npl_list);
  }
  if (copy_bandwidth > 0) {
    // Bytes a batch-1 decode step must read: every matrix once (16-bit; the embedding only one
    // row, so it is left out unless tied to the output), plus K and V of the mean context.
    const double H = c.hidden_size, Q = c.q_size(), KV = c.kv_size(), I = c.intermediate_size;
    const double layer_values = H * (Q + 2 * KV) + Q * H + 3 * I * H;
    const double weight_bytes = 2 * (c.num_layers * layer_values + double(c.vocab_size) * H);
    const double context = static_cast<double>(npp) + static_cast<double>(ntg) / 2;
    const double kv_bytes = 2.0 * c.num_layers * context * 2 * KV;
    for (const Result& r : ours) {
      if (r.npl != 1) continue;
      const double step = r.t_tg / static_cast<double>(ntg);
      const double achieved = (weight_bytes + kv_bytes) / step;
      std::printf(
          "\n  roofline at batch 1: %.1f MB weights + %.2f MB KV per step in %.3f ms = %.0f GB/s;"
          "\n  device-to-device copy (read + write) %.0f GB/s: %.1f%% of the roofline\n",
          weight_bytes / 1e6, kv_bytes / 1e6, step * 1e3, achieved / 1e9, copy_bandwidth / 1e9,
          100.0 * achieved / copy_bandwidth);
    }
  }
  std::printf("\n  PP=%lld TG=%lld  |        ponder         | %21s |  ponder / %s\n",
              static_cast<long long>(npp), static_cast<long long>(ntg), their_name, their_name);
  std::printf("  batch | S_PP tok/s S_TG tok/s | S_PP tok/s S_TG tok/s |  prefill   decode\n");
  for (size_t i = 0; i < ours.size(); ++i) {
    const Result& o = ours[i];
    if (theirs.ok() && i < theirs->size()) {
      const Result& t = (*theirs)[i];
      std::printf("  %5d | %10.1f %10.2f | %10.1f %10.2f |  %6.2fx  %6.2fx\n", o.npl, o.s_pp,
                  o.s_tg, t.s_pp, t.s_tg, o.s_pp / t.s_pp, o.s_tg / t.s_tg);
    } else {
      std::printf("  %5d | %10.1f %10.2f |          -          - |        -        -\n", o.npl,
                  o.s_pp, o.s_tg);
    }
  }
  if (!theirs.ok())
    std::printf("\n  %s comparison skipped: %s\n", their_name,
                std::string(theirs.status().message()).c_str());
  return absl::OkStatus();
}

}  // namespace
}  // namespace ponder::engine

int main(int argc, char** argv) {
  return ponder::ExitCodeFor("engine_bench",
                             ponder::engine::Main({argv + 1, static_cast<size_t>(argc - 1)}));
}
