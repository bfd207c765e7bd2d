// Parsing of the batch manifest (format in docs/batch.md) and of a folder of models.
// Each layer (spec defaults, the manifest's "defaults", a job) is checked where it is written, so
// an error names the JSON path the user typed; the layers are then merged into one object.
#include "qrepair/batch/batch_manifest.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "io/json_file.h"
#include "qrepair/error.h"
#include "qrepair/io/atomic_file.h"

namespace qrepair {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Repair flags a batch sets itself, with why (a plain "unknown key" would mislead).
std::string ReservedKeyReason(const std::string& key) {
  if (key == "jobs")
    return "each job runs single-threaded; `qrepair batch --jobs N` runs N jobs at once";
  if (key == "output" || key == "report" || key == "report_md") {
    return "a job's outputs are written to OUT_DIR/<name>/ (repaired.json, report.json, report.md)";
  }
  if (key == "force" || key == "json") return "a flag of `qrepair batch` itself, not of a job";
  return "";
}

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string UnknownKeyMessage(const std::string& key, const std::vector<std::string>& known) {
  std::string dashed = key;
  std::replace(dashed.begin(), dashed.end(), '-', '_');
  std::string best;
  size_t best_distance = 3;
  for (const std::string& k : known) {
    size_t d = k == dashed ? 0 : EditDistance(key, k);
    if (d < best_distance) best_distance = d, best = k;
  }
  std::string msg = "unknown key '" + key + "'";
  if (!best.empty()) return msg + "; did you mean '" + best + "'?";
  std::string list;
  for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
  return msg + "; expected one of: " + list;
}

std::vector<std::string> OptionKeys(bool with_job_keys) {
  std::vector<std::string> keys;
  if (with_job_keys) keys = {"name", "model"};
  for (const JobOptionSpec& s : JobOptionSpecs()) keys.emplace_back(s.key);
  return keys;
}

using Complain = std::function<Error(const std::string& key, const std::string& message)>;

// Copies the option keys of `layer` into `into`, checked and normalized. `job_keys`: a job
// object ("name" and "model" allowed).
void ApplyLayer(const json& layer, bool job_keys, json& into, const Complain& complain) {
  for (auto it = layer.begin(); it != layer.end(); ++it) {
    const std::string& key = it.key();
    json value = it.value();
    if (job_keys && (key == "name" || key == "model")) {
      if (!value.is_string() || value.get<std::string>().empty()) {
        throw complain(key, "expected a non-empty string, got " + value.dump());
      }
      into[key] = value;
      continue;
    }
    if (key == "name" || key == "model")
      throw complain(key, "belongs in a job, not in \"defaults\"");
    const JobOptionSpec* spec = FindJobOption(key);
    if (!spec) {
      std::string reason = ReservedKeyReason(key);
      throw complain(key, reason.empty() ? UnknownKeyMessage(key, OptionKeys(job_keys))
                                         : "'" + key + "' is not a per-job option: " + reason);
    }
    std::string problem = CheckJobOption(*spec, value);
    if (!problem.empty()) throw complain(key, problem);
    into[key] = value;
  }
}

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (base_dir.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(base_dir) / path).lexically_normal().string();
}

void ResolvePaths(json& options, const std::string& base_dir) {
  for (const char* key : {"model", "config", "data", "labels"}) {
    if (options.contains(key) && options[key].is_string()) {
      options[key] = Resolve(base_dir, options[key].get<std::string>());
    }
  }
  if (options.contains("property") && options["property"].is_array()) {
    for (json& p : options["property"]) {
      if (p.is_string()) p = Resolve(base_dir, p.get<std::string>());
    }
  }
}

}  // namespace

bool IsSafeJobName(const std::string& name) {
  if (name.empty() || name.size() > 100 || !std::isalnum(static_cast<unsigned char>(name[0])))
    return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
      return false;
  }
  return name != "summary.json" && name != "summary.csv" && name != "batch.json";
}

