// Data-set certification: one verifier call per (sample, radius), journaled as it finishes.
#include "qrepair/verify/certify.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <utility>

#include "qrepair/error.h"
#include "qrepair/io/atomic_file.h"
#include "qrepair/quant/forward.h"
#include "qrepair/solver/child_process.h"
#include "qrepair/verify/equivalence.h"

namespace qrepair {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string RadiusText(double r) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", r);
  return buf;
}

// Journal key of one verdict: the same sample at the same radius under the same setup.
std::string JournalKey(const std::string& setup, int64_t index, double radius) {
  return setup + "|" + std::to_string(index) + "|" + RadiusText(radius);
}

SampleCertificate FromJson(const nlohmann::json& j) {
  SampleCertificate c;
  c.index = j.at("index").get<int64_t>();
  c.label = j.at("label").get<int>();
  c.target = j.at("target").get<int>();
  c.predicted = j.at("predicted").get<int>();
  c.radius = j.at("radius").get<double>();
  c.verdict = j.at("verdict").get<std::string>();
  c.reason = j.value("reason", "");
  c.seconds = j.at("seconds").get<double>();
  c.counterexample_raw = j.value("counterexample_raw", std::vector<double>{});
  c.counterexample_top1 = j.value("counterexample_top1", -1);
  c.counterexample_float_top1 = j.value("counterexample_float_top1", -1);
  c.counterexample_file = j.value("counterexample_file", "");
  return c;
}

// Verdicts of earlier runs with the same setup; a line that does not parse (a run killed in the
// middle of writing it) is the last one and is dropped.
std::map<std::string, SampleCertificate> ReadJournal(const std::string& path,
                                                     const std::string& setup) {
  std::map<std::string, SampleCertificate> done;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.value("setup", "") != setup) continue;
    try {
      SampleCertificate c = FromJson(j);
      done[JournalKey(setup, c.index, c.radius)] = c;
    } catch (const nlohmann::json::exception&) {
      continue;
    }
  }
  return done;
}

void AppendJournal(const std::string& path, const std::string& setup, const SampleCertificate& c) {
  nlohmann::json j = c;
  j["setup"] = setup;
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (!f) throw Error(ExitCode::kIoError, path + ": cannot append to the journal");
  const std::string line = j.dump() + "\n";
  const bool ok = std::fwrite(line.data(), 1, line.size(), f) == line.size() && std::fflush(f) == 0;
  std::fclose(f);
  if (!ok) throw Error(ExitCode::kIoError, path + ": cannot append to the journal");
}

std::vector<int> FloatTargets(const Network& net, const Dataset& data) {
  return ArgmaxColumns(ForwardFloat(net, InputBatch(data)));
}

}  // namespace

