// Last-known-good files (see lkg.hh).
#include "zones/lkg.hh"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>

#include <fcntl.h>
#include <unistd.h>

#include <xxhash.h>

#include "zones/wire.hh"
#include "zones/zone_text.hh"

namespace edgedns::zones {

namespace {

namespace fs = std::filesystem;
constexpr char kMagic[8] = {'E', 'D', 'G', 'E', 'D', 'N', 'S', 'L'};

void put64(uint8_t* p, uint64_t v) {
  wr32(p, uint32_t(v >> 32));
  wr32(p + 4, uint32_t(v));
}
uint64_t get64(const uint8_t* p) { return uint64_t(rd32(p)) << 32 | rd32(p + 4); }

std::string sys_error(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

bool write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n) {
    ssize_t w = ::write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    c += w;
    n -= size_t(w);
  }
  return true;
}

// "lkg-<digits>.edz" -> seq; false otherwise (tmp files, strangers).
bool parse_name(const std::string& name, uint64_t& seq) {
  constexpr std::string_view pre = "lkg-", suf = ".edz";
  if (name.size() <= pre.size() + suf.size() || name.compare(0, pre.size(), pre) != 0 ||
      name.compare(name.size() - suf.size(), suf.size(), suf) != 0)
    return false;
  std::string_view digits(name.data() + pre.size(), name.size() - pre.size() - suf.size());
  if (digits.empty() || digits.size() > 19) return false;
  seq = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    seq = seq * 10 + uint64_t(c - '0');
  }
  return true;
}

struct Entry {
  uint64_t seq;
  fs::path path;
};

std::vector<Entry> list(const std::string& dir, std::vector<fs::path>* tmps = nullptr) {
  std::vector<Entry> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    uint64_t seq;
    if (parse_name(name, seq)) out.push_back({seq, it->path()});
    else if (tmps && name.size() > 8 && name.compare(0, 4, "lkg-") == 0 &&
             name.compare(name.size() - 8, 8, ".edz.tmp") == 0)
      tmps->push_back(it->path());
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.seq > b.seq; });
  return out;
}

struct Parsed {
  std::string error;  // empty when header and checksums hold
  uint32_t format = 0;
  uint64_t seq = 0;
  VersionId version;
  std::string payload;
};

Parsed read_file(const fs::path& p, uint64_t name_seq) {
  Parsed r;
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    r.error = std::string("cannot open: ") + std::strerror(errno);
    return r;
  }
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() < kLkgHeaderSize) {
    r.error = "truncated header (" + std::to_string(data.size()) + " bytes)";
    return r;
  }
  const uint8_t* h = reinterpret_cast<const uint8_t*>(data.data());
  if (std::memcmp(h, kMagic, sizeof kMagic) != 0) {
    r.error = "not an lkg file (bad magic)";
    return r;
  }
  r.format = rd32(h + 8);
  if (r.format != kLkgFormat && r.format != kLkgDeltaFormat) {
    r.error = "unknown format version " + std::to_string(r.format);
    return r;
  }
  if (XXH3_64bits(h, 56) != get64(h + 56)) {
    r.error = "header checksum mismatch";
    return r;
  }
  r.seq = get64(h + 16);
  r.version = VersionId{get64(h + 24), get64(h + 32)};
  const uint64_t len = get64(h + 40);
  if (r.seq != name_seq) {
    r.error = "sequence " + std::to_string(r.seq) + " does not match the file name";
    return r;
  }
  if (len != data.size() - kLkgHeaderSize) {
    r.error = "payload is " + std::to_string(data.size() - kLkgHeaderSize) +
              " bytes, header says " + std::to_string(len) + " (truncated or partial file)";
    return r;
  }
  if (XXH3_64bits(h + kLkgHeaderSize, len) != get64(h + 48)) {
    r.error = "payload checksum mismatch";
    return r;
  }
  r.payload = data.substr(kLkgHeaderSize);
  return r;
}

}  // namespace

