#include "control/journal.hh"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace edgedns::ctl {

namespace {
[[noreturn]] void io_fail(const std::string& what, const std::string& path) {
  throw std::runtime_error("journal " + path + ": " + what + ": " + std::strerror(errno));
}
}  // namespace

Journal::Journal(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) io_fail("open", path_);
  std::string data;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd_, buf, sizeof buf)) > 0) data.append(buf, size_t(n));
  if (n < 0) io_fail("read", path_);
  size_t pos = 0, line = 0, good_end = 0;
  while (pos < data.size()) {
    size_t nl = data.find('\n', pos);
    ++line;
    bool last = nl == std::string::npos || nl + 1 == data.size();
    std::string text = data.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    bool ok = nl != std::string::npos && !j.is_discarded() && j.is_object();
    if (!ok) {
      if (!last)
        throw std::runtime_error(
            "journal " + path_ + ":" + std::to_string(line) +
            ": damaged record before the end of the file (not a torn write); refusing to guess");
      break;  // torn tail: dropped below
    }
    if (j.contains("seq") && j["seq"].is_number_unsigned())
      seq_ = std::max(seq_, j["seq"].get<uint64_t>());
    recovered_.push_back(std::move(j));
    pos = nl + 1;
    good_end = pos;
  }
  if (good_end < data.size()) {
    truncated_ = data.size() - good_end;
    if (::ftruncate(fd_, off_t(good_end)) != 0) io_fail("truncate torn tail", path_);
    if (::fsync(fd_) != 0) io_fail("fsync", path_);
  }
  if (::lseek(fd_, 0, SEEK_END) < 0) io_fail("seek", path_);
  // A new journal file must survive a crash too: sync its directory entry.
  std::string dir = path_.substr(0, path_.rfind('/') == std::string::npos ? 0 : path_.rfind('/'));
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

nlohmann::json Journal::append(nlohmann::json rec) {
  rec["seq"] = ++seq_;
  rec["time"] =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::string line = rec.dump() + "\n";
  const char* p = line.data();
  size_t left = line.size();
  while (left) {
    ssize_t w = ::write(fd_, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      io_fail("write", path_);
    }
    p += w;
    left -= size_t(w);
  }
  if (::fdatasync(fd_) != 0) io_fail("fdatasync", path_);
  return rec;
}

}  // namespace edgedns::ctl
