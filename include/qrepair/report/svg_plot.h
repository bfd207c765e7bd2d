// Small self-contained SVG charts for reports: grouped bars and lines, with axes, ticks, a
// legend and a title. No scripts, no external fonts or styles, so any viewer renders them.
#pragma once

#include <limits>
#include <string>
#include <vector>

namespace qrepair {

struct BarSeries {
  std::string name;
  std::vector<double> values;  // one per category; NaN draws no bar
};

struct BarChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<std::string> categories;
  std::vector<BarSeries> series;
  // The value axis: [y_min, y_max]; NaN picks a "nice" range around the data (starting at 0
  // unless all values sit far above it, and then the title's axis note says where it starts).
  double y_min = std::numeric_limits<double>::quiet_NaN();
  double y_max = std::numeric_limits<double>::quiet_NaN();
};

struct LineSeries {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;  // NaN leaves a gap
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<LineSeries> series;
  bool integer_x = false;  // ticks at the integers only (e.g. bit widths)
  double y_min = std::numeric_limits<double>::quiet_NaN();
  double y_max = std::numeric_limits<double>::quiet_NaN();
};

std::string RenderBarChart(const BarChart& chart);
std::string RenderLineChart(const LineChart& chart);

// "Nice" axis ticks covering [lo, hi]: about `target` steps of 1, 2 or 5 times a power of ten.
std::vector<double> NiceTicks(double lo, double hi, int target = 5);

}  // namespace qrepair
