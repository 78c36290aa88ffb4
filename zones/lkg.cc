// Last-known-good files (see lkg.hh).
#include "zones/lkg.hh"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

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
  if (rd32(h + 8) != kLkgFormat) {
    r.error = "unknown format version " + std::to_string(rd32(h + 8));
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

std::string write_lkg(const std::string& dir, uint64_t seq, const VersionId& version,
                      std::string_view text) {
  const std::string final_path = dir + "/lkg-" + std::to_string(seq) + ".edz";
  const std::string tmp = final_path + ".tmp";
  uint8_t hdr[kLkgHeaderSize] = {};
  std::memcpy(hdr, kMagic, sizeof kMagic);
  wr32(hdr + 8, kLkgFormat);
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
  if (!e.empty()) return e;
  // Retention: this file and the newest older good one; older files and
  // leftover tmp files go. Files with a higher sequence are left alone.
  std::vector<fs::path> tmps;
  bool kept_previous = false;
  for (const Entry& en : list(dir, &tmps)) {
    if (en.seq >= seq) continue;
    if (!kept_previous && read_file(en.path, en.seq).error.empty()) {
      kept_previous = true;
      continue;
    }
    std::error_code ec;
    fs::remove(en.path, ec);
  }
  for (const fs::path& t : tmps) {
    std::error_code ec;
    fs::remove(t, ec);
  }
  return {};
}

uint64_t next_lkg_seq(const std::string& dir) {
  std::vector<Entry> l = list(dir);
  return l.empty() ? 1 : l.front().seq + 1;
}

LkgRead read_newest_lkg(const std::string& dir) {
  LkgRead out;
  for (const Entry& en : list(dir)) {
    const std::string path = en.path.string();
    Parsed p = read_file(en.path, en.seq);
    if (!p.error.empty()) {
      out.skipped.push_back(path + ": " + p.error);
      continue;
    }
    ZoneSetLoad l = load_zoneset_text(p.payload, path);
    if (!l.zones) {
      std::string first;
      for (const auto& d : l.diagnostics)
        if (d.is_error()) {
          first = d.to_string();
          break;
        }
      out.skipped.push_back(path + ": payload does not load: " + first);
      continue;
    }
    if (zoneset_version(*l.zones) != p.version) {
      out.skipped.push_back(path + ": payload has version " + zoneset_version(*l.zones).hex() +
                            ", header says " + p.version.hex());
      continue;
    }
    out.found = true;
    out.seq = p.seq;
    out.version = p.version;
    out.path = path;
    out.zones = std::move(l.zones);
    return out;
  }
  return out;
}

}  // namespace edgedns::zones
