// How `ponder bench` shows an experiment's progress: a bar redrawn in place on a terminal,
// plain lines otherwise (logs, CI).
#ifndef PONDER_ORCHESTRATOR_RESULTS_PROGRESS_H_
#define PONDER_ORCHESTRATOR_RESULTS_PROGRESS_H_

#include <cstdint>
#include <string>

namespace ponder::results {

struct ProgressSnapshot {
  int64_t done = 0;   // runs recorded (this session and before, when resumed)
  int64_t total = 0;  // runs planned
  int64_t graded = 0;
  int64_t correct = 0;
  int64_t failed = 0;
  // Tokens generated and seconds elapsed since this session started, and the runs it recorded
  // in that time: the rate and the estimate of the time left come from them.
  int64_t tokens = 0;
  double seconds = 0;
  int64_t done_this_session = 0;
};

// "[#########-----------]  45/100  45%  acc 0.311 (14/45)  812 tok/s  ETA 1m05s": the bar is
// `bar_width` wide; accuracy, rate and ETA show "-" until known.
std::string FormatProgressBar(const ProgressSnapshot& progress, int bar_width);

// "progress: 45/100 runs (45%), accuracy 0.311 (14/45), 812 tok/s, ETA 1m05s": one line for logs.
std::string FormatProgressLine(const ProgressSnapshot& progress);

// "42s", "3m07s", "2h05m"; "-" for negative or non-finite input.
std::string FormatDuration(double seconds);

}  // namespace ponder::results

#endif  // PONDER_ORCHESTRATOR_RESULTS_PROGRESS_H_
