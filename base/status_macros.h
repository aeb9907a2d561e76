// Early-return helpers for absl::Status / absl::StatusOr, as used across Ponder.
//
//   PONDER_RETURN_IF_ERROR(DoThing());
//   PONDER_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
#ifndef PONDER_BASE_STATUS_MACROS_H_
#define PONDER_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PONDER_STATUS_CONCAT_INNER(a, b) a##b
#define PONDER_STATUS_CONCAT(a, b) PONDER_STATUS_CONCAT_INNER(a, b)

#define PONDER_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status ponder_status_ = (expr);          \
    if (!ponder_status_.ok()) return ponder_status_; \
  } while (0)

#define PONDER_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(tmp).value()

#define PONDER_ASSIGN_OR_RETURN(lhs, expr) \
  PONDER_ASSIGN_OR_RETURN_IMPL(PONDER_STATUS_CONCAT(ponder_statusor_, __LINE__), lhs, expr)

#endif  // PONDER_BASE_STATUS_MACROS_H_
