#include "Api.h"

#include <mx/engine/TilerConfig.h>

#include <algorithm>
#include <functional>
#include <regex>

namespace mx::service {

namespace {
bool isDateTime(const std::string& s) {
  static const std::regex re(R"(^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$)");
  return std::regex_match(s, re);
}

std::string typeName(const nlohmann::json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}
} // namespace

std::optional<std::string> exportTypeClass(std::string_view type, bool lenient) {
  std::string upper;
  for (char c : type) upper += char(std::toupper(static_cast<unsigned char>(c)));
  if (!lenient && type != "IMODEL" && type != "CESIUM" && type != "3DTILES" && type != "3DTiles") return std::nullopt;
  if (upper == "IMODEL" || upper == "CESIUM" || upper == "3DTILES") return upper;
  return std::nullopt;
}

nlohmann::json errorBody(std::string_view code, std::string_view message, const std::vector<ErrorDetail>& details) {
  nlohmann::json e = {{"code", code}, {"message", message}};
  if (!details.empty()) {
    nlohmann::json d = nlohmann::json::array();
    for (const auto& x : details) {
      nlohmann::json item = {{"code", x.code}, {"message", x.message}};
      item["target"] = x.target.empty() ? nlohmann::json() : nlohmann::json(x.target);
      d.push_back(std::move(item));
    }
    e["details"] = std::move(d);
  }
  return {{"error", std::move(e)}};
}

namespace {

using AddDetail = std::function<void(std::string message, std::string target)>;

/// tilerConfig[i]'s key and value as text; false (with details) when either is malformed.
bool configItemText(const nlohmann::json& item, const std::string& at, const AddDetail& add, std::string& keyText,
                    std::string& valueText) {
  for (auto p = item.begin(); p != item.end(); ++p)
    if (p.key() != "key" && p.key() != "value") add("Unknown property \"" + p.key() + "\".", at + "." + p.key());
  const auto key = item.find("key");
  const auto value = item.find("value");
  bool ok = true;
  if (key == item.end()) {
    add(at + ".key is required.", at + ".key");
    ok = false;
  } else if (!key->is_string()) {
    add(at + ".key must be a string.", at + ".key");
    ok = false;
  } else {
    keyText = key->get<std::string>();
    if (keyText.empty() || keyText.size() > 256) {
      add(at + ".key must have 1 to 256 characters.", at + ".key");
      ok = false;
    }
  }
  if (value == item.end()) {
    add(at + ".value is required.", at + ".value");
    ok = false;
  } else if (value->is_string()) {
    valueText = value->get<std::string>();
    if (valueText.empty() || valueText.size() > 1000) {
      add(at + ".value must have 1 to 1000 characters.", at + ".value");
      ok = false;
    }
  } else if (value->is_boolean())
    valueText = value->get<bool>() ? "true" : "false";
  else if (value->is_number())
    valueText = value->dump();
  else {
    add(at + ".value must be a string, a number or a boolean.", at + ".value");
    ok = false;
  }
  return ok;
}

/// tilerConfig: 1 to 100 {key, value} items, keys known to the tiler, values in range, no repeats.
/// Two names of one key (enableCompression, meshoptCompression) count as a repeat; the keys that
/// hold together are checked against the export type (b3dm and compression are not for IMODEL).
void parseTilerConfig(const nlohmann::json& cfg, const AddDetail& add, StartRequest& out) {
  if (!cfg.is_array()) return add("tilerConfig must be an array, not " + typeName(cfg) + ".", "tilerConfig");
  if (cfg.empty()) return add("tilerConfig must have at least 1 item.", "tilerConfig");
  if (cfg.size() > 100) return add("tilerConfig must have at most 100 items.", "tilerConfig");
  engine::TilerConfig probe;
  bool allApplied = true;
  std::vector<std::pair<std::string, std::string>> seen; // canonical key, name given
  for (size_t i = 0; i < cfg.size(); ++i) {
    const nlohmann::json& item = cfg[i];
    const std::string at = "tilerConfig[" + std::to_string(i) + "]";
    if (!item.is_object()) {
      add(at + " must be an object {key, value}.", at);
      continue;
    }
    std::string keyText, valueText;
    if (!configItemText(item, at, add, keyText, valueText)) {
      allApplied = false;
      continue;
    }
    const std::string canonical(engine::canonicalConfigKey(keyText));
    const auto earlier = std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == canonical; });
    if (earlier != seen.end()) {
      const std::string& alias = keyText != canonical ? keyText : earlier->second;
      add(earlier->second == keyText ? "tilerConfig key \"" + keyText + "\" appears more than once."
                                     : "tilerConfig key \"" + keyText + "\" repeats \"" + earlier->second +
                                           "\": " + alias + " is another name of " + canonical + ".",
          at + ".key");
      allApplied = false;
      continue;
    }
    seen.emplace_back(canonical, keyText);
    const core::Status s = engine::applyTilerConfig(probe, keyText, valueText);
    if (!s) {
      add(s.message(), s.code() == core::ErrorCode::UnknownConfigKey ? at + ".key" : at + ".value");
      allApplied = false;
      continue;
    }
    out.tilerPairs.emplace_back(keyText, valueText);
  }
  const io::ExportType type = out.typeClass == "IMODEL"   ? io::ExportType::Imodel
                              : out.typeClass == "CESIUM" ? io::ExportType::Cesium
                                                          : io::ExportType::ThreeDTiles;
  if (allApplied)
    if (const core::Status s = engine::checkTilerConfig(probe, type); !s) add(s.message(), "tilerConfig");
}

