#include "orchestrator/results/report.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "orchestrator/results/svg_chart.h"
#include "orchestrator/results/tables.h"

namespace ponder::results {
namespace {

// Two charts side by side in the page's 1100 px.
constexpr int kChartWidth = 540;
constexpr int kChartHeight = 360;

constexpr char kStyle[] = R"css(
body { font-family: sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0 16px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }
th.left, td.left { text-align: left; }
th { background: #f3f3f3; }
.summary td { text-align: left; }
.figures { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; }
.note { color: #555; font-size: 13px; max-width: 900px; }
)css";

std::string TimeText(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

// One series per strategy, in cell order.
std::vector<ChartSeries> SeriesByStrategy(const std::vector<CellMetrics>& cells,
                                          ChartPoint (*point)(const CellMetrics&),
                                          bool (*include)(const CellMetrics&)) {
  std::vector<ChartSeries> series;
  std::map<std::string, size_t> index;
  for (const CellMetrics& c : cells) {
    if (!include(c)) continue;
    auto [it, inserted] = index.try_emplace(c.strategy, series.size());
    if (inserted) series.push_back({c.strategy, {}, false});
    series[it->second].points.push_back(point(c));
  }
  return series;
}

bool Graded(const CellMetrics& c) { return c.accuracy.has_value(); }

// Fits the y axis to the data (with its error bars), so small accuracies are readable.
void FitYAxis(LineChart& chart) {
  double top = 0;
  for (const ChartSeries& s : chart.series) {
    for (const ChartPoint& p : s.points) top = std::max({top, p.y, p.y_high.value_or(0)});
  }
  chart.y_max = NiceUpperBound(top);
}

std::string SummaryTable(const v1::Experiment& e) {
  std::vector<std::string> budgets, seeds;
  for (const v1::Budget& b : e.spec().budgets()) budgets.push_back(absl::StrCat(b.n()));
  for (uint64_t s : e.spec().seeds()) seeds.push_back(absl::StrCat(s));
  const std::string dataset =
      e.spec().dataset().name().empty()
          ? absl::StrCat("inline (", e.problems(), " problems)")
          : absl::StrCat(e.spec().dataset().name(), " (", e.problems(), " problems)");
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"status", StatusText(e.status()) + (e.error().empty() ? "" : " — " + e.error())},
      {"model", e.model()},
      {"dataset", dataset},
      {"runs", absl::StrCat(e.runs_recorded(), " of ", e.runs_planned(), " recorded, ",
                            e.runs_failed(), " failed")},
      {"budgets (n)", absl::StrJoin(budgets, ", ")},
      {"seeds", seeds.empty() ? "0" : absl::StrJoin(seeds, ", ")},
      {"budgets share samples", e.spec().independent_budgets()
                                    ? "no (independent_budgets)"
                                    : "yes, for best-of-N, weighted BoN, self-consistency, "
                                      "perplexity and RPC"},
      {"created", TimeText(e.create_time())},
      {"finished", TimeText(e.finish_time())},
      {"code version", e.code_version()},
  };
  std::string html = "<table class=\"summary\">\n";
  for (const auto& [key, value] : rows) {
    html += absl::StrFormat("<tr><th class=\"left\">%s</th><td>%s</td></tr>\n", HtmlEscape(key),
                            HtmlEscape(value));
  }
  return html + "</table>\n";
}

}  // namespace

std::string RenderReportHtml(const v1::Experiment& experiment,
                             const std::vector<CellMetrics>& cells) {
  const std::string title =
      absl::StrCat("Experiment ", experiment.id(),
                   experiment.spec().name().empty() ? "" : ": " + experiment.spec().name());

  LineChart by_budget;
  by_budget.title = "Accuracy against budget";
  by_budget.x_label = "budget n (samples, beams or particles)";
  by_budget.y_label = "accuracy";
  by_budget.power_of_two_ticks = true;
  by_budget.series = SeriesByStrategy(
      cells,
      [](const CellMetrics& c) {
        return ChartPoint{static_cast<double>(c.budget_n), *c.accuracy, c.accuracy_ci->low,
                          c.accuracy_ci->high};
      },
      Graded);

  LineChart by_tokens;
  by_tokens.title = "Accuracy against generated tokens";
  by_tokens.x_label = "generated tokens per problem";
  by_tokens.y_label = "accuracy";
  by_tokens.series = SeriesByStrategy(
      cells,
      [](const CellMetrics& c) {
        return ChartPoint{c.mean_generated_tokens, *c.accuracy, std::nullopt, std::nullopt};
      },
      Graded);

  LineChart coverage;
  coverage.title = "Coverage (pass@k) against k";
  coverage.x_label = "k";
  coverage.y_label = "pass@k";
  coverage.power_of_two_ticks = true;
  coverage.series = SeriesByStrategy(
      cells,
      [](const CellMetrics& c) {
        return ChartPoint{static_cast<double>(c.budget_n), c.pass_at_k.value_or(0), std::nullopt,
                          std::nullopt};
      },
      [](const CellMetrics& c) { return c.pass_at_k.has_value(); });
  for (ChartSeries& s : coverage.series) s.dashed = true;

  FitYAxis(by_budget);
  FitYAxis(by_tokens);
  FitYAxis(coverage);

  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>",
      HtmlEscape(title), "</title>\n<style>", kStyle, "</style>\n</head>\n<body>\n<h1>",
      HtmlEscape(title), "</h1>\n", SummaryTable(experiment));

