// Philox4x32-10, a counter-based random number generator (Salmon et al., "Parallel random
// numbers: as easy as 1, 2, 3", SC'11). A draw is a pure function of (key, counter), so a
// sequence's random numbers depend only on its seed, its index and its step — never on what
// else runs in the same batch or in what order sequences are processed.
#ifndef PONDER_ENGINE_SAMPLING_PHILOX_H_
#define PONDER_ENGINE_SAMPLING_PHILOX_H_

#include <array>
#include <cstdint>

namespace ponder::engine {

inline std::array<uint32_t, 4> Philox4x32(std::array<uint32_t, 4> counter,
                                          std::array<uint32_t, 2> key) {
  constexpr uint32_t kMul0 = 0xD2511F53, kMul1 = 0xCD9E8D57;
  constexpr uint32_t kWeyl0 = 0x9E3779B9, kWeyl1 = 0xBB67AE85;
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = static_cast<uint64_t>(kMul0) * counter[0];
    uint64_t p1 = static_cast<uint64_t>(kMul1) * counter[2];
    counter = {static_cast<uint32_t>(p1 >> 32) ^ counter[1] ^ key[0], static_cast<uint32_t>(p1),
               static_cast<uint32_t>(p0 >> 32) ^ counter[3] ^ key[1], static_cast<uint32_t>(p0)};
    key[0] += kWeyl0;
    key[1] += kWeyl1;
  }
  return counter;
}

// A uniform double in [0, 1) determined by (seed, stream, step): 53 random bits.
inline double UniformDouble(uint64_t seed, uint64_t stream, uint64_t step) {
  std::array<uint32_t, 4> out =
      Philox4x32({static_cast<uint32_t>(step), static_cast<uint32_t>(step >> 32),
                  static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)},
                 {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
  uint64_t bits = (static_cast<uint64_t>(out[0]) << 32 | out[1]) >> 11;
  return static_cast<double>(bits) * 0x1.0p-53;
}

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_SAMPLING_PHILOX_H_
