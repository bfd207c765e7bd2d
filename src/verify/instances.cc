// The instance runner of `qrepair verify --instances` (instances.h): the list, the resume keys,
// results.csv appended line by line, counterexample files and the Markdown summary.
#include "qrepair/verify/instances.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "qrepair/io/atomic_file.h"
#include "qrepair/solver/child_process.h"
#include "qrepair/verify/verify_report.h"
#include "qrepair/verify/vnnlib.h"

namespace qrepair {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char kResultsHeader[] = "network,property,verdict,seconds,reason,key";

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string ReadText(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw BadInput(path, "", std::string("cannot read the ") + what + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// RFC 4180 fields: quoted when they hold a comma, a quote or a line break.
std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// Splits one line of our own results.csv; false when the line is malformed.
bool SplitCsvLine(const std::string& line, std::vector<std::string>& fields) {
  fields.assign(1, "");
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"' && fields.back().empty()) {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return !quoted;
}

std::string ResultLine(const InstanceResult& r) {
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.3f", r.seconds);
  return CsvField(r.network) + "," + CsvField(r.property) + "," + r.verdict + "," + seconds + "," +
         CsvField(r.reason) + "," + r.key + "\n";
}

// The lines of an earlier results.csv that ended with a newline (a line cut by a kill is not).
std::vector<InstanceResult> ReadResults(const std::string& path) {
  std::string text = ReadText(path, "results of the earlier run");
  std::vector<InstanceResult> out;
  size_t begin = 0;
  int line_number = 0;
  std::vector<std::string> f;
  for (size_t end; (end = text.find('\n', begin)) != std::string::npos; begin = end + 1) {
    std::string line = text.substr(begin, end - begin);
    if (++line_number == 1) {
      if (Trim(line) != kResultsHeader) {
        throw BadInput(path, "line 1",
                       std::string("expected the header '") + kResultsHeader +
                           "' of qrepair verify's results (use another --out-dir, or drop "
                           "--resume to start over)");
      }
      continue;
    }
    InstanceResult r;
    if (!SplitCsvLine(line, f) || f.size() != 6) {
      throw BadInput(path, "line " + std::to_string(line_number),
                     "expected network,property,verdict,seconds,reason,key");
    }
    r.network = f[0];
    r.property = f[1];
    r.verdict = f[2];
    r.seconds = std::atof(f[3].c_str());
    r.reason = f[4];
    r.key = f[5];
    out.push_back(std::move(r));
  }
  return out;
}

void AppendLine(const std::string& path, const std::string& line) {
  std::FILE* file = std::fopen(path.c_str(), "a");
  bool ok = file && std::fwrite(line.data(), 1, line.size(), file) == line.size() &&
            std::fflush(file) == 0 && fsync(fileno(file)) == 0;
  int error = errno;
  if (file && std::fclose(file) != 0) ok = false;
  if (!ok) throw Error(ExitCode::kIoError, path + ": cannot append: " + std::strerror(error));
}

std::string Stem(const std::string& path) {
  std::string stem = fs::path(path).stem().string();
  return stem.empty() ? "instance" : stem;
}

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

class KeyMaker {
 public:
  explicit KeyMaker(const InstancesOptions& o) {
    const DataOptions* d = o.models.calibration ? &*o.models.calibration : nullptr;
    setup_ = {
        {"config", o.models.config_path.empty() ? json(nullptr) : json(Hash(o.models.config_path))},
        {"data", d ? json(Hash(d->data_path)) : json(nullptr)},
        {"input_scale", d ? d->input_scale : 1.0},
        {"input_offset", d ? d->input_offset : 0.0},
        {"range", d && d->range ? json({d->range->begin, d->range->end}) : json(nullptr)},
        {"work_limit", o.verify.work_limit},
        {"leaf_time_limit", o.verify.leaf_time_limit_seconds},
        {"memory_limit_mb", o.verify.memory_limit_mb},
        {"seed", o.verify.seed}};
    // Only when set, so that the keys of runs made before the flag existed stay valid.
    if (o.verify.leaf_work_limit > 0) setup_["leaf_work_limit"] = o.verify.leaf_work_limit;
  }
  std::string Key(const VerifyInstance& instance, double time_limit) {
    json j = setup_;
    j["network"] = Hash(instance.network_path);
    j["property"] = Hash(instance.property_path);
    j["time_limit"] = time_limit;
    return Sha256(j.dump());
  }

 private:
  std::string Hash(const std::string& path) {
    auto it = hashes_.find(path);
    if (it != hashes_.end()) return it->second;
    std::error_code ec;
    // A missing file still gets a key (the instance fails with its own message later).
    std::string h = fs::is_regular_file(path, ec) ? Sha256File(path) : "missing:" + path;
    return hashes_.emplace(path, h).first->second;
  }
  json setup_;
  std::map<std::string, std::string> hashes_;
};

}  // namespace

std::vector<VerifyInstance> ReadInstanceList(const std::string& path) {
  std::string text = ReadText(path, "instance list");
  fs::path folder = fs::path(path).parent_path();
  std::vector<VerifyInstance> out;
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    line = Trim(line);
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream fields(line);
    for (std::string field; std::getline(fields, field, ',');) f.push_back(Trim(field));
    std::string place = "line " + std::to_string(number);
    if (f.size() != 3 || f[0].empty() || f[1].empty()) {
      throw BadInput(path, place, "expected onnx,vnnlib,timeout (3 fields), got '" + line + "'");
    }
    char* end = nullptr;
    double timeout = std::strtod(f[2].c_str(), &end);
    if (end == f[2].c_str() || *end != '\0') {
      if (out.empty() && number == 1) continue;  // a header line
      throw BadInput(path, place, "expected a timeout in seconds, got '" + f[2] + "'");
    }
    if (!std::isfinite(timeout) || timeout <= 0) {
      throw BadInput(path, place, "expected a timeout > 0 seconds, got '" + f[2] + "'");
    }
    auto resolve = [&](const std::string& p) {
      return fs::path(p).is_absolute() ? p : (folder / p).string();
    };
    out.push_back({f[0], f[1], timeout, resolve(f[0]), resolve(f[1])});
  }
  if (out.empty()) throw BadInput(path, "", "no instances (expected onnx,vnnlib,timeout lines)");
  return out;
}

namespace {

struct InstanceOutcome {
  InstanceResult result;
  bool interrupted = false;
};

// An instance child's answer through its pipe.
std::string OutcomeToText(const InstanceOutcome& o) {
  const InstanceResult& r = o.result;
  return json({{"network", r.network},
               {"property", r.property},
               {"verdict", r.verdict},
               {"seconds", r.seconds},
               {"reason", r.reason},
               {"key", r.key},
               {"interrupted", o.interrupted}})
      .dump();
}

std::optional<InstanceOutcome> OutcomeFromText(const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("verdict") || !j.contains("interrupted")) return std::nullopt;
  InstanceOutcome o;
  o.result = {j["network"].get<std::string>(),
              j["property"].get<std::string>(),
              j["verdict"].get<std::string>(),
              j["seconds"].get<double>(),
              j["reason"].get<std::string>(),
              j["key"].get<std::string>(),
              false};
  o.interrupted = j["interrupted"].get<bool>();
  return o;
}

std::string IoErrorFromText(const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  return j.is_object() && j.contains("io_error") && j["io_error"].is_string()
             ? j["io_error"].get<std::string>()
             : "";
}

}  // namespace