namespace {

std::string write_file(const std::string& dir, uint64_t seq, uint32_t format,
                       const VersionId& version, std::string_view text) {
  const std::string final_path = dir + "/lkg-" + std::to_string(seq) + ".edz";
  const std::string tmp = final_path + ".tmp";
  uint8_t hdr[kLkgHeaderSize] = {};
  std::memcpy(hdr, kMagic, sizeof kMagic);
  wr32(hdr + 8, format);
  put64(hdr + 16, seq);
  put64(hdr + 24, version.hi);
  put64(hdr + 32, version.lo);
  put64(hdr + 40, text.size());
  put64(hdr + 48, XXH3_64bits(text.data(), text.size()));
  put64(hdr + 56, XXH3_64bits(hdr, 56));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return sys_error("cannot create", tmp);
  if (!write_all(fd, hdr, sizeof hdr) || !write_all(fd, text.data(), text.size())) {
    std::string e = sys_error("cannot write", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  }
  if (::fsync(fd) != 0) {
    std::string e = sys_error("cannot fsync", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    std::string e = sys_error("cannot rename to " + final_path + ":", tmp);
    ::unlink(tmp.c_str());
    return e;
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return sys_error("cannot open directory", dir);
  const bool synced = ::fsync(dfd) == 0;
  std::string e = synced ? std::string() : sys_error("cannot fsync directory", dir);
  ::close(dfd);
  return e;
}

void remove_tmps(const std::vector<fs::path>& tmps) {
  for (const fs::path& t : tmps) {
    std::error_code ec;
    fs::remove(t, ec);
  }
}

}  // namespace

std::string write_lkg(const std::string& dir, uint64_t seq, const VersionId& version,
                      std::string_view text) {
  if (std::string e = write_file(dir, seq, kLkgFormat, version, text); !e.empty()) return e;
  // Retention: this file and the state before it, which is the newest older
  // good full file and the deltas after it; older files and leftover tmp
  // files go. Files with a higher sequence are left alone.
  std::vector<fs::path> tmps;
  std::vector<Entry> older;
  for (const Entry& en : list(dir, &tmps))
    if (en.seq < seq) older.push_back(en);  // newest first
  size_t keep = 0;
  bool found_full = false;
  while (keep < older.size() && !found_full) {
    Parsed p = read_file(older[keep].path, older[keep].seq);
    ++keep;
    found_full = p.error.empty() && p.format == kLkgFormat;
  }
  if (!found_full) keep = 0;  // no good full file: none of them can load
  for (size_t i = keep; i < older.size(); ++i) {
    std::error_code ec;
    fs::remove(older[i].path, ec);
  }
  remove_tmps(tmps);
  return {};
}

std::string write_lkg_delta(const std::string& dir, uint64_t seq, const VersionId& base,
                            const VersionId& version, std::span<const DeltaChange> changes) {
  std::string text = "base " + base.hex() + "\n";
  for (const DeltaChange& c : changes) {
    text += c.op == DeltaChange::Op::Add ? '+' : '-';
    text += c.rr;
    text += '\n';
  }
  if (std::string e = write_file(dir, seq, kLkgDeltaFormat, version, text); !e.empty()) return e;
  std::vector<fs::path> tmps;
  list(dir, &tmps);
  remove_tmps(tmps);
  return {};
}

LkgHead lkg_head(const std::string& dir) {
  LkgHead h;
  bool top = true;
  for (const Entry& en : list(dir)) {
    uint8_t hdr[kLkgHeaderSize];
    std::ifstream in(en.path, std::ios::binary);
    if (!in.read(reinterpret_cast<char*>(hdr), sizeof hdr) ||
        std::memcmp(hdr, kMagic, sizeof kMagic) != 0 || XXH3_64bits(hdr, 56) != get64(hdr + 56))
      return LkgHead{};
    const uint32_t format = rd32(hdr + 8);
    std::error_code ec;
    const uint64_t size = fs::file_size(en.path, ec);
    if (top) {
      h.found = true;
      h.seq = get64(hdr + 16);
      h.version = VersionId{get64(hdr + 24), get64(hdr + 32)};
      top = false;
    }
    if (format == kLkgFormat) {
      h.full_bytes = size;
      return h;
    }
    if (format != kLkgDeltaFormat) return LkgHead{};
    ++h.deltas;
    h.delta_bytes += size;
  }
  return LkgHead{};  // deltas with no full file under them
}

uint64_t next_lkg_seq(const std::string& dir) {
  std::vector<Entry> l = list(dir);
  return l.empty() ? 1 : l.front().seq + 1;
}

namespace {

// "base <hex>" then "+rr" / "-rr" lines; false when the payload is not that.
bool parse_delta(const std::string& payload, VersionId& base, std::vector<DeltaChange>& out,
                 std::string& error) {
  size_t nl = payload.find('\n');
  std::optional<VersionId> b;
  if (nl == std::string::npos || payload.compare(0, 5, "base ") != 0 ||
      !(b = VersionId::from_hex(std::string_view(payload).substr(5, nl - 5)))) {
    error = "delta payload does not start with \"base <version>\"";
    return false;
  }
  base = *b;
  for (size_t at = nl + 1; at < payload.size();) {
    size_t end = payload.find('\n', at);
    if (end == std::string::npos) end = payload.size();
    if (end > at) {
      char op = payload[at];
      if (op != '+' && op != '-') {
        error = "delta payload line does not start with + or -";
        return false;
      }
      out.push_back({op == '+' ? DeltaChange::Op::Add : DeltaChange::Op::Del,
                     payload.substr(at + 1, end - at - 1)});
    }
    at = end + 1;
  }
  return true;
}

std::string first_error(const std::vector<Diagnostic>& ds) {
  for (const auto& d : ds)
    if (d.is_error()) return d.to_string();
  return {};
}

}  // namespace

LkgRead read_newest_lkg(const std::string& dir) {
  LkgRead out;
  const std::vector<Entry> entries = list(dir);  // newest first
  // Down to the newest good full file, noting why each file above it cannot
  // be served on its own ("" for a delta, which the replay judges).
  std::vector<std::string> why(entries.size());
  size_t full = entries.size();
  for (size_t i = 0; i < entries.size() && full == entries.size(); ++i) {
    const std::string path = entries[i].path.string();
    Parsed p = read_file(entries[i].path, entries[i].seq);
    if (!p.error.empty()) {
      why[i] = p.error;
      continue;
    }
    if (p.format == kLkgDeltaFormat) continue;
    ZoneSetLoad l = load_zoneset_text(p.payload, path);
    if (!l.zones) {
      why[i] = "payload does not load: " + first_error(l.diagnostics);
      continue;
    }
    if (zoneset_version(*l.zones) != p.version) {
      why[i] = "payload has version " + zoneset_version(*l.zones).hex() + ", header says " +
               p.version.hex();
      continue;
    }
    full = i;
    out.found = true;
    out.seq = p.seq;
    out.version = p.version;
    out.path = path;
    out.zones = std::move(l.zones);
  }
  if (!out.found) {
    for (size_t i = 0; i < entries.size(); ++i)
      out.skipped.push_back(entries[i].path.string() + ": " +
                            (why[i].empty() ? "a delta with no good full file below it" : why[i]));
    return out;
  }
  // Replay oldest first; the first file that does not hold ends the chain,
  // and every file above it is skipped with it.
  for (size_t i = full; i-- > 0;) {
    std::string reason = why[i];
    Parsed p;
    VersionId from;
    std::vector<DeltaChange> changes;
    std::shared_ptr<const ZoneSet> next;
    if (reason.empty()) {
      p = read_file(entries[i].path, entries[i].seq);
      reason = p.error;
    }
    if (reason.empty()) parse_delta(p.payload, from, changes, reason);
    if (reason.empty() && from != out.version)
      reason = "delta from " + from.hex() + ", but the file before it holds " + out.version.hex();
    if (reason.empty()) {
      DeltaResult r = apply_delta(*out.zones, changes);
      if (!r.ok()) reason = "delta does not apply: " + first_error(r.diagnostics);
      else if (zoneset_version(*r.zones) != p.version)
        reason = "payload has version " + zoneset_version(*r.zones).hex() + ", header says " +
                 p.version.hex();
      else next = std::move(r.zones);
    }
    if (!reason.empty()) {
      for (size_t j = 0; j < i; ++j)
        out.skipped.push_back(entries[j].path.string() + ": " +
                              (why[j].empty() ? "the chain below it is broken" : why[j]));
      out.skipped.push_back(entries[i].path.string() + ": " + reason);
      break;
    }
    out.seq = p.seq;
    out.version = p.version;
    out.path = entries[i].path.string();
    out.zones = std::move(next);
  }
  return out;
}

}  // namespace edgedns::zones
