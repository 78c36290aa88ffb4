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
  end_ = good_end;
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
  if (poisoned_)
    throw std::runtime_error("journal " + path_ +
                             ": unusable: an earlier failed append could not be undone (" +
                             poison_ + "); restart once the file system is healthy");
  rec["seq"] = seq_ + 1;
  rec["time"] =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::string line = rec.dump() + "\n";
  // Explicit offsets: after a failure the file is cut back to end_, and the
  // next record must start there, not where the failed write left the offset.
  size_t done = 0;
  const char* what = nullptr;
  int err = 0;
  while (done < line.size()) {
    ssize_t w = ::pwrite(fd_, line.data() + done, line.size() - done, off_t(end_ + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      what = "write";
      err = w < 0 ? errno : ENOSPC;
      break;
    }
    done += size_t(w);
  }
  if (!what && sync_(fd_) != 0) {
    what = "fdatasync";
    err = errno;
  }
  if (what) {
    // A fragment would join the next record into a damaged line, and a
    // record whose sync failed would be replayed although the caller was
    // told it failed: cut either off so the file is as before this call.
    std::string msg = "journal " + path_ + ": " + what + ": " + std::strerror(err);
    if (::ftruncate(fd_, off_t(end_)) != 0 || sync_(fd_) != 0) {
      poisoned_ = true;
      poison_ = msg + "; cutting the record off failed: " + std::strerror(errno);
      throw std::runtime_error(poison_ + "; the failed record could not be undone");
    }
    throw std::runtime_error(msg);
  }
  ++seq_;
  end_ += line.size();
  return rec;
}

}  // namespace edgedns::ctl
