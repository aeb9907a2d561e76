// Internal to datasets/: SHA-256 (FIPS 180-4), to check downloads against known checksums.
#ifndef PONDER_DATASETS_SHA256_H_
#define PONDER_DATASETS_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ponder::datasets::internal {

// Incremental SHA-256: Update any number of times, then HexDigest once.
class Sha256 {
 public:
  Sha256();
  void Update(std::string_view bytes);
  // The digest as 64 lowercase hex digits. Finishes the hash: call it once.
  std::string HexDigest();

 private:
  void Compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

// SHA-256 of `bytes` in hex.
std::string Sha256Hex(std::string_view bytes);

}  // namespace ponder::datasets::internal

#endif  // PONDER_DATASETS_SHA256_H_
