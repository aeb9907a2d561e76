// Bit mixing shared by the hashes and deterministic random numbers of every part.
#ifndef PONDER_BASE_HASH_H_
#define PONDER_BASE_HASH_H_

#include <cstdint>

namespace ponder {

// The odd constant SplitMix64 steps its state by (2^64 / the golden ratio).
inline constexpr uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ull;

// SplitMix64's output function (Steele, Lea & Flood, "Fast splittable pseudorandom number
// generators", OOPSLA 2014): a bijective avalanche of 64 bits, identical on every platform.
// SplitMix64's n-th number is Mix64(seed + n * kGoldenGamma).
inline uint64_t Mix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace ponder

#endif  // PONDER_BASE_HASH_H_
