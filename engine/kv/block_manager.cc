#include "engine/kv/block_manager.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "base/hash.h"

namespace ponder::engine {

BlockManager::BlockManager(int num_blocks, int block_size, bool prefix_caching)
    : block_size_(block_size),
      prefix_caching_(prefix_caching),
      refs_(num_blocks, 0),
      lru_prev_(num_blocks, -1),
      lru_next_(num_blocks, -1),
      block_hash_(num_blocks, 0),
      block_parent_(num_blocks, 0),
      block_step_(num_blocks, 0),
      block_registered_(num_blocks, 0),
      block_fill_(num_blocks, 0),
      block_tokens_(static_cast<size_t>(num_blocks) * block_size, 0) {
  free_list_.resize(num_blocks);
  // Handed out from the back: lowest ids first.
  for (int i = 0; i < num_blocks; ++i) free_list_[i] = num_blocks - 1 - i;
  num_free_ = num_blocks;
}

uint64_t BlockManager::HashBlock(uint64_t parent, std::span<const int32_t> tokens) {
  // FNV-1a over the parent hash and the token ids, then a final avalanche (SplitMix64's),
  // so the chain identifies the whole prefix, not just this block.
  uint64_t h = 0xCBF29CE484222325ull ^ parent;
  for (int32_t token : tokens) {
    uint32_t t = static_cast<uint32_t>(token);
    for (int b = 0; b < 4; ++b) h = (h ^ ((t >> (8 * b)) & 0xff)) * 0x100000001B3ull;
  }
  return Mix64(h);
}

void BlockManager::LruRemove(int32_t block) {
  int32_t prev = lru_prev_[block], next = lru_next_[block];
  (prev >= 0 ? lru_next_[prev] : lru_head_) = next;
  (next >= 0 ? lru_prev_[next] : lru_tail_) = prev;
  lru_prev_[block] = lru_next_[block] = -1;
  --num_cached_;
}

void BlockManager::LruPushBack(int32_t block) {
  lru_prev_[block] = lru_tail_;
  lru_next_[block] = -1;
  (lru_tail_ >= 0 ? lru_next_[lru_tail_] : lru_head_) = block;
  lru_tail_ = block;
  ++num_cached_;
}

int32_t BlockManager::Allocate() {
  assert(available() > 0);
  int32_t block;
  if (!free_list_.empty()) {
    block = free_list_.back();
    free_list_.pop_back();
    --num_free_;
  } else {
    // Evict the least recently released cached block.
    block = lru_head_;
    LruRemove(block);
    Unregister(block);
    ++evictions_;
  }
  refs_[block] = 1;
  return block;
}

void BlockManager::Unregister(int32_t block) {
  auto drop = [block](absl::flat_hash_map<uint64_t, std::vector<int32_t>>& index, uint64_t key) {
    auto it = index.find(key);
    if (it == index.end()) return;
    std::erase(it->second, block);
    if (it->second.empty()) index.erase(it);
  };
  if (block_registered_[block] == 1) {
    cached_.erase(block_hash_[block]);
    drop(full_children_, block_parent_[block]);
  } else if (block_registered_[block] == 2) {
    drop(partial_, block_hash_[block]);
  }
  block_registered_[block] = 0;
}

void BlockManager::AddRef(int32_t block) {
  if (refs_[block]++ == 0) LruRemove(block);  // a cached block comes back into use
}

int64_t BlockManager::MatchPrefix(std::span<const int32_t> tokens, int64_t max_tokens,
                                  BlockTable& table, KvBlockStore& cache) {
  assert(table.blocks.empty());
  if (!prefix_caching_) return 0;
  max_tokens = std::min<int64_t>(max_tokens, static_cast<int64_t>(tokens.size()));
  uint64_t parent = 0;
  int64_t matched = 0;
  while (matched + block_size_ <= max_tokens) {
    std::span<const int32_t> block_tokens = tokens.subspan(matched, block_size_);
    uint64_t hash = HashBlock(parent, block_tokens);
    auto it = cached_.find(hash);
    if (it == cached_.end()) break;
    int32_t block = it->second;
    if (!std::equal(block_tokens.begin(), block_tokens.end(),
                    block_tokens_.begin() + static_cast<size_t>(block) * block_size_)) {
      break;  // a hash collision: treat as a miss
    }
    AddRef(block);
    table.blocks.push_back(block);
    table.hashes.push_back(hash);
    parent = hash;
    matched += block_size_;
  }
  // Then the cached block after this prefix (partial, or full when the prompt ends inside it)
  // that shares the most leading tokens.
  if (matched >= max_tokens) return matched;
  int32_t best = -1;
  int64_t best_length = 0;
  for (const auto* index : {&partial_, &full_children_}) {
    auto it = index->find(parent);
    if (it == index->end()) continue;
    for (int32_t block : it->second) {
      if (index == &full_children_ && block_step_[block] == step_) continue;  // not computed yet
      const int32_t* stored = block_tokens_.data() + static_cast<size_t>(block) * block_size_;
      int64_t length = 0;
      while (length < block_fill_[block] && matched + length < max_tokens &&
             stored[length] == tokens[matched + length]) {
        ++length;
      }
      if (length > best_length) {
        best = block;
        best_length = length;
      }
    }
  }
  if (best < 0 || available() < 2) return matched;  // keep the source while allocating the copy
  AddRef(best);  // pin: the allocation below must not evict the block being copied
  int32_t copy = Allocate();
  cache.CopyBlock(best, copy);
  if (--refs_[best] == 0) LruPushBack(best);  // unpin: back to the cache
  table.blocks.push_back(copy);
  ++partial_hits_;
  return matched + best_length;
}

int64_t BlockManager::BlocksNeeded(const BlockTable& table, int64_t num_tokens) const {
  return std::max<int64_t>(
      0, BlocksFor(num_tokens, block_size_) - static_cast<int64_t>(table.blocks.size()));
}

bool BlockManager::Reserve(BlockTable& table, int64_t num_tokens) {
  int64_t needed = BlocksNeeded(table, num_tokens);
  if (needed > available()) return false;
  for (int64_t i = 0; i < needed; ++i) table.blocks.push_back(Allocate());
  return true;
}

int64_t BlockManager::CopiesNeeded(const BlockTable& table, int64_t begin, int64_t end) const {
  int64_t copies = 0;
  for (int64_t b = begin / block_size_;
       b < BlocksFor(end, block_size_) && b < static_cast<int64_t>(table.blocks.size()); ++b) {
    if (refs_[table.blocks[b]] > 1) ++copies;
  }
  return copies;
}

bool BlockManager::PrepareWrite(BlockTable& table, int64_t begin, int64_t end,
                                KvBlockStore& cache) {
  if (begin >= end) return true;
  if (CopiesNeeded(table, begin, end) > available()) return false;
  for (int64_t b = begin / block_size_;
       b < BlocksFor(end, block_size_) && b < static_cast<int64_t>(table.blocks.size()); ++b) {
    int32_t shared = table.blocks[b];
    if (refs_[shared] <= 1) continue;
    int32_t copy = Allocate();
    cache.CopyBlock(shared, copy);
    --refs_[shared];  // still referenced by the other sequence(s)
    table.blocks[b] = copy;
    ++copies_;
  }
  return true;
}

void BlockManager::CommitFullBlocks(BlockTable& table, std::span<const int32_t> tokens,
                                    int64_t computed) {
  if (!prefix_caching_) return;
  const int64_t full =
      std::min<int64_t>(computed, static_cast<int64_t>(tokens.size())) / block_size_;
  for (int64_t b = static_cast<int64_t>(table.hashes.size());
       b < full && b < static_cast<int64_t>(table.blocks.size()); ++b) {
    uint64_t parent = b == 0 ? 0 : table.hashes[b - 1];
    std::span<const int32_t> block_tokens = tokens.subspan(b * block_size_, block_size_);
    uint64_t hash = HashBlock(parent, block_tokens);
    table.hashes.push_back(hash);
    int32_t block = table.blocks[b];
    if (block_registered_[block] || cached_.contains(hash)) continue;  // already cached elsewhere
    cached_[hash] = block;
    block_hash_[block] = hash;
    block_parent_[block] = parent;
    block_step_[block] = step_;
    block_fill_[block] = block_size_;
    full_children_[parent].push_back(block);
    block_registered_[block] = 1;
    std::copy(block_tokens.begin(), block_tokens.end(),
              block_tokens_.begin() + static_cast<size_t>(block) * block_size_);
  }
}

void BlockManager::Fork(const BlockTable& parent, BlockTable& child) {
  assert(child.blocks.empty());
  child = parent;
  for (int32_t block : child.blocks) AddRef(block);
}

void BlockManager::Release(BlockTable& table, std::span<const int32_t> tokens, int64_t computed) {
  // The partly filled block holding the last computed tokens, if it follows registered blocks.
  const int64_t tail_index = computed / block_size_;
  const int64_t tail_fill = computed % block_size_;
  const bool keep_tail = prefix_caching_ && tail_fill > 0 &&
                         tail_index < static_cast<int64_t>(table.blocks.size()) &&
                         static_cast<int64_t>(table.hashes.size()) >= tail_index &&
                         computed <= static_cast<int64_t>(tokens.size());
  for (int64_t i = static_cast<int64_t>(table.blocks.size()) - 1; i >= 0; --i) {
    int32_t block = table.blocks[i];
    assert(refs_[block] > 0);
    if (--refs_[block] > 0) continue;
    if (keep_tail && i == tail_index && !block_registered_[block]) {
      uint64_t parent = tail_index == 0 ? 0 : table.hashes[tail_index - 1];
      block_registered_[block] = 2;
      block_hash_[block] = parent;
      block_fill_[block] = static_cast<int32_t>(tail_fill);
      std::copy_n(tokens.begin() + tail_index * block_size_, tail_fill,
                  block_tokens_.begin() + static_cast<size_t>(block) * block_size_);
      partial_[parent].push_back(block);
    }
    if (block_registered_[block]) {
      LruPushBack(block);
    } else {
      free_list_.push_back(block);
      ++num_free_;
    }
  }
  table.blocks.clear();
  table.hashes.clear();
}

BlockManagerStats BlockManager::Stats() const {
  BlockManagerStats stats;
  stats.total = num_blocks();
  stats.free = num_free_;
  stats.cached = num_cached_;
  stats.used = stats.total - stats.free - stats.cached;
  stats.evictions = evictions_;
  stats.copies = copies_;
  stats.partial_hits = partial_hits_;
  return stats;
}

}  // namespace ponder::engine