InstancesRun RunInstances(const std::string& list_path, const InstancesOptions& options,
                          const VerifyFunction& verify) {
  std::vector<VerifyInstance> all = ReadInstanceList(list_path);
  std::vector<const VerifyInstance*> shard;
  for (size_t i = 0; i < all.size(); ++i) {
    if (InShard(i, options.shard)) shard.push_back(&all[i]);
  }
  VerifyModels models(options.models);
  std::error_code ec;
  fs::create_directories(options.out_dir + "/counterexamples", ec);
  if (ec) throw Error(ExitCode::kIoError, options.out_dir + ": cannot create: " + ec.message());
  const std::string results_path = options.out_dir + "/results.csv";

  KeyMaker keys(options);
  auto time_limit = [&](const VerifyInstance& i) {
    return options.verify.time_limit_seconds > 0 ? options.verify.time_limit_seconds
                                                 : i.timeout_seconds;
  };
  std::vector<std::string> shard_keys;
  std::map<std::pair<std::string, std::string>, std::string> key_of;
  for (const VerifyInstance* i : shard) {
    shard_keys.push_back(keys.Key(*i, time_limit(*i)));
    key_of[{i->network, i->property}] = shard_keys.back();
  }

  // Earlier results: kept when they are this shard's instances with the current key and not
  // errors; rewritten at once, so the file holds only what a later --resume may trust and only
  // this list's shard (a line of another list or set-up would be counted twice otherwise).
  std::map<std::pair<std::string, std::string>, InstanceResult> done;
  std::string kept = std::string(kResultsHeader) + "\n";
  if (options.resume && fs::exists(results_path, ec)) {
    for (InstanceResult& r : ReadResults(results_path)) {
      auto it = key_of.find({r.network, r.property});
      if (r.verdict == "error" || it == key_of.end() || it->second != r.key) continue;
      kept += ResultLine(r);
      done[{r.network, r.property}] = std::move(r);
    }
  }
  WriteFileAtomic(results_path, kept);

  InstancesRun run;
  run.instances = static_cast<int64_t>(shard.size());
  // One instance, in this process or in a child of the pool: its result line, or "interrupted"
  // (not a result: the instance runs again on --resume).
  const auto run_one = [&](size_t k) {
    const VerifyInstance& instance = *shard[k];
    InstanceOutcome o;
    o.result = {instance.network, instance.property, "", 0, "", shard_keys[k], false};
    InstanceResult& r = o.result;
    VerifyOptions vo = options.verify;
    vo.time_limit_seconds = time_limit(instance);
    auto start = std::chrono::steady_clock::now();
    try {
      const ModelFile& model = models.Open(instance.network_path);
      Property property = ParseVnnlib(instance.property_path);
      VerifyResult result = verify(model.quantized, property, vo);
      if (result.verdict == Verdict::kUnknown && vo.stop && vo.stop->load()) {
        o.interrupted = true;
        return o;
      }
      r.verdict = ResultWord(result);
      r.reason = result.verdict == Verdict::kUnknown ? result.reason : "";
      if (result.counterexample) {
        WriteFileAtomic(
            options.out_dir + "/counterexamples/" + Stem(instance.network) + "__" +
                Stem(instance.property) + ".json",
            CounterexampleFileText(*result.counterexample, property, instance.network_path));
      }
    } catch (const Error& e) {
      if (e.code() == ExitCode::kIoError) throw;
      r.verdict = "error";
      r.reason = FirstLine(e.what());
    }
    // Wall clock of the whole instance: reading the property, the network's first opening
    // (quantization included) and the verification, as VNN-COMP counts it.
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return o;
  };
  std::vector<std::optional<InstanceResult>> finished(shard.size());
  const auto record = [&](size_t k, InstanceResult r) {
    AppendLine(results_path, ResultLine(r));
    ++run.run;
    run.errors += r.verdict == "error";
    spdlog::info("[{}/{}] {} {}: {} ({:.1f} s){}", k + 1, shard.size(), r.network, r.property,
                 r.verdict, r.seconds, r.reason.empty() ? "" : ": " + r.reason);
    finished[k] = std::move(r);
  };
  const auto resumed = [&](size_t k) {
    auto it = done.find({shard[k]->network, shard[k]->property});
    if (it == done.end()) return false;
    it->second.resumed = true;
    finished[k] = it->second;
    ++run.resumed;
    return true;
  };
  const auto stopped = [&] { return options.verify.stop && options.verify.stop->load(); };
  if (options.verify.jobs <= 1) {
    for (size_t k = 0; k < shard.size(); ++k) {
      if (resumed(k)) continue;
      if (stopped()) {
        run.interrupted = true;
        break;
      }
      InstanceOutcome o = run_one(k);
      if (o.interrupted) {
        run.interrupted = true;
        break;
      }
      record(k, std::move(o.result));
    }
  } else {
    // Instances in parallel, each in a child process (the verifier forks its Z3 leaves from a
    // single thread: child_process.h). A network is opened (quantized) once, here, before the
    // children inherit it; one that cannot be opened fails in its instances' children instead.
    for (const VerifyInstance* i : shard) {
      try {
        models.Open(i->network_path);
      } catch (const Error&) {
      }
    }
    ChildLimits limits;
    limits.stop = options.verify.stop;
    // The children enforce the instance's own limit; the parent's is a safety net above it, and
    // the memory is that of the verifier's solver processes plus the instance's own.
    limits.memory_limit_mb = 2 * options.verify.memory_limit_mb + 2048;
    std::string io_error;
    RunChildPool(
        shard.size(), options.verify.jobs,
        [&](size_t k) -> std::optional<ChildProcess> {
          if (resumed(k)) return std::nullopt;
          if (stopped() || !io_error.empty()) {
            run.interrupted = true;
            return std::nullopt;
          }
          ChildLimits l = limits;
          l.seconds = 1.5 * time_limit(*shard[k]) + 60;
          return DefaultChildLauncher().Start(
              [&, k] {
                try {
                  return OutcomeToText(run_one(k));
                } catch (const Error& e) {  // an I/O error ends the whole run, as without --jobs
                  return json({{"io_error", e.what()}}).dump();
                }
              },
              l);
        },
        [&](size_t k, const ChildProcess::Outcome& out) {
          if (out.killed && stopped()) {
            run.interrupted = true;
            return;
          }
          std::optional<InstanceOutcome> o = OutcomeFromText(out.text);
          if (!o) {
            const std::string io = IoErrorFromText(out.text);
            if (!io.empty()) {
              io_error = io;
              return;
            }
            InstanceResult r{shard[k]->network,
                             shard[k]->property,
                             "error",
                             out.seconds,
                             "the instance's process ended without a result: " + out.detail,
                             shard_keys[k],
                             false};
            record(k, std::move(r));
            return;
          }
          if (o->interrupted) {
            run.interrupted = true;
            return;
          }
          record(k, std::move(o->result));
        });
    if (!io_error.empty()) throw Error(ExitCode::kIoError, io_error);
  }
  for (std::optional<InstanceResult>& r : finished) {
    if (r) run.results.push_back(std::move(*r));
  }
  WriteFileAtomic(options.out_dir + "/summary.md",
                  InstancesSummaryMarkdown(run, list_path, options.shard));
  return run;
}