BallDecision VerifyBallDecision(const QuantizedNetwork& network, const RawInputMap& map,
                                const RawBall& whole, int target, const VerifyOptions& limits_in,
                                const VerifierFn& verifier, const std::string& name) {
  const auto t0 = Clock::now();
  const auto features = static_cast<int64_t>(whole.lower.size());
  BallDecision answer;
  // Boxes of grid points still to verify. A counterexample whose input codes no grid point has
  // splits its box around the first such code; codes are monotone in the raw value, so the two
  // parts hold every grid point of the box and exclude the unreachable code.
  std::vector<RawBall> pending{whole};
  while (!pending.empty()) {
    const RawBall ball = std::move(pending.back());
    pending.pop_back();
    VerifyOptions limits = limits_in;
    if (limits_in.time_limit_seconds > 0) {
      limits.time_limit_seconds = limits_in.time_limit_seconds - Since(t0);
      if (limits.time_limit_seconds <= 0) {
        answer.verdict = Verdict::kUnknown;
        answer.reason = "the per-sample time limit";
        return answer;
      }
    }
    const Property property = DecisionChangeProperty(network.NumClasses(), target, network.decision,
                                                     InputBoxOfBall(map, ball), name);
    const VerifyResult result = verifier(network, property, limits);
    ++answer.calls;
    if (result.verdict == Verdict::kHolds) continue;
    if (result.verdict == Verdict::kUnknown) {
      answer.verdict = Verdict::kUnknown;
      answer.reason = result.reason;
      return answer;
    }
    const Counterexample& ce = *result.counterexample;
    std::vector<double> grid(features);
    int64_t off_grid = -1;
    std::vector<int64_t> codes_of_off_grid;
    for (int64_t i = 0; i < features && off_grid < 0; ++i) {
      if (!map.integer_grid) {
        grid[i] = (ce.input[i] - map.offset) / map.scale;
        continue;
      }
      std::vector<int64_t> codes = GridCodes(network, map, ball, i);
      auto hit = std::find(codes.begin(), codes.end(), ce.codes[i]);
      if (hit == codes.end()) {
        off_grid = i;
        codes_of_off_grid = std::move(codes);
      } else {
        grid[i] = ball.lower[i] + static_cast<double>(hit - codes.begin());
      }
    }
    if (off_grid >= 0) {
      RawBall below = ball, above = ball;
      const auto first_above =
          std::upper_bound(codes_of_off_grid.begin(), codes_of_off_grid.end(), ce.codes[off_grid]) -
          codes_of_off_grid.begin();
      // Grid values [lower, lower + first_above) code below the counterexample's code, the rest
      // above it (none equals it).
      if (first_above > 0) {
        below.upper[off_grid] = ball.lower[off_grid] + static_cast<double>(first_above - 1);
        pending.push_back(std::move(below));
      }
      if (first_above < static_cast<int64_t>(codes_of_off_grid.size())) {
        above.lower[off_grid] = ball.lower[off_grid] + static_cast<double>(first_above);
        pending.push_back(std::move(above));
      }
      continue;
    }
    // Re-check the grid point end to end, as a user's `qrepair eval` of the file would.
    FloatBatch x(features, 1);
    for (int64_t i = 0; i < features; ++i) x(i, 0) = map.ToInput(grid[i]);
    const int top1 = PredictQuantized(network, x)[0];
    if (top1 == target) {
      throw InternalError(name +
                          ": the verifier's counterexample keeps the target on the grid "
                          "point");
    }
    answer.verdict = Verdict::kViolated;
    answer.raw = std::move(grid);
    answer.top1 = top1;
    return answer;
  }
  answer.verdict = Verdict::kHolds;
  return answer;
}

namespace {

std::vector<double> RawOfRow(const RawInputMap& map, const Dataset& data, int64_t row) {
  std::vector<double> raw(data.features);
  for (int64_t i = 0; i < data.features; ++i) {
    std::optional<double> r = RawFromInput(map, data.Row(row)[i]);
    if (!r) {
      throw BadInput(data.source,
                     "row " + std::to_string(data.first_row + row) + ", value " + std::to_string(i),
                     "not on the integer grid of the input map (raw * scale + offset)");
    }
    raw[i] = *r;
  }
  return raw;
}

// A certificate's identity: row, label, target, prediction and radius; no verdict yet.
SampleCertificate Certificate(const Dataset& data, int64_t row, int target, int predicted,
                              double radius) {
  SampleCertificate c;
  c.index = data.first_row + row;
  c.label = data.HasLabels() ? data.labels[row] : -1;
  c.target = target;
  c.predicted = predicted;
  c.radius = radius;
  return c;
}

// One (sample, radius) of the robust property.
SampleCertificate CertifyOne(const QuantizedNetwork& network, const Dataset& data, int64_t row,
                             int target, int predicted, double radius, const RawInputMap& map,
                             const VerifyOptions& limits, const VerifierFn& verifier) {
  SampleCertificate c = Certificate(data, row, target, predicted, radius);
  if (predicted != target) {
    c.verdict = "misclassified";
    return c;
  }
  const auto t0 = Clock::now();
  const BallDecision answer = VerifyBallDecision(
      network, map, MakeRawBall(map, RawOfRow(map, data, row), radius), target, limits, verifier,
      "sample " + std::to_string(c.index) + " radius " + RadiusText(radius));
  c.seconds = Since(t0);
  if (answer.verdict == Verdict::kUnknown) {
    c.verdict = "unknown";
    c.reason = answer.reason;
  } else if (answer.verdict == Verdict::kViolated) {
    c.verdict = "non-robust";
    c.counterexample_raw = answer.raw;
    c.counterexample_top1 = answer.top1;
  } else {
    c.verdict = "robust";
    if (answer.calls > 1) c.reason = std::to_string(answer.calls) + " verifier calls (grid splits)";
  }
  return c;
}

// One (sample, radius) of the equivalent property; `target` is the float network's top-1.
SampleCertificate EquivalentOne(const QuantizedNetwork& network, const Network& float_network,
                                const Dataset& data, int64_t row, int target, int predicted,
                                double radius, const RawInputMap& map, const VerifyOptions& limits,
                                const VerifierFn& verifier) {
  SampleCertificate c = Certificate(data, row, target, predicted, radius);
  const auto t0 = Clock::now();
  const std::vector<double> raw = RawOfRow(map, data, row);
  const EquivalenceAnswer a = CheckEquivalence(
      network, float_network, map, MakeRawBall(map, raw, radius), raw, limits, verifier,
      "sample " + std::to_string(c.index) + " radius " + RadiusText(radius));
  c.seconds = Since(t0);
  c.verdict = a.verdict;
  c.reason = a.reason;
  if (a.verdict == "non-equivalent") {
    c.counterexample_raw = a.raw;
    c.counterexample_top1 = a.quant_top1;
    c.counterexample_float_top1 = a.float_top1;
  }
  return c;
}

}  // namespace

