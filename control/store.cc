#include "control/store.hh"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string_view>

#include "control/config.hh"
#include "control/version_id.hh"

namespace edgedns::ctl {

namespace fs = std::filesystem;

namespace {

void fsync_path(const std::string& path, bool dir) {
  int fd = ::open(path.c_str(), (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(path + ": open for fsync: " + std::strerror(errno));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw std::runtime_error(path + ": fsync: " + std::strerror(errno));
}

void write_synced(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error(path + ": create: " + std::strerror(errno));
  const char* p = data.data();
  size_t left = data.size();
  while (left) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      ::close(fd);
      throw std::runtime_error(path + ": write: " + std::strerror(errno));
    }
    p += w;
    left -= size_t(w);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    throw std::runtime_error(path + ": fsync: " + std::strerror(errno));
  }
  ::close(fd);
}

std::string parent_of(const std::string& p) { return fs::path(p).parent_path().string(); }

}  // namespace

void write_file_atomic(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  write_synced(tmp, data);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error(path + ": rename: " + std::strerror(errno));
  fsync_path(parent_of(path), true);
}

StateDirLock::StateDirLock(const std::string& state_dir) {
  fs::create_directories(state_dir);
  std::string path = state_dir + "/lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) throw std::runtime_error(path + ": open: " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char buf[32] = {};
    ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    std::string holder = n > 0 ? std::string(buf, size_t(n)) : std::string("unknown");
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw std::runtime_error("state directory " + state_dir +
                               " is in use by another edgectl serve (pid " + holder +
                               "); one daemon per state directory");
    throw std::runtime_error(path + ": flock: " + std::strerror(err));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
    // The pid is for the message above only; the lock itself is held.
  }
}

StateDirLock::~StateDirLock() {
  if (fd_ >= 0) ::close(fd_);
}

VersionStore::VersionStore(std::string state_dir) : root_(std::move(state_dir)) {
  fs::create_directories(root_ + "/versions");
  // Leftovers of a put interrupted before its rename are not versions.
  for (const auto& e : fs::directory_iterator(root_ + "/versions"))
    if (e.path().extension() == ".tmp") fs::remove_all(e.path());
}

bool VersionStore::has(const std::string& id) const {
  return !id.empty() && fs::exists(dir(id) + "/meta.json");
}

template <class T>
std::shared_ptr<const T> VersionStore::Cache<T>::find(const std::string& id) {
  for (auto it = entries.begin(); it != entries.end(); ++it)
    if (it->first == id) {
      auto v = it->second;
      entries.erase(it);
      entries.emplace_front(id, v);
      return v;
    }
  return nullptr;
}

template <class T>
void VersionStore::Cache<T>::add(const std::string& id, std::shared_ptr<const T> v) {
  for (auto it = entries.begin(); it != entries.end(); ++it)
    if (it->first == id) {
      entries.erase(it);
      break;
    }
  entries.emplace_front(id, std::move(v));
  if (entries.size() > kKeep) entries.pop_back();
}

void VersionStore::put(const std::string& id, const std::string& label,
                       const std::vector<LoadedZone>& zones) {
  if (has(id)) return;
  auto texts = std::make_shared<std::vector<ZoneUpload>>();
  std::string tmp = dir(id) + ".tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  // Zone texts already in an earlier version's pack are referenced, not
  // written again: a change to one zone of 100,000 writes one zone.
  std::string pack, index;
  std::vector<std::pair<std::string, Loc>> fresh;
  size_t records = 0;
  for (const auto& z : zones) {
    auto f = zone_facts(z);
    Loc loc;
    bool known = false;
    {
      std::lock_guard lk(cache_mu_);
      if (auto it = located_.find(f->key); it != located_.end()) {
        loc = it->second;
        known = true;
      }
    }
    if (!known) {
      loc = {id, pack.size(), f->text->size()};
      pack += *f->text;
      fresh.emplace_back(f->key, loc);
    }
    std::string file = z.file;
    std::replace_if(
        file.begin(), file.end(), [](char c) { return c == '\t' || c == '\n'; }, '?');
    index += f->key + "\t" + loc.pack + "\t" + std::to_string(loc.offset) + "\t" +
             std::to_string(loc.length) + "\t" + z.apex() + "\t" + file + "\n";
    texts->push_back({z.apex(), z.file, *f->text});
    records += f->records;
  }
  nlohmann::json meta = {{"id", id},
                         {"label", label},
                         {"records", records},
                         {"zone_count", zones.size()},
                         {"index", "zones.idx"}};
  write_synced(tmp + "/zones.pack", pack);
  write_synced(tmp + "/zones.idx", index);
  write_synced(tmp + "/meta.json", meta.dump(2));
  fsync_path(tmp, true);
  fs::remove_all(dir(id));
  if (::rename(tmp.c_str(), dir(id).c_str()) != 0)
    throw std::runtime_error(dir(id) + ": rename: " + std::strerror(errno));
  fsync_path(root_ + "/versions", true);
  std::lock_guard lk(cache_mu_);
  for (auto& [key, loc] : fresh) located_.emplace(key, loc);
  uploads_.add(id, std::move(texts));
}

