// Job options as CLI11 flags, generated from the one table.
#include "job_flags.h"

#include <nlohmann/json.hpp>

namespace qrepair::cli {

namespace {

using nlohmann::json;

// The table's check as a CLI11 validator. `description` is what --help shows ("" for none).
CLI::Validator TableCheck(const JobOptionSpec& spec, const std::string& description) {
  return CLI::Validator(
      [&spec](std::string& text) -> std::string {
        json value;
        switch (spec.type) {
          case JobOptionType::kNumber:
            value = std::stod(text);  // CLI11 has already parsed it as a number
            break;
          case JobOptionType::kInteger:
            value = std::stoll(text);
            break;
          case JobOptionType::kUnsigned:
            value = static_cast<int64_t>(std::stoull(text));
            break;
          default:
            value = text;
        }
        std::string problem = CheckJobOption(spec, value);
        const std::string own = std::string(spec.key) + ": ";  // CLI11 names the flag itself
        if (problem.compare(0, own.size(), own) == 0) problem.erase(0, own.size());
        return problem;
      },
      description);
}

// What --help has always shown for the option's check: the choices, or the range unless it only
// refuses nonsense, written as CLI11's own IsMember and Range validators write them.
std::string CheckDescription(const JobOptionSpec& spec) {
  switch (spec.type) {
    case JobOptionType::kString:
      return spec.check != nullptr ? "" : "{" + std::string(spec.choices) + "}";
    case JobOptionType::kInteger:
      if (spec.quiet_range) return "";
      return CLI::Range(static_cast<int64_t>(spec.min), static_cast<int64_t>(spec.max))
          .get_description();
    case JobOptionType::kUnsigned:
      if (spec.quiet_range) return "";
      return CLI::Range(static_cast<uint64_t>(spec.min), static_cast<uint64_t>(spec.max))
          .get_description();
    case JobOptionType::kNumber:
      if (spec.quiet_range) return "";
      return CLI::Range(spec.min, spec.max).get_description();
    default:
      return "";
  }
}

}  // namespace

void AddJobFlags(CLI::App* cmd, JobFlags& f, JobFlagStyle style,
                 const std::function<void(const std::string& key)>& before) {
  const bool repair = style == JobFlagStyle::kRepair;
  const json defaults = JobOptionDefaults();
  for (const JobOptionSpec& s : JobOptionSpecs()) {
    if (repair && s.help == nullptr) continue;  // a shared data flag
    if (before) before(s.key);
    const std::string name = JobOptionFlag(s);
    const std::string help =
        repair ? s.help : std::string(s.brief) + " (default: as for `qrepair repair`)";
    const json& d = defaults.at(s.key);
    CLI::Option* o = nullptr;
    switch (s.type) {
      case JobOptionType::kPath:
      case JobOptionType::kString:
      case JobOptionType::kRange:
        if (repair && d.is_string()) f.text[s.key] = d.get<std::string>();
        o = cmd->add_option(name, f.text[s.key], help);
        break;
      case JobOptionType::kNumber:
        if (repair) f.number[s.key] = d.get<double>();
        o = cmd->add_option(name, f.number[s.key], help);
        break;
      case JobOptionType::kUnsigned:
        if (repair) {
          f.count[s.key] = d.get<uint64_t>();
          o = cmd->add_option(name, f.count[s.key], help);
          break;
        }
        [[fallthrough]];  // the batch's job flags have always shown INT
      case JobOptionType::kInteger:
        if (repair) f.integer[s.key] = d.get<int64_t>();
        o = cmd->add_option(name, f.integer[s.key], help);
        break;
      case JobOptionType::kBool:
        if (repair) f.flag[s.key] = d.get<bool>();
        o = cmd->add_flag(name, f.flag[s.key], help);
        break;
      case JobOptionType::kStringList:
        o = cmd->add_option(name, f.list[s.key], help);
        break;
    }
    if (repair) {
      const bool shows_default =
          !d.is_null() && s.type != JobOptionType::kBool && s.type != JobOptionType::kStringList;
      if (shows_default) o->capture_default_str();
      if (s.type != JobOptionType::kPath && s.type != JobOptionType::kBool &&
          s.type != JobOptionType::kStringList && s.type != JobOptionType::kRange) {
        o->check(TableCheck(s, CheckDescription(s)));
      }
    } else {
      o->group("Job options (with a folder of models)");
    }
    f.given[s.key] = o;
  }
}

namespace {

json FlagValue(const JobFlags& f, const JobOptionSpec& s) {
  switch (s.type) {
    case JobOptionType::kPath:
    case JobOptionType::kString:
    case JobOptionType::kRange:
      return f.text.at(s.key);
    case JobOptionType::kNumber:
      return f.number.at(s.key);
    case JobOptionType::kUnsigned:
      if (f.count.count(s.key) != 0) return f.count.at(s.key);
      return f.integer.at(s.key);
    case JobOptionType::kInteger:
      return f.integer.at(s.key);
    case JobOptionType::kBool:
      return f.flag.at(s.key);
    case JobOptionType::kStringList:
      return f.list.at(s.key);
  }
  return nullptr;
}

}  // namespace

json GivenJobFlags(const JobFlags& f) {
  json out = json::object();
  for (const JobOptionSpec& s : JobOptionSpecs()) {
    auto it = f.given.find(s.key);
    if (it == f.given.end() || it->second->count() == 0) continue;
    out[s.key] = FlagValue(f, s);
  }
  return out;
}

json AllJobFlags(const JobFlags& f) {
  json out = json::object();
  for (const JobOptionSpec& s : JobOptionSpecs()) {
    if (f.given.count(s.key) == 0) continue;
    const bool unset_path = (s.type == JobOptionType::kPath || s.type == JobOptionType::kRange) &&
                            f.text.at(s.key).empty();
    out[s.key] = unset_path ? json(nullptr) : FlagValue(f, s);
  }
  return out;
}

}  // namespace qrepair::cli
