// The scheduler's own accounting, on hand-made sequences (LocalEngine's tests run it on models).
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include "engine/kv/block_manager.h"
#include "engine/kv/kv_cache.h"

namespace ponder::engine {
namespace {

// A sequence that found nothing cached at its first admission and had to wait (no room) is
// matched again when it is admitted; what the cache serves it then is prompt tokens cached,
// counted once (a review found them in no counter: 3 requested, 1 computed, 0 cached).
TEST(SchedulerTest, PromptTokensServedAtALaterMatchCountAsCached) {
  KvCache cache(KvCacheShape{1, 1, 2, 4}, 3);  // 3 blocks of 4 tokens
  BlockManager blocks(3, 4, /*prefix_caching=*/true);
  Scheduler scheduler(blocks, cache, 64, 1000);
  Sequence running;
  running.tokens = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  running.prompt_length = 11;
  running.max_cached = 1 << 30;
  scheduler.Add(&running);
  scheduler.Complete(scheduler.Schedule());  // 11 tokens in all 3 blocks
  running.tokens.push_back(12);
  Sequence waiting;
  waiting.tokens = {1, 2, 3};  // the running sequence's first tokens
  waiting.prompt_length = 3;
  waiting.max_cached = 1 << 30;
  scheduler.Add(&waiting);
  scheduler.Complete(scheduler.Schedule());  // no room for it yet
  scheduler.Remove(&running);                // its blocks stay cached
  std::vector<ScheduledChunk> plan = scheduler.Schedule();
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].sequence, &waiting);
  // Served by the cache: 2 tokens (the last must be computed for its logits); computed: 1.
  EXPECT_EQ(plan[0].start, 2);
  EXPECT_EQ(plan[0].count, 1);
  EXPECT_EQ(waiting.first_cached, 2);
  EXPECT_EQ(scheduler.stats().prompt_tokens_cached, 2);
  scheduler.Complete(plan);
}

// Forks can run more sequences than a step's budget: the step decodes as many as it holds, the
// first admitted, and no more (a review found 61-token steps under a budget of 16); the others
// decode once those finish.
TEST(SchedulerTest, DecodingNeverExceedsTheStepBudget) {
  KvCache cache(KvCacheShape{1, 1, 2, 4}, 16);  // 16 blocks of 4 tokens
  BlockManager blocks(16, 4, /*prefix_caching=*/true);
  Scheduler scheduler(blocks, cache, /*max_batch_tokens=*/3, 1000);
  Sequence sequences[5];
  for (Sequence& s : sequences) s.max_cached = 1 << 30;
  sequences[0].tokens = {1, 2};
  sequences[0].prompt_length = 2;
  scheduler.Add(&sequences[0]);
  scheduler.Complete(scheduler.Schedule());  // the prompt
  sequences[0].tokens.push_back(3);
  for (int i = 1; i < 5; ++i) {  // four forks of it, as LocalEngine makes for n = 5
    sequences[i].tokens = sequences[0].tokens;
    sequences[i].computed = sequences[0].computed;
    sequences[i].prompt_length = 2;
    blocks.Fork(sequences[0].table, sequences[i].table);
    scheduler.AddRunning(&sequences[i]);
  }
  ASSERT_EQ(scheduler.num_running(), 5u);
  std::vector<ScheduledChunk> plan = scheduler.Schedule();
  ASSERT_EQ(plan.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(plan[i].sequence, &sequences[i]);
    EXPECT_EQ(plan[i].start, 2);
    EXPECT_EQ(plan[i].count, 1);
  }
  scheduler.Complete(plan);
  for (int i = 0; i < 3; ++i) scheduler.Remove(&sequences[i]);  // finished
  plan = scheduler.Schedule();
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].sequence, &sequences[3]);
  EXPECT_EQ(plan[1].sequence, &sequences[4]);
  scheduler.Complete(plan);
  scheduler.Remove(&sequences[3]);
  scheduler.Remove(&sequences[4]);
  EXPECT_TRUE(scheduler.idle());
}

}  // namespace
}  // namespace ponder::engine
