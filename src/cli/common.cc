// Flags and logging shared by the subcommands.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <string>

#include "commands.h"
#include "qrepair/quant/compute_threads.h"

namespace qrepair::cli {

ExitCode& CommandExitCode() {
  static ExitCode code = ExitCode::kSuccess;
  return code;
}

CLI::Option* AddRealOption(CLI::App* app, const std::string& name, double& value,
                           const std::string& description) {
  return app
      ->add_option_function<std::string>(
          name,
          [&value, name](const std::string& text) {
            const auto real = [&](const std::string& part) {
              size_t used = 0;
              double v = 0;
              try {
                v = std::stod(part, &used);
              } catch (const std::exception&) {
                used = 0;
              }
              if (used == 0 || used != part.size() || !std::isfinite(v)) {
                throw CLI::ValidationError(
                    name,
                    "expected a number or a fraction A/B (such as 1/255), got '" + text + "'");
              }
              return v;
            };
            const size_t slash = text.find('/');
            if (slash == std::string::npos) {
              value = real(text);
              return;
            }
            const double den = real(text.substr(slash + 1));
            if (den == 0)
              throw CLI::ValidationError(name, "the fraction '" + text + "' divides by 0");
            value = real(text.substr(0, slash)) / den;
          },
          description)
      ->type_name("REAL");
}

void AddDataFlags(CLI::App* app, DataFlags& flags, bool with_range) {
  app->add_option("--data", flags.data, "Samples: IDX (.gz), CSV (features then label) or .npy")
      ->required();
  app->add_option("--labels", flags.labels, "Labels: IDX, .npy or one integer per line");
  AddRealOption(app, "--input-scale", flags.input_scale,
                "Network input = raw * scale + offset (1/255 for pixels)");
  AddRealOption(app, "--input-offset", flags.input_offset, "See --input-scale");
  if (with_range) app->add_option("--range", flags.range, "Rows A:B of the data (end exclusive)");
  // Any count gives the same results (the forward passes split samples, never a sum).
  app->add_option_function<int>(
         "--threads", [](const int& threads) { SetComputeThreads(threads); },
         "Threads of the batched forward passes (0: every core; results do not depend on it)")
      ->default_str("0")
      ->check(CLI::Range(0, 1024));
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
                          : (verbose >= 2
                                 ? spdlog::level::trace
                                 : (verbose == 1 ? spdlog::level::debug : spdlog::level::info)));
}

}  // namespace qrepair::cli

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>

namespace qrepair::cli {

namespace {
std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop.store(true); }
bool g_bar_drawn = false;
}  // namespace

const std::atomic<bool>* InstallStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  return &g_stop;
}

void ShowProgress(const char* what, int done, int total, double seconds_left,
                  const std::string& detail) {
  if (spdlog::get_level() > spdlog::level::info) return;
  static auto last = std::chrono::steady_clock::now() - std::chrono::hours(1);
  auto now = std::chrono::steady_clock::now();
  if (isatty(STDERR_FILENO)) {
    int width = 30, filled = total > 0 ? width * done / total : 0;
    std::fprintf(stderr, "\r%s [%.*s%*s] %d/%d  %s  %.0f s left   ", what, filled,
                 "##############################", width - filled, "", done, total, detail.c_str(),
                 seconds_left > 0 ? seconds_left : 0.0);
    g_bar_drawn = true;
  } else if (now - last > std::chrono::seconds(5) || done == total) {
    std::fprintf(stderr, "%s: %d/%d %s, %.0f s left\n", what, done, total, detail.c_str(),
                 seconds_left > 0 ? seconds_left : 0.0);
    last = now;
  }
}

void EndProgress() {
  if (g_bar_drawn) std::fprintf(stderr, "\n");
  g_bar_drawn = false;
}

}  // namespace qrepair::cli
