#include "worker/metrics/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace moerec {
namespace {

// Frame geometry (pixels): the plot area is [kLeft, kWidth - kRight] x [kTop, kHeight - kBottom].
constexpr double kWidth = 640, kHeight = 320;
constexpr double kLeft = 64, kRight = 16, kTop = 34, kBottom = 64;
constexpr const char* kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

const char* Color(size_t i) { return kColors[i % (sizeof(kColors) / sizeof(kColors[0]))]; }

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

std::string Px(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

// Tick values covering [lo, hi] with a step of 1, 2 or 5 times a power of ten.
std::vector<double> Ticks(double lo, double hi, int target) {
  std::vector<double> ticks;
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (raw <= step) break;
  }
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void Add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return !(hi >= lo); }
  // Widens a degenerate range and adds a margin.
  void Pad(double fraction) {
    if (hi == lo) {
      const double d = lo == 0 ? 1.0 : std::abs(lo) * 0.05;
      lo -= d;
      hi += d;
    }
    const double m = (hi - lo) * fraction;
    lo -= m;
    hi += m;
  }
};

std::string Open(const std::string& id, const std::string& title) {
  return "<svg class=\"plot\" data-plot=\"" + HtmlEscape(id) + "\" width=\"" + Px(kWidth) +
         "\" height=\"" + Px(kHeight) + "\" viewBox=\"0 0 " + Px(kWidth) + " " + Px(kHeight) +
         "\"><rect x=\"0\" y=\"0\" width=\"" + Px(kWidth) + "\" height=\"" + Px(kHeight) +
         "\" fill=\"#fff\"/><text x=\"" + Px(kWidth / 2) +
         "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">" +
         HtmlEscape(title) + "</text>";
}

std::string NoData() {
  return "<text x=\"" + Px(kWidth / 2) + "\" y=\"" + Px(kHeight / 2) +
         "\" text-anchor=\"middle\" fill=\"#888\">no data</text></svg>";
}

// The y axis with its ticks and grid lines; returns the mapping of a value to a pixel row.
std::string YAxis(const Range& y, const std::string& label) {
  std::string s;
  const double bottom = kHeight - kBottom;
  for (double t : Ticks(y.lo, y.hi, 5)) {
    const double py = bottom - (t - y.lo) / (y.hi - y.lo) * (bottom - kTop);
    s += "<line x1=\"" + Px(kLeft) + "\" x2=\"" + Px(kWidth - kRight) + "\" y1=\"" + Px(py) +
         "\" y2=\"" + Px(py) + "\" stroke=\"#e4e4e4\"/><text x=\"" + Px(kLeft - 6) + "\" y=\"" +
         Px(py + 4) + "\" text-anchor=\"end\" font-size=\"11\">" + Num(t) + "</text>";
  }
  s += "<line x1=\"" + Px(kLeft) + "\" x2=\"" + Px(kLeft) + "\" y1=\"" + Px(kTop) + "\" y2=\"" +
       Px(bottom) + "\" stroke=\"#333\"/>";
  s += "<text transform=\"translate(14 " + Px((kTop + bottom) / 2) +
       ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">" + HtmlEscape(label) + "</text>";
  return s;
}

