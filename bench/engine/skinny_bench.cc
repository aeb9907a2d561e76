// skinny_bench: the matrix-vector products of a decode step on the GPU (kernels.h
// LaunchSkinnyMatMul / LaunchSkinnySwiGlu), each alone and all of a step's in a chain, for
// several ways of dividing the work (SkinnyPlan), beside cuBLAS (cublasGemmEx on the same
// matrices) and a device-to-device copy measured in the same run.
//
//   skinny_bench [--hidden 1536] [--inter 8960] [--heads 12] [--kv-heads 2] [--head-dim 128]
//                [--vocab 151936] [--layers 28] [--tokens 1,8,16] [--plans default,stage=0]
//                [--launches 28] [--replays 5] [--no-cuda-graphs] [--only qkv|o|gate_up|down|
//                output|chain]
//
// The shapes default to Qwen2.5-1.5B's, BF16. Per layer: the QKV product with the attention norm
// fused (the backend's one-token steps add rope and the KV store to it, LaunchSkinnyQkvRope,
// which this does not time), the attention output product (adding into the residual), the
// gate/up product with the MLP norm and SwiGLU fused, the down product (adding into the
// residual); once per step the output projection. Each product cycles through the layers' own
// matrices, so its weights come from DRAM, not L2, as in a real step. "chain" runs every layer's
// four products and the output projection in the order of a decode step (attention and rope left
// out): the part of a step the matrix-vector kernels take, against the step time engine_bench
// reports; the row "the engine's plans, cuBLAS for output" is the engine's choice at one token
// (gate/up at 2 chunks a lane, the down product at SkinnyPlainUnrollFor's, the output projection
// through cuBLAS). Launches are
// captured in a CUDA graph with early starts on Hopper, as the backend replays decode steps;
// --no-cuda-graphs launches them one by one (for Nsight Compute, with
// --only to pick a product). Steps of more than kSkinnyMaxTokens (8) tokens get cuBLAS' rows
// only; the engine sends every step of more than one token through cuBLAS
// (PONDER_CUDA_SKINNY_TOKENS).
//
// A plan is `default` or fields joined by '+': warps=N (SkinnyPlan::target_warps), stage=0|1
// (stage_x), blocks=N (blocks_per_processor), gated_unroll=2|3|4 and plain_unroll=8|9 (the
// one-token products' batches of loads), async=0|1 (async_copies); e.g. --plans
// default,stage=0,warps=8192+blocks=1.
// cuBLAS computes the plain product (no norm, no SwiGLU: gate/up as a [2 inter][hidden] product
// to f32), so its figure is the bytes-bound baseline, not the same work.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/flags.h"
#include "base/status_macros.h"
#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/cuda_util.h"
#include "engine/cuda/kernels.h"
#include "engine/model/dtype.h"

