// The source of sandbox_driver.py, embedded at build time (internal to verifiers/code).
#ifndef PONDER_VERIFIERS_CODE_SANDBOX_DRIVER_SOURCE_H_
#define PONDER_VERIFIERS_CODE_SANDBOX_DRIVER_SOURCE_H_

namespace ponder::verifiers::sandbox {

extern const char kSandboxDriverSource[];

}  // namespace ponder::verifiers::sandbox

#endif  // PONDER_VERIFIERS_CODE_SANDBOX_DRIVER_SOURCE_H_
