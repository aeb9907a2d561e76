// The continuous-batching scheduler of LocalEngine (internal to engine/).
//
// Sequences join and leave the running batch at every step (as in vLLM and nano-vllm):
//  - every running sequence decodes one token per step, while the step's token budget
//    (max_batch_tokens) holds them: beyond it, the most recently admitted wait a step;
//  - waiting sequences are prefilled in chunks that fill the rest of the step's token budget,
//    so a long prompt never stalls the decoding of others;
//  - a new sequence first takes the longest cached prefix of its tokens (BlockManager),
//    including blocks that sequences planned earlier in the same step are about to fill;
//  - when a running sequence needs a block and none is free, the most recently admitted
//    running sequence is preempted: its blocks are released (they stay in the prefix cache)
//    and it waits to be recomputed. Nothing is dropped for lack of memory unless a single
//    sequence can never fit, which CheckFits() reports up front;
//  - when nothing runs and the oldest waiting sequence does not fit, the other waiting
//    sequences release the blocks they hold, so the oldest always gets going.
// The scheduler plans a step; the engine runs it and reports back with Complete().
#ifndef PONDER_ENGINE_SCHEDULER_H_
#define PONDER_ENGINE_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "engine/kv/block_manager.h"

namespace ponder::engine {

struct Sequence {
  int64_t id = 0;
  std::vector<int32_t> tokens;  // everything the model has seen or will see: prompt + generated
  int64_t computed = 0;         // leading tokens whose keys/values are in the cache
  // Prefix caching may skip at most this many leading tokens (positions whose outputs are
  // needed must be computed).
  int64_t max_cached = 0;
  BlockTable table;
  // Prompt tokens the prefix cache served this sequence, at its admissions (-1 before the first):
  // at the first, and where a readmission found more cached than it had computed (another
  // sequence computed them meanwhile).
  int64_t first_cached = -1;
  int64_t prompt_length = 0;  // the leading tokens that are its prompt (a score request's: all)
  // Positions [0, computed_once) have been computed, or served by the cache at an admission,
  // before: computing them again, after the sequence lost its blocks, is a recompute.
  int64_t computed_once = 0;
  bool running = false;
  // Owner's data (the engine keeps its per-sequence state here).
  void* owner = nullptr;
};

// One sequence's share of a planned step: tokens [start, start + count) are computed.
struct ScheduledChunk {
  Sequence* sequence;
  int64_t start;
  int64_t count;
};

struct SchedulerStats {
  // Prompt tokens taken from the prefix cache that the sequence had not computed or taken
  // before (a readmission that takes back what it had is a recompute saved, not a request
  // served).
  int64_t prompt_tokens_cached = 0;
  int64_t preemptions = 0;
};

class Scheduler {
 public:
  Scheduler(BlockManager& blocks, KvBlockStore& cache, int max_batch_tokens, int64_t max_context);

  // Checks that `sequence` (with `max_length` tokens at most) can ever fit in the cache.
  absl::Status CheckFits(int64_t max_length) const;
  // Queues a new sequence for prefill (tokens [computed, size) are to be computed).
  void Add(Sequence* sequence);
  // A sequence the caller created by forking a running one: it decodes from the next step.
  void AddRunning(Sequence* sequence);
  // Removes a sequence wherever it is and releases its blocks.
  void Remove(Sequence* sequence);

  // Plans the next step. Empty when there is nothing to do.
  std::vector<ScheduledChunk> Schedule();
  // Records that the planned chunks were computed.
  void Complete(std::span<const ScheduledChunk> chunks);

  bool idle() const { return waiting_.empty() && running_.empty(); }
  size_t num_running() const { return running_.size(); }
  size_t num_waiting() const { return waiting_.size(); }
  const SchedulerStats& stats() const { return stats_; }

 private:
  void Preempt(Sequence* sequence);
  // Releases the sequence's blocks (they stay in the prefix cache): it computes from the start.
  void Unpin(Sequence* sequence);
  // Step 2 of Schedule: waiting sequences, oldest first, in chunks of the remaining budget.
  void PlanWaiting(std::vector<ScheduledChunk>& plan, int64_t& budget);

  BlockManager& blocks_;
  KvBlockStore& cache_;
  const int max_batch_tokens_;
  const int64_t max_context_;
  std::deque<Sequence*> waiting_;   // FCFS; preempted sequences go back to the front
  std::vector<Sequence*> running_;  // in admission order
  SchedulerStats stats_;
};

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_SCHEDULER_H_
