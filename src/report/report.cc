// Repair report as JSON (machines) and Markdown (people).
#include "qrepair/report/report.h"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace qrepair {

using nlohmann::json;

namespace {

json Figures(const EvalSummary& s) {
  // A model without a float network (Network::stand_in) has no agreement or float accuracy.
  json j = {{"samples", s.samples}, {"agreement", s.has_float ? json(s.agreement) : json(nullptr)}};
  j["accuracy"] = s.has_labels ? json(s.quant_accuracy) : json(nullptr);
  j["float_accuracy"] = s.has_labels && s.has_float ? json(s.float_accuracy) : json(nullptr);
  return j;
}

json Fraction(int64_t part, int64_t whole) {
  return whole > 0 ? json(static_cast<double>(part) / static_cast<double>(whole)) : json(nullptr);
}

json Stage(const StageFigures& f) {
  json j = {{"repair", Figures(f.repair)}};
  j["holdout"] = f.holdout.samples > 0 ? Figures(f.holdout) : json(nullptr);
  return j;
}

json PerClass(const StageFigures& before, const StageFigures& after) {
  json out = json::array();
  const EvalSummary& b = before.holdout.samples > 0 ? before.holdout : before.repair;
  const EvalSummary& a = after.holdout.samples > 0 ? after.holdout : after.repair;
  for (size_t c = 0; c < a.per_class.size() && c < b.per_class.size(); ++c) {
    double n = a.per_class[c].samples ? static_cast<double>(a.per_class[c].samples) : 1.0;
    out.push_back({{"label", static_cast<int>(c)},
                   {"samples", a.per_class[c].samples},
                   {"float", a.has_float ? json(a.per_class[c].float_correct / n) : json(nullptr)},
                   {"before", b.per_class[c].quant_correct / n},
                   {"after", a.per_class[c].quant_correct / n}});
  }
  return out;
}

std::string Pct(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", 100 * v);
  return buf;
}

}  // namespace

json ReportToJson(const RepairReport& r) {
  int64_t weights = 0;
  json neurons = json::array();
  for (const NeuronChange& c : r.changes) {
    weights += static_cast<int64_t>(c.changes.size());
    json changes = json::array();
    for (const WeightChange& w : c.changes) {
      changes.push_back({{"input", w.input < 0 ? json("bias") : json(w.input)},
                         {"before", w.before},
                         {"after", w.after}});
    }
    neurons.push_back({{"layer", c.layer_name},
                       {"neuron", c.unit},
                       {"round", c.round},
                       {"weights_changed", c.changes.size()},
                       {"samples_fixed", c.samples_fixed},
                       {"changes", changes}});
  }
  json confusions = json::array();
  for (const auto& [pair, n] : r.fixed_confusions) {
    confusions.push_back({{"was", pair.first}, {"now", pair.second}, {"count", n}});
  }
  json j = {{"tool", "qrepair"},
            {"version", r.tool_version},
            {"model", r.model},
            {"model_sha256", r.model_sha256},
            {"status", r.status},
            {"verified", r.verified},
            {"verification", r.verification_note},
            {"before", Stage(r.before)},
            {"init", Stage(r.init)},
            {"init_method", r.init_method},
            {"scales", {{"rtn", r.rtn_scales}, {"init", r.init_scales}}},
            {"init_layers", {{"total", r.init_layers}, {"done", r.init_layers_done}}},
            {"start", r.start},
            {"stopped", r.stopped},
            {"after", Stage(r.after)},
            {"neurons_repaired", r.changes.size()},
            {"weights_changed", weights},
            {"repair_samples_fixed", r.fixed},
            {"repair_samples_broken", r.broken},
            {"smt_stage", {{"samples_fixed", r.stage_fixed}, {"samples_broken", r.stage_broken}}},
            {"fixed_confusions", confusions},
            {"per_class", PerClass(r.before, r.after)},
            {"neurons", neurons},
            {"rounds", r.rounds},
            {"solver",
             {{"problems", r.solver.problems},
              {"checks", r.solver.checks},
              {"sat", r.solver.sat},
              {"unsat", r.solver.unsat},
              {"unknown", r.solver.unknown},
              {"seconds", r.solver.seconds},
              {"work", r.solver.work}}},
            {"guard",
             {{"inputs", r.guard.inputs},
              {"agreement_before", Fraction(r.guard.agree_before, r.guard.inputs)},
              {"agreement_after", Fraction(r.guard.agree_after, r.guard.inputs)},
              {"patches_refused", r.guard.refused}}},
            {"init_seconds", r.init_seconds},
            {"seconds", r.seconds}};
  if (!r.properties.empty() || r.robustness.radius > 0) {
    json props = json::array();
    for (const PropertyOutcome& p : r.properties) {
      json e = {{"name", p.name},
                {"source", p.source},
                {"before", VerdictName(p.before)},
                {"after", VerdictName(p.after)},
                {"counterexamples_used", p.counterexamples},
                {"seconds", p.seconds}};
      if (!p.reason.empty()) e["reason"] = p.reason;
      if (p.last_counterexample) {
        e["counterexample"] = {{"input", p.last_counterexample->input},
                               {"output", p.last_counterexample->output}};
      }
      props.push_back(std::move(e));
    }
    j["properties"] = std::move(props);
    const RepairReport::PropertyStage& st = r.property_stage;
    if (r.robustness.radius > 0) {
      const RepairReport::Robustness& rb = r.robustness;
      j["robustness"] = {{"radius", rb.radius},
                         {"samples", rb.samples},
                         {"right", rb.right},
                         {"certified_before", rb.certified_before},
                         {"certified_after", rb.certified_after},
                         {"violated_after", rb.violated_after},
                         {"unknown_after", rb.unknown_after}};
    }
    j["property_stage"] = {{"rounds", st.rounds},
                           {"stopped", st.stopped},
                           {"counterexamples", st.counterexamples},
                           {"counterexamples_fixed", st.counterexamples_fixed},
                           {"widenings", st.widenings},
                           {"neurons_repaired", st.neurons},
                           {"seconds", st.seconds}};
  }
  if (!r.augment.empty()) j["augment"] = {{"chosen", r.augment}, {"why", r.augment_reason}};
  if (r.options) j["options"] = *r.options;
  return j;
}