nlohmann::json VersionStore::meta(const std::string& id) const {
  auto j = nlohmann::json::parse(read_file(dir(id) + "/meta.json"), nullptr, false);
  if (j.is_discarded()) throw std::runtime_error(dir(id) + "/meta.json: not valid JSON");
  return j;
}

std::shared_ptr<const std::vector<ZoneUpload>> VersionStore::uploads(const std::string& id) const {
  {
    std::lock_guard lk(cache_mu_);
    if (auto c = uploads_.find(id)) return c;
  }
  auto out = std::make_shared<std::vector<ZoneUpload>>();
  const nlohmann::json m = meta(id);  // named: a range-for over a temporary's member dangles
  if (!m.contains("index")) {
    // Written before zone packs: one file per zone.
    for (const auto& z : m["zones"])
      out->push_back({z.value("apex", ""), z.value("file", ""),
                      read_file(dir(id) + "/" + z.value("path", ""))});
    std::lock_guard lk(cache_mu_);
    uploads_.add(id, out);
    return out;
  }
  const std::string index_path = dir(id) + "/" + m.value("index", "zones.idx");
  const std::string index = read_file(index_path);
  std::map<std::string, std::string> packs;  // version id -> its pack
  std::vector<std::pair<std::string, Loc>> seen;
  size_t line_no = 0;
  for (size_t at = 0; at < index.size();) {
    size_t end = index.find('\n', at);
    if (end == std::string::npos) end = index.size();
    std::string_view line(index.data() + at, end - at);
    at = end + 1;
    ++line_no;
    if (line.empty()) continue;
    std::vector<std::string_view> f;
    for (size_t p = 0;;) {
      size_t t = line.find('\t', p);
      f.push_back(line.substr(p, t == std::string_view::npos ? std::string_view::npos : t - p));
      if (t == std::string_view::npos) break;
      p = t + 1;
    }
    auto bad = [&](const std::string& why) {
      return std::runtime_error(index_path + ":" + std::to_string(line_no) + ": " + why);
    };
    if (f.size() != 6) throw bad("expected 6 tab-separated fields");
    Loc loc{std::string(f[1]), 0, 0};
    try {
      loc.offset = std::stoull(std::string(f[2]));
      loc.length = std::stoull(std::string(f[3]));
    } catch (const std::exception&) {
      throw bad("offset and length must be numbers");
    }
    auto pk = packs.find(loc.pack);
    if (pk == packs.end())
      pk = packs.emplace(loc.pack, read_file(dir(loc.pack) + "/zones.pack")).first;
    if (loc.offset > pk->second.size() || loc.length > pk->second.size() - loc.offset)
      throw bad("zone " + std::string(f[4]) + " lies past the end of " + dir(loc.pack) +
                "/zones.pack");
    out->push_back(
        {std::string(f[4]), std::string(f[5]), pk->second.substr(loc.offset, loc.length)});
    seen.emplace_back(std::string(f[0]), std::move(loc));
  }
  std::lock_guard lk(cache_mu_);
  for (auto& [key, loc] : seen) located_.emplace(key, std::move(loc));
  uploads_.add(id, out);
  return out;
}

std::shared_ptr<const std::vector<LoadedZone>> VersionStore::load(const std::string& id) const {
  {
    std::lock_guard lk(cache_mu_);
    if (auto c = loaded_.find(id)) return c;
  }
  auto out = std::make_shared<std::vector<LoadedZone>>();
  for (const auto& u : *uploads(id)) {
    out->push_back(load_zone_text(u.text, u.file, u.origin));
    if (!out->back().ok())
      throw std::runtime_error("stored version " + id + ": " + u.file + " no longer loads");
  }
  std::lock_guard lk(cache_mu_);
  loaded_.add(id, out);
  return out;
}

void VersionStore::set_meta(const std::string& id, const std::string& key,
                            const nlohmann::json& value) {
  nlohmann::json m = meta(id);
  m[key] = value;
  write_file_atomic(dir(id) + "/meta.json", m.dump(2));
}

}  // namespace edgedns::ctl
