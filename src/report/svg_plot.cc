// SVG bar and line charts: one fixed layout (plot area, legend on the right), plain SVG 1.1.
#include "qrepair/report/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace qrepair {

namespace {

constexpr double kWidth = 820, kHeight = 460;
constexpr double kLeft = 78, kRight = 190, kTop = 56, kBottom = 72;
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;
// Okabe-Ito: distinguishable with the common colour-vision deficiencies.
const char* const kColors[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                               "#CC79A7", "#56B4E9", "#F0E442", "#000000"};

const char* Color(size_t i) { return kColors[i % (sizeof kColors / sizeof kColors[0])]; }

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// A tick label with as many decimals as the step needs.
std::string TickLabel(double v, double step) {
  int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, std::fabs(v) < step * 1e-9 ? 0.0 : v);
  return buf;
}

struct Axis {
  double lo = 0, hi = 1;
  std::vector<double> ticks;
  double Y(double v) const { return kTop + kPlotH * (1 - (v - lo) / (hi - lo)); }
};

// The value axis for data in [dmin, dmax]; `from_zero` prefers 0 as its start.
Axis ValueAxis(double dmin, double dmax, double fixed_lo, double fixed_hi, bool from_zero) {
  Axis a;
  if (!std::isfinite(dmin)) dmin = 0, dmax = 1;
  if (from_zero && dmin >= 0 && dmin < 0.5 * dmax) dmin = 0;
  if (dmax - dmin < 1e-12) dmax = dmin + 1;
  std::vector<double> t = NiceTicks(dmin, dmax);
  double step = t.size() > 1 ? t[1] - t[0] : 1;
  a.lo = std::isnan(fixed_lo) ? std::floor(dmin / step + 1e-9) * step : fixed_lo;
  a.hi = std::isnan(fixed_hi) ? std::ceil(dmax / step - 1e-9) * step : fixed_hi;
  if (a.hi <= a.lo) a.hi = a.lo + step;
  for (double v : NiceTicks(a.lo, a.hi)) {
    if (v >= a.lo - 1e-9 && v <= a.hi + 1e-9) a.ticks.push_back(v);
  }
  return a;
}

void Frame(std::ostringstream& s, const std::string& title, const std::string& x_label,
           std::string y_label, const Axis& y) {
  s << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" << kWidth
    << "\" height=\"" << kHeight << "\" viewBox=\"0 0 " << kWidth << " " << kHeight
    << "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
    << "<title>" << Escape(title) << "</title>\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
    << "<text x=\"" << kWidth / 2
    << "\" y=\"30\" font-size=\"18\" font-weight=\"bold\" text-anchor=\"middle\">" << Escape(title)
    << "</text>\n";
  double step = y.ticks.size() > 1 ? y.ticks[1] - y.ticks[0] : 1;
  for (double v : y.ticks) {
    s << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + kPlotW << "\" y1=\"" << Num(y.Y(v))
      << "\" y2=\"" << Num(y.Y(v)) << "\" stroke=\"#dddddd\" stroke-width=\"1\"/>\n"
      << "<text x=\"" << kLeft - 8 << "\" y=\"" << Num(y.Y(v) + 4)
      << "\" font-size=\"12\" text-anchor=\"end\">" << TickLabel(v, step) << "</text>\n";
  }
  if (y.lo > 0) y_label += " (axis starts at " + TickLabel(y.lo, step) + ")";
  s << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft << "\" y1=\"" << kTop << "\" y2=\""
    << kTop + kPlotH << "\" stroke=\"#000000\" stroke-width=\"1.5\"/>\n"
    << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + kPlotW << "\" y1=\"" << kTop + kPlotH
    << "\" y2=\"" << kTop + kPlotH << "\" stroke=\"#000000\" stroke-width=\"1.5\"/>\n"
    << "<text x=\"" << kLeft + kPlotW / 2 << "\" y=\"" << kHeight - 18
    << "\" font-size=\"14\" text-anchor=\"middle\">" << Escape(x_label) << "</text>\n"
    << "<text transform=\"translate(22," << kTop + kPlotH / 2 << ") rotate(-90)\" font-size=\"14\" "
    << "text-anchor=\"middle\">" << Escape(y_label) << "</text>\n";
}

void Legend(std::ostringstream& s, const std::vector<std::string>& names, bool lines) {
  double x = kLeft + kPlotW + 24, y = kTop + 10;
  for (size_t i = 0; i < names.size(); ++i, y += 24) {
    if (lines) {
      s << "<line x1=\"" << x << "\" x2=\"" << x + 22 << "\" y1=\"" << y << "\" y2=\"" << y
        << "\" stroke=\"" << Color(i) << "\" stroke-width=\"2.5\"/><circle cx=\"" << x + 11
        << "\" cy=\"" << y << "\" r=\"4\" fill=\"" << Color(i) << "\"/>\n";
    } else {
      s << "<rect x=\"" << x << "\" y=\"" << y - 8 << "\" width=\"16\" height=\"16\" fill=\""
        << Color(i) << "\"/>\n";
    }
    s << "<text x=\"" << x + 30 << "\" y=\"" << y + 5 << "\" font-size=\"13\">" << Escape(names[i])
      << "</text>\n";
  }
}

void DataRange(const std::vector<double>& values, double& lo, double& hi) {
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    lo = std::isfinite(lo) ? std::min(lo, v) : v;
    hi = std::isfinite(hi) ? std::max(hi, v) : v;
  }
}

}  // namespace