std::string ReportSummaryTable(const RepairReport& r) {
  std::string out =
      "| stage | repair acc % | repair agree % | holdout acc % | holdout agree % |\n"
      "|---|---:|---:|---:|---:|\n";
  auto row = [&](const char* name, const StageFigures& f) {
    auto acc = [](const EvalSummary& s) {
      return s.samples == 0 || !s.has_labels ? std::string("-") : Pct(s.quant_accuracy);
    };
    auto agr = [](const EvalSummary& s) {
      return s.samples == 0 || !s.has_float ? std::string("-") : Pct(s.agreement);
    };
    out += std::string("| ") + name + " | " + acc(f.repair) + " | " + agr(f.repair) + " | " +
           acc(f.holdout) + " | " + agr(f.holdout) + " |\n";
  };
  if (r.before.repair.has_labels && r.before.repair.has_float) {
    out += "| float | " + Pct(r.before.repair.float_accuracy) + " | 100.00 | " +
           (r.before.holdout.samples ? Pct(r.before.holdout.float_accuracy) : std::string("-")) +
           " | " + (r.before.holdout.samples ? std::string("100.00") : std::string("-")) + " |\n";
  }
  // A model with no float network behind it starts from itself, not from a rounding.
  row(r.before.repair.has_float ? "round-to-nearest" : "given", r.before);
  if (r.init_method != "rtn") row(("init " + r.init_method).c_str(), r.init);
  row("repaired", r.after);
  int64_t weights = 0;
  for (const auto& c : r.changes) weights += static_cast<int64_t>(c.changes.size());
  char tail[512];
  std::snprintf(tail, sizeof tail,
                "\n%zu neurons, %lld weights changed; repair samples vs round-to-nearest: %lld "
                "fixed, %lld broken; "
                "SMT stage: %lld fixed, %lld broken; %s%s; %.1f s\n",
                r.changes.size(), static_cast<long long>(weights), static_cast<long long>(r.fixed),
                static_cast<long long>(r.broken), static_cast<long long>(r.stage_fixed),
                static_cast<long long>(r.stage_broken),
                r.verified ? "verified by the reference pass" : "NOT verified",
                r.status == "repaired" ? "" : (" (" + r.status + ")").c_str(), r.seconds);
  return out + tail;
}