namespace ponder::engine::cuda {
namespace {

struct Shapes {
  int hidden = 1536, inter = 8960, heads = 12, kv_heads = 2, head_dim = 128, vocab = 151936;
  int layers = 28;
  int qkv_rows() const { return (heads + 2 * kv_heads) * head_dim; }
  int attention_width() const { return heads * head_dim; }
};

struct NamedPlan {
  std::string name;
  SkinnyPlan plan;
};

absl::StatusOr<NamedPlan> ParsePlan(const std::string& text) {
  NamedPlan named{text, {}};
  if (text == "default") return named;
  for (const std::string& field : std::vector<std::string>(absl::StrSplit(text, '+'))) {
    const std::pair<std::string, std::string> kv = absl::StrSplit(field, '=');
    int value = 0;
    if (!absl::SimpleAtoi(kv.second, &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--plans: '", field, "' in '", text, "' is not name=integer"));
    }
    if (kv.first == "warps" && value >= 1) {
      named.plan.target_warps = value;
    } else if (kv.first == "stage" && (value == 0 || value == 1)) {
      named.plan.stage_x = value == 1;
    } else if (kv.first == "blocks" && value >= 0) {
      named.plan.blocks_per_processor = value;
    } else if (kv.first == "gated_unroll" && value >= 2 && value <= 4) {
      named.plan.gated_unroll = value;
    } else if (kv.first == "plain_unroll" && (value == 8 || value == 9)) {
      named.plan.plain_unroll = value;
    } else if (kv.first == "async" && (value == 0 || value == 1)) {
      named.plan.async_copies = value == 1;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "--plans: '", field, "' in '", text,
          "': expected warps=N (N >= 1), stage=0|1, blocks=N (N >= 0), gated_unroll=2|3|4, "
          "plain_unroll=8|9 or async=0|1, or 'default'"));
    }
  }
  return named;
}

// Every weight of the step in device memory, filled with random BF16 values of a model's scale.
struct Weights {
  std::vector<DeviceBuffer> qkv, o, gate_up, down;  // per layer
  DeviceBuffer output, norm;                        // norm: [hidden] f32 ones
};

absl::Status FillRandom(const DeviceBuffer& buffer, std::span<const uint16_t> pattern) {
  const size_t piece = pattern.size_bytes();
  for (size_t at = 0; at < buffer.bytes(); at += piece) {
    PONDER_CUDA_RETURN_IF_ERROR(cudaMemcpy(static_cast<char*>(buffer.data()) + at, pattern.data(),
                                           std::min(piece, buffer.bytes() - at),
                                           cudaMemcpyHostToDevice));
  }
  return absl::OkStatus();
}

absl::StatusOr<Weights> MakeWeights(const Shapes& s) {
  std::vector<uint16_t> pattern(size_t{8} << 20);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (uint16_t& v : pattern) v = FloatToBFloat16(normal(rng));
  Weights w;
  auto matrix = [&](size_t rows, size_t cols) -> absl::StatusOr<DeviceBuffer> {
    PONDER_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::Allocate(rows * cols * 2, "weights"));
    PONDER_RETURN_IF_ERROR(FillRandom(b, pattern));
    return b;
  };
  for (int l = 0; l < s.layers; ++l) {
    PONDER_ASSIGN_OR_RETURN(w.qkv.emplace_back(), matrix(s.qkv_rows(), s.hidden));
    PONDER_ASSIGN_OR_RETURN(w.o.emplace_back(), matrix(s.hidden, s.attention_width()));
    PONDER_ASSIGN_OR_RETURN(w.gate_up.emplace_back(), matrix(2 * size_t(s.inter), s.hidden));
    PONDER_ASSIGN_OR_RETURN(w.down.emplace_back(), matrix(s.hidden, s.inter));
  }
  PONDER_ASSIGN_OR_RETURN(w.output, matrix(s.vocab, s.hidden));
  const std::vector<float> ones(s.hidden, 1.0f);
  PONDER_ASSIGN_OR_RETURN(w.norm, DeviceBuffer::Allocate(s.hidden * sizeof(float), "norm"));
  PONDER_CUDA_RETURN_IF_ERROR(
      cudaMemcpy(w.norm.data(), ones.data(), w.norm.bytes(), cudaMemcpyHostToDevice));
  return w;
}

// Activations of a step of `tokens` tokens: the residual stream (f32), a 16-bit input as wide
// as the widest product's, and outputs.
struct Activations {
  DeviceBuffer x, x16, qkv, act16, logits;
};

absl::StatusOr<Activations> MakeActivations(const Shapes& s, int tokens) {
  Activations a;
  const size_t widest = std::max({s.hidden, s.inter, s.attention_width()});
  PONDER_ASSIGN_OR_RETURN(a.x, DeviceBuffer::Allocate(tokens * s.hidden * 4, "x"));
  PONDER_ASSIGN_OR_RETURN(a.x16, DeviceBuffer::Allocate(tokens * widest * 2, "x16"));
  PONDER_ASSIGN_OR_RETURN(a.qkv, DeviceBuffer::Allocate(tokens * size_t(s.qkv_rows()) * 4, "qkv"));
  PONDER_ASSIGN_OR_RETURN(a.act16, DeviceBuffer::Allocate(tokens * size_t(2 * s.inter) * 4, "act"));
  PONDER_ASSIGN_OR_RETURN(a.logits, DeviceBuffer::Allocate(tokens * size_t(s.vocab) * 4, "logits"));
  const std::vector<float> x(size_t(tokens) * s.hidden, 0.5f);
  PONDER_CUDA_RETURN_IF_ERROR(
      cudaMemcpy(a.x.data(), x.data(), a.x.bytes(), cudaMemcpyHostToDevice));
  // 0x3f00 is 0.5 in BF16.
  const std::vector<uint16_t> x16(a.x16.bytes() / 2, 0x3f00);
  PONDER_CUDA_RETURN_IF_ERROR(
      cudaMemcpy(a.x16.data(), x16.data(), a.x16.bytes(), cudaMemcpyHostToDevice));
  return a;
}

