// Zone-file rendering of compiled zones and the reader of zone-set texts
// (see zone_text.hh).
#include "zones/zone_text.hh"

#include <algorithm>

#include "zones/check.hh"
#include "zones/parser.hh"
#include "zones/rdata.hh"
#include "zones/rrtype.hh"
#include "zones/zone.hh"

namespace edgedns::zones {

namespace {
constexpr std::string_view kZoneMarker = "; zone ";
}

void zone_text(const Zone& z, std::string& out) {
  // Owner text is cached across the records of one node (they arrive together).
  const uint8_t* last_owner = nullptr;
  std::string owner;
  zone_for_each_record(z, [&](const uint8_t* o, size_t ol, uint16_t type, uint16_t cls,
                              uint32_t ttl, const uint8_t* rd, size_t rl) {
    if (o != last_owner) {
      last_owner = o;
      owner.clear();
      name_to_text(o, ol, owner);
    }
    out += owner;
    out += '\t';
    out += std::to_string(ttl);
    out += '\t';
    out += rrclass_to_text(cls);
    out += '\t';
    out += rrtype_to_text(type);
    out += '\t';
    out += rdata_to_text(type, rd, rl);
    out += '\n';
  });
}

std::string zone_text(const Zone& z) {
  std::string s;
  zone_text(z, s);
  return s;
}

std::string zoneset_text(const ZoneSet& zs) {
  std::vector<const Zone*> zones;
  for (const auto& z : zs.zones()) zones.push_back(z.get());
  std::sort(zones.begin(), zones.end(), [](const Zone* a, const Zone* b) {
    return name_canonical_compare(a->apex_lower, a->apex_len, b->apex_lower, b->apex_len) < 0;
  });
  std::string s;
  for (const Zone* z : zones) {
    s += kZoneMarker;
    s += z->apex.to_text();
    s += '\n';
    zone_text(*z, s);
  }
  return s;
}

ZoneSetLoad load_zoneset_text(std::string_view text, const std::string& name,
                              const CheckOptions& check) {
  ZoneSetLoad out;
  // Sections: the lines after each "; zone APEX" marker up to the next one.
  struct Section {
    std::string apex;
    size_t begin, end;
    uint32_t first_line;
  };
  std::vector<Section> sections;
  auto fail = [&](uint32_t ln, std::string msg) {
    Diagnostic d;
    d.file = name;
    d.line = ln;
    d.message = std::move(msg);
    out.diagnostics.push_back(std::move(d));
  };
  uint32_t line = 1;
  for (size_t pos = 0; pos < text.size(); ++line) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view l = text.substr(pos, eol - pos);
    if (l.substr(0, kZoneMarker.size()) == kZoneMarker) {
      if (!sections.empty()) sections.back().end = pos;
      std::string_view apex = l.substr(kZoneMarker.size());
      while (!apex.empty() && (apex.back() == '\r' || apex.back() == ' ')) apex.remove_suffix(1);
      sections.push_back(
          Section{std::string(apex), std::min(eol + 1, text.size()), text.size(), line + 1});
    } else if (sections.empty()) {
      // Only blank lines and comments may come before the first section.
      size_t k = l.find_first_not_of(" \t\r");
      if (k != std::string_view::npos && l[k] != ';') {
        fail(line, "record outside any \"; zone APEX\" section");
        return out;
      }
    }
    pos = eol + 1;
  }
  if (sections.empty()) {
    fail(0, "no zone in the text (expected \"; zone APEX\" lines)");
    return out;
  }
  std::vector<std::shared_ptr<const Zone>> zones;
  bool bad = false;
  for (const Section& s : sections) {
    ParseOptions po;
    po.origin = s.apex;
    ParseResult pr = parse_zone_text(text.substr(s.begin, s.end - s.begin), name, po);
    for (auto& d : pr.diagnostics) {
      if (d.line) d.line += s.first_line - 1;
      out.diagnostics.push_back(std::move(d));
    }
    if (pr.has_errors()) {
      bad = true;
      continue;
    }
    std::vector<Diagnostic> cd;
    check_zone(pr.zone, cd, check);
    bool err = false;
    for (auto& d : cd) {
      err |= d.is_error();
      if (d.line) d.line += s.first_line - 1;
      out.diagnostics.push_back(std::move(d));
    }
    if (err) {
      bad = true;
      continue;
    }
    out.records += pr.zone.records.size();
    zones.push_back(compile_zone(std::move(pr.zone)));
  }
  if (bad) return out;
  try {
    out.zones = ZoneSet::build(std::move(zones));
  } catch (const std::exception& e) {
    fail(0, e.what());
  }
  return out;
}

}  // namespace edgedns::zones
