#include "orchestrator/results/table.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/strings.h"

namespace ponder::results {

void Table::AddRow(std::vector<nlohmann::json> values) {
  values.resize(columns_.size());
  rows_.push_back(std::move(values));
}

std::string Table::Format(const nlohmann::json& value, int column) const {
  if (value.is_null()) return "-";
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  // Unsigned first: nlohmann's is_number_integer() is true of unsigned numbers too, and a seed
  // of 2^64 - 1 would read as -1.
  if (value.is_number_unsigned()) return std::to_string(value.get<uint64_t>());
  if (value.is_number_integer()) return std::to_string(value.get<int64_t>());
  if (value.is_number_float()) {
    return absl::StrFormat("%.*f", columns_[static_cast<size_t>(column)].precision,
                           value.get<double>());
  }
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

std::string Table::ToText() const {
  std::vector<size_t> width(columns_.size());
  std::vector<std::vector<std::string>> cells;
  for (size_t c = 0; c < columns_.size(); ++c) width[c] = columns_[c].name.size();
  for (const auto& row : rows_) {
    std::vector<std::string>& line = cells.emplace_back();
    for (size_t c = 0; c < columns_.size(); ++c) {
      // Control characters (a newline, a NUL in a name a client chose) would break the layout.
      line.push_back(Printable(Format(row[c], static_cast<int>(c))));
      width[c] = std::max(width[c], line.back().size());
    }
  }
  auto render = [&](const std::vector<std::string>& fields) {
    std::string out;
    for (size_t c = 0; c < fields.size(); ++c) {
      const std::string pad(width[c] - fields[c].size(), ' ');
      if (c > 0) out += "  ";
      // The last column is not padded on the right: no trailing blanks.
      if (columns_[c].align_left) {
        out += fields[c];
        if (c + 1 < fields.size()) out += pad;
      } else {
        out += pad + fields[c];
      }
    }
    return out + "\n";
  };
  std::vector<std::string> header, rule;
  for (size_t c = 0; c < columns_.size(); ++c) {
    header.push_back(columns_[c].name);
    rule.push_back(std::string(width[c], '-'));
  }
  std::string out = render(header) + render(rule);
  for (const auto& line : cells) out += render(line);
  return out;
}

std::string Table::ToCsv() const {
  auto field = [](const std::string& text) {
    if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
    std::string quoted = "\"";
    for (char ch : text) {
      if (ch == '"') quoted += '"';
      quoted += ch;
    }
    return quoted + "\"";
  };
  std::vector<std::string> names;
  for (const Column& column : columns_) names.push_back(field(column.name));
  std::string out = absl::StrJoin(names, ",") + "\n";
  for (const auto& row : rows_) {
    std::vector<std::string> fields;
    for (size_t c = 0; c < columns_.size(); ++c) {
      fields.push_back(row[c].is_null() ? "" : field(Format(row[c], static_cast<int>(c))));
    }
    out += absl::StrJoin(fields, ",") + "\n";
  }
  return out;
}

std::string Table::ToJson() const {
  nlohmann::json array = nlohmann::json::array();
  for (const auto& row : rows_) {
    nlohmann::json object = nlohmann::json::object();
    for (size_t c = 0; c < columns_.size(); ++c) object[columns_[c].name] = row[c];
    array.push_back(std::move(object));
  }
  // Replace invalid UTF-8 (model output may hold any bytes) rather than throw.
  return array.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string Table::ToHtml() const {
  std::string out = "<table>\n<thead><tr>";
  for (const Column& column : columns_) {
    out += absl::StrFormat("<th%s>%s</th>", column.align_left ? " class=\"left\"" : "",
                           HtmlEscape(column.name));
  }
  out += "</tr></thead>\n<tbody>\n";
  for (const auto& row : rows_) {
    out += "<tr>";
    for (size_t c = 0; c < columns_.size(); ++c) {
      out += absl::StrFormat("<td data-column=\"%s\"%s>%s</td>", HtmlEscape(columns_[c].name),
                             columns_[c].align_left ? " class=\"left\"" : "",
                             HtmlEscape(Format(row[c], static_cast<int>(c))));
    }
    out += "</tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    switch (ch) {
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
        out += ch;
    }
  }
  return out;
}

}  // namespace ponder::results
