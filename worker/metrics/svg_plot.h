// Plots as inline SVG text for the run report (run_report.h): line charts, grouped or stacked
// bar charts and heatmaps, with axes, ticks, legends and a <title> tooltip on every mark, so a
// page that holds them needs no script, font or file from anywhere else.
//
// Every plot is one <svg class="plot" data-plot="ID"> element; its marks are
// <path class="series">, <rect class="bar"> or <rect class="cell"> elements, so a test can tell
// a drawn plot from an empty frame. A plot without data is the frame and the words "no data".
// Text is escaped. Pure functions; thread-safe.
#ifndef MOEREC_WORKER_METRICS_SVG_PLOT_H_
#define MOEREC_WORKER_METRICS_SVG_PLOT_H_

#include <string>
#include <string_view>
#include <vector>

namespace moerec {

// &, <, >, " and ' as entities.
std::string HtmlEscape(std::string_view text);

// One line: points (x[i], y[i]); non-finite points are skipped.
struct PlotSeries {
  std::string name;
  std::vector<double> x, y;
};

// Lines over a shared x axis, one colour per series, with a legend when there are several.
std::string LineChart(const std::string& id, const std::string& title, const std::string& x_label,
                      const std::string& y_label, const std::vector<PlotSeries>& series);

// A group of bars on the x axis: one value per series (NaN = no bar).
struct BarGroup {
  std::string label;
  std::vector<double> values;
};

struct BarChartOptions {
  bool stacked = false;    // series stack up in one bar per group instead of side by side
  bool zero_based = true;  // false: the y axis starts near the smallest value (AUCs)
};

std::string BarChart(const std::string& id, const std::string& title, const std::string& y_label,
                     const std::vector<std::string>& series_names,
                     const std::vector<BarGroup>& groups, const BarChartOptions& options);

// values: (rows, cols) row-major; NaN cells are left blank. Darker = larger (0 to the maximum).
std::string Heatmap(const std::string& id, const std::string& title,
                    const std::vector<std::string>& row_labels,
                    const std::vector<std::string>& col_labels, const std::vector<double>& values);

}  // namespace moerec

#endif  // MOEREC_WORKER_METRICS_SVG_PLOT_H_
