#include "engine/kv/kv_cache.h"

#include <cstring>

namespace ponder::engine {

KvCache::KvCache(const KvCacheShape& shape, int num_blocks)
    : shape_(shape),
      num_blocks_(num_blocks),
      // calloc: large allocations come as lazily zeroed pages, so an unused budget costs no
      // memory, and unwritten slots read as 0 rather than garbage.
      data_(static_cast<float*>(std::calloc(
          static_cast<size_t>(num_blocks) * shape.num_layers * 2 * shape.floats_per_block_layer(),
          sizeof(float)))) {}

void KvCache::CopyBlock(int from, int to) {
  size_t floats = static_cast<size_t>(shape_.num_layers) * 2 * shape_.floats_per_block_layer();
  std::memcpy(base(to, 0), base(from, 0), floats * sizeof(float));
}

}  // namespace ponder::engine