/// iModelId, changesetId, exportType and lastModified.
void parseRequestFields(const nlohmann::json& j, const AddDetail& add, StartRequest& out) {
  if (auto it = j.find("iModelId"); it == j.end())
    add("iModelId is required.", "iModelId");
  else if (!it->is_string())
    add("iModelId must be a string, not " + typeName(*it) + ".", "iModelId");
  else if (it->get<std::string>().empty())
    add("iModelId cannot be empty.", "iModelId");
  else
    out.iModelId = lowerAscii(it->get<std::string>());
  if (auto it = j.find("changesetId"); it != j.end() && !it->is_null()) {
    if (!it->is_string())
      add("changesetId must be a string, not " + typeName(*it) + ".", "changesetId");
    else
      out.changesetId = lowerAscii(it->get<std::string>());
  }
  if (auto it = j.find("exportType"); it != j.end()) {
    if (!it->is_string() || !exportTypeClass(it->get<std::string>(), false))
      add("exportType must be one of IMODEL, CESIUM, 3DTILES, 3DTiles.", "exportType");
    else {
      out.exportType = it->get<std::string>();
      out.typeClass = *exportTypeClass(out.exportType, false);
    }
  }
  if (auto it = j.find("lastModified"); it != j.end()) {
    if (!it->is_string() || !isDateTime(it->get<std::string>()))
      add("lastModified must be an RFC 3339 date-time string.", "lastModified");
  }
}

} // namespace

std::vector<ErrorDetail> parseStartExport(std::string_view body, StartRequest& out) {
  std::vector<ErrorDetail> details;
  const AddDetail add = [&](std::string message, std::string target) {
    details.push_back({"InvalidRequestBody", std::move(message), std::move(target)});
  };
  const nlohmann::json j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded()) {
    add("The request body is not valid JSON.", "body");
    return details;
  }
  if (!j.is_object()) {
    add("The request body must be a JSON object, not " + typeName(j) + ".", "body");
    return details;
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    if (k != "iModelId" && k != "changesetId" && k != "exportType" && k != "tilerConfig" && k != "lastModified")
      add("Unknown property \"" + k + "\".", k);
  }
  parseRequestFields(j, add, out);
  if (auto it = j.find("tilerConfig"); it != j.end()) {
    parseTilerConfig(*it, add, out);
    if (details.empty()) out.tilerConfig = *it;
  }
  return details;
}

std::string lowerAscii(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool prefersRepresentation(const std::vector<std::string>& preferHeaders) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  for (const std::string& header : preferHeaders) {
    size_t start = 0;
    while (start <= header.size()) {
      // One preference: up to the next comma outside a quoted string.
      size_t end = start;
      bool quoted = false;
      for (; end < header.size() && (quoted || header[end] != ','); ++end)
        if (header[end] == '"' && (end == 0 || header[end - 1] != '\\')) quoted = !quoted;
      std::string_view pref = std::string_view(header).substr(start, end - start);
      pref = trim(pref.substr(0, pref.find(';'))); // parameters do not change it
      const size_t eq = pref.find('=');
      if (eq != std::string_view::npos) {
        std::string value = lowerAscii(trim(pref.substr(eq + 1)));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        if (lowerAscii(trim(pref.substr(0, eq))) == "return" && value == "representation") return true;
      }
      start = end + 1;
    }
  }
  return false;
}

std::string redactPaths(std::string_view m) {
  auto isStop = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '"' || c == '\'' || c == '(' || c == ')' || c == ',' ||
           c == ';' || c == '`';
  };
  std::string out;
  size_t i = 0;
  while (i < m.size()) {
    const bool tokenStart = i == 0 || isStop(m[i - 1]) || m[i - 1] == '=';
    if (m[i] == '/' && tokenStart) {
      size_t end = i;
      while (end < m.size() && !isStop(m[end]) && !(m[end] == ':' && (end + 1 == m.size() || m[end + 1] == ' '))) ++end;
      std::string_view token = m.substr(i, end - i);
      while (token.size() > 1 && token.back() == '/') token.remove_suffix(1);
      if (token.find('/', 1) != std::string_view::npos) {
        out += token.substr(token.rfind('/') + 1);
        i = end;
        continue;
      }
    }
    out += m[i++];
  }
  return out;
}

bool validHostAndRoot(std::string_view v) {
  if (v.empty() || v.size() > 2048) return false;
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' || c == '`' || c == '{' ||
        c == '|' || c == '}')
      return false;
  }
  return true;
}

} // namespace mx::service