const char* CertifyPropertyName(CertifyProperty p) {
  return p == CertifyProperty::kEquivalent ? "equivalent" : "robust";
}

CertifyResult CertifyDataset(const QuantizedNetwork& network, const Network* float_network,
                             const Dataset& data, const CertifyOptions& options,
                             const VerifierFn& verifier,
                             const std::function<void(const SampleCertificate&)>& on_verdict) {
  if (options.radii.empty()) throw Error(ExitCode::kUsage, "--radius: at least one radius");
  if (data.features != network.input_shape.Size()) {
    throw BadInput(data.source, "",
                   "rows have " + std::to_string(data.features) + " values, the network takes " +
                       std::to_string(network.input_shape.Size()));
  }
  const bool equivalent = options.property == CertifyProperty::kEquivalent;
  if (equivalent && !float_network)
    throw Error(ExitCode::kUsage, "--property equivalent needs a float network");
  std::vector<int> targets;
  if (options.target == CertifyTarget::kLabels && !equivalent) {
    if (!data.HasLabels()) throw Error(ExitCode::kUsage, "--target labels needs --labels");
    targets = data.labels;
  } else {
    if (!float_network) throw Error(ExitCode::kUsage, "--target float needs a float network");
    targets = FloatTargets(*float_network, data);
  }
  for (int64_t r = 0; r < data.rows; ++r) {
    if (targets[r] < 0 || targets[r] >= network.NumClasses()) {
      throw BadInput(data.source, "row " + std::to_string(data.first_row + r),
                     "target " + std::to_string(targets[r]) + " outside the network's " +
                         std::to_string(network.NumClasses()) + " classes");
    }
  }
  const std::vector<int> predicted = PredictQuantized(network, InputBatch(data));

  std::map<std::string, SampleCertificate> journal;
  if (options.resume && !options.journal_path.empty())
    journal = ReadJournal(options.journal_path, options.setup_key);

  CertifyResult result;
  const auto t0 = Clock::now();
  for (double radius : options.radii) {
    // The certificate of a sample left undecided, for `reason`.
    const auto undecided = [&](int64_t row, std::string reason) {
      SampleCertificate c = Certificate(data, row, targets[row], predicted[row], radius);
      c.verdict = "unknown";
      c.reason = std::move(reason);
      return c;
    };
    // A sample that needs no verification now (journaled, or the run stopped or out of time).
    const auto settled = [&](int64_t row) -> std::optional<SampleCertificate> {
      auto it = journal.find(JournalKey(options.setup_key, data.first_row + row, radius));
      if (it != journal.end()) {
        ++result.resumed;
        return it->second;
      }
      const bool stopped = options.stop && options.stop->load();
      const bool out_of_time =
          options.time_limit_seconds > 0 && Since(t0) >= options.time_limit_seconds;
      if (!stopped && !out_of_time) return std::nullopt;
      result.interrupted = result.interrupted || stopped;
      return undecided(row, stopped ? "interrupted" : "the run's time limit");
    };
    const auto certify = [&](int64_t row) {
      VerifyOptions per_sample = options.verify;
      if (options.time_limit_seconds > 0) {
        const double left = options.time_limit_seconds - Since(t0);
        if (per_sample.time_limit_seconds <= 0 || per_sample.time_limit_seconds > left)
          per_sample.time_limit_seconds = left;
      }
      per_sample.stop = options.stop;
      SampleCertificate c =
          equivalent ? EquivalentOne(network, *float_network, data, row, targets[row],
                                     predicted[row], radius, options.map, per_sample, verifier)
                     : CertifyOne(network, data, row, targets[row], predicted[row], radius,
                                  options.map, per_sample, verifier);
      if (!c.counterexample_raw.empty() && !options.counterexample_dir.empty()) {
        c.counterexample_file = options.counterexample_dir + "/ce_" + std::to_string(c.index) +
                                "_r" + RadiusText(radius) + ".npy";
        WriteFileAtomic(c.counterexample_file, OneRowNpy(c.counterexample_raw));
      }
      return c;
    };
    std::vector<SampleCertificate> certs(static_cast<size_t>(data.rows));
    const auto decided = [&](int64_t row, SampleCertificate c, bool fresh) {
      // Interrupted verdicts are not final: they are not journaled.
      if (fresh && !options.journal_path.empty() && c.reason != "interrupted")
        AppendJournal(options.journal_path, options.setup_key, c);
      spdlog::info("radius {} row {}: {}{}{} ({:.2f} s)", RadiusText(radius), c.index, c.verdict,
                   c.reason.empty() ? "" : ": ", c.reason, c.seconds);
      if (on_verdict) on_verdict(c);
      certs[static_cast<size_t>(row)] = std::move(c);
    };
    if (options.verify.jobs <= 1) {
      for (int64_t row = 0; row < data.rows; ++row) {
        std::optional<SampleCertificate> c = settled(row);
        decided(row, c ? std::move(*c) : certify(row), !c);
      }
    } else {
      // Samples in parallel, each in a child process (the verifier forks its Z3 leaves from a
      // single thread: child_process.h); the certificates come back as their JSON.
      ChildLimits limits;
      limits.stop = options.stop;
      limits.memory_limit_mb = 2 * options.verify.memory_limit_mb + 2048;
      RunChildPool(
          static_cast<size_t>(data.rows), options.verify.jobs,
          [&](size_t k) -> std::optional<ChildProcess> {
            const auto row = static_cast<int64_t>(k);
            if (std::optional<SampleCertificate> c = settled(row)) {
              decided(row, std::move(*c), false);
              return std::nullopt;
            }
            ChildLimits l = limits;
            const double own = options.verify.time_limit_seconds > 0
                                   ? options.verify.time_limit_seconds
                                   : options.time_limit_seconds;
            l.seconds = own > 0 ? 1.5 * own + 60 : 1e9;
            return DefaultChildLauncher().Start(
                [&, row] {
                  nlohmann::json j = certify(row);
                  return j.dump();
                },
                l);
          },
          [&](size_t k, const ChildProcess::Outcome& out) {
            const auto row = static_cast<int64_t>(k);
            const nlohmann::json j = nlohmann::json::parse(out.text, nullptr, false);
            SampleCertificate c;
            if (!out.killed && j.is_object()) {
              c = FromJson(j);
            } else {
              const bool stopped = options.stop && options.stop->load();
              result.interrupted = result.interrupted || stopped;
              c = undecided(row, stopped ? "interrupted" : "the sample's process: " + out.detail);
              c.seconds = out.seconds;
            }
            decided(row, std::move(c), true);
          });
    }
    RadiusSummary summary;
    summary.property = options.property;
    summary.radius = radius;
    for (SampleCertificate& c : certs) {
      ++summary.samples;
      if (c.verdict == "robust" || c.verdict == "equivalent") ++summary.robust;
      if (c.verdict == "non-robust" || c.verdict == "non-equivalent") ++summary.non_robust;
      if (c.verdict == "misclassified") ++summary.misclassified;
      if (c.verdict == "unknown") ++summary.unknown;
      summary.seconds_total += c.seconds;
      summary.seconds_max = std::max(summary.seconds_max, c.seconds);
      result.samples.push_back(std::move(c));
    }
    result.summary.push_back(summary);
  }
  return result;
}