  html += "<h2>Scaling curves</h2>\n<div class=\"figures\">\n";
  html += absl::StrCat("<figure id=\"accuracy-vs-budget\">",
                       RenderSvg(by_budget, kChartWidth, kChartHeight), "</figure>\n");
  html += absl::StrCat("<figure id=\"accuracy-vs-tokens\">",
                       RenderSvg(by_tokens, kChartWidth, kChartHeight), "</figure>\n");
  if (!coverage.series.empty()) {
    html += absl::StrCat("<figure id=\"coverage\">", RenderSvg(coverage, kChartWidth, kChartHeight),
                         "</figure>\n");
  }
  html += "</div>\n";
  html +=
      "<p class=\"note\">Bars: 95% Wilson intervals of the accuracy. Accuracy is the share of "
      "graded runs (problem &times; seed) whose chosen answer matches the reference (code "
      "problems: whose chosen program passes the tests). pass@k is "
      "the unbiased estimator of Chen et al. (2021) over the candidates of each problem's "
      "largest-budget run under the same token cap; oracle is the share of runs with some correct "
      "candidate. fpr_selected: "
      "of the runs whose chosen answer is wrong, the share the verifier scored above 0.5; "
      "fpr_candidates: the same over all wrong candidates.</p>\n";

  html += "<h2>Accuracy</h2>\n";
  html += AccuracyTable(experiment.id(), cells).ToHtml();
  html += "<h2>Cost</h2>\n";
  html += CostTable(experiment.id(), cells).ToHtml();
  html +=
      "<p class=\"note\">Tokens and seconds are means per run. prefix_runs counts runs evaluated "
      "on the first n samples of a larger budget's run (efficient budgets); their tokens and "
      "time are what a run at their own budget costs.</p>\n";
  return html + "</body>\n</html>\n";
}

absl::StatusOr<WrittenReport> WriteReport(ResultsDb& db, int64_t experiment_id,
                                          const std::string& out_dir) {
  PONDER_ASSIGN_OR_RETURN(v1::Experiment experiment, db.Experiment(experiment_id));
  PONDER_ASSIGN_OR_RETURN(std::vector<CellMetrics> cells,
                          ExperimentCells(db, experiment_id, RunFilter{}));
  std::error_code error;
  std::filesystem::create_directories(out_dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create the report folder '", out_dir, "' (--out): ", error.message()));
  }
  WrittenReport written;
  auto write = [&](const std::string& name,
                   const std::string& text) -> absl::StatusOr<std::string> {
    const std::string path = (std::filesystem::path(out_dir) / name).string();
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write '", path, "'"));
    return path;
  };
  PONDER_ASSIGN_OR_RETURN(written.html_path,
                          write("report.html", RenderReportHtml(experiment, cells)));
  PONDER_ASSIGN_OR_RETURN(std::string accuracy,
                          write("accuracy.csv", AccuracyTable(experiment_id, cells).ToCsv()));
  PONDER_ASSIGN_OR_RETURN(std::string cost,
                          write("cost.csv", CostTable(experiment_id, cells).ToCsv()));
  written.csv_paths = {accuracy, cost};
  return written;
}

}  // namespace ponder::results