std::string ReportToMarkdown(const RepairReport& r) {
  std::string md =
      "# qrepair report\n\nModel: `" + r.model + "` (sha256 `" + r.model_sha256 + "`)\n\n";
  md += ReportSummaryTable(r);
  md += "\n## Per-class accuracy (" +
        std::string(r.after.holdout.samples ? "holdout" : "repair set") + ")\n\n";
  md += "| class | samples | float % | before % | after % |\n|---:|---:|---:|---:|---:|\n";
  for (const auto& c : PerClass(r.before, r.after)) {
    md += "| " + std::to_string(c["label"].get<int>()) + " | " +
          std::to_string(c["samples"].get<int64_t>()) + " | " +
          (c["float"].is_null() ? std::string("-") : Pct(c["float"].get<double>())) + " | " +
          Pct(c["before"].get<double>()) + " | " + Pct(c["after"].get<double>()) + " |\n";
  }
  md += "\n## Fixed confusions (repair set)\n\n| was | now | samples |\n|---:|---:|---:|\n";
  for (const auto& [pair, n] : r.fixed_confusions) {
    md += "| " + std::to_string(pair.first) + " | " + std::to_string(pair.second) + " | " +
          std::to_string(n) + " |\n";
  }
  md +=
      "\n## Neurons changed\n\n| layer | neuron | weights changed | samples fixed | changes "
      "(input: before→after) |\n|---|---:|---:|---:|---|\n";
  for (const NeuronChange& c : r.changes) {
    std::string list;
    for (size_t i = 0; i < c.changes.size() && i < 12; ++i) {
      const WeightChange& w = c.changes[i];
      list += (i ? ", " : "") + (w.input < 0 ? std::string("bias") : std::to_string(w.input)) +
              ": " + std::to_string(w.before) + "→" + std::to_string(w.after);
    }
    if (c.changes.size() > 12) list += ", …";
    md += "| " + c.layer_name + " | " + std::to_string(c.unit) + " | " +
          std::to_string(c.changes.size()) + " | " + std::to_string(c.samples_fixed) + " | " +
          list + " |\n";
  }
  char solver[256];
  std::snprintf(solver, sizeof solver,
                "\n## Solver\n\n%lld problems, %lld checks: %lld sat, %lld unsat, %lld unknown; "
                "%.1f s in the solver, "
                "%.1f s in all (init %.1f s).\n",
                static_cast<long long>(r.solver.problems), static_cast<long long>(r.solver.checks),
                static_cast<long long>(r.solver.sat), static_cast<long long>(r.solver.unsat),
                static_cast<long long>(r.solver.unknown), r.solver.seconds, r.seconds,
                r.init_seconds);
  md += solver;
  if (r.guard.inputs > 0) {
    char guard[256];
    std::snprintf(
        guard, sizeof guard,
        "\nGuard set: %lld inputs; agreement with float %.2f %% at the start of the SMT "
        "stage, %.2f %% after; %lld verified patches refused by it.\n",
        static_cast<long long>(r.guard.inputs),
        100.0 * static_cast<double>(r.guard.agree_before) / static_cast<double>(r.guard.inputs),
        100.0 * static_cast<double>(r.guard.agree_after) / static_cast<double>(r.guard.inputs),
        static_cast<long long>(r.guard.refused));
    md += guard;
  }
  md += "\nVerification: " + r.verification_note + "\n";
  if (!r.properties.empty() || r.robustness.radius > 0) {
    const RepairReport::PropertyStage& st = r.property_stage;
    md +=
        "\n## Properties (repair until proved)\n\n| property | before | after | counterexamples "
        "used | verification s |\n|---|---|---|---:|---:|\n";
    for (const PropertyOutcome& p : r.properties) {
      char secs[32];
      std::snprintf(secs, sizeof secs, "%.1f", p.seconds);
      md += "| " + p.name + " | " + VerdictName(p.before) + " | " + VerdictName(p.after) +
            (p.reason.empty() ? "" : " (" + p.reason + ")") + " | " +
            std::to_string(p.counterexamples) + " | " + secs + " |\n";
    }
    std::string widen;
    for (const std::string& w : st.widenings) widen += (widen.empty() ? "" : ", ") + w;
    md += "\n" + std::to_string(st.rounds) + " rounds, stopped: " + st.stopped + "; " +
          std::to_string(st.counterexamples_fixed) + " of " + std::to_string(st.counterexamples) +
          " counterexamples safe at the end; " + std::to_string(st.neurons) +
          " neurons changed by the stage; widening: " + (widen.empty() ? "none" : widen) +
          ". The `after` verdicts are re-verified on the written file.\n";
    if (r.robustness.radius > 0) {
      const RepairReport::Robustness& rb = r.robustness;
      char line[320];
      std::snprintf(
          line, sizeof line,
          "\nRobustness at radius %g: %lld of %lld right repair samples (of %lld) "
          "certified before, %lld after (%lld violated, %lld unknown).\n",
          rb.radius, static_cast<long long>(rb.certified_before), static_cast<long long>(rb.right),
          static_cast<long long>(rb.samples), static_cast<long long>(rb.certified_after),
          static_cast<long long>(rb.violated_after), static_cast<long long>(rb.unknown_after));
      md += line;
    }
  }
  return md;
}

}  // namespace qrepair
