#include "control/zone_input.hh"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "zones/check.hh"
#include "zones/rdata.hh"
#include "zones/rrtype.hh"
#include "zones/wire.hh"

namespace edgedns::ctl {

using namespace edgedns::zones;

namespace {

LoadedZone finish(ParseResult&& pr, const std::string& name) {
  LoadedZone z;
  z.file = name;
  z.parse_failed = pr.has_errors();
  z.diagnostics = std::move(pr.diagnostics);
  z.data = std::move(pr.zone);
  // Semantic checks only make sense on a zone that parsed completely.
  if (!z.parse_failed) {
    size_t before = z.diagnostics.size();
    check_zone(z.data, z.diagnostics);
    for (size_t i = before; i < z.diagnostics.size(); ++i)
      z.check_failed |= z.diagnostics[i].is_error();
  }
  return z;
}

ParseOptions options(const std::string& origin) {
  ParseOptions o;
  o.origin = origin;
  return o;
}

}  // namespace

LoadedZone load_zone(const std::string& path, const std::string& origin) {
  return finish(parse_zone_file(path, options(origin)), path);
}

LoadedZone load_zone_text(std::string_view text, const std::string& name,
                          const std::string& origin) {
  return finish(parse_zone_text(text, name, options(origin)), name);
}

std::string record_text(const ZoneData& z, const Record& r) {
  std::string line;
  name_to_text(z.owner(r), r.owner_len, line);
  line += ' ';
  line += std::to_string(r.ttl);
  line += ' ';
  line += rrclass_to_text(r.rclass);
  line += ' ';
  line += rrtype_to_text(r.type);
  line += ' ';
  line += rdata_to_text(r.type, z.rdata(r), r.rdata_len);
  return line;
}

std::string canonical_text(const ZoneData& z) {
  std::string out = "$ORIGIN " + z.origin.to_text() + "\n";
  out.reserve(z.arena.size() * 2 + z.records.size() * 16);
  for (const Record& r : z.records) {
    out += record_text(z, r);
    out += '\n';
  }
  return out;
}

std::optional<uint32_t> soa_serial(const ZoneData& z) {
  for (const Record& r : z.records) {
    if (r.type != rrtype::SOA ||
        !name_equal(z.owner(r), r.owner_len, z.origin.data(), z.origin.size()))
      continue;
    // SOA RDATA: mname, rname, then serial.
    size_t n1 = name_wire_length(z.rdata(r), r.rdata_len);
    if (!n1) return std::nullopt;
    size_t n2 = name_wire_length(z.rdata(r) + n1, r.rdata_len - n1);
    if (!n2 || n1 + n2 + 4 > r.rdata_len) return std::nullopt;
    const uint8_t* p = z.rdata(r) + n1 + n2;
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
  }
  return std::nullopt;
}

std::vector<std::string> expand_zone_paths(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  for (const auto& p : paths) {
    std::error_code ec;
    auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) throw std::runtime_error(p + ": no such file or directory");
    if (!fs::is_directory(st)) {
      out.push_back(p);
      continue;
    }
    std::vector<std::string> files;
    for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.empty() || name[0] == '.' || !it->is_regular_file(ec)) continue;
      files.push_back(it->path().string());
    }
    if (ec) throw std::runtime_error(p + ": " + ec.message());
    if (files.empty()) throw std::runtime_error(p + ": directory holds no zone file");
    std::sort(files.begin(), files.end());
    out.insert(out.end(), files.begin(), files.end());
  }
  return out;
}

}  // namespace edgedns::ctl