ExitCode InstancesExitCode(const InstancesRun& run) {
  if (run.interrupted) return ExitCode::kInterrupted;
  if (run.errors > 0) return ExitCode::kBatchPartial;
  return ExitCode::kSuccess;
}

std::string InstancesSummaryMarkdown(const InstancesRun& run, const std::string& list_path,
                                     const Shard& shard) {
  const char* words[] = {"holds", "violated", "timeout", "unknown", "error"};
  std::map<std::string, int64_t> counts;
  double total = 0, largest = 0;
  const InstanceResult* slowest = nullptr;
  for (const InstanceResult& r : run.results) {
    ++counts[r.verdict];
    total += r.seconds;
    if (!slowest || r.seconds > largest) {
      largest = r.seconds;
      slowest = &r;
    }
  }
  char buf[256];
  std::string md = "# qrepair verify: " + list_path + "\n\n";
  std::snprintf(
      buf, sizeof buf,
      "Shard %d/%d: %lld instances, %zu finished (%lld resumed from an earlier run)%s.\n\n",
      shard.index, shard.count, static_cast<long long>(run.instances), run.results.size(),
      static_cast<long long>(run.resumed),
      run.interrupted ? "; interrupted, re-run with --resume" : "");
  md += buf;
  md += "| verdict | instances |\n|---|---:|\n";
  for (const char* w : words)
    md += "| " + std::string(w) + " | " + std::to_string(counts[w]) + " |\n";
  std::snprintf(buf, sizeof buf, "\nTotal %.1f s; largest %.1f s", total, largest);
  md += buf;
  if (slowest) md += " (" + slowest->network + ", " + slowest->property + ")";
  md +=
      ".\n\n| # | network | property | verdict | seconds | reason |\n|---:|---|---|---|---:|---|\n";
  for (size_t i = 0; i < run.results.size(); ++i) {
    const InstanceResult& r = run.results[i];
    std::string reason = r.reason;
    std::replace(reason.begin(), reason.end(), '|', '/');
    std::snprintf(buf, sizeof buf, "%.2f", r.seconds);
    md += "| " + std::to_string(i + 1) + " | " + r.network + " | " + r.property + " | " +
          r.verdict + (r.resumed ? " (resumed)" : "") + " | " + buf + " | " + reason + " |\n";
  }
  return md;
}

}  // namespace qrepair
