#include "orchestrator/results/progress.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace ponder::results {
namespace {

struct Parts {
  std::string percent, accuracy, rate, eta;
};

Parts Describe(const ProgressSnapshot& p) {
  Parts parts;
  const double fraction =
      p.total > 0 ? static_cast<double>(p.done) / static_cast<double>(p.total) : 0.0;
  parts.percent = absl::StrFormat("%d%%", static_cast<int>(std::floor(fraction * 100)));
  parts.accuracy =
      p.graded > 0 ? absl::StrFormat("%.3f (%d/%d)",
                                     static_cast<double>(p.correct) / static_cast<double>(p.graded),
                                     p.correct, p.graded)
                   : "-";
  parts.rate = p.seconds > 0
                   ? absl::StrFormat("%.0f tok/s", static_cast<double>(p.tokens) / p.seconds)
                   : "- tok/s";
  parts.eta = "-";
  if (p.done_this_session > 0 && p.seconds > 0 && p.total >= p.done) {
    const double per_run = p.seconds / static_cast<double>(p.done_this_session);
    parts.eta = FormatDuration(per_run * static_cast<double>(p.total - p.done));
  }
  return parts;
}

}  // namespace

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "-";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s < 60) return absl::StrFormat("%ds", s);
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
}

std::string FormatProgressBar(const ProgressSnapshot& p, int bar_width) {
  const Parts parts = Describe(p);
  const double fraction =
      p.total > 0 ? std::clamp(static_cast<double>(p.done) / static_cast<double>(p.total), 0.0, 1.0)
                  : 0.0;
  const int filled = static_cast<int>(std::floor(fraction * bar_width));
  std::string bar = "[" + std::string(static_cast<size_t>(filled), '#') +
                    std::string(static_cast<size_t>(bar_width - filled), '-') + "]";
  std::string failed = p.failed > 0 ? absl::StrFormat("  %d failed", p.failed) : "";
  return absl::StrFormat("%s %d/%d %s  acc %s  %s  ETA %s%s", bar, p.done, p.total, parts.percent,
                         parts.accuracy, parts.rate, parts.eta, failed);
}

std::string FormatProgressLine(const ProgressSnapshot& p) {
  const Parts parts = Describe(p);
  std::string failed = p.failed > 0 ? absl::StrFormat(", %d failed", p.failed) : "";
  return absl::StrFormat("progress: %d/%d runs (%s), accuracy %s, %s, ETA %s%s", p.done, p.total,
                         parts.percent, parts.accuracy, parts.rate, parts.eta, failed);
}

}  // namespace ponder::results
