// Runs a libFuzzer-style target without libFuzzer: every file named on the command line (or
// every file in a named folder) as is, then --iterations=N deterministic mutations of them.
// Deterministic (fixed seed) so a failure reproduces; on a crash signal the input that caused
// it is written to ./fuzz-crash-<target>.bin.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

const std::vector<uint8_t>* g_current_input = nullptr;
char g_crash_path[512];

void OnCrash(int sig) {
  if (g_current_input != nullptr) {
    int fd = ::open(g_crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ssize_t ignored = ::write(fd, g_current_input->data(), g_current_input->size());
      (void)ignored;
      ::close(fd);
    }
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

std::vector<uint8_t> ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void Mutate(std::vector<uint8_t>& data, const std::vector<std::vector<uint8_t>>& corpus,
            std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  int rounds = 1 + static_cast<int>(rng() % 4);
  for (int r = 0; r < rounds; ++r) {
    switch (rng() % 7) {
      case 0:  // flip a bit
        if (!data.empty()) data[pick(data.size())] ^= static_cast<uint8_t>(1u << (rng() % 8));
        break;
      case 1:  // set a byte to an interesting value
        if (!data.empty()) {
          static constexpr uint8_t kInteresting[] = {0, 1, 0x7f, 0x80, 0xff, '{', '"', '\\'};
          data[pick(data.size())] = kInteresting[rng() % sizeof(kInteresting)];
        }
        break;
      case 2:  // truncate
        data.resize(pick(data.size() + 1));
        break;
      case 3: {  // overwrite 8 bytes with a large little-endian integer
        if (data.size() >= 8) {
          size_t at = pick(data.size() - 7);
          uint64_t v = (rng() % 2) ? ~uint64_t{0} >> (rng() % 64) : rng();
          for (int b = 0; b < 8; ++b) data[at + b] = static_cast<uint8_t>(v >> (8 * b));
        }
        break;
      }
      case 4: {  // duplicate a run
        if (!data.empty() && data.size() < (1u << 20)) {
          size_t at = pick(data.size()), len = 1 + pick(std::min<size_t>(64, data.size() - at));
          std::vector<uint8_t> run(data.begin() + at, data.begin() + at + len);
          data.insert(data.begin() + pick(data.size() + 1), run.begin(), run.end());
        }
        break;
      }
      case 5: {  // splice with another corpus entry
        if (!corpus.empty()) {
          const std::vector<uint8_t>& other = corpus[pick(corpus.size())];
          size_t keep = pick(data.size() + 1), from = pick(other.size() + 1);
          data.resize(keep);
          data.insert(data.end(), other.begin() + from, other.end());
        }
        break;
      }
      default:  // erase a run
        if (!data.empty()) {
          size_t at = pick(data.size()), len = 1 + pick(std::min<size_t>(16, data.size() - at));
          data.erase(data.begin() + at, data.begin() + at + len);
        }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 10000;
  std::vector<std::vector<uint8_t>> corpus;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.rfind("--iterations=", 0) == 0) {
      iterations = std::atol(argv[i] + 13);
      continue;
    }
    std::filesystem::path path(arg);
    if (std::filesystem::is_directory(path)) {
      std::vector<std::filesystem::path> files;
      for (const auto& entry : std::filesystem::directory_iterator(path)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& file : files) corpus.push_back(ReadAll(file));
    } else if (std::filesystem::is_regular_file(path)) {
      corpus.push_back(ReadAll(path));
    } else {
      std::fprintf(stderr, "fuzz driver: no such corpus file or folder: %s\n", argv[i]);
      return 2;
    }
  }
  if (corpus.empty()) corpus.push_back({});
  std::string crash_path =
      "fuzz-crash-" + std::filesystem::path(argv[0]).filename().string() + ".bin";
  std::snprintf(g_crash_path, sizeof(g_crash_path), "%s", crash_path.c_str());
  for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL}) std::signal(sig, OnCrash);
  auto run = [&](const std::vector<uint8_t>& input) {
    g_current_input = &input;
    LLVMFuzzerTestOneInput(input.data(), input.size());
    g_current_input = nullptr;
  };
  for (const auto& input : corpus) run(input);
  std::mt19937_64 rng(0x5eed);
  for (long i = 0; i < iterations; ++i) {
    std::vector<uint8_t> input = corpus[rng() % corpus.size()];
    Mutate(input, corpus, rng);
    run(input);
  }
  std::printf("fuzz driver: %zu corpus inputs, %ld mutations, no failures\n", corpus.size(),
              iterations);
  return 0;
}