// One product of a decode step, launched for layer l (the output projection ignores l).
struct Product {
  std::string name;
  double bytes;  // weights read per launch
  std::function<cudaError_t(int l, const SkinnyPlan&, Launch)> run;
  std::function<cublasStatus_t(int l)> cublas;  // the plain product through cuBLAS
};

class Bench {
 public:
  Bench(const Shapes& s, const Weights& w, bool graphs, int launches, int replays)
      : s_(s), w_(w), graphs_(graphs), launches_(launches), replays_(replays) {}

  absl::Status Init() {
    int device = 0, major = 0;
    PONDER_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
    PONDER_CUDA_RETURN_IF_ERROR(
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    early_start_ = major >= 9;
    PONDER_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    PONDER_CUDA_RETURN_IF_ERROR(cudaEventCreate(&start_));
    PONDER_CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop_));
    PONDER_CUBLAS_RETURN_IF_ERROR(cublasCreate(&blas_));
    PONDER_CUBLAS_RETURN_IF_ERROR(cublasSetStream(blas_, stream_));
    PONDER_ASSIGN_OR_RETURN(workspace_,
                            DeviceBuffer::Allocate(size_t{32} << 20, "cuBLAS workspace"));
    PONDER_CUBLAS_RETURN_IF_ERROR(cublasSetWorkspace(blas_, workspace_.data(), workspace_.bytes()));
    return absl::OkStatus();
  }
  ~Bench() {
    if (blas_ != nullptr) cublasDestroy(blas_);
    if (start_ != nullptr) cudaEventDestroy(start_);
    if (stop_ != nullptr) cudaEventDestroy(stop_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  std::vector<Product> Products(const Activations& a, int tokens) const {
    const float* norm = w_.norm.as<float>();
    const float one = 1.0f, zero = 0.0f;
    auto gemm = [this, tokens, one](const DeviceBuffer& w, int rows, int cols, const void* x,
                                    float* out, const float* beta) {
      return cublasGemmEx(blas_, CUBLAS_OP_T, CUBLAS_OP_N, rows, tokens, cols, &one, w.data(),
                          CUDA_R_16BF, cols, x, CUDA_R_16BF, cols, beta, out, CUDA_R_32F, rows,
                          CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    };
    const Shapes s = s_;
    const Weights& w = w_;
    // The norms go inside the QKV and gate/up products where x fits in shared memory, as in the
    // engine; elsewhere those products read the 16-bit x.
    const bool fused = static_cast<size_t>(tokens) * s.hidden * 2 <= kSkinnyMaxNormBytes;
    std::vector<Product> products;
    products.push_back(
        {fused ? "qkv (norm)" : "qkv", 2.0 * s.qkv_rows() * s.hidden,
         [&a, &w, s, norm, tokens, fused](int l, const SkinnyPlan& plan, Launch launch) {
           const SkinnyNorm n{a.x.as<float>(), norm, 1e-6f};
           return LaunchSkinnyMatMul(StorageType::kBF16, w.qkv[l].data(), s.qkv_rows(), s.hidden,
                                     fused ? nullptr : a.x16.data(), tokens, a.qkv.as<float>(),
                                     0.0f, launch, fused ? &n : nullptr, plan);
         },
         [&a, &w, s, gemm, zero](int l) {
           return gemm(w.qkv[l], s.qkv_rows(), s.hidden, a.x16.data(), a.qkv.as<float>(), &zero);
         }});
    products.push_back({"o (+= x)", 2.0 * s.hidden * s.attention_width(),
                        [&a, &w, s, tokens](int l, const SkinnyPlan& plan, Launch launch) {
                          return LaunchSkinnyMatMul(StorageType::kBF16, w.o[l].data(), s.hidden,
                                                    s.attention_width(), a.x16.data(), tokens,
                                                    a.x.as<float>(), 1.0f, launch, nullptr, plan);
                        },
                        [&a, &w, s, gemm, one](int l) {
                          return gemm(w.o[l], s.hidden, s.attention_width(), a.x16.data(),
                                      a.x.as<float>(), &one);
                        }});
    products.push_back(
        {fused ? "gate_up (norm, swiglu)" : "gate_up (swiglu)", 4.0 * s.inter * s.hidden,
         [&a, &w, s, norm, tokens, fused](int l, const SkinnyPlan& plan, Launch launch) {
           const SkinnyNorm n{a.x.as<float>(), norm, 1e-6f};
           return LaunchSkinnySwiGlu(StorageType::kBF16, w.gate_up[l].data(), s.inter, s.hidden,
                                     fused ? nullptr : a.x16.data(), tokens, a.act16.data(), launch,
                                     fused ? &n : nullptr, plan);
         },
         [&a, &w, s, gemm, zero](int l) {
           return gemm(w.gate_up[l], 2 * s.inter, s.hidden, a.x16.data(), a.act16.as<float>(),
                       &zero);
         }});
    products.push_back({"down (+= x)", 2.0 * s.hidden * s.inter,
                        [&a, &w, s, tokens](int l, const SkinnyPlan& plan, Launch launch) {
                          return LaunchSkinnyMatMul(StorageType::kBF16, w.down[l].data(), s.hidden,
                                                    s.inter, a.x16.data(), tokens, a.x.as<float>(),
                                                    1.0f, launch, nullptr, plan);
                        },
                        [&a, &w, s, gemm, one](int l) {
                          return gemm(w.down[l], s.hidden, s.inter, a.x16.data(), a.x.as<float>(),
                                      &one);
                        }});
    products.push_back({"output", 2.0 * s.vocab * s.hidden,
                        [&a, &w, s, tokens](int, const SkinnyPlan& plan, Launch launch) {
                          return LaunchSkinnyMatMul(
                              StorageType::kBF16, w.output.data(), s.vocab, s.hidden, a.x16.data(),
                              tokens, a.logits.as<float>(), 0.0f, launch, nullptr, plan);
                        },
                        [&a, &w, s, gemm, zero](int) {
                          return gemm(w.output, s.vocab, s.hidden, a.x16.data(),
                                      a.logits.as<float>(), &zero);
                        }});
    return products;
  }

  // Microseconds per call of `enqueue(i)` for i < calls: the median of `replays_` timed runs
  // (one graph of all the calls, or plain launches), after one untimed run.
  absl::StatusOr<double> Time(int calls, const std::function<absl::Status(int)>& enqueue) {
    cudaGraphExec_t exec = nullptr;
    if (graphs_) {
      PONDER_CUDA_RETURN_IF_ERROR(
          cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
      absl::Status captured = absl::OkStatus();
      for (int i = 0; i < calls && captured.ok(); ++i) captured = enqueue(i);
      cudaGraph_t graph = nullptr;
      const cudaError_t ended = cudaStreamEndCapture(stream_, &graph);
      PONDER_RETURN_IF_ERROR(captured);
      PONDER_CUDA_RETURN_IF_ERROR(ended);
      const cudaError_t instantiated = cudaGraphInstantiate(&exec, graph, 0);
      cudaGraphDestroy(graph);
      PONDER_CUDA_RETURN_IF_ERROR(instantiated);
    }
    auto run = [&]() -> absl::Status {
      if (exec != nullptr) {
        PONDER_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(exec, stream_));
        return absl::OkStatus();
      }
      for (int i = 0; i < calls; ++i) PONDER_RETURN_IF_ERROR(enqueue(i));
      return absl::OkStatus();
    };
    std::vector<double> times;
    absl::Status status = run();
    for (int r = 0; r < replays_ && status.ok(); ++r) {
      status.Update(CudaStatus(cudaEventRecord(start_, stream_), "cudaEventRecord"));
      status.Update(run());
      status.Update(CudaStatus(cudaEventRecord(stop_, stream_), "cudaEventRecord"));
      status.Update(CudaStatus(cudaEventSynchronize(stop_), "cudaEventSynchronize"));
      float ms = 0;
      status.Update(CudaStatus(cudaEventElapsedTime(&ms, start_, stop_), "cudaEventElapsedTime"));
      times.push_back(ms * 1e3 / calls);
    }
    if (exec != nullptr) cudaGraphExecDestroy(exec);
    PONDER_RETURN_IF_ERROR(status);
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
  }

  absl::StatusOr<double> TimeProduct(const Product& p, const SkinnyPlan& plan) {
    return Time(launches_, [&](int i) {
      return CudaStatus(p.run(i % s_.layers, plan, {stream_, early_start_}), p.name);
    });
  }
  absl::StatusOr<double> TimeCublas(const Product& p) {
    return Time(launches_, [&](int i) { return CublasStatus(p.cublas(i % s_.layers), p.name); });
  }
  // Microseconds per step: every layer's four products, then the output projection, with our
  // kernels under `plan` (the down product under `down_plan` where given), or through cuBLAS when
  // there is no plan or where `cublas` names the product's index.
  absl::StatusOr<double> TimeChain(const std::vector<Product>& products, const SkinnyPlan* plan,
                                   std::span<const size_t> cublas = {},
                                   const SkinnyPlan* down_plan = nullptr) {
    constexpr int kPerLayer = 4;
    const int per_step = kPerLayer * s_.layers + 1;
    PONDER_ASSIGN_OR_RETURN(
        double per_call, Time(per_step, [&](int i) {
          const size_t index = i == per_step - 1 ? 4 : static_cast<size_t>(i % kPerLayer);
          const Product& p = products[index];
          const bool ours =
              plan != nullptr && std::find(cublas.begin(), cublas.end(), index) == cublas.end();
          const SkinnyPlan& chosen = index == 3 && down_plan != nullptr ? *down_plan : *plan;
          return ours ? CudaStatus(p.run(i / kPerLayer, chosen, {stream_, early_start_}), p.name)
                      : CublasStatus(p.cublas(i / kPerLayer), p.name);
        }));
    return per_call * per_step;
  }

 private:
  Shapes s_;
  const Weights& w_;
  bool graphs_;
  int launches_, replays_;
  bool early_start_ = false;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  DeviceBuffer workspace_;
};

absl::Status Main(std::span<char* const> args) {
  Shapes s;
  std::string tokens_list = "1,8", plans_list = "default", only;
  int launches = 28, replays = 5;
  bool no_graphs = false;
  FlagParser flags(
      "skinny_bench [--tokens 1,8] [--plans default,warps=8192+stage=0] [--only down]");
  flags.AddInt("hidden", &s.hidden, "hidden size (default 1536)");
  flags.AddInt("inter", &s.inter, "MLP width (default 8960)");
  flags.AddInt("heads", &s.heads, "query heads (default 12)");
  flags.AddInt("kv-heads", &s.kv_heads, "KV heads (default 2)");
  flags.AddInt("head-dim", &s.head_dim, "head width (default 128)");
  flags.AddInt("vocab", &s.vocab, "vocabulary (default 151936)");
  flags.AddInt("layers", &s.layers, "layers (default 28)");
  flags.AddString("tokens", &tokens_list,
                  "comma-separated tokens per step, up to 256 (default 1,8)");
  flags.AddString("plans", &plans_list, "comma-separated plans (default: default)");
  flags.AddInt("launches", &launches, "launches per timed run of one product (default 28)");
  flags.AddInt("replays", &replays, "timed runs; the median is reported (default 5)");
  flags.AddBool("no-cuda-graphs", &no_graphs, "launch one by one (for profilers)");
  flags.AddString("only", &only, "qkv, o, gate_up, down, output or chain: that alone");
  PONDER_RETURN_IF_ERROR(flags.Parse(args));
  for (int v :
       {s.hidden, s.inter, s.heads, s.kv_heads, s.head_dim, s.vocab, s.layers, launches, replays}) {
    if (v < 1) return absl::InvalidArgumentError("every size and count must be at least 1");
  }
  if (s.hidden % 8 != 0 || s.inter % 8 != 0 || s.heads * s.head_dim % 8 != 0) {
    return absl::InvalidArgumentError(
        "--hidden, --inter and heads x head-dim must be multiples of 8");
  }
  PONDER_ASSIGN_OR_RETURN(const std::vector<int> token_counts,
                          ParseCounts("tokens", tokens_list, 1, 256));
  std::vector<NamedPlan> plans;
  for (const std::string& p : std::vector<std::string>(absl::StrSplit(plans_list, ','))) {
    PONDER_ASSIGN_OR_RETURN(plans.emplace_back(), ParsePlan(p));
  }
  static constexpr std::string_view kNames[] = {"qkv", "o", "gate_up", "down", "output", "chain"};
  if (!only.empty() && std::find(std::begin(kNames), std::end(kNames), only) == std::end(kNames)) {
    return absl::InvalidArgumentError(absl::StrCat("--only: unknown '", only, "'"));
  }

  PONDER_ASSIGN_OR_RETURN(const double copy, MeasureCopyBandwidth(size_t{1} << 31));
  std::printf("device-to-device copy (read + write): %.0f GB/s\n", copy / 1e9);
  PONDER_ASSIGN_OR_RETURN(const Weights weights, MakeWeights(s));
  Bench bench(s, weights, !no_graphs, launches, replays);
  PONDER_RETURN_IF_ERROR(bench.Init());
  for (int tokens : token_counts) {
    PONDER_ASSIGN_OR_RETURN(const Activations a, MakeActivations(s, tokens));
    const std::vector<Product> products = bench.Products(a, tokens);
    // Steps of more tokens than the matrix-vector kernels take go through cuBLAS in the engine:
    // only its rows.
    const bool ours = tokens <= kSkinnyMaxTokens;
    std::printf("\ntokens %d, %s\n%-24s %9s  %-22s %9s %7s %7s\n", tokens,
                no_graphs ? "plain launches" : "CUDA graphs", "product", "MB", "plan", "us", "GB/s",
                "% copy");
    for (size_t i = 0; i < products.size(); ++i) {
      if (!only.empty() && only != kNames[i]) continue;
      const Product& p = products[i];
      auto row = [&](std::string_view plan, double us) {
        std::printf("%-24s %9.2f  %-22s %9.2f %7.0f %6.1f%%\n", p.name.c_str(), p.bytes / 1e6,
                    std::string(plan).c_str(), us, p.bytes / us / 1e3,
                    100 * p.bytes / us / 1e3 / (copy / 1e9));
      };
      for (const NamedPlan& plan : plans) {
        if (!ours) break;
        PONDER_ASSIGN_OR_RETURN(const double us, bench.TimeProduct(p, plan.plan));
        row(plan.name, us);
      }
      PONDER_ASSIGN_OR_RETURN(const double us, bench.TimeCublas(p));
      row("cuBLAS (product only)", us);
    }
    if (!only.empty() && only != "chain") continue;
    double bytes = 0;
    for (size_t i = 0; i < 4; ++i) bytes += products[i].bytes * s.layers;
    bytes += products[4].bytes;
    auto chain = [&](std::string_view name, const SkinnyPlan* plan,
                     std::span<const size_t> cublas = {},
                     const SkinnyPlan* down_plan = nullptr) -> absl::Status {
      PONDER_ASSIGN_OR_RETURN(const double us, bench.TimeChain(products, plan, cublas, down_plan));
      std::printf(
          "chain (%d layers x 4 products + output), %-34s %8.3f ms per step, %.1f%% of "
          "the copy roofline\n",
          s.layers, std::string(name).c_str(), us / 1e3, 100 * bytes / us / 1e3 / (copy / 1e9));
      return absl::OkStatus();
    };
    for (const NamedPlan& plan : plans) {
      if (ours) PONDER_RETURN_IF_ERROR(chain(plan.name, &plan.plan));
    }
    if (tokens == 1) {
      static constexpr size_t kOutput[] = {4};
      const SkinnyPlan engine{.gated_unroll = 2};
      SkinnyPlan down = engine;
      down.plain_unroll = SkinnyPlainUnrollFor(s.hidden, s.inter, engine);
      PONDER_RETURN_IF_ERROR(
          chain("the engine's plans, cuBLAS for output", &engine, kOutput, &down));
    }
    PONDER_RETURN_IF_ERROR(chain("cuBLAS", nullptr));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace ponder::engine::cuda

int main(int argc, char** argv) {
  return ponder::ExitCodeFor("skinny_bench",
                             ponder::engine::cuda::Main({argv + 1, static_cast<size_t>(argc - 1)}));
}
