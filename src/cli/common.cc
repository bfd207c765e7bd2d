// Flags and logging shared by the subcommands.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "commands.h"

namespace qrepair::cli {

ExitCode& CommandExitCode() {
  static ExitCode code = ExitCode::kSuccess;
  return code;
}

void AddDataFlags(CLI::App* app, DataFlags& flags, bool with_range) {
  app->add_option("--data", flags.data, "Samples: IDX (.gz), CSV (features then label) or .npy")
      ->required();
  app->add_option("--labels", flags.labels, "Labels: IDX, .npy or one integer per line");
  app->add_option("--input-scale", flags.input_scale,
                  "Network input = raw * scale + offset (1/255 = 0.00392156862745098 for pixels)");
  app->add_option("--input-offset", flags.input_offset, "See --input-scale");
  if (with_range) app->add_option("--range", flags.range, "Rows A:B of the data (end exclusive)");
}

DataOptions ToDataOptions(const DataFlags& flags, const std::string& range) {
  DataOptions o;
  o.data_path = flags.data;
  o.labels_path = flags.labels;
  o.input_scale = flags.input_scale;
  o.input_offset = flags.input_offset;
  if (!range.empty()) o.range = ParseRowRange(range, "--range");
  return o;
}

void SetVerbosity(bool quiet, int verbose) {
  auto logger = spdlog::stderr_color_mt("qrepair");
  logger->set_pattern("%^%l%$: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(quiet ? spdlog::level::err
                          : (verbose >= 2 ? spdlog::level::trace
                                          : (verbose == 1 ? spdlog::level::debug : spdlog::level::info)));
}

}  // namespace qrepair::cli
