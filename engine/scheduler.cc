#include "engine/scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ponder::engine {

Scheduler::Scheduler(BlockManager& blocks, KvBlockStore& cache, int max_batch_tokens,
                     int64_t max_context)
    : blocks_(blocks),
      cache_(cache),
      max_batch_tokens_(max_batch_tokens),
      max_context_(max_context) {}

absl::Status Scheduler::CheckFits(int64_t max_length) const {
  int64_t needed = BlockManager::BlocksFor(max_length, blocks_.block_size());
  if (needed > blocks_.num_blocks()) {
    int64_t bytes = needed * static_cast<int64_t>(cache_.shape().bytes_per_block());
    int64_t budget = static_cast<int64_t>(blocks_.num_blocks()) * cache_.shape().bytes_per_block();
    // In MiB with two decimals: a small budget is not "0 MiB".
    const auto mib = [](int64_t b) { return absl::StrFormat("%.2f MiB", b / 1048576.0); };
    // Not RESOURCE_EXHAUSTED, which callers read as "busy, retry later": no retry can fit it.
    return absl::FailedPreconditionError(
        absl::StrCat("a sequence of ", max_length, " tokens needs ", needed, " KV blocks (",
                     mib(bytes), "); the KV budget holds ", blocks_.num_blocks(), " (", mib(budget),
                     "): shorten the request or raise the KV budget"));
  }
  return absl::OkStatus();
}

void Scheduler::Add(Sequence* sequence) {
  sequence->running = false;
  waiting_.push_back(sequence);
}

void Scheduler::AddRunning(Sequence* sequence) {
  sequence->running = true;
  running_.push_back(sequence);
}

void Scheduler::Remove(Sequence* sequence) {
  if (sequence->running) {
    running_.erase(std::remove(running_.begin(), running_.end(), sequence), running_.end());
  } else {
    waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), sequence), waiting_.end());
  }
  blocks_.Release(sequence->table, sequence->tokens, sequence->computed);
  sequence->running = false;
}

void Scheduler::Preempt(Sequence* sequence) {
  running_.erase(std::remove(running_.begin(), running_.end(), sequence), running_.end());
  // Its blocks stay in the prefix cache, so the recompute may well be cheap.
  Unpin(sequence);
  sequence->running = false;
  waiting_.push_front(sequence);
  ++stats_.preemptions;
}

std::vector<ScheduledChunk> Scheduler::Schedule() {
  std::vector<ScheduledChunk> plan;
  int64_t budget = max_batch_tokens_;
  blocks_.BeginStep();

  // 1. Running sequences decode one token each (their last, not yet computed), in admission
  // order, as many as the budget holds: a step never computes more than max_batch_tokens
  // tokens (the GPU backend sizes its buffers for it, and logits take a row per token), as in
  // vLLM's scheduler, whose token budget bounds decoding too. The rest wait for a step with
  // room (forks of a request with n above the budget; QA of stop 33).
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    Sequence* s = running_[i];
    const int64_t position = s->computed;
    auto needed = [&] {
      return blocks_.BlocksNeeded(s->table, position + 1) +
             blocks_.CopiesNeeded(s->table, position, position + 1);
    };
    while (needed() > blocks_.available()) {
      // Preempt the most recently admitted sequence; possibly this one.
      Sequence* victim = running_.back();
      Preempt(victim);
      if (victim == s) break;
    }
    if (!s->running) break;  // preempted itself: nothing after it is running either
    blocks_.Reserve(s->table, position + 1);
    blocks_.PrepareWrite(s->table, position, position + 1, cache_);
    plan.push_back({s, position, 1});
    --budget;
  }

  // 2. Prefill waiting sequences, oldest first, in chunks that fill the remaining budget.
  PlanWaiting(plan, budget);
  if (plan.empty() && !waiting_.empty()) {
    // Nothing runs and the oldest waiting sequence does not fit: the blocks that later waiting
    // sequences hold would stay pinned for ever (a preempted sequence goes back before a
    // prompt still being prefilled, or one that took its cached prefix and then had to wait).
    // They let go; the oldest then fits, as it fits in the whole cache (CheckFits).
    for (size_t i = 1; i < waiting_.size(); ++i) Unpin(waiting_[i]);
    PlanWaiting(plan, budget);
  }
  return plan;
}

void Scheduler::Unpin(Sequence* sequence) {
  blocks_.Release(sequence->table, sequence->tokens, sequence->computed);
  sequence->computed = 0;
}

void Scheduler::PlanWaiting(std::vector<ScheduledChunk>& plan, int64_t& budget) {
  while (budget > 0 && !waiting_.empty()) {
    Sequence* s = waiting_.front();
    const int64_t length = static_cast<int64_t>(s->tokens.size());
    if (s->computed == 0 && s->table.blocks.empty()) {
      s->computed =
          blocks_.MatchPrefix(s->tokens, std::min(s->max_cached, length - 1), s->table, cache_);
      // Prompt tokens served that the sequence never computed nor took before count as cached
      // (a readmission after a preemption takes back what it had: a recompute saved, not a
      // request served).
      const int64_t gain = std::max<int64_t>(0, std::min(s->computed, s->prompt_length) -
                                                    std::min(s->computed_once, s->prompt_length));
      s->first_cached = std::max<int64_t>(s->first_cached, 0) + gain;
      s->computed_once = std::max(s->computed_once, s->computed);
      stats_.prompt_tokens_cached += gain;
    }
    const int64_t count = std::min(budget, length - s->computed);
    const int64_t needed = blocks_.BlocksNeeded(s->table, s->computed + count) +
                           blocks_.CopiesNeeded(s->table, s->computed, s->computed + count);
    if (needed > blocks_.available()) break;  // waits until running sequences free memory
    blocks_.Reserve(s->table, s->computed + count);
    blocks_.PrepareWrite(s->table, s->computed, s->computed + count, cache_);
    // Register the blocks this chunk fills now, not after the step: a sequence planned later
    // in this same step may share them, since the forward pass writes every token's keys and
    // values of a layer before any attention of that layer reads them.
    blocks_.CommitFullBlocks(s->table, s->tokens, s->computed + count);
    plan.push_back({s, s->computed, count});
    budget -= count;
    if (s->computed + count == length) {
      waiting_.pop_front();
      s->running = true;
      running_.push_back(s);
    } else {
      break;  // the budget is spent mid-prompt
    }
  }
}

void Scheduler::Complete(std::span<const ScheduledChunk> chunks) {
  for (const ScheduledChunk& chunk : chunks) {
    Sequence* s = chunk.sequence;
    s->computed = chunk.start + chunk.count;
    blocks_.CommitFullBlocks(s->table, s->tokens, s->computed);
  }
}

}  // namespace ponder::engine
