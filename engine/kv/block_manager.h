// Owns the KV cache's blocks: reference counts, copy-on-write, and automatic prefix caching.
//
// A sequence holds a BlockTable. Blocks are shared between sequences by reference count:
//  - forks (the n completions of one prompt) share every block of the prompt; a shared block
//    that is only partly filled is copied before either sequence writes into it;
//  - prefix caching (as in vLLM): every block that becomes full is registered under a hash of
//    its tokens chained with the hash of the block before it, so a later sequence whose tokens
//    start the same way reuses those blocks instead of recomputing them. A hit is confirmed
//    against the stored tokens, so a hash collision can never return wrong keys/values.
//  - the partly filled last block of a released sequence is kept too, indexed by the chain hash
//    of the blocks before it: a later sequence that continues the same prefix with the same
//    tokens gets a copy of it (so a sequence re-submitted with more tokens, the way search
//    strategies extend partial solutions step by step, recomputes none of its old tokens).
// Blocks no sequence references stay cached until memory is needed; they are then evicted
// least recently released first (a released sequence's tail goes before its head, so shared
// prefixes survive longest).
//
// Not thread-safe: the engine's scheduler thread is its only user.
#ifndef PONDER_ENGINE_KV_BLOCK_MANAGER_H_
#define PONDER_ENGINE_KV_BLOCK_MANAGER_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/kv/kv_cache.h"

namespace ponder::engine {

// The blocks of one sequence, in position order.
struct BlockTable {
  std::vector<int32_t> blocks;
  // Chained hashes of the leading blocks registered (or found) in the prefix cache.
  std::vector<uint64_t> hashes;
};

struct BlockManagerStats {
  int64_t total = 0;
  int64_t used = 0;    // referenced by at least one sequence
  int64_t cached = 0;  // unreferenced, holding a reusable prefix
  int64_t free = 0;    // unreferenced, empty
  int64_t evictions = 0;
  int64_t copies = 0;        // copy-on-write block copies
  int64_t partial_hits = 0;  // partial blocks reused by copy
};

class BlockManager {
 public:
  BlockManager(int num_blocks, int block_size, bool prefix_caching);

  int block_size() const { return block_size_; }
  int num_blocks() const { return static_cast<int>(refs_.size()); }
  // Blocks that can be handed out now: free ones plus evictable cached ones.
  int available() const { return num_free_ + num_cached_; }
  // Marks the start of a scheduling step. Full blocks committed during a step are shared at
  // once, but their contents exist only after that step's forward pass, so they are copied
  // (partial reuse by MatchPrefix) only in later steps.
  void BeginStep() { ++step_; }
  static int64_t BlocksFor(int64_t tokens, int block_size) {
    return (tokens + block_size - 1) / block_size;
  }

  // Appends to the empty `table` the cached blocks holding the longest cached prefix of
  // `tokens`, at most `max_tokens` tokens, and returns its length: whole blocks are shared; a
  // cached partial block that continues the prefix is copied into a fresh block (in `cache`).
  int64_t MatchPrefix(std::span<const int32_t> tokens, int64_t max_tokens, BlockTable& table,
                      KvBlockStore& cache);

  // Grows `table` to hold `num_tokens` tokens. All or nothing: returns false, allocating
  // nothing, when there are not enough blocks.
  bool Reserve(BlockTable& table, int64_t num_tokens);
  // Blocks Reserve would need to allocate.
  int64_t BlocksNeeded(const BlockTable& table, int64_t num_tokens) const;

  // Makes the blocks holding positions [begin, end) private to `table` before they are written:
  // a block shared with another sequence is copied into a fresh block. Returns false (changing
  // nothing) when no block is available for a copy.
  bool PrepareWrite(BlockTable& table, int64_t begin, int64_t end, KvBlockStore& cache);
  // Whether PrepareWrite for [begin, end) would need to copy (i.e. allocate) a block.
  int64_t CopiesNeeded(const BlockTable& table, int64_t begin, int64_t end) const;

  // Registers in the prefix cache the blocks of `table` that hold only computed tokens
  // (`tokens[0, computed)`) and are not registered yet.
  void CommitFullBlocks(BlockTable& table, std::span<const int32_t> tokens, int64_t computed);

  // `child` (empty) shares every block of `parent`.
  void Fork(const BlockTable& parent, BlockTable& child);

  // Releases the table's blocks (tail first) and clears it. `tokens[0, computed)` are the
  // sequence's computed tokens: a partly filled last block no one else holds is kept in the
  // cache for a later sequence that continues them.
  void Release(BlockTable& table, std::span<const int32_t> tokens = {}, int64_t computed = 0);

  BlockManagerStats Stats() const;

 private:
  int32_t Allocate();  // precondition: available() > 0
  void AddRef(int32_t block);
  void LruRemove(int32_t block);
  void LruPushBack(int32_t block);
  void Unregister(int32_t block);  // drops a cached block from the prefix indexes
  static uint64_t HashBlock(uint64_t parent, std::span<const int32_t> tokens);

  const int block_size_;
  const bool prefix_caching_;
  std::vector<int32_t> refs_;
  std::vector<int32_t> free_list_;  // unreferenced, not in the cache
  int num_free_ = 0;
  // Unreferenced cached blocks in LRU order (intrusive doubly linked list; -1 terminates).
  std::vector<int32_t> lru_prev_, lru_next_;
  int32_t lru_head_ = -1, lru_tail_ = -1;
  int num_cached_ = 0;
  // Prefix cache: chained hash -> block, and each registered block's hash and tokens.
  absl::flat_hash_map<uint64_t, int32_t> cached_;
  std::vector<uint64_t> block_hash_;    // full blocks: own chain hash; partial: the parent's
  std::vector<uint64_t> block_parent_;  // full blocks: the chain hash before them
  std::vector<int64_t> block_step_;     // full blocks: the step that committed them
  std::vector<char> block_registered_;  // 0: not cached, 1: full block, 2: partial block
  std::vector<int32_t> block_fill_;     // tokens held by a registered partial block
  std::vector<int32_t> block_tokens_;   // [num_blocks][block_size]
  // Partial blocks by the chain hash of the full blocks before them (0 for the first block).
  absl::flat_hash_map<uint64_t, std::vector<int32_t>> partial_;
  // Full blocks by the same key, so that a prompt ending inside a cached full block reuses its
  // head like a partial block's (16 separate requests of one prompt otherwise recompute the
  // prompt's last block each).
  absl::flat_hash_map<uint64_t, std::vector<int32_t>> full_children_;
  int64_t step_ = 0;
  int64_t evictions_ = 0;
  int64_t copies_ = 0;
  int64_t partial_hits_ = 0;
};

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_KV_BLOCK_MANAGER_H_
