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

}  // namespace
}  // namespace ponder::engine
