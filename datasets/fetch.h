// `ponder datasets fetch NAME`: downloads a dataset's files from their canonical public
// location into a cache folder, checking each against a pinned SHA-256 and size.
//
// Promises:
//  * A file is in the cache only if its size and SHA-256 match: it is written to a temporary
//    file beside its final path and renamed into place after the check. On any failure the
//    temporary file is removed, as are the folders this call created and left empty, so nothing
//    of a failed download remains.
//  * Every download failure (no network, HTTP error, timeout, checksum mismatch) is an error
//    whose message says what failed and how to do without the network: put the file there by
//    hand and pass --data-dir (or set PONDER_DATA_DIR).
//  * A file already present with the right checksum is not downloaded again (unless `force`).
//  * URLs are pinned to commits, so the checksums stay valid; only http and https are followed.
//
// The cache folder has the data-dir layout (<cache>/gsm8k/test.jsonl, ...), and its default is
// ResolveDataDir("") (PONDER_DATA_DIR, else ~/.cache/ponder/datasets), so a fetched dataset
// loads without flags.
#ifndef PONDER_DATASETS_FETCH_H_
#define PONDER_DATASETS_FETCH_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ponder::datasets {

// One file of a dataset and where it comes from.
struct RemoteFile {
  std::string path;    // under the cache folder, e.g. "gsm8k/test.jsonl"
  std::string url;     // the canonical location, pinned to a commit
  std::string sha256;  // 64 lowercase hex digits
  int64_t size = 0;    // bytes
  std::string origin;  // where the bytes come from, for `ponder datasets show`
};

// The files `fetch` downloads for `name`. InvalidArgument for an unknown dataset;
// FailedPrecondition for one that cannot be fetched (MATH: no source with a known checksum;
// arith: generated), with a message saying what to do instead.
absl::StatusOr<std::vector<RemoteFile>> FetchSources(std::string_view name);

struct FetchOptions {
  // The cache folder; empty: ResolveDataDir("").path.
  std::string cache_dir;
  // When non-empty, each file is fetched from "<mirror>/<path>" instead of its canonical URL:
  // a copy of a data folder served over HTTP (tests use one on 127.0.0.1).
  std::string mirror;
  bool force = false;  // download even when a verified copy is present
  int connect_timeout_seconds = 15;
  // A transfer slower than 1 byte/s for this long is abandoned.
  int stall_timeout_seconds = 30;
};

struct FetchedFile {
  std::string path;  // the file in the cache
  std::string url;   // where it was (or would have been) downloaded from
  int64_t bytes = 0;
  bool downloaded = false;  // false: a verified copy was already there
};

// Downloads every file of `name` (FetchSources) into the cache, in order, stopping at the first
// failure; files fetched before it stay (they are verified).
absl::StatusOr<std::vector<FetchedFile>> FetchDataset(std::string_view name,
                                                      const FetchOptions& options);

// Downloads `url` to `destination`, requiring `expected_size` bytes with SHA-256
// `expected_sha256`. Nothing is left at `destination` (or beside it) on failure.
absl::Status DownloadVerified(const std::string& url, const std::string& destination,
                              std::string_view expected_sha256, int64_t expected_size,
                              const FetchOptions& options);

}  // namespace ponder::datasets

#endif  // PONDER_DATASETS_FETCH_H_
