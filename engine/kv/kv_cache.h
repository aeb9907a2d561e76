// Storage for the keys and values of attention, in fixed-size blocks (pages).
//
// A sequence's cache is a block table: the block holding positions [i*B, (i+1)*B) is
// block_table[i]. Blocks are owned and shared by the BlockManager (engine/kv/block_manager.h);
// this class only holds the memory. Per block and layer the layout is
//   K: [block_size][num_kv_heads][head_dim] f32, then V: the same.
#ifndef PONDER_ENGINE_KV_KV_CACHE_H_
#define PONDER_ENGINE_KV_KV_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

namespace ponder::engine {

struct KvCacheShape {
  int num_layers = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int block_size = 16;

  // Floats of K (or V) per block per layer.
  size_t floats_per_block_layer() const {
    return static_cast<size_t>(block_size) * num_kv_heads * head_dim;
  }
  // Bytes one block takes across all layers, K and V.
  size_t bytes_per_block() const {
    return 2 * floats_per_block_layer() * num_layers * sizeof(float);
  }
};

class KvCache {
 public:
  KvCache(const KvCacheShape& shape, int num_blocks);

  const KvCacheShape& shape() const { return shape_; }
  int num_blocks() const { return num_blocks_; }

  float* keys(int block, int layer) { return base(block, layer); }
  float* values(int block, int layer) {
    return base(block, layer) + shape_.floats_per_block_layer();
  }
  const float* keys(int block, int layer) const {
    return const_cast<KvCache*>(this)->keys(block, layer);
  }
  const float* values(int block, int layer) const {
    return const_cast<KvCache*>(this)->values(block, layer);
  }
  // Copies every layer of block `from` into block `to` (copy-on-write of a shared block).
  void CopyBlock(int from, int to);

 private:
  float* base(int block, int layer) {
    return data_.get() + (static_cast<size_t>(block) * shape_.num_layers + layer) * 2 *
                             shape_.floats_per_block_layer();
  }

  KvCacheShape shape_;
  int num_blocks_;
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> data_;
};

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_KV_KV_CACHE_H_
