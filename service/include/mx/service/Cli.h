#pragma once
// The meshexport command line. main() only forwards here, so tests can run commands in-process.
namespace mx::service {

/// Runs `meshexport ARGS…`; returns the process exit code:
/// 0 success, 1 internal/io error, 2 usage, 3 bad input, 4 bad tilerConfig, 5 validation failed,
/// 6 requested device unavailable, 7 cancelled.
int runCli(int argc, const char* const* argv);

} // namespace mx::service
