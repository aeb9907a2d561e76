// Table: rows of typed values rendered as an aligned text table, CSV, JSON or an HTML table.
// `ponder query` prints them and `ponder report` embeds the same ones, so a number reads the
// same everywhere.
#ifndef PONDER_ORCHESTRATOR_RESULTS_TABLE_H_
#define PONDER_ORCHESTRATOR_RESULTS_TABLE_H_

#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace ponder::results {

struct Column {
  std::string name;
  // Digits after the point for floating-point values (text, CSV and HTML; JSON keeps them
  // whole).
  int precision = 3;
  bool align_left = false;  // text columns; numbers align right
};

class Table {
 public:
  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

  // One value per column: numbers, strings, booleans, or null for "none" (printed "-", an
  // empty CSV field, JSON null). Rows shorter than the columns are padded with nulls.
  void AddRow(std::vector<nlohmann::json> values);

  const std::vector<Column>& columns() const { return columns_; }
  const std::vector<std::vector<nlohmann::json>>& rows() const { return rows_; }

  // Aligned columns under a header and a rule, one row per line.
  std::string ToText() const;
  // RFC 4180: a header line, fields quoted when they hold a comma, quote or line break.
  std::string ToCsv() const;
  // A JSON array of objects keyed by column name.
  std::string ToJson() const;
  // A <table> with escaped text; each <td> carries data-column="<name>".
  std::string ToHtml() const;

  // How a value is shown in text, CSV and HTML: floats with the column's precision, booleans
  // as yes/no, null as "-" (CSV: empty).
  std::string Format(const nlohmann::json& value, int column) const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<nlohmann::json>> rows_;
};

// Escapes &, <, >, " and ' for HTML text and attributes.
std::string HtmlEscape(std::string_view text);

}  // namespace ponder::results

#endif  // PONDER_ORCHESTRATOR_RESULTS_TABLE_H_
