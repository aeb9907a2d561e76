#include "engine/kv/block_manager.h"

#include <gtest/gtest.h>

#include <numeric>

namespace ponder::engine {
namespace {

KvCache SmallCache(int blocks) { return KvCache(KvCacheShape{1, 1, 2, 4}, blocks); }

std::vector<int32_t> Range(int n, int from = 0) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), from);
  return v;
}

TEST(BlockManagerTest, ReserveIsAllOrNothing) {
  BlockManager manager(4, 4, true);
  BlockTable table;
  EXPECT_FALSE(manager.Reserve(table, 17));  // needs 5
  EXPECT_TRUE(table.blocks.empty());
  EXPECT_EQ(manager.available(), 4);
  EXPECT_TRUE(manager.Reserve(table, 16));
  EXPECT_EQ(table.blocks.size(), 4u);
  EXPECT_EQ(manager.available(), 0);
  manager.Release(table);
  EXPECT_EQ(manager.available(), 4);
}

TEST(BlockManagerTest, FullBlocksAreReusedByALaterSequenceWithTheSamePrefix) {
  BlockManager manager(8, 4, true);
  KvCache cache = SmallCache(8);
  std::vector<int32_t> tokens = Range(10);
  BlockTable first;
  ASSERT_TRUE(manager.Reserve(first, 10));
  manager.CommitFullBlocks(first, tokens, 10);  // blocks 0 and 1 are full
  std::vector<int32_t> first_blocks = first.blocks;
  manager.Release(first);
  EXPECT_EQ(manager.Stats().cached, 2);

  std::vector<int32_t> longer = Range(14);  // same first 10 tokens
  BlockTable second;
  EXPECT_EQ(manager.MatchPrefix(longer, 13, second, cache), 8);
  EXPECT_EQ(second.blocks, std::vector<int32_t>(first_blocks.begin(), first_blocks.begin() + 2));
  EXPECT_EQ(manager.Stats().cached, 0);
  EXPECT_EQ(manager.Stats().used, 2);

  std::vector<int32_t> different = Range(14, 1);
  BlockTable third;
  EXPECT_EQ(manager.MatchPrefix(different, 13, third, cache), 0);
  // A shared block's prefix must match the whole chain: same second block after another first
  // block is a miss.
  std::vector<int32_t> other_head = tokens;
  other_head[0] = 99;
  BlockTable fourth;
  EXPECT_EQ(manager.MatchPrefix(other_head, 9, fourth, cache), 0);
}

TEST(BlockManagerTest, MatchRespectsTheLimit) {
  BlockManager manager(8, 4, true);
  KvCache cache = SmallCache(8);
  std::vector<int32_t> tokens = Range(8);
  BlockTable first;
  ASSERT_TRUE(manager.Reserve(first, 8));
  manager.CommitFullBlocks(first, tokens, 8);
  manager.Release(first);
  BlockTable second;
  // The last token must be computed, so a limit of 7 shares one block only; within the step
  // that committed the second block it cannot be copied either (not computed yet).
  EXPECT_EQ(manager.MatchPrefix(tokens, 7, second, cache), 4);
  EXPECT_EQ(second.blocks.size(), 1u);
  manager.Release(second);
  // In a later step the head of the second (full, computed) block is copied: 4 + 3 tokens.
  manager.BeginStep();
  BlockTable third;
  EXPECT_EQ(manager.MatchPrefix(tokens, 7, third, cache), 7);
  ASSERT_EQ(third.blocks.size(), 2u);
  EXPECT_NE(third.blocks[1], 1);  // a private copy, never the shared full block itself
}

TEST(BlockManagerTest, CachedBlocksAreEvictedLeastRecentlyReleasedTailFirst) {
  BlockManager manager(4, 4, true);
  KvCache cache = SmallCache(4);
  std::vector<int32_t> a = Range(8), b = Range(8, 100);
  BlockTable ta, tb;
  ASSERT_TRUE(manager.Reserve(ta, 8));
  manager.CommitFullBlocks(ta, a, 8);
  manager.Release(ta);
  ASSERT_TRUE(manager.Reserve(tb, 8));  // takes the 2 free blocks
  manager.CommitFullBlocks(tb, b, 8);
  manager.Release(tb);
  EXPECT_EQ(manager.Stats().cached, 4);
  BlockTable tc;
  ASSERT_TRUE(manager.Reserve(tc, 4));  // evicts a's tail block
  EXPECT_EQ(manager.Stats().evictions, 1);
  BlockTable probe;
  EXPECT_EQ(manager.MatchPrefix(a, 8, probe, cache), 4);  // a's head survived
  manager.Release(probe);
  BlockTable probe_b;
  EXPECT_EQ(manager.MatchPrefix(b, 8, probe_b, cache), 8);  // b untouched
}

