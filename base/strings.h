// String helpers shared by all parts.
//
// Debian's Abseil (20220623, built with ABSL_OPTION_USE_STD_STRING_VIEW 0) has its own
// absl::string_view, a distinct type from std::string_view. Ponder's APIs take std::string_view;
// AsAbsl converts at the boundary with absl functions (StrCat, SimpleAtoi, StrSplit, ...) and
// AsStd converts back (e.g. absl::Status::message()).
#ifndef PONDER_BASE_STRINGS_H_
#define PONDER_BASE_STRINGS_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace ponder {

inline absl::string_view AsAbsl(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view AsStd(absl::string_view s) { return {s.data(), s.size()}; }

// ASCII control characters (below 0x20, and DEL): what Printable escapes.
inline bool IsControlCharacter(char c) {
  return static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7F;
}

// OK, or InvalidArgument "'<text>' holds a control character (a NUL, a newline...)" (the text
// through Printable, cut at 64 bytes) for a value that must fit on one line of a results table: a
// problem's id, an experiment's name. Callers add the field, or the file and line, it came from.
absl::Status CheckNoControlCharacters(std::string_view text);

// `text` made safe to quote in a message or print in a table: control characters are written as
// escapes (\n, \r, \t, \x00 ...), and so are bytes that are not UTF-8 (\xff) and the characters
// that steer a terminal or reorder the display without being ASCII (C1 controls, bidirectional
// overrides, isolates and marks, line and paragraph separators: \u009b, \u202e, \u2028); other
// characters stay as they are. Text longer than
// `max_bytes` is cut there (at a character boundary) and ends in "...", so a long or hostile
// value a client sent cannot hide the message it is quoted in.
std::string Printable(std::string_view text, size_t max_bytes = std::string_view::npos);

// The lines of `text`, split at '\n' (a '\r' before it stays on its line); text that ends in
// '\n' ends in an empty line, and "" is one empty line.
std::vector<std::string_view> SplitLines(std::string_view text);

// A configuration field's path: "strategy" + "sampling.top_p" is "strategy.sampling.top_p"; an
// empty `field` is the root.
inline std::string FieldPath(std::string_view field, std::string_view sub) {
  if (field.empty()) return std::string(sub);
  return absl::StrCat(AsAbsl(field), ".", AsAbsl(sub));
}

// The InvalidArgument of a field that broke a rule: "<field>: <rule>", the form every validator
// writes (and Within in orchestrator/validation.h recognises).
inline absl::Status InvalidField(std::string_view field, std::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat(AsAbsl(field), ": ", AsAbsl(rule)));
}

}  // namespace ponder

#endif  // PONDER_BASE_STRINGS_H_
