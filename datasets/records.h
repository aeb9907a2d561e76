// Internal to datasets/: reading dataset files into JSON records with their line numbers.
// Not part of the public API; the loaders (dataset.cc) and the tests and fuzz targets of this
// part use it.
#ifndef PONDER_DATASETS_RECORDS_H_
#define PONDER_DATASETS_RECORDS_H_

#include <cstdint>
#include <functional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace ponder::datasets::internal {

// Decompressed files larger than this are refused (a gzip bomb must not exhaust memory); the
// largest real dataset file (GSM8K train) is 4 MB.
inline constexpr size_t kMaxDecodedBytes = size_t{1} << 30;

// `bytes` itself, or its gzip decompression when it starts with the gzip magic (1f 8b); several
// concatenated gzip members decode to their concatenation, as gunzip does. A UTF-8 byte order
// mark at the start is dropped. DataLoss naming `source` for a corrupt or truncated stream.
absl::StatusOr<std::string> DecodeMaybeGzip(std::string_view bytes, std::string_view source);

// Cancelled: reading `source` stopped at `line` (0: no line to name) because a stop was requested.
absl::Status ReadingStopped(std::string_view source, int64_t line);

// Reads `path` whole (base's ReadFileToString) and decodes it as DecodeMaybeGzip does.
// NotFound/PermissionDenied name the path; a directory is InvalidArgument "<path> is a
// directory, not a file". Once `stop` is requested, a gzip file's decoding ends Cancelled
// (ReadingStopped): it is looked at before the first and after every megabyte of output.
absl::StatusOr<std::string> ReadDatasetFile(const std::string& path, std::stop_token stop = {});

// One JSON value from a file and where it starts.
struct JsonRecord {
  const nlohmann::json& value;
  int64_t line = 0;   // 1-based line of its first character
  int64_t index = 0;  // 0-based position among the file's records, bad ones included
};

// Accumulates what could not be read: one warning per skipped record, "<source>:<line>: <why>"
// ("<source>: <why>" for line 0, when there is no line to name).
struct SkipLog {
  int64_t skipped = 0;
  std::vector<std::string> warnings;
  void Skip(std::string_view source, int64_t line, std::string_view why);
};

// JSON Lines: calls `visit` for each non-blank line that is valid JSON, in order; a line that
// is not costs a SkipLog entry ("not valid JSON at column 12: ..."). Blank lines are ignored
// and do not count as records. Once `stop` is requested, returns Cancelled (naming source and
// line) before the next record.
absl::Status ForEachJsonLine(std::string_view text, std::string_view source, SkipLog& log,
                             const std::function<void(const JsonRecord&)>& visit,
                             std::stop_token stop = {});

// A JSON document whose top level is an array (sanitized-mbpp.json): calls `visit` for each
// element, with the line it starts on. An element that is not valid JSON is skipped through
// `log`; a document that is not an array, or whose brackets do not balance, is
// InvalidArgument naming source and line. Stops as ForEachJsonLine does.
absl::Status ForEachJsonArrayElement(std::string_view text, std::string_view source, SkipLog& log,
                                     const std::function<void(const JsonRecord&)>& visit,
                                     std::stop_token stop = {});

// Parses one JSON document. The error message reads "column C: <reason>"; the 1-based line
// of the error within `text` goes to *error_line when given.
absl::StatusOr<nlohmann::json> ParseJson(std::string_view text, int64_t* error_line = nullptr);

// Field readers for records: the value of `field` when it is a string (or, for
// IntegerField, an integer or a string of digits). Errors: `missing field "x"` /
// `field "x" is not a string`.
absl::StatusOr<std::string> StringField(const nlohmann::json& row, std::string_view field);
absl::StatusOr<int64_t> IntegerField(const nlohmann::json& row, std::string_view field);
// The list of strings in `field`; an absent field is an empty list.
absl::StatusOr<std::vector<std::string>> StringListField(const nlohmann::json& row,
                                                         std::string_view field);

}  // namespace ponder::datasets::internal

#endif  // PONDER_DATASETS_RECORDS_H_