void to_json(nlohmann::json& json, const SampleCertificate& c) {
  json = {{"index", c.index},         {"label", c.label},   {"target", c.target},
          {"predicted", c.predicted}, {"radius", c.radius}, {"verdict", c.verdict},
          {"seconds", c.seconds}};
  if (!c.reason.empty()) json["reason"] = c.reason;
  if (!c.counterexample_raw.empty()) {
    json["counterexample_raw"] = c.counterexample_raw;
    json["counterexample_top1"] = c.counterexample_top1;
    if (c.counterexample_float_top1 >= 0)
      json["counterexample_float_top1"] = c.counterexample_float_top1;
  }
  if (!c.counterexample_file.empty()) json["counterexample_file"] = c.counterexample_file;
}

void to_json(nlohmann::json& json, const RadiusSummary& s) {
  json = {{"property", CertifyPropertyName(s.property)},
          {"radius", s.radius},
          {"samples", s.samples},
          {"decided", s.Decided()},
          {"unknown", s.unknown},
          {"seconds_total", s.seconds_total},
          {"seconds_max", s.seconds_max}};
  if (s.property == CertifyProperty::kEquivalent) {
    json["equivalent"] = s.robust;
    json["non_equivalent"] = s.non_robust;
  } else {
    json["robust"] = s.robust;
    json["non_robust"] = s.non_robust;
    json["misclassified"] = s.misclassified;
  }
}

