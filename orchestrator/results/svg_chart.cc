#include "orchestrator/results/svg_chart.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "orchestrator/results/table.h"

namespace ponder::results {
namespace {

constexpr const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// Tick label: round thousands and millions with k/M suffixes, other values of 10 or more as
// whole numbers (the axis's ends within a decade: %g wrote 101.3 as "1e+02"; QA of stop 35),
// smaller ones with two significant digits.
std::string TickLabel(double value) {
  if (value >= 1e6 && std::fmod(value, 1e6) == 0) return absl::StrFormat("%gM", value / 1e6);
  if (value >= 1e3 && std::fmod(value, 1e3) == 0) return absl::StrFormat("%gk", value / 1e3);
  if (value == std::floor(value) || std::fabs(value) >= 10) return absl::StrFormat("%.0f", value);
  return absl::StrFormat("%.2g", value);
}

std::vector<double> LogTicks(double low, double high, bool powers_of_two) {
  std::vector<double> ticks;
  if (powers_of_two) {
    for (int e = static_cast<int>(std::floor(std::log2(low))); std::exp2(e) <= high * 1.0001; ++e) {
      if (std::exp2(e) >= low * 0.9999) ticks.push_back(std::exp2(e));
    }
    // Too many labels for the axis: keep every other one.
    while (ticks.size() > 12) {
      std::vector<double> fewer;
      for (size_t i = 0; i < ticks.size(); i += 2) fewer.push_back(ticks[i]);
      ticks = fewer;
    }
    return ticks;
  }
  for (int e = static_cast<int>(std::floor(std::log10(low))); std::pow(10.0, e) <= high * 1.0001;
       ++e) {
    const double decade = std::pow(10.0, e);
    for (double m : {1.0, 2.0, 5.0}) {
      const double t = decade * m;
      if (t >= low * 0.9999 && t <= high * 1.0001) ticks.push_back(t);
    }
  }
  if (ticks.size() < 2) ticks = {low, high};
  return ticks;
}

// Decimals that show every multiple of `step` exactly (at least 1, at most 4).
int DecimalsFor(double step) {
  for (int decimals = 1; decimals < 4; ++decimals) {
    const double scaled = step * std::pow(10.0, decimals);
    if (std::abs(scaled - std::round(scaled)) < 1e-6) return decimals;
  }
  return 4;
}

}  // namespace

double NiceUpperBound(double value) {
  for (double bound : {0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75}) {
    if (value <= bound) return bound;
  }
  return 1.0;
}

std::string SeriesColor(size_t index) { return kPalette[index % std::size(kPalette)]; }

std::string RenderSvg(const LineChart& chart, int width, int height) {
  const double left = 64, right = 170, top = 36, bottom = 52;  // margins; legend on the right
  const double plot_w = width - left - right, plot_h = height - top - bottom;

  double x_low = 0, x_high = 0;
  bool any = false;
  for (const ChartSeries& s : chart.series) {
    for (const ChartPoint& p : s.points) {
      if (chart.log_x && p.x <= 0) continue;
      x_low = any ? std::min(x_low, p.x) : p.x;
      x_high = any ? std::max(x_high, p.x) : p.x;
      any = true;
    }
  }
  if (!any) {
    x_low = 1;
    x_high = 2;
  }
  if (x_high <= x_low) {  // one x value: give it room
    x_low = chart.log_x ? x_low / 2 : x_low - 1;
    x_high = chart.log_x ? x_high * 2 : x_high + 1;
  }
  auto map_x = [&](double x) {
    const double f = chart.log_x
                         ? (std::log(x) - std::log(x_low)) / (std::log(x_high) - std::log(x_low))
                         : (x - x_low) / (x_high - x_low);
    return left + f * plot_w;
  };
  auto map_y = [&](double y) {
    const double f =
        (std::clamp(y, chart.y_min, chart.y_max) - chart.y_min) / (chart.y_max - chart.y_min);
    return top + (1 - f) * plot_h;
  };

  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
      "role=\"img\" aria-label=\"%s\" font-family=\"sans-serif\" font-size=\"12\">\n",
      width, height, width, height, HtmlEscape(chart.title));
  svg += absl::StrFormat("<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", width, height);
  svg += absl::StrFormat(
      "<text x=\"%.1f\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" "
      "font-weight=\"bold\">%s</text>\n",
      left + plot_w / 2, HtmlEscape(chart.title));

