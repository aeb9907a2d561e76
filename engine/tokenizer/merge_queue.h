// The priority queue both BPE merge loops draw candidates from (internal to engine/tokenizer/).
#ifndef PONDER_ENGINE_TOKENIZER_MERGE_QUEUE_H_
#define PONDER_ENGINE_TOKENIZER_MERGE_QUEUE_H_

#include <algorithm>
#include <vector>

namespace ponder::engine {

// A binary heap of merge candidates; Pop returns the one `MergedLater` ranks first (it orders
// a before b when a is to be merged after b, as std::push_heap's "less" builds a max-heap). Its
// storage is kept across Clear so a thread-local queue allocates only while it grows.
template <typename Candidate, typename MergedLater>
class MergeQueue {
 public:
  void Clear() { heap_.clear(); }
  bool Empty() const { return heap_.empty(); }
  void Push(const Candidate& candidate) {
    heap_.push_back(candidate);
    std::push_heap(heap_.begin(), heap_.end(), MergedLater());
  }
  Candidate Pop() {
    std::pop_heap(heap_.begin(), heap_.end(), MergedLater());
    const Candidate top = heap_.back();
    heap_.pop_back();
    return top;
  }

 private:
  std::vector<Candidate> heap_;
};

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_TOKENIZER_MERGE_QUEUE_H_
