// Tables (text, CSV, JSON, HTML), progress lines and SVG charts.
#include "orchestrator/results/table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "orchestrator/results/progress.h"
#include "orchestrator/results/svg_chart.h"
#include "orchestrator/results/tables.h"

namespace ponder::results {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Table Sample() {
  Table table({{"strategy", 0, true}, {"n", 0, false}, {"accuracy", 3, false}, {"note", 0, true}});
  table.AddRow({"self_consistency", 4, 0.25, "a, \"quoted\" <note>"});
  table.AddRow({"bon", 16, nullptr, true});
  return table;
}

TEST(TableTest, TextAlignsColumnsAndShowsMissingValuesAsDashes) {
  EXPECT_EQ(Sample().ToText(),
            "strategy           n  accuracy  note\n"
            "----------------  --  --------  ------------------\n"
            "self_consistency   4     0.250  a, \"quoted\" <note>\n"
            "bon               16         -  yes\n");
}

// Found by fuzzing the server: an experiment named "a\0b" cut `ponder query experiments` short
// at its row, and a name with a newline broke the layout.
TEST(TableTest, TextEscapesControlCharacters) {
  Table table({{"name", 0, true}, {"n", 0, false}});
  table.AddRow({std::string("a\0b", 3), 1});
  table.AddRow({"two\nlines", 2});
  EXPECT_EQ(table.ToText(),
            "name        n\n"
            "----------  -\n"
            "a\\x00b      1\n"
            "two\\nlines  2\n");
}

TEST(TableTest, CsvQuotesFieldsWithCommasAndQuotes) {
  EXPECT_EQ(Sample().ToCsv(),
            "strategy,n,accuracy,note\n"
            "self_consistency,4,0.250,\"a, \"\"quoted\"\" <note>\"\n"
            "bon,16,,yes\n");
}

TEST(TableTest, JsonKeepsTypesAndFullPrecision) {
  Table table({{"x", 2, false}});
  table.AddRow({0.123456789});
  table.AddRow({nullptr});
  EXPECT_EQ(table.ToJson(), "[\n  {\n    \"x\": 0.123456789\n  },\n  {\n    \"x\": null\n  }\n]\n");
}

TEST(TableTest, HtmlEscapesText) {
  const std::string html = Sample().ToHtml();
  EXPECT_THAT(html, HasSubstr("<td data-column=\"note\" class=\"left\">a, &quot;quoted&quot; "
                              "&lt;note&gt;</td>"));
  EXPECT_THAT(html, HasSubstr("<td data-column=\"accuracy\">0.250</td>"));
  EXPECT_THAT(html, Not(HasSubstr("<note>")));
}

// Seeds take the whole unsigned 64-bit range (`ponder bench --seeds`); `ponder query runs`
// showed 2^64 - 1 as -1, a value --seed refuses.
TEST(TablesTest, RunsShowSeedsAboveTheSignedRangeAsUnsigned) {
  RunRow run;
  run.strategy = "sc";
  run.seed = 18446744073709551615ull;
  const Table table = RunsTable({run});
  EXPECT_THAT(table.ToText(), HasSubstr(" 18446744073709551615 "));
  EXPECT_THAT(table.ToCsv(), HasSubstr(",18446744073709551615,"));
  EXPECT_THAT(table.ToJson(), HasSubstr("\"seed\": 18446744073709551615"));
}

// Problems without reference answers are not graded: their accuracy is missing (null, "-"),
// as `compare` and the report's charts have it, not 0.
TEST(TablesTest, AccuracyOfACellWithNothingGradedIsMissing) {
  CellMetrics ungraded;
  ungraded.strategy = "sc";
  ungraded.budget_n = 1;
  ungraded.runs = 2;
  const Table table = AccuracyTable(1, {ungraded});
  EXPECT_THAT(table.ToJson(), HasSubstr("\"accuracy\": null"));
  EXPECT_THAT(table.ToJson(), HasSubstr("\"ci95_low\": null"));
  EXPECT_THAT(table.ToCsv(), HasSubstr("1,sc,1,2,0,0,,,,"));
  EXPECT_THAT(table.ToText(), Not(HasSubstr("0.0000")));
}

TEST(ProgressTest, BarShowsCountsAccuracyRateAndEta) {
  ProgressSnapshot p;
  p.done = 45;
  p.total = 100;
  p.graded = 45;
  p.correct = 14;
  p.tokens = 8120;
  p.seconds = 10;
  p.done_this_session = 45;
  // 55 runs left at 10/45 s each: 12.2 s.
  EXPECT_EQ(FormatProgressBar(p, 20),
            "[#########-----------] 45/100 45%  acc 0.311 (14/45)  812 tok/s  ETA 12s");
  EXPECT_EQ(FormatProgressLine(p),
            "progress: 45/100 runs (45%), accuracy 0.311 (14/45), 812 tok/s, ETA 12s");
}

TEST(ProgressTest, UnknownsShowAsDashes) {
  ProgressSnapshot p;
  p.total = 8;
  EXPECT_EQ(FormatProgressLine(p), "progress: 0/8 runs (0%), accuracy -, - tok/s, ETA -");
  p.failed = 2;
  p.done = 2;
  EXPECT_THAT(FormatProgressBar(p, 4), HasSubstr("[#---] 2/8 25%"));
  EXPECT_THAT(FormatProgressBar(p, 4), HasSubstr("2 failed"));
}

TEST(ProgressTest, Durations) {
  EXPECT_EQ(FormatDuration(42.4), "42s");
  EXPECT_EQ(FormatDuration(187), "3m07s");
  EXPECT_EQ(FormatDuration(7500), "2h05m");
  EXPECT_EQ(FormatDuration(-1), "-");
}

TEST(SvgChartTest, PlotsEveryPointWithItsValuesOnALogAxis) {
  LineChart chart;
  chart.title = "Accuracy <vs> budget";
  chart.power_of_two_ticks = true;
  chart.series = {{"sc", {{1, 0.25, 0.1, 0.5}, {4, 0.5, 0.3, 0.7}, {16, 0.75}}, false},
                  {"bon", {{2, 0.4}}, true}};
  const std::string svg = RenderSvg(chart, 640, 400);
  EXPECT_THAT(svg, HasSubstr("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_THAT(svg, HasSubstr("Accuracy &lt;vs&gt; budget"));
  EXPECT_THAT(svg, HasSubstr("data-series=\"sc\" data-x=\"4\" data-y=\"0.5\""));
  EXPECT_THAT(svg, HasSubstr("data-series=\"bon\" data-x=\"2\" data-y=\"0.4\""));
  EXPECT_THAT(svg, HasSubstr("stroke-dasharray"));
  // Ticks at 1, 2, 4, 8, 16 and the first and last budgets at the plot's edges: x = 64 and
  // 640 - 170 = 470.
  for (const char* tick : {">1<", ">2<", ">4<", ">8<", ">16<"}) EXPECT_THAT(svg, HasSubstr(tick));
  EXPECT_THAT(svg, HasSubstr("cx=\"64.0\""));
  EXPECT_THAT(svg, HasSubstr("cx=\"470.0\""));
  // Log scale: 4 lies halfway between 1 and 16.
  EXPECT_THAT(svg, HasSubstr("cx=\"267.0\""));
}

TEST(SvgChartTest, FitsTheYAxisToSmallValues) {
  EXPECT_EQ(NiceUpperBound(0.0), 0.01);
  EXPECT_EQ(NiceUpperBound(0.07), 0.1);
  EXPECT_EQ(NiceUpperBound(0.31), 0.5);
  EXPECT_EQ(NiceUpperBound(0.9), 1.0);
  LineChart chart;
  chart.y_max = 0.1;
  chart.series = {{"s", {{1, 0.05}, {2, 0.1}}, false}};
  const std::string svg = RenderSvg(chart, 640, 400);
  // Labels every 0.02, with the decimals that needs; 0.05 sits halfway up the plot (y = 192).
  EXPECT_THAT(svg, HasSubstr(">0.02<"));
  EXPECT_THAT(svg, HasSubstr(">0.10<"));
  EXPECT_THAT(svg, HasSubstr("cy=\"192.0\""));
}

TEST(SvgChartTest, LeavesOutNonPositiveXOnALogAxis) {
  LineChart chart;
  chart.series = {{"s", {{0, 0.5}, {10, 0.6}, {100, 0.7}}, false}};
  const std::string svg = RenderSvg(chart);
  EXPECT_THAT(svg, Not(HasSubstr("data-x=\"0\"")));
  EXPECT_THAT(svg, HasSubstr("data-x=\"100\""));
  EXPECT_THAT(svg, HasSubstr(">20<"));  // 1-2-5 ticks per decade
}

// Within a decade the axis is labelled at its ends, which %.2g wrote as 1e+02 and 4.3e+02 (QA of
// stop 35: the report's generated-tokens chart).
TEST(SvgChartTest, LabelsTheEndsOfAnAxisWithinADecadeAsNumbers) {
  LineChart chart;
  chart.series = {{"s", {{101.3, 0.5}, {430.2, 0.6}}, false}};
  const std::string svg = RenderSvg(chart);
  EXPECT_THAT(svg, HasSubstr(">101<"));
  EXPECT_THAT(svg, HasSubstr(">430<"));
  EXPECT_THAT(svg, Not(HasSubstr("e+02")));
}

}  // namespace
}  // namespace ponder::results