std::string Legend(const std::vector<std::string>& names) {
  std::string s;
  double x = kLeft;
  const double y = kHeight - 14;
  for (size_t i = 0; i < names.size(); ++i) {
    s += "<rect x=\"" + Px(x) + "\" y=\"" + Px(y - 9) + "\" width=\"10\" height=\"10\" fill=\"" +
         Color(i) + "\"/><text x=\"" + Px(x + 14) + "\" y=\"" + Px(y) + "\" font-size=\"11\">" +
         HtmlEscape(names[i]) + "</text>";
    x += 24 + 6.5 * static_cast<double>(names[i].size());
  }
  return s;
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
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
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string LineChart(const std::string& id, const std::string& title, const std::string& x_label,
                      const std::string& y_label, const std::vector<PlotSeries>& series) {
  std::string s = Open(id, title);
  Range x, y;
  for (const PlotSeries& line : series) {
    for (size_t i = 0; i < line.x.size() && i < line.y.size(); ++i) {
      if (std::isfinite(line.x[i]) && std::isfinite(line.y[i])) {
        x.Add(line.x[i]);
        y.Add(line.y[i]);
      }
    }
  }
  if (x.empty()) return s + NoData();
  if (x.hi == x.lo) x.Pad(0);
  y.Pad(0.05);
  const double bottom = kHeight - kBottom, right = kWidth - kRight;
  auto px = [&](double v) { return kLeft + (v - x.lo) / (x.hi - x.lo) * (right - kLeft); };
  auto py = [&](double v) { return bottom - (v - y.lo) / (y.hi - y.lo) * (bottom - kTop); };
  s += YAxis(y, y_label);
  for (double t : Ticks(x.lo, x.hi, 6)) {
    s += "<text x=\"" + Px(px(t)) + "\" y=\"" + Px(bottom + 16) +
         "\" text-anchor=\"middle\" font-size=\"11\">" + Num(t) + "</text>";
  }
  s += "<line x1=\"" + Px(kLeft) + "\" x2=\"" + Px(right) + "\" y1=\"" + Px(bottom) + "\" y2=\"" +
       Px(bottom) + "\" stroke=\"#333\"/><text x=\"" + Px((kLeft + right) / 2) + "\" y=\"" +
       Px(bottom + 32) + "\" text-anchor=\"middle\" font-size=\"12\">" + HtmlEscape(x_label) +
       "</text>";
  std::vector<std::string> names;
  for (size_t k = 0; k < series.size(); ++k) {
    const PlotSeries& line = series[k];
    names.push_back(line.name);
    std::string d;
    int points = 0;
    for (size_t i = 0; i < line.x.size() && i < line.y.size(); ++i) {
      if (!std::isfinite(line.x[i]) || !std::isfinite(line.y[i])) continue;
      d += (points++ == 0 ? "M" : " L") + Px(px(line.x[i])) + " " + Px(py(line.y[i]));
    }
    if (points == 0) continue;
    s += "<path class=\"series\" d=\"" + d + "\" fill=\"none\" stroke=\"" + Color(k) +
         "\" stroke-width=\"2\"><title>" + HtmlEscape(line.name) + "</title></path>";
    if (points == 1) {  // a lone point would be invisible as a path
      s += "<circle cx=\"" + Px(px(line.x[0])) + "\" cy=\"" + Px(py(line.y[0])) +
           "\" r=\"3\" fill=\"" + Color(k) + "\"/>";
    }
  }
  if (series.size() > 1) s += Legend(names);
  return s + "</svg>";
}

std::string BarChart(const std::string& id, const std::string& title, const std::string& y_label,
                     const std::vector<std::string>& series_names,
                     const std::vector<BarGroup>& groups, const BarChartOptions& options) {
  std::string s = Open(id, title);
  Range y;
  for (const BarGroup& g : groups) {
    double stack = 0;
    for (double v : g.values) {
      if (!std::isfinite(v)) continue;
      stack += v;
      y.Add(options.stacked ? stack : v);
    }
  }
  if (y.empty() || groups.empty()) return s + NoData();
  if (options.zero_based) {
    y.lo = std::min(0.0, y.lo);
    y.hi = y.hi > y.lo ? y.hi * 1.05 : y.lo + 1;
  } else {
    y.Pad(0.15);
  }
  const double bottom = kHeight - kBottom, right = kWidth - kRight;
  auto py = [&](double v) { return bottom - (v - y.lo) / (y.hi - y.lo) * (bottom - kTop); };
  s += YAxis(y, y_label);
  s += "<line x1=\"" + Px(kLeft) + "\" x2=\"" + Px(right) + "\" y1=\"" + Px(bottom) + "\" y2=\"" +
       Px(bottom) + "\" stroke=\"#333\"/>";
  const double slot = (right - kLeft) / static_cast<double>(groups.size());
  const size_t per_group = options.stacked ? 1 : std::max<size_t>(1, series_names.size());
  const double bar = slot * 0.8 / static_cast<double>(per_group);
  for (size_t g = 0; g < groups.size(); ++g) {
    const double x0 = kLeft + slot * (static_cast<double>(g) + 0.1);
    double stack = 0;
    for (size_t k = 0; k < groups[g].values.size(); ++k) {
      const double v = groups[g].values[k];
      if (!std::isfinite(v)) continue;
      const double base = options.stacked ? stack : std::max(y.lo, 0.0);
      const double top = options.stacked ? stack + v : v;
      stack += options.stacked ? v : 0;
      const double bx = options.stacked ? x0 : x0 + bar * static_cast<double>(k);
      const double y_top = py(std::max(base, top)), y_bottom = py(std::min(base, top));
      const std::string name = k < series_names.size() ? series_names[k] : "";
      s += "<rect class=\"bar\" x=\"" + Px(bx) + "\" y=\"" + Px(y_top) + "\" width=\"" +
           Px(std::max(1.0, bar - 1)) + "\" height=\"" + Px(std::max(0.5, y_bottom - y_top)) +
           "\" fill=\"" + Color(k) + "\"><title>" + HtmlEscape(groups[g].label) + " " +
           HtmlEscape(name) + ": " + Num(v) + "</title></rect>";
    }
    const double cx = kLeft + slot * (static_cast<double>(g) + 0.5);
    s += "<text transform=\"translate(" + Px(cx) + " " + Px(bottom + 12) +
         ") rotate(20)\" font-size=\"10\">" + HtmlEscape(groups[g].label) + "</text>";
  }
  if (series_names.size() > 1) s += Legend(series_names);
  return s + "</svg>";
}

std::string Heatmap(const std::string& id, const std::string& title,
                    const std::vector<std::string>& row_labels,
                    const std::vector<std::string>& col_labels, const std::vector<double>& values) {
  std::string s = Open(id, title);
  const size_t rows = row_labels.size(), cols = col_labels.size();
  double max = 0;
  bool any = false;
  for (size_t i = 0; i < rows * cols && i < values.size(); ++i) {
    if (std::isfinite(values[i])) {
      max = std::max(max, values[i]);
      any = true;
    }
  }
  if (!any || rows == 0 || cols == 0) return s + NoData();
  const double left = 120, right = kWidth - 96, top = kTop + 4, bottom = kHeight - 40;
  const double cw = (right - left) / static_cast<double>(cols);
  const double ch = (bottom - top) / static_cast<double>(rows);
  for (size_t r = 0; r < rows; ++r) {
    if (rows <= 24 || r % ((rows + 23) / 24) == 0) {
      s += "<text x=\"" + Px(left - 6) + "\" y=\"" + Px(top + ch * (r + 0.5) + 4) +
           "\" text-anchor=\"end\" font-size=\"10\">" + HtmlEscape(row_labels[r]) + "</text>";
    }
    for (size_t c = 0; c < cols; ++c) {
      const double v = values[r * cols + c];
      if (!std::isfinite(v)) continue;
      const double t = max > 0 ? std::clamp(v / max, 0.0, 1.0) : 0.0;
      // From near white to dark blue.
      char fill[16];
      std::snprintf(fill, sizeof(fill), "#%02x%02x%02x", static_cast<int>(247 - t * 239),
                    static_cast<int>(251 - t * 203), static_cast<int>(255 - t * 148));
      s += "<rect class=\"cell\" x=\"" + Px(left + cw * c) + "\" y=\"" + Px(top + ch * r) +
           "\" width=\"" + Px(cw) + "\" height=\"" + Px(ch) + "\" fill=\"" + fill + "\"><title>" +
           HtmlEscape(row_labels[r]) + ", " + HtmlEscape(col_labels[c]) + ": " + Num(v) +
           "</title></rect>";
    }
  }
  for (size_t c = 0; c < cols; ++c) {
    if (cols <= 32 || c % ((cols + 31) / 32) == 0) {
      s += "<text x=\"" + Px(left + cw * (c + 0.5)) + "\" y=\"" + Px(bottom + 14) +
           "\" text-anchor=\"middle\" font-size=\"10\">" + HtmlEscape(col_labels[c]) + "</text>";
    }
  }
  s += "<text x=\"" + Px(right + 8) + "\" y=\"" + Px(top + 10) + "\" font-size=\"10\">max " +
       Num(max) + "</text><text x=\"" + Px(right + 8) + "\" y=\"" + Px(bottom) +
       "\" font-size=\"10\">0</text>";
  return s + "</svg>";
}

}  // namespace moerec
