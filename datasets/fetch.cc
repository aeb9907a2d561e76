#include "datasets/fetch.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "base/strings.h"
#include "datasets/dataset.h"
#include "datasets/sha256.h"

namespace ponder::datasets {
namespace {

namespace fs = std::filesystem;

// Pinned sources. The checksums were computed on the files in ../shared/datasets, which were
// copied byte for byte from these commits (see each folder's SOURCE.md there).
const std::vector<RemoteFile>& Catalog() {
  static const auto* const catalog = new std::vector<RemoteFile>{
      {"gsm8k/test.jsonl",
       "https://raw.githubusercontent.com/openai/grade-school-math/"
       "3101c7d5072418e28b9008a6636bde82a006892c/grade_school_math/data/test.jsonl",
       "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14", 749738,
       "openai/grade-school-math (the dataset's own repository)"},
      {"gsm8k/train.jsonl",
       "https://raw.githubusercontent.com/openai/grade-school-math/"
       "3101c7d5072418e28b9008a6636bde82a006892c/grade_school_math/data/train.jsonl",
       "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465", 4166206,
       "openai/grade-school-math (the dataset's own repository)"},
      // prm800k keeps the file in Git LFS; media.githubusercontent.com serves LFS contents, and
      // the checksum is the LFS object id.
      {"math500/test.jsonl",
       "https://media.githubusercontent.com/media/openai/prm800k/"
       "7ecc794703b2877f63226f2477a49b34f9b25163/prm800k/math_splits/test.jsonl",
       "35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132", 446564,
       "openai/prm800k (Git LFS object)"},
      {"humaneval/HumanEval.jsonl.gz",
       "https://raw.githubusercontent.com/openai/human-eval/"
       "6d43fb980f9fee3c892a914eda09951f772ad10d/data/HumanEval.jsonl.gz",
       "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef", 44877,
       "openai/human-eval (the dataset's own repository)"},
      // The canonical MBPP folder lives in google-research/google-research (about 1 GB); the
      // bytes whose checksum is known here come from a repository that vendors that folder
      // verbatim, pinned to a commit.
      {"mbpp/mbpp.jsonl",
       "https://raw.githubusercontent.com/patdfb/TPC-EES/"
       "30c8c572bfcd0fc5fa537210710d7fde134e4868/mbpp/mbpp.jsonl",
       "ccf64ceae9c5403bf50a044cb6d505bfd2a2963ee58338ba268fd65beab92a9f", 563743,
       "google-research/google-research mbpp/, as vendored by patdfb/TPC-EES"},
      {"mbpp/sanitized-mbpp.json",
       "https://raw.githubusercontent.com/patdfb/TPC-EES/"
       "30c8c572bfcd0fc5fa537210710d7fde134e4868/mbpp/sanitized-mbpp.json",
       "7fec016546acaee11dbe14f9f0bb670e59f41919f7b522a59fba34871da78551", 300253,
       "google-research/google-research mbpp/, as vendored by patdfb/TPC-EES"},
  };
  return *catalog;
}

void InitCurlOnce() {
  static std::once_flag once;
  // curl_global_init is not thread-safe; do it once, before any handle exists.
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  std::FILE* file = nullptr;
  internal::Sha256 hash;
  int64_t bytes = 0;
  int64_t limit = 0;
  bool too_large = false;
  bool write_failed = false;
};

size_t WriteChunk(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  size_t n = size * count;
  if (transfer->bytes + static_cast<int64_t>(n) > transfer->limit) {
    transfer->too_large = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  if (std::fwrite(data, 1, n, transfer->file) != n) {
    transfer->write_failed = true;
    return 0;
  }
  transfer->hash.Update(std::string_view(data, n));
  transfer->bytes += static_cast<int64_t>(n);
  return n;
}

// Folders from the first missing ancestor of `folder` down to `folder`, which this call creates;
// Remove() takes away those still empty.
class CreatedFolders {
 public:
  absl::Status Create(const fs::path& folder) {
    std::vector<fs::path> missing;
    std::error_code error;
    for (fs::path p = folder; !p.empty() && !fs::exists(p, error); p = p.parent_path()) {
      missing.push_back(p);
      if (p == p.parent_path()) break;
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
      if (!fs::create_directory(*it, error) && error) {
        return absl::PermissionDeniedError(
            absl::StrCat("cannot create folder ", it->string(), ": ", error.message()));
      }
      created_.push_back(*it);
    }
    return absl::OkStatus();
  }
  void RemoveEmpty() {
    std::error_code error;
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
      if (fs::is_empty(*it, error)) fs::remove(*it, error);
    }
    created_.clear();
  }

 private:
  std::vector<fs::path> created_;
};

absl::StatusOr<bool> HasVerifiedCopy(const std::string& path, std::string_view sha256,
                                     int64_t size) {
  std::error_code error;
  if (!fs::is_regular_file(path, error)) return false;
  if (static_cast<int64_t>(fs::file_size(path, error)) != size || error) return false;
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return false;
  internal::Sha256 hash;
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) hash.Update({buffer, n});
  std::fclose(file);
  return hash.HexDigest() == sha256;
}

// What to do without the network, for the message of a failed download.
std::string Remedy(const RemoteFile& file, std::string_view cache_dir) {
  return absl::StrCat(" Without network access, copy the file by hand (", file.size,
                      " bytes, sha256 ", file.sha256, ", from ", file.url, ") to ",
                      AsAbsl(cache_dir), "/", file.path, ", or to DIR/", file.path,
                      " for a folder DIR of your choice and pass --data-dir DIR (or set "
                      "PONDER_DATA_DIR=DIR).");
}

}  // namespace

