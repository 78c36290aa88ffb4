// proto::Server: connections reaped as soon as they end (threads and fds
// flat over many clients), memory bounded by the bytes received (not the
// length announced), stalled frames dropped after the frame timeout, the
// connection bound, refusal of anything but a stale socket at the path, and
// what a handler is told about its client (gone, or still there).
#include "proto/server.hh"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "proto/client.hh"
#include "proto/framing.hh"
#include "tests/temp_dir.hh"

using namespace edgedns;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct TempDir : edgedns::test::TempDir {
  TempDir() : edgedns::test::TempDir("proto") {}
};

size_t count_entries(const char* dir) {
  size_t n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

size_t rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoul(line.c_str() + 6, nullptr, 10);
  return 0;
}

json echo(const std::string& frame) {
  std::string err;
  auto m = proto::parse_message(frame, &err);
  if (!m) return proto::make_error(nullptr, "bad_request", err);
  json r = proto::make_ok(m->value("id", json()));
  r["echo"] = (*m)["cmd"];
  return r;
}

// Waits up to 5 s for the server to hold n connections.
bool wait_connections(proto::Server& s, size_t n) {
  for (int i = 0; i < 500; ++i) {
    if (s.connections() == n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Milliseconds until the peer closes fd (reads discarded), or -1 after 10 s.
long ms_until_closed(int fd) {
  auto t0 = std::chrono::steady_clock::now();
  proto::FdStream s(fd, false);
  char buf[256];
  for (;;) {
    ssize_t r = s.read_some(buf, sizeof buf, 10'000);
    if (r <= 0) {
      if (r < 0 && errno == ETIMEDOUT) return -1;
      break;
    }
  }
  return long(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count());
}

}  // namespace

TEST(Server, ReapsEveryFinishedConnection) {
  TempDir d;
  proto::Server srv(echo);
  srv.start(d.path + "/s.sock");
  auto one = [&] {
    auto c = proto::Client::connect_unix(d.path + "/s.sock", "test server");
    EXPECT_EQ(c.call({{"cmd", "status"}}, 5000)["echo"], "status");
  };
  one();  // the first connection's thread stacks and buffers exist from here on
  ASSERT_TRUE(wait_connections(srv, 0));
  const size_t fds = count_entries("/proc/self/fd"), tasks = count_entries("/proc/self/task");
  for (int i = 0; i < 2000; ++i) one();
  ASSERT_TRUE(wait_connections(srv, 0)) << srv.connections() << " connections still held";
  EXPECT_EQ(count_entries("/proc/self/fd"), fds);
  EXPECT_EQ(count_entries("/proc/self/task"), tasks);
}

TEST(Server, MemoryFollowsBytesReceivedAndStalledFrameIsDropped) {
  TempDir d;
  proto::ServerOptions o;
  o.frame_timeout_ms = 400;
  proto::Server srv(echo, o);
  srv.start(d.path + "/s.sock");
  std::string err;
  const size_t before = rss_kib();
  // Four clients, each announcing the largest frame allowed and sending 10 bytes.
  int fds[4];
  for (int& fd : fds) {
    fd = proto::connect_unix(d.path + "/s.sock", &err);
    ASSERT_GE(fd, 0) << err;
    const unsigned char hdr[] = {0x20, 0x00, 0x00, 0x00};  // 512 MiB
    ASSERT_EQ(::write(fd, hdr, 4), 4);
    ASSERT_EQ(::write(fd, "{\"v\":1,\"cm", 10), 10);
  }
  ASSERT_TRUE(wait_connections(srv, 4));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const size_t during = rss_kib();
  EXPECT_LT(during, before + 8 * 1024) << "RSS " << before << " KiB -> " << during << " KiB";
  for (int fd : fds) {
    long ms = ms_until_closed(fd);
    EXPECT_GE(ms, 0) << "not dropped after the frame timeout";
    EXPECT_LT(ms, 5000);
    ::close(fd);
  }
  EXPECT_TRUE(wait_connections(srv, 0));
  // A half-sent header is a stalled frame too.
  int fd = proto::connect_unix(d.path + "/s.sock", &err);
  ASSERT_EQ(::write(fd, "\0\0", 2), 2);
  long ms = ms_until_closed(fd);
  EXPECT_GE(ms, 300);
  EXPECT_LT(ms, 5000);
  ::close(fd);
}

TEST(Server, IdleConnectionIsKeptAndSlowFramesAreReadWhole) {
  TempDir d;
  proto::ServerOptions o;
  o.frame_timeout_ms = 500;
  proto::Server srv(echo, o);
  srv.start(d.path + "/s.sock");
  std::string err;
  int fd = proto::connect_unix(d.path + "/s.sock", &err);
  ASSERT_GE(fd, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));  // idle: no limit
  const std::string body = R"({"v":1,"id":7,"cmd":"slow"})";
  std::string frame = std::string("\0\0\0", 3) + char(body.size()) + body;
  for (char c : frame) {  // a byte at a time, each within the frame timeout
    ASSERT_EQ(::write(fd, &c, 1), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::string reply;
  ASSERT_EQ(proto::read_frame(fd, reply), proto::IoStatus::Ok);
  EXPECT_EQ(json::parse(reply)["echo"], "slow");
  ::close(fd);
}

TEST(Server, OversizedFrameIsAnsweredAndClosed) {
  TempDir d;
  proto::ServerOptions o;
  o.max_frame = 1024;
  proto::Server srv(echo, o);
  srv.start(d.path + "/s.sock");
  std::string err, f;
  int fd = proto::connect_unix(d.path + "/s.sock", &err);
  const unsigned char hdr[] = {0, 0, 0x04, 0x01};
  ASSERT_EQ(::write(fd, hdr, 4), 4);
  ASSERT_EQ(proto::read_frame(fd, f), proto::IoStatus::Ok);
  json r = json::parse(f);
  EXPECT_EQ(r["code"], "bad_request");
  EXPECT_NE(r["error"].get<std::string>().find("1025"), std::string::npos) << r;
  EXPECT_EQ(proto::read_frame(fd, f), proto::IoStatus::Closed);
  ::close(fd);
}

TEST(Server, BoundsConnectionsAndSurvivesAThrowingHandler) {
  TempDir d;
  proto::ServerOptions o;
  o.max_connections = 2;
  proto::Server srv(
      [](const std::string& f) -> json {
        if (f.find("throw") != std::string::npos) throw std::runtime_error("handler failed");
        return echo(f);
      },
      o);
  srv.start(d.path + "/s.sock");
  std::string err, f;
  int a = proto::connect_unix(d.path + "/s.sock", &err),
      b = proto::connect_unix(d.path + "/s.sock", &err);
  ASSERT_TRUE(wait_connections(srv, 2));
  int c = proto::connect_unix(d.path + "/s.sock", &err);
  ASSERT_EQ(proto::read_frame(c, f), proto::IoStatus::Ok);
  EXPECT_EQ(json::parse(f)["code"], "busy");
  EXPECT_EQ(proto::read_frame(c, f), proto::IoStatus::Closed);
  ::close(c);
  json r = proto::call(a, {{"cmd", "throw"}});
  EXPECT_EQ(r["code"], "bad_request");
  EXPECT_EQ(r["error"], "handler failed");
  EXPECT_EQ(proto::call(a, {{"cmd", "after"}})["echo"], "after");
  ::close(a);
  ASSERT_TRUE(wait_connections(srv, 1));
  int e = proto::connect_unix(d.path + "/s.sock", &err);  // a freed place is usable at once
  EXPECT_EQ(proto::call(e, {{"cmd", "again"}})["echo"], "again");
  ::close(e);
  ::close(b);
  srv.stop();  // with nothing left connected
}

TEST(Server, RefusesANonSocketAndALiveSocketReplacesAStaleOne) {
  TempDir d;
  const std::string file = d.path + "/not-a-socket";
  { std::ofstream(file) << "keep me\n"; }
  proto::Server srv(echo);
  try {
    srv.start(file);
    FAIL() << "bound over a regular file";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(file + " exists and is not a socket"), std::string::npos)
        << e.what();
  }
  std::ifstream in(file);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "keep me\n");

  const std::string sock = d.path + "/s.sock";
  srv.start(sock);
  struct stat st;
  ASSERT_EQ(::stat(sock.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  proto::Server other(echo);
  EXPECT_THROW(other.start(sock), std::runtime_error);  // in use
  // A stale socket (bound, its listener gone without unlinking) is replaced.
  srv.stop();
  EXPECT_NE(::stat(sock.c_str(), &st), 0);  // removed on stop
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ::close(fd);
  }
  other.start(sock);
  std::string err;
  int fd = proto::connect_unix(sock, &err);
  ASSERT_GE(fd, 0) << err;
  EXPECT_EQ(proto::call(fd, {{"cmd", "x"}})["echo"], "x");
  ::close(fd);
}

TEST(Server, StopEndsIdleConnectionsAndCanRestart) {
  TempDir d;
  proto::Server srv(echo);
  srv.start(d.path + "/s.sock");
  std::string err;
  int fd = proto::connect_unix(d.path + "/s.sock", &err);
  ASSERT_TRUE(wait_connections(srv, 1));
  srv.stop();
  EXPECT_EQ(srv.connections(), 0u);
  std::string f;
  EXPECT_EQ(proto::read_frame(fd, f), proto::IoStatus::Closed);
  ::close(fd);
  srv.start(d.path + "/s.sock");
  fd = proto::connect_unix(d.path + "/s.sock", &err);
  EXPECT_EQ(proto::call(fd, {{"cmd", "back"}})["echo"], "back");
  ::close(fd);
}

// The handler asks whether its client is still there after the client
// closed (gone), while it waits for the reply (not gone), and after it only
// shut down its sending side (not gone: it still reads the reply).
TEST(Server, HandlerSeesWhetherThePeerIsGone) {
  TempDir d;
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  std::vector<bool> seen;
  proto::Server srv([&](const std::string& f, const proto::Peer& peer) {
    std::unique_lock lock(mu);
    if (f.find("wait") != std::string::npos) {
      entered = true;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
    }
    seen.push_back(peer.gone());
    json r = echo(f);
    r["gone"] = seen.back();
    return r;
  });
  srv.start(d.path + "/s.sock");
  std::string err, f;

  int fd = proto::connect_unix(d.path + "/s.sock", &err);
  ASSERT_GE(fd, 0) << err;
  json r = proto::call(fd, {{"cmd", "here"}});
  EXPECT_EQ(r["gone"], false) << r;
  // Closed while its request is being handled.
  ASSERT_TRUE(proto::write_frame(fd, proto::dump_message(json{{"v", 1}, {"cmd", "wait"}})));
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return entered; }));
  }
  ::close(fd);
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(wait_connections(srv, 0));
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_TRUE(seen[1]) << "the handler did not see its client gone";
  }

  // Half-closed: the request sent, the sending side shut, the reply still read.
  fd = proto::connect_unix(d.path + "/s.sock", &err);
  ASSERT_GE(fd, 0) << err;
  ASSERT_TRUE(proto::write_frame(fd, proto::dump_message(json{{"v", 1}, {"cmd", "half"}})));
  ASSERT_EQ(::shutdown(fd, SHUT_WR), 0);
  ASSERT_EQ(proto::read_frame(fd, f), proto::IoStatus::Ok);
  r = json::parse(f);
  EXPECT_EQ(r["echo"], "half");
  EXPECT_EQ(r["gone"], false) << r;
  ::close(fd);
}

TEST(Client, TimeoutIsReported) {
  TempDir d;
  proto::Server srv([](const std::string& f) {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    return echo(f);
  });
  srv.start(d.path + "/s.sock");
  auto c = proto::Client::connect_unix(d.path + "/s.sock", "slow server");
  try {
    c.call({{"cmd", "x"}}, 100);
    FAIL();
  } catch (const proto::CallError& e) {
    EXPECT_EQ(e.kind, proto::CallError::Kind::Timeout);
    EXPECT_NE(std::string(e.what()).find("slow server"), std::string::npos);
  }
  try {
    proto::Client::connect_unix(d.path + "/nothing.sock", "x");
    FAIL();
  } catch (const proto::CallError& e) {
    EXPECT_EQ(e.kind, proto::CallError::Kind::Unreachable);
    EXPECT_NE(std::string(e.what()).find(d.path + "/nothing.sock"), std::string::npos);
  }
}