TEST(BlockManagerTest, ForkSharesAndWriteCopiesTheSharedPartialBlock) {
  BlockManager manager(8, 4, true);
  KvCache cache = SmallCache(8);
  BlockTable parent;
  ASSERT_TRUE(manager.Reserve(parent, 6));  // one full block, one partial
  cache.keys(parent.blocks[1], 0)[0] = 42.0f;
  BlockTable child;
  manager.Fork(parent, child);
  EXPECT_EQ(child.blocks, parent.blocks);
  EXPECT_EQ(manager.CopiesNeeded(child, 6, 7), 1);
  ASSERT_TRUE(manager.PrepareWrite(child, 6, 7, cache));
  EXPECT_EQ(child.blocks[0], parent.blocks[0]);  // the full block stays shared
  EXPECT_NE(child.blocks[1], parent.blocks[1]);  // the partial one was copied
  EXPECT_EQ(cache.keys(child.blocks[1], 0)[0], 42.0f);
  EXPECT_EQ(manager.CopiesNeeded(parent, 6, 7), 0);  // now private to the parent
  manager.Release(child);
  manager.Release(parent);
  EXPECT_EQ(manager.Stats().used, 0);
  EXPECT_EQ(manager.available(), 8);
}

TEST(BlockManagerTest, ReleasedPartialTailIsCopiedToASequenceThatContinuesIt) {
  BlockManager manager(8, 4, true);
  KvCache cache = SmallCache(8);
  std::vector<int32_t> first = Range(7);  // one full block, 3 tokens in the second
  BlockTable table;
  ASSERT_TRUE(manager.Reserve(table, 7));
  manager.CommitFullBlocks(table, first, 7);
  const int32_t tail = table.blocks[1];
  cache.keys(tail, 0)[0] = 7.0f;
  manager.Release(table, first, 7);
  EXPECT_EQ(manager.Stats().cached, 2);

  std::vector<int32_t> extended = Range(12);  // continues the same 7 tokens
  BlockTable next;
  EXPECT_EQ(manager.MatchPrefix(extended, 11, next, cache), 7);
  ASSERT_EQ(next.blocks.size(), 2u);
  EXPECT_NE(next.blocks[1], tail);  // a private copy: the cached tail stays intact
  EXPECT_EQ(cache.keys(next.blocks[1], 0)[0], 7.0f);
  EXPECT_EQ(manager.Stats().partial_hits, 1);

  std::vector<int32_t> diverging = Range(12);
  diverging[5] = 99;  // shares 1 token of the tail block
  BlockTable other;
  EXPECT_EQ(manager.MatchPrefix(diverging, 11, other, cache), 5);
  manager.Release(next);
  manager.Release(other);
  EXPECT_EQ(manager.Stats().used, 0);
}

TEST(BlockManagerTest, HashCollisionIsNeverAHit) {
  // Different token contents are verified even if the chain hash matched; exercised through
  // a block reused after eviction with other tokens.
  BlockManager manager(1, 4, true);
  KvCache cache = SmallCache(1);
  std::vector<int32_t> a = Range(4), b = Range(4, 50);
  BlockTable t;
  ASSERT_TRUE(manager.Reserve(t, 4));
  manager.CommitFullBlocks(t, a, 4);
  manager.Release(t);
  ASSERT_TRUE(manager.Reserve(t, 4));  // evicts a
  manager.CommitFullBlocks(t, b, 4);
  manager.Release(t);
  BlockTable probe;
  EXPECT_EQ(manager.MatchPrefix(a, 4, probe, cache), 0);
  EXPECT_EQ(manager.MatchPrefix(b, 4, probe, cache), 4);
}

}  // namespace
}  // namespace ponder::engine