  // Grid and y ticks: tenths of the range, labelled every fifth.
  const int y_decimals = DecimalsFor((chart.y_max - chart.y_min) / 5);
  for (int i = 0; i <= 10; ++i) {
    const double value = chart.y_min + (chart.y_max - chart.y_min) * i / 10.0;
    const double y = map_y(value);
    svg += absl::StrFormat(
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n", left, y,
        left + plot_w, y);
    if (i % 2 == 0) {
      svg += absl::StrFormat(
          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" dominant-baseline=\"middle\">%.*f"
          "</text>\n",
          left - 6, y, y_decimals, value);
    }
  }
  // x ticks.
  std::vector<double> ticks;
  if (chart.log_x) {
    ticks = LogTicks(x_low, x_high, chart.power_of_two_ticks);
  } else {
    for (int i = 0; i <= 5; ++i) ticks.push_back(x_low + (x_high - x_low) * i / 5.0);
  }
  for (double t : ticks) {
    const double x = map_x(t);
    svg += absl::StrFormat(
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n", x, top, x,
        top + plot_h);
    svg += absl::StrFormat("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x,
                           top + plot_h + 16, TickLabel(t));
  }
  // Axes and their labels.
  svg += absl::StrFormat("<path d=\"M%.1f %.1f V%.1f H%.1f\" fill=\"none\" stroke=\"#333333\"/>\n",
                         left, top, top + plot_h, left + plot_w);
  svg += absl::StrFormat("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s%s</text>\n",
                         left + plot_w / 2, top + plot_h + 38, HtmlEscape(chart.x_label),
                         chart.log_x ? " (log scale)" : "");
  svg += absl::StrFormat(
      "<text transform=\"translate(16 %.1f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n",
      top + plot_h / 2, HtmlEscape(chart.y_label));

  // Series: error bars, the line, the points; a legend entry each.
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const ChartSeries& series = chart.series[i];
    const std::string color = SeriesColor(i);
    std::vector<ChartPoint> points;
    for (const ChartPoint& p : series.points) {
      if (!chart.log_x || p.x > 0) points.push_back(p);
    }
    std::sort(points.begin(), points.end(),
              [](const ChartPoint& a, const ChartPoint& b) { return a.x < b.x; });
    svg += absl::StrFormat("<g class=\"series\" data-series=\"%s\">\n", HtmlEscape(series.name));
    // Error bars of different series at one x sit side by side, 5 px apart, so none hides
    // another.
    const double dodge =
        5.0 * (static_cast<double>(i) - static_cast<double>(chart.series.size() - 1) / 2);
    for (const ChartPoint& p : points) {
      if (!p.y_low.has_value() || !p.y_high.has_value()) continue;
      svg += absl::StrFormat(
          "<line class=\"error-bar\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
          "stroke=\"%s\" stroke-opacity=\"0.45\" stroke-width=\"2\"/>\n",
          map_x(p.x) + dodge, map_y(*p.y_low), map_x(p.x) + dodge, map_y(*p.y_high), color);
    }
    std::string path;
    for (const ChartPoint& p : points) {
      path += absl::StrFormat("%s%.1f %.1f ", path.empty() ? "M" : "L", map_x(p.x), map_y(p.y));
    }
    if (!path.empty()) {
      svg +=
          absl::StrFormat("<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\"%s/>\n",
                          path, color, series.dashed ? " stroke-dasharray=\"6 4\"" : "");
    }
    for (const ChartPoint& p : points) {
      svg += absl::StrFormat(
          "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\" "
          "data-series=\"%s\" data-x=\"%.10g\" data-y=\"%.10g\"><title>%s: x=%.10g, "
          "y=%.4f</title></circle>\n",
          map_x(p.x), map_y(p.y), color, HtmlEscape(series.name), p.x, p.y, HtmlEscape(series.name),
          p.x, p.y);
    }
    svg += "</g>\n";
    const double legend_y = top + 8 + 20.0 * static_cast<double>(i);
    svg += absl::StrFormat(
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"%s/>"
        "\n<text x=\"%.1f\" y=\"%.1f\" dominant-baseline=\"middle\">%s</text>\n",
        left + plot_w + 14, legend_y, left + plot_w + 38, legend_y, color,
        series.dashed ? " stroke-dasharray=\"6 4\"" : "", left + plot_w + 44, legend_y,
        HtmlEscape(series.name));
  }
  return svg + "</svg>\n";
}

}  // namespace ponder::results
