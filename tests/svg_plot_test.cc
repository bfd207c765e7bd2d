// SVG charts: tick choice and escaping, and that the files render (rsvg-convert to PNG).
#include "qrepair/report/svg_plot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "qrepair/error.h"
#include "qrepair/report/report_plots.h"
#include "temp_dir.h"

namespace qrepair {
namespace {

using testing::TempDir;

bool HaveRsvg() { return std::system("rsvg-convert --version > /dev/null 2>&1") == 0; }

// Renders `svg` to PNG and returns the PNG's size in bytes (0 when rendering failed).
uintmax_t RenderToPng(const TempDir& dir, const std::string& name, const std::string& svg) {
  std::string in = dir.Path(name + ".svg"), out = dir.Path(name + ".png");
  std::ofstream(in) << svg;
  std::string command = "rsvg-convert -f png -o " + out + " " + in;
  if (std::system(command.c_str()) != 0) return 0;
  return std::filesystem::file_size(out);
}

BarChart SampleBars() {
  BarChart c;
  c.title = "Per-class accuracy <holdout> & more";
  c.x_label = "class";
  c.y_label = "accuracy (%)";
  for (int k = 0; k < 10; ++k) c.categories.push_back(std::to_string(k));
  c.series = {{"float", {}}, {"round-to-nearest", {}}, {"repaired", {}}};
  for (int k = 0; k < 10; ++k) {
    c.series[0].values.push_back(97 + 0.2 * k);
    c.series[1].values.push_back(80 + 1.5 * k);
    c.series[2].values.push_back(96 + 0.3 * k);
  }
  return c;
}

TEST(SvgPlotTest, NiceTicksUseOneTwoFiveSteps) {
  EXPECT_EQ(NiceTicks(0, 100), (std::vector<double>{0, 20, 40, 60, 80, 100}));
  EXPECT_EQ(NiceTicks(0, 1).size(), 6u);
  std::vector<double> t = NiceTicks(83.6, 98.6);
  ASSERT_GE(t.size(), 3u);
  EXPECT_DOUBLE_EQ(t[1] - t[0], 5.0);
  EXPECT_GE(t.front(), 83.6);
  EXPECT_LE(t.back(), 98.6);
}

TEST(SvgPlotTest, EscapesTextAndDrawsEveryBar) {
  std::string svg = RenderBarChart(SampleBars());
  EXPECT_NE(svg.find("&lt;holdout&gt; &amp; more"), std::string::npos);
  EXPECT_EQ(svg.find("<holdout>"), std::string::npos);
  size_t bars = 0;
  for (size_t pos = svg.find("<rect x="); pos != std::string::npos;
       pos = svg.find("<rect x=", pos + 1))
    ++bars;
  EXPECT_EQ(bars, 30u + 3u);  // 10 classes x 3 series, and 3 legend swatches
}

TEST(SvgPlotTest, BarAndLineChartsRenderToPng) {
  if (!HaveRsvg()) GTEST_SKIP() << "rsvg-convert missing (Debian package librsvg2-bin)";
  TempDir dir("svg");
  EXPECT_GT(RenderToPng(dir, "bars", RenderBarChart(SampleBars())), 1024u);
  LineChart l;
  l.title = "Accuracy vs weight bit width";
  l.x_label = "weight bits";
  l.y_label = "accuracy (%)";
  l.integer_x = true;
  l.series = {
      {"float", {2, 3, 4, 5, 6, 7, 8}, {98.6, 98.6, 98.6, 98.6, 98.6, 98.6, 98.6}},
      {"round-to-nearest", {2, 3, 4, 5, 6, 7, 8}, {9.8, 87.1, 83.6, 96.0, 98.1, 98.5, 98.6}},
      {"repaired", {2, 3, 4, 5, 6, 7, 8}, {std::nan(""), 97.9, 98.5, 98.5, 98.6, 98.6, 98.6}}};
  EXPECT_GT(RenderToPng(dir, "lines", RenderLineChart(l)), 1024u);
}

TEST(SvgPlotTest, PerClassPlotOfAReportRenders) {
  RepairReport r;
  r.init_method = "gptq-float";
  for (StageFigures* s : {&r.before, &r.init, &r.after}) {
    s->holdout.samples = 100;
    s->holdout.has_labels = true;
    for (int k = 0; k < 10; ++k) {
      ClassStats c;
      c.label = k;
      c.samples = 10;
      c.float_correct = 10 - k % 2;
      c.quant_correct = s == &r.before ? 5 + k % 3 : 9;
      s->holdout.per_class.push_back(c);
    }
  }
  std::string svg = PerClassAccuracySvg(r);
  EXPECT_NE(svg.find("start (gptq-float)"), std::string::npos);
  EXPECT_NE(svg.find("holdout range (100 samples)"), std::string::npos);
  if (!HaveRsvg()) GTEST_SKIP() << "rsvg-convert missing (Debian package librsvg2-bin)";
  TempDir dir("svg_report");
  EXPECT_GT(RenderToPng(dir, "per_class", svg), 1024u);
  r.after.holdout.has_labels = false;
  EXPECT_THROW(PerClassAccuracySvg(r), Error);
}

}  // namespace
}  // namespace qrepair
