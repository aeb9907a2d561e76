#include "datasets/records.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/json.h"
#include "base/mapped_file.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "base/utf8.h"

namespace ponder::datasets::internal {
namespace {

bool IsBlank(std::string_view line) {
  return line.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

bool StartsWithGzipMagic(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

void DropByteOrderMark(std::string& text) {
  text.erase(0, text.size() - WithoutByteOrderMark(text).size());
}

// Inflates one or more concatenated gzip members; Cancelled (ReadingStopped) once `stop` is
// requested, looked at first and then every megabyte of output.
absl::StatusOr<std::string> Gunzip(std::string_view bytes, std::string_view source,
                                   const std::stop_token& stop) {
  z_stream stream{};
  // 16 + MAX_WBITS: expect a gzip header and trailer (RFC 1952) rather than a zlib one.
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) {
    return absl::InternalError(absl::StrCat(AsAbsl(source), ": cannot initialise zlib"));
  }
  std::string out;
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  stream.avail_in = static_cast<uInt>(bytes.size());
  char buffer[1 << 16];
  absl::Status status;
  for (int64_t chunk = 0;; ++chunk) {
    if (chunk % 16 == 0 && stop.stop_requested()) {
      status = ReadingStopped(source, 0);
      break;
    }
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof(buffer);
    int rc = inflate(&stream, Z_NO_FLUSH);
    out.append(buffer, sizeof(buffer) - stream.avail_out);
    if (out.size() > kMaxDecodedBytes) {
      status = absl::ResourceExhaustedError(absl::StrCat(
          AsAbsl(source), ": decompresses to more than ", kMaxDecodedBytes, " bytes; refused"));
      break;
    }
    if (rc == Z_STREAM_END) {
      // Another member may follow (gzip allows concatenation); trailing zero padding is
      // tolerated as gunzip does.
      std::string_view rest(reinterpret_cast<const char*>(stream.next_in), stream.avail_in);
      if (rest.find_first_not_of('\0') == std::string_view::npos) break;
      if (inflateReset(&stream) != Z_OK) {
        status = absl::DataLossError(absl::StrCat(AsAbsl(source), ": corrupt gzip data"));
        break;
      }
      continue;
    }
    if (rc == Z_OK) {
      if (stream.avail_in == 0 && stream.avail_out != 0) {
        status = absl::DataLossError(
            absl::StrCat(AsAbsl(source), ": truncated gzip data (unexpected end of file)"));
        break;
      }
      continue;
    }
    if (rc == Z_BUF_ERROR && stream.avail_in == 0) {
      status = absl::DataLossError(
          absl::StrCat(AsAbsl(source), ": truncated gzip data (unexpected end of file)"));
      break;
    }
    status = absl::DataLossError(absl::StrCat(AsAbsl(source), ": corrupt gzip data (",
                                              stream.msg ? stream.msg : "inflate failed", ")"));
    break;
  }
  inflateEnd(&stream);
  if (!status.ok()) return status;
  return out;
}

}  // namespace

absl::StatusOr<std::string> DecodeMaybeGzip(std::string_view bytes, std::string_view source) {
  std::string text;
  if (StartsWithGzipMagic(bytes)) {
    PONDER_ASSIGN_OR_RETURN(text, Gunzip(bytes, source, {}));
  } else {
    text.assign(bytes);
  }
  DropByteOrderMark(text);
  return text;
}

absl::StatusOr<std::string> ReadDatasetFile(const std::string& path, std::stop_token stop) {
  PONDER_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  // DecodeMaybeGzip's work without its copy of a plain file.
  if (StartsWithGzipMagic(text)) {
    PONDER_ASSIGN_OR_RETURN(text, Gunzip(text, path, stop));
  }
  DropByteOrderMark(text);
  return text;
}

void SkipLog::Skip(std::string_view source, int64_t line, std::string_view why) {
  ++skipped;
  if (line <= 0) {
    warnings.push_back(absl::StrCat(AsAbsl(source), ": ", AsAbsl(why)));
  } else {
    warnings.push_back(absl::StrCat(AsAbsl(source), ":", line, ": ", AsAbsl(why)));
  }
}

absl::StatusOr<nlohmann::json> ParseJson(std::string_view text, int64_t* error_line) {
  JsonSyntaxError error;
  absl::StatusOr<nlohmann::json> value = ponder::ParseJson(text, &error);
  if (value.ok()) return value;
  // The line is reported separately, with the file's name.
  if (error_line != nullptr) *error_line = error.line;
  return absl::InvalidArgumentError(absl::StrCat("column ", error.column, ": ", error.reason));
}

absl::Status ReadingStopped(std::string_view source, int64_t line) {
  return absl::CancelledError(absl::StrCat("reading ", AsAbsl(source), " stopped",
                                           line > 0 ? absl::StrCat(" at line ", line) : "",
                                           " (asked to stop)"));
}

absl::Status ForEachJsonLine(std::string_view text, std::string_view source, SkipLog& log,
                             const std::function<void(const JsonRecord&)>& visit,
                             std::stop_token stop) {
  int64_t line_number = 0;
  int64_t index = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (IsBlank(line)) continue;
    if (stop.stop_requested()) return ReadingStopped(source, line_number);
    absl::StatusOr<nlohmann::json> value = ParseJson(line);
    if (!value.ok()) {
      log.Skip(source, line_number,
               absl::StrCat("not valid JSON (", value.status().message(), ")"));
    } else {
      visit(JsonRecord{*value, line_number, index});
    }
    ++index;
  }
  return absl::OkStatus();
}

absl::Status ForEachJsonArrayElement(std::string_view text, std::string_view source, SkipLog& log,
                                     const std::function<void(const JsonRecord&)>& visit,
                                     std::stop_token stop) {
  size_t pos = 0;
  int64_t line = 1;
  auto advance_to = [&](size_t target) {
    for (; pos < target; ++pos) line += text[pos] == '\n';
  };
  auto skip_space = [&] {
    while (pos < text.size() &&
           (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\r' || text[pos] == '\n')) {
      advance_to(pos + 1);
    }
  };
  skip_space();
  if (pos >= text.size() || text[pos] != '[') {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(source), ":", line, ": expected a JSON array of problems"));
  }
  advance_to(pos + 1);
  int64_t index = 0;
  while (true) {
    skip_space();
    if (pos >= text.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(AsAbsl(source), ":", line, ": the array is not closed with ']'"));
    }
    if (text[pos] == ']') break;
    if (stop.stop_requested()) return ReadingStopped(source, line);
    // Find where this element ends: the ',' or ']' at nesting depth 0 outside strings.
    size_t start = pos;
    int64_t start_line = line;
    int depth = 0;
    bool in_string = false;
    size_t end = start;
    for (; end < text.size(); ++end) {
      char c = text[end];
      if (in_string) {
        if (c == '\\') {
          ++end;
        } else if (c == '"') {
          in_string = false;
        }
        continue;
      }
      if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (depth == 0) break;
        --depth;
      } else if (c == ',' && depth == 0) {
        break;
      }
    }
    if (end >= text.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          AsAbsl(source), ":", start_line, ": unbalanced brackets from here to the end of file"));
    }
    if (text[end] == '}') {
      advance_to(end);
      return absl::InvalidArgumentError(
          absl::StrCat(AsAbsl(source), ":", line, ": unbalanced '}' in the array"));
    }
    std::string_view element = text.substr(start, end - start);
    int64_t error_line = 1;
    absl::StatusOr<nlohmann::json> value = ParseJson(element, &error_line);
    if (!value.ok()) {
      log.Skip(source, start_line + error_line - 1,
               absl::StrCat("array element ", index, " is not valid JSON (",
                            value.status().message(), ")"));
    } else {
      visit(JsonRecord{*value, start_line, index});
    }
    ++index;
    advance_to(end);
    if (text[pos] == ',') advance_to(pos + 1);
  }
  advance_to(pos + 1);
  skip_space();
  if (pos != text.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(source), ":", line, ": unexpected text after the array"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> StringField(const nlohmann::json& row, std::string_view field) {
  auto it = row.find(field);
  if (it == row.end()) {
    return absl::InvalidArgumentError(absl::StrCat("missing field \"", AsAbsl(field), "\""));
  }
  if (!it->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("field \"", AsAbsl(field), "\" is not a string"));
  }
  return it->get<std::string>();
}

absl::StatusOr<int64_t> IntegerField(const nlohmann::json& row, std::string_view field) {
  auto it = row.find(field);
  if (it == row.end()) {
    return absl::InvalidArgumentError(absl::StrCat("missing field \"", AsAbsl(field), "\""));
  }
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_float()) {
    double value = it->get<double>();
    if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e15) {
      return static_cast<int64_t>(value);
    }
  }
  if (it->is_string()) {
    int64_t value = 0;
    if (absl::SimpleAtoi(AsAbsl(it->get_ref<const std::string&>()), &value)) return value;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("field \"", AsAbsl(field), "\" is not an integer"));
}

absl::StatusOr<std::vector<std::string>> StringListField(const nlohmann::json& row,
                                                         std::string_view field) {
  std::vector<std::string> values;
  auto it = row.find(field);
  if (it == row.end() || it->is_null()) return values;
  if (!it->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("field \"", AsAbsl(field), "\" is not a list of strings"));
  }
  for (const nlohmann::json& item : *it) {
    if (!item.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("field \"", AsAbsl(field), "\" is not a list of strings"));
    }
    values.push_back(item.get<std::string>());
  }
  return values;
}

}  // namespace ponder::datasets::internal