BatchManifest ParseBatchManifest(const json& root, const std::string& source,
                                 const std::string& base_dir, const json& option_defaults) {
  if (!root.is_object()) throw BadInput(source, "$", "expected a JSON object with \"jobs\"");
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() != "defaults" && it.key() != "jobs") {
      throw BadInput(source, "$." + it.key(), UnknownKeyMessage(it.key(), {"defaults", "jobs"}));
    }
  }
  json defaults = option_defaults;
  if (root.contains("defaults")) {
    const json& d = root["defaults"];
    if (!d.is_object())
      throw BadInput(source, "$.defaults", "expected an object of repair options");
    ApplyLayer(d, false, defaults, [&](const std::string& key, const std::string& message) {
      return BadInput(source, "$.defaults." + key, message);
    });
  }
  if (!root.contains("jobs"))
    throw BadInput(source, "$", "missing key \"jobs\" (an array of jobs)");
  const json& jobs = root["jobs"];
  if (!jobs.is_array() || jobs.empty())
    throw BadInput(source, "$.jobs", "expected a non-empty array of jobs");

  BatchManifest manifest;
  manifest.source = source;
  std::map<std::string, std::string> seen;  // name -> JSON path of its job
  for (size_t i = 0; i < jobs.size(); ++i) {
    std::string at = "$.jobs[" + std::to_string(i) + "]";
    if (!jobs[i].is_object()) throw BadInput(source, at, "expected an object with \"model\"");
    json options = defaults;
    ApplyLayer(jobs[i], true, options, [&](const std::string& key, const std::string& message) {
      return BadInput(source, at + "." + key, message);
    });
    if (!options.contains("model")) throw BadInput(source, at, "missing key \"model\"");
    if (options["data"].is_null())
      throw BadInput(source, at, "no \"data\" in the job or in $.defaults");
    std::string name = options.contains("name")
                           ? options["name"].get<std::string>()
                           : fs::path(options["model"].get<std::string>()).stem().string();
    std::string name_at = at + (options.contains("name") ? ".name" : ".model");
    if (!IsSafeJobName(name)) {
      throw BadInput(source, name_at,
                     "job name '" + name +
                         "' cannot be a folder name: use letters, digits, "
                         "'.', '_' and '-' (first a letter or digit), at most 100 characters");
    }
    if (seen.count(name)) {
      throw BadInput(source, name_at,
                     "duplicate job name '" + name + "' (also " + seen[name] + ")");
    }
    seen[name] = name_at;
    options.erase("name");
    ResolvePaths(options, base_dir);
    manifest.jobs.push_back({name, options});
  }
  std::sort(manifest.jobs.begin(), manifest.jobs.end(),
            [](const BatchJob& a, const BatchJob& b) { return a.name < b.name; });
  return manifest;
}

BatchManifest LoadBatchManifest(const std::string& path, const json& option_defaults) {
  std::string bytes;
  const json root = ReadJsonFile(path, "cannot open the batch manifest", &bytes);
  BatchManifest m =
      ParseBatchManifest(root, path, fs::path(path).parent_path().string(), option_defaults);
  m.sha256 = Sha256(bytes);
  return m;
}

BatchManifest ManifestFromModelFolder(const std::string& dir, const json& given,
                                      const json& option_defaults) {
  if (!given.is_object()) throw InternalError("ManifestFromModelFolder: options must be an object");
  json options = option_defaults;
  ApplyLayer(given, false, options, [&](const std::string& key, const std::string& message) {
    std::string flag = "--" + key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    return Error(ExitCode::kUsage, flag + ": " + message);
  });
  if (options["data"].is_null())
    throw Error(ExitCode::kUsage, "--data is required with a folder of models");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw BadInput(dir, "", "not a folder of models");
  std::vector<fs::path> inputs;
  for (const char* key : {"config", "data", "labels"}) {
    if (options[key].is_string()) inputs.emplace_back(options[key].get<std::string>());
  }
  BatchManifest manifest;
  manifest.source = dir;
  std::map<std::string, std::string> seen;  // job name -> file
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    const fs::path& p = entry.path();
    std::string ext = p.extension().string(), file = p.filename().string();
    if (file[0] == '.' || (ext != ".onnx" && ext != ".nnet" && ext != ".json") ||
        !entry.is_regular_file(ec))
      continue;
    bool is_input = std::any_of(inputs.begin(), inputs.end(),
                                [&](const fs::path& in) { return fs::equivalent(in, p, ec); });
    if (is_input) continue;
    std::string name = p.stem().string();
    if (!IsSafeJobName(name)) {
      throw BadInput(dir, file,
                     "'" + name +
                         "' cannot be a job name: use letters, digits, '.', '_' and '-' "
                         "(rename the file or write a manifest)");
    }
    if (seen.count(name)) {
      throw BadInput(dir, file,
                     "'" + seen[name] + "' and '" + file + "' would both be job '" + name +
                         "' (move one out or write a manifest)");
    }
    seen[name] = file;
    json job = options;
    job["model"] = p.lexically_normal().string();
    manifest.jobs.push_back({name, job});
  }
  if (manifest.jobs.empty())
    throw BadInput(dir, "", "no *.onnx, *.nnet or *.json models in this folder");
  std::sort(manifest.jobs.begin(), manifest.jobs.end(),
            [](const BatchJob& a, const BatchJob& b) { return a.name < b.name; });
  json listing = json::array();
  for (const BatchJob& j : manifest.jobs)
    listing.push_back({{"name", j.name}, {"options", j.options}});
  manifest.sha256 = Sha256(listing.dump());
  return manifest;
}

RepairJobOptions ToRepairJobOptions(const BatchJob& job) {
  RepairJobOptions o = RepairJobOptionsFromJson(job.options);
  o.echo["name"] = job.name;
  return o;
}

std::vector<std::pair<std::string, std::string>> JobInputFiles(const BatchJob& job) {
  std::vector<std::pair<std::string, std::string>> files;
  for (const char* key : {"model", "config", "data", "labels"}) {
    if (job.options.contains(key) && job.options[key].is_string()) {
      files.emplace_back(key, job.options[key].get<std::string>());
    }
  }
  return files;
}

json JobKeyOptions(const BatchJob& job) {
  json key = job.options;
  for (const char* k : {"model", "config", "data", "labels"}) key.erase(k);
  return key;
}

}  // namespace qrepair