std::vector<double> NiceTicks(double lo, double hi, int target) {
  if (!(hi > lo)) return {lo};
  double raw = (hi - lo) / std::max(1, target);
  double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * power;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    ticks.push_back(v);
  return ticks;
}

std::string RenderBarChart(const BarChart& c) {
  double lo = std::numeric_limits<double>::quiet_NaN(), hi = lo;
  for (const BarSeries& b : c.series) DataRange(b.values, lo, hi);
  Axis y = ValueAxis(lo, hi, c.y_min, c.y_max, true);
  std::ostringstream s;
  Frame(s, c.title, c.x_label, c.y_label, y);
  const size_t groups = std::max<size_t>(1, c.categories.size());
  const double group_w = kPlotW / static_cast<double>(groups);
  const double bar_w = group_w * 0.8 / static_cast<double>(std::max<size_t>(1, c.series.size()));
  for (size_t g = 0; g < c.categories.size(); ++g) {
    double x0 = kLeft + group_w * static_cast<double>(g) + group_w * 0.1;
    for (size_t k = 0; k < c.series.size(); ++k) {
      if (g >= c.series[k].values.size() || !std::isfinite(c.series[k].values[g])) continue;
      double v = std::min(std::max(c.series[k].values[g], y.lo), y.hi);
      double top = y.Y(v), bottom = y.Y(y.lo);
      s << "<rect x=\"" << Num(x0 + bar_w * static_cast<double>(k)) << "\" y=\"" << Num(top)
        << "\" width=\"" << Num(bar_w * 0.92) << "\" height=\"" << Num(bottom - top) << "\" fill=\""
        << Color(k) << "\"><title>" << Escape(c.series[k].name + ", " + c.categories[g]) << ": "
        << c.series[k].values[g] << "</title></rect>\n";
    }
    s << "<text x=\"" << Num(kLeft + group_w * (static_cast<double>(g) + 0.5)) << "\" y=\""
      << kTop + kPlotH + 20 << "\" font-size=\"12\" text-anchor=\"middle\">"
      << Escape(c.categories[g]) << "</text>\n";
  }
  std::vector<std::string> names;
  for (const BarSeries& b : c.series) names.push_back(b.name);
  Legend(s, names, false);
  s << "</svg>\n";
  return s.str();
}

std::string RenderLineChart(const LineChart& c) {
  double lo = std::numeric_limits<double>::quiet_NaN(), hi = lo, xlo = lo, xhi = lo;
  for (const LineSeries& l : c.series) {
    DataRange(l.y, lo, hi);
    DataRange(l.x, xlo, xhi);
  }
  Axis y = ValueAxis(lo, hi, c.y_min, c.y_max, false);
  if (!std::isfinite(xlo)) xlo = 0, xhi = 1;
  if (xhi <= xlo) xhi = xlo + 1;
  const double pad = (xhi - xlo) * 0.05;
  auto X = [&](double v) { return kLeft + kPlotW * (v - (xlo - pad)) / (xhi - xlo + 2 * pad); };
  std::ostringstream s;
  Frame(s, c.title, c.x_label, c.y_label, y);
  std::vector<double> xticks;
  if (c.integer_x && xhi - xlo <= 40) {
    for (double v = std::ceil(xlo); v <= xhi; v += 1) xticks.push_back(v);
  } else {
    xticks = NiceTicks(xlo, xhi);
  }
  double xstep = c.integer_x ? 1 : (xticks.size() > 1 ? xticks[1] - xticks[0] : 1);
  for (double v : xticks) {
    s << "<line x1=\"" << Num(X(v)) << "\" x2=\"" << Num(X(v)) << "\" y1=\"" << kTop + kPlotH
      << "\" y2=\"" << kTop + kPlotH + 5 << "\" stroke=\"#000000\"/>\n"
      << "<text x=\"" << Num(X(v)) << "\" y=\"" << kTop + kPlotH + 20
      << "\" font-size=\"12\" text-anchor=\"middle\">" << TickLabel(v, xstep) << "</text>\n";
  }
  for (size_t k = 0; k < c.series.size(); ++k) {
    const LineSeries& l = c.series[k];
    std::string points;
    auto flush = [&] {
      if (!points.empty()) {
        s << "<polyline fill=\"none\" stroke=\"" << Color(k) << "\" stroke-width=\"2.5\" points=\""
          << points << "\"/>\n";
      }
      points.clear();
    };
    for (size_t i = 0; i < l.x.size() && i < l.y.size(); ++i) {
      if (!std::isfinite(l.y[i])) {
        flush();
        continue;
      }
      double v = std::min(std::max(l.y[i], y.lo), y.hi);
      points += Num(X(l.x[i])) + "," + Num(y.Y(v)) + " ";
    }
    flush();
    for (size_t i = 0; i < l.x.size() && i < l.y.size(); ++i) {
      if (!std::isfinite(l.y[i])) continue;
      double v = std::min(std::max(l.y[i], y.lo), y.hi);
      s << "<circle cx=\"" << Num(X(l.x[i])) << "\" cy=\"" << Num(y.Y(v)) << "\" r=\"4\" fill=\""
        << Color(k) << "\"><title>" << Escape(l.name) << " at " << l.x[i] << ": " << l.y[i]
        << "</title></circle>\n";
    }
  }
  std::vector<std::string> names;
  for (const LineSeries& l : c.series) names.push_back(l.name);
  Legend(s, names, true);
  s << "</svg>\n";
  return s.str();
}

}  // namespace qrepair
