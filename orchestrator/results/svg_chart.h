// A line chart as inline SVG, for the scaling curves of `ponder report`: one line per series,
// optional error bars, a logarithmic x axis. No scripts, no external resources: the SVG is
// part of a self-contained HTML page.
//
// Every point is a <circle class="point"> carrying data-series, data-x and data-y (the exact
// values, "%.10g"), so tests and scripts can read the plotted numbers back.
#ifndef PONDER_ORCHESTRATOR_RESULTS_SVG_CHART_H_
#define PONDER_ORCHESTRATOR_RESULTS_SVG_CHART_H_

#include <optional>
#include <string>
#include <vector>

namespace ponder::results {

struct ChartPoint {
  double x = 0;
  double y = 0;
  std::optional<double> y_low, y_high;  // an error bar when both are set
};

struct ChartSeries {
  std::string name;
  std::vector<ChartPoint> points;  // drawn in x order
  bool dashed = false;
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log_x = true;  // points with x <= 0 are left out on a log axis
  // Ticks at powers of two (budgets) rather than 1-2-5 steps per decade (token counts).
  bool power_of_two_ticks = false;
  double y_min = 0;
  double y_max = 1;
  std::vector<ChartSeries> series;
};

// The smallest of 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75 and 1 that is >= `value` (1 above
// that): a y range that shows small accuracies without hiding the scale.
double NiceUpperBound(double value);

// The colour of the i-th series (the Tableau 10 palette, cycled).
std::string SeriesColor(size_t index);

// An <svg> element `width` x `height` pixels with axes, ticks, grid, the lines and a legend.
std::string RenderSvg(const LineChart& chart, int width = 640, int height = 400);

}  // namespace ponder::results

#endif  // PONDER_ORCHESTRATOR_RESULTS_SVG_CHART_H_
