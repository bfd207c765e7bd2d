// The qrepair executable: parses the command line and owns the one error policy.
#include <spdlog/spdlog.h>

#include <iostream>

#include "commands.h"
#include "qrepair/version.h"

int main(int argc, char** argv) {
  using qrepair::ExitCode;
  CLI::App app{"qrepair: repair quantized neural networks with the Z3 SMT solver"};
  app.set_version_flag("--version", std::string("qrepair ") + qrepair::kVersion);
  app.require_subcommand(1);
  bool quiet = false;
  int verbose = 0;
  app.add_flag("-q,--quiet", quiet, "Only errors on stderr");
  app.add_flag("-v,--verbose", verbose, "More detail on stderr (-vv for solver detail)");
  app.parse_complete_callback([&] { qrepair::cli::SetVerbosity(quiet, verbose); });
  qrepair::cli::SetUpEval(app);
  qrepair::cli::SetUpQuantize(app);
  qrepair::cli::SetUpRank(app);
  qrepair::cli::SetUpRepair(app);
  qrepair::cli::SetUpExport(app);
  qrepair::cli::SetUpSweep(app);
  qrepair::cli::SetUpBatch(app);
  qrepair::cli::SetUpVerify(app);
  try {
    app.parse(argc, argv);
  } catch (const qrepair::Error& e) {
    std::cerr << "qrepair: error: " << e.what() << "\n";
    return static_cast<int>(e.code());
  } catch (const CLI::Error& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(ExitCode::kUsage);
  } catch (const std::bad_alloc&) {
    std::cerr << "qrepair: error: out of memory\n";
    return static_cast<int>(ExitCode::kLimitReached);
  } catch (const std::exception& e) {
    std::cerr << "qrepair: internal error: " << e.what() << "\n";
    return static_cast<int>(ExitCode::kInternal);
  }
  return static_cast<int>(qrepair::cli::CommandExitCode());
}