absl::StatusOr<std::vector<RemoteFile>> FetchSources(std::string_view name) {
  const DatasetInfo* info = FindDataset(name);
  if (info == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown dataset '", AsAbsl(name), "'"));
  }
  if (info->generated) {
    return absl::FailedPreconditionError(
        absl::StrCat(info->name,
                     " is generated by Ponder itself; there is nothing to fetch (use it as "
                     "--dataset ",
                     info->name, ", or `ponder datasets export ", info->name, "`)"));
  }
  std::vector<RemoteFile> files;
  for (const auto& [split, candidates] : info->files) {
    for (const RemoteFile& file : Catalog()) {
      bool wanted = std::find(candidates.begin(), candidates.end(), file.path) != candidates.end();
      bool seen = std::any_of(files.begin(), files.end(),
                              [&](const RemoteFile& f) { return f.path == file.path; });
      if (wanted && !seen) files.push_back(file);
    }
  }
  if (files.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot fetch ", info->name, ": ", info->notes.empty() ? "no download source" : info->notes,
        " Then pass --data-dir <DIR> (or set PONDER_DATA_DIR)."));
  }
  return files;
}

absl::Status DownloadVerified(const std::string& url, const std::string& destination,
                              std::string_view expected_sha256, int64_t expected_size,
                              const FetchOptions& options) {
  InitCurlOnce();
  static std::atomic<int> counter{0};
  const std::string temporary =
      absl::StrCat(destination, ".part-", getpid(), "-", counter.fetch_add(1));
  int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", temporary, ": ", std::strerror(errno)));
  }
  Transfer transfer;
  transfer.file = fdopen(fd, "wb");
  transfer.limit = expected_size;
  if (transfer.file == nullptr) {
    close(fd);
    unlink(temporary.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", temporary));
  }

  CURL* curl = curl_easy_init();
  char curl_error[CURL_ERROR_SIZE] = {0};
  CURLcode code = CURLE_FAILED_INIT;
  if (curl != nullptr) {
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteChunk);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);  // an HTTP status >= 400 is an error
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);     // thread-safe timeouts
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT,
                     static_cast<long>(options.connect_timeout_seconds));
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>(options.stall_timeout_seconds));
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "ponder-datasets/0.1");
    code = curl_easy_perform(curl);
    curl_easy_cleanup(curl);
  }
  bool closed = std::fclose(transfer.file) == 0;

  absl::Status status;
  if (transfer.too_large) {
    status = absl::DataLossError(absl::StrCat("download of ", url, " is larger than the expected ",
                                              expected_size, " bytes; discarded"));
  } else if (transfer.write_failed || !closed) {
    status =
        absl::InternalError(absl::StrCat("cannot write ", temporary, ": ", std::strerror(errno)));
  } else if (code != CURLE_OK) {
    std::string reason = curl_error[0] != '\0' ? curl_error : curl_easy_strerror(code);
    status = absl::UnavailableError(absl::StrCat("cannot download ", url, ": ", reason));
  } else {
    std::string sha256 = transfer.hash.HexDigest();
    if (transfer.bytes != expected_size || sha256 != expected_sha256) {
      status = absl::DataLossError(
          absl::StrCat("checksum mismatch for ", url, ": expected ", expected_size,
                       " bytes with sha256 ", AsAbsl(expected_sha256), ", got ", transfer.bytes,
                       " bytes with sha256 ", sha256, "; the download was discarded"));
    }
  }
  if (status.ok() && std::rename(temporary.c_str(), destination.c_str()) != 0) {
    status = absl::InternalError(
        absl::StrCat("cannot rename ", temporary, " to ", destination, ": ", std::strerror(errno)));
  }
  if (!status.ok()) unlink(temporary.c_str());
  return status;
}

absl::StatusOr<std::vector<FetchedFile>> FetchDataset(std::string_view name,
                                                      const FetchOptions& options) {
  absl::StatusOr<std::vector<RemoteFile>> sources = FetchSources(name);
  if (!sources.ok()) return sources.status();
  const std::string cache_dir =
      options.cache_dir.empty() ? ResolveDataDir("").path : options.cache_dir;
  std::vector<FetchedFile> fetched;
  for (const RemoteFile& source : *sources) {
    FetchedFile file;
    file.path = (fs::path(cache_dir) / source.path).string();
    file.url = options.mirror.empty() ? source.url : absl::StrCat(options.mirror, "/", source.path);
    file.bytes = source.size;
    if (!options.force) {
      absl::StatusOr<bool> present = HasVerifiedCopy(file.path, source.sha256, source.size);
      if (present.ok() && *present) {
        fetched.push_back(std::move(file));
        continue;
      }
    }
    CreatedFolders folders;
    absl::Status status = folders.Create(fs::path(file.path).parent_path());
    if (status.ok()) {
      status = DownloadVerified(file.url, file.path, source.sha256, source.size, options);
    }
    if (!status.ok()) {
      folders.RemoveEmpty();
      return absl::Status(status.code(),
                          absl::StrCat(status.message(), ".", Remedy(source, cache_dir)));
    }
    file.downloaded = true;
    fetched.push_back(std::move(file));
  }
  return fetched;
}

}  // namespace ponder::datasets
