// Storage for the keys and values of attention, in fixed-size blocks (pages).
//
// A sequence's cache is a block table: the block holding positions [i*B, (i+1)*B) is
// block_table[i]. Blocks are owned and shared by the BlockManager (engine/kv/block_manager.h);
// the storage only holds the memory. KvBlockStore is what the block manager and the scheduler
// see of it, so the blocks may live in host memory (KvCache, below) or in device memory (the
// CUDA backend, engine/cuda/cuda_backend.h) with the same block ids. Per block and layer the
// layout is
//   K: [block_size][num_kv_heads][head_dim] values, then V: the same
// (f32 in KvCache; the backend's compute type, 16-bit, on a GPU).
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
  int bytes_per_value = 4;  // 4 (f32) in host memory; 2 for the GPU's 16-bit cache

  // Floats of K (or V) per block per layer.
  size_t floats_per_block_layer() const {
    return static_cast<size_t>(block_size) * num_kv_heads * head_dim;
  }
  // Bytes one block takes across all layers, K and V.
  size_t bytes_per_block() const {
    return 2 * floats_per_block_layer() * num_layers * static_cast<size_t>(bytes_per_value);
  }
};

// What the block manager and the scheduler need of the storage: its shape, its size, and a
// block copy for copy-on-write.
class KvBlockStore {
 public:
  virtual ~KvBlockStore() = default;
  virtual const KvCacheShape& shape() const = 0;
  virtual int num_blocks() const = 0;
  // Copies every layer of block `from` into block `to` (copy-on-write of a shared block).
  virtual void CopyBlock(int from, int to) = 0;
};

// Blocks in host memory, as f32 (shape.bytes_per_value must be 4).
class KvCache final : public KvBlockStore {
 public:
  KvCache(const KvCacheShape& shape, int num_blocks);

  const KvCacheShape& shape() const override { return shape_; }
  int num_blocks() const override { return num_blocks_; }
  // False when the host could not give the storage (the allocation failed); such a cache must
  // not be used. CreateForwardBackend turns it into RESOURCE_EXHAUSTED.
  bool allocated() const { return data_ != nullptr || num_blocks_ == 0; }

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
  void CopyBlock(int from, int to) override;

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