std::string CertifyMarkdown(const CertifyResult& result, const std::vector<std::string>& setup) {
  const bool equivalent =
      !result.summary.empty() && result.summary[0].property == CertifyProperty::kEquivalent;
  std::ostringstream md;
  md << (equivalent ? "# Float-vs-integer equivalence certificate\n\n"
                    : "# Local robustness certificate\n\n");
  for (const std::string& line : setup) md << "- " << line << "\n";
  if (equivalent) {
    md << "\n| radius | samples | decided | equivalent | non-equivalent | unknown | "
          "certified equivalent | total s | largest s |\n"
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  } else {
    md << "\n| radius | samples | decided | robust | non-robust | misclassified | unknown | "
          "certified robust | total s | largest s |\n"
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  }
  for (const RadiusSummary& s : result.summary) {
    char line[256];
    char misclassified[32] = "";
    if (!equivalent)
      std::snprintf(misclassified, sizeof(misclassified), " %lld |",
                    static_cast<long long>(s.misclassified));
    std::snprintf(
        line, sizeof(line), "| %s | %lld | %lld | %lld | %lld |%s %lld | %.1f %% | %.1f | %.2f |\n",
        RadiusText(s.radius).c_str(), static_cast<long long>(s.samples),
        static_cast<long long>(s.Decided()), static_cast<long long>(s.robust),
        static_cast<long long>(s.non_robust), misclassified, static_cast<long long>(s.unknown),
        s.samples ? 100.0 * static_cast<double>(s.robust) / static_cast<double>(s.samples) : 0.0,
        s.seconds_total, s.seconds_max);
    md << line;
  }
  if (equivalent) {
    md << "\n\"certified equivalent\": on every input of the ball the float network (exact "
          "arithmetic) and the integer network take the same top-1. \"target\" is the float "
          "network's top-1 at the sample, \"predicted\" the integer network's.\n\n";
  } else {
    md << "\n\"certified robust\" counts robust samples among all samples (misclassified ones "
          "included in the denominator).\n\n";
  }
  md << "| row | radius | label | target | predicted | verdict | seconds | counterexample |\n"
        "|---:|---:|---:|---:|---:|---|---:|---|\n";
  for (const SampleCertificate& c : result.samples) {
    char line[256];
    std::snprintf(line, sizeof(line), "| %lld | %s | %d | %d | %d | %s | %.2f | ",
                  static_cast<long long>(c.index), RadiusText(c.radius).c_str(), c.label, c.target,
                  c.predicted, c.verdict.c_str(), c.seconds);
    md << line
       << (c.counterexample_file.empty() ? (c.reason.empty() ? "" : c.reason)
                                         : c.counterexample_file)
       << " |\n";
  }
  return md.str();
}

std::string OneRowNpy(const std::vector<double>& raw) {
  // NumPy format 1.0: magic, version, little-endian header length, a Python dict literal padded
  // with spaces and ended by a newline so that the data starts at a multiple of 64 bytes.
  std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (1, " +
                     std::to_string(raw.size()) + "), }";
  const size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(dict.size() & 0xff);
  out += static_cast<char>((dict.size() >> 8) & 0xff);
  out += dict;
  for (double v : raw) {
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(bits));
    for (int b = 0; b < 8; ++b) out += static_cast<char>((bits >> (8 * b)) & 0xff);
  }
  return out;
}

}  // namespace qrepair
