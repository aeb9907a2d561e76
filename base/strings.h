// String helpers shared by all parts.
//
// Debian's Abseil (20220623, built with ABSL_OPTION_USE_STD_STRING_VIEW 0) has its own
// absl::string_view, a distinct type from std::string_view. Ponder's APIs take std::string_view;
// AsAbsl converts at the boundary with absl functions (StrCat, SimpleAtoi, StrSplit, ...) and
// AsStd converts back (e.g. absl::Status::message()).
#ifndef PONDER_BASE_STRINGS_H_
#define PONDER_BASE_STRINGS_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace ponder {

inline absl::string_view AsAbsl(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view AsStd(absl::string_view s) { return {s.data(), s.size()}; }

}  // namespace ponder

#endif  // PONDER_BASE_STRINGS_H_
