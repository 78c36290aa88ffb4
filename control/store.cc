#include "control/store.hh"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "control/config.hh"

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
  nlohmann::json meta = {{"id", id}, {"label", label}, {"zones", nlohmann::json::array()}};
  size_t records = 0;
  for (size_t i = 0; i < zones.size(); ++i) {
    std::string name = std::to_string(i) + ".zone";
    texts->push_back({zones[i].apex(), zones[i].file, canonical_text(zones[i].data)});
    write_synced(tmp + "/" + name, texts->back().text);
    meta["zones"].push_back({{"apex", zones[i].apex()}, {"file", zones[i].file}, {"path", name}});
    records += zones[i].data.records.size();
  }
  meta["records"] = records;
  write_synced(tmp + "/meta.json", meta.dump(2));
  fsync_path(tmp, true);
  fs::remove_all(dir(id));
  if (::rename(tmp.c_str(), dir(id).c_str()) != 0)
    throw std::runtime_error(dir(id) + ": rename: " + std::strerror(errno));
  fsync_path(root_ + "/versions", true);
  std::lock_guard lk(cache_mu_);
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
  for (const auto& z : m["zones"])
    out->push_back(
        {z.value("apex", ""), z.value("file", ""), read_file(dir(id) + "/" + z.value("path", ""))});
  std::lock_guard lk(cache_mu_);
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
