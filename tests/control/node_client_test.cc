// The typed node client against the fake agent: every command, refusals with
// the agent's code and diagnostics, and errors that name the node and socket
// (unreachable, no reply within the timeout).
#include "control/node_client.hh"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cstring>
#include <filesystem>

#include "fake_node.hh"
#include "tests/temp_dir.hh"

using namespace edgedns;
using namespace edgedns::ctl;

namespace {
const char* kZone =
    "$ORIGIN example.com.\n$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n";

struct TempDir : edgedns::test::TempDir {
  TempDir() : edgedns::test::TempDir("node-client") {}
};
}  // namespace

TEST(NodeClient, EveryCommand) {
  TempDir d;
  test::FakeNode node("edge-1", d.path + "/n.sock", {0, 1}, {{"z", kZone}});
  node.start();
  NodeClient c("edge-1", d.path + "/n.sock");
  Hello h = c.hello();
  EXPECT_EQ(h.node, "edge-1");
  EXPECT_EQ(h.lcores, (std::vector<int>{0, 1}));
  EXPECT_EQ(h.committed, node.initial_version());
  std::string z2 = std::string(kZone) + "www A 192.0.2.2\n";
  UploadResult u = c.upload({{"example.com.", "z2", z2}});
  EXPECT_EQ(u.version.size(), 32u);
  EXPECT_EQ(u.label, "example.com.=1");
  auto served = c.publish(u.version, std::vector<int>{1});
  EXPECT_EQ(served[0], h.committed);
  EXPECT_EQ(served[1], u.version);
  NodeStatus st = c.status();
  EXPECT_TRUE(st.holds(u.version));
  ASSERT_EQ(st.lcores.size(), 2u);
  EXPECT_EQ(st.lcores[1].version, u.version);
  EXPECT_EQ(st.lcores[1].counters.at(u.version).queries, 1000u);
  EXPECT_TRUE(c.health().lcores_alive);
  c.publish(u.version);
  c.commit(u.version);
  EXPECT_EQ(node.committed(), u.version);
  c.rollback(h.committed);
  EXPECT_EQ(node.committed(), h.committed);
  c.drop(u.version);
  EXPECT_FALSE(node.holds(u.version));
}

TEST(NodeClient, RefusalCarriesCodeAndDiagnostics) {
  TempDir d;
  test::FakeNode node("edge-1", d.path + "/n.sock", {0}, {{"z", kZone}});
  node.start();
  NodeClient c("edge-1", d.path + "/n.sock");
  try {
    c.upload({{"", "bad.zone", "$ORIGIN x.\n@ 60 A 1.2.3.4\n@ 60 CNAME y.\n"}});
    FAIL() << "invalid zone accepted";
  } catch (const NodeError& e) {
    EXPECT_EQ(e.code, "invalid_zone");
    EXPECT_FALSE(e.is_down());
    EXPECT_FALSE(e.diagnostics.empty());
    EXPECT_NE(std::string(e.what()).find("node edge-1 (" + d.path +
                                         "/n.sock): 'upload' refused (invalid_zone)"),
              std::string::npos)
        << e.what();
  }
  try {
    c.publish("0123456789abcdef0123456789abcdef");
    FAIL();
  } catch (const NodeError& e) {
    EXPECT_EQ(e.code, "unknown_version");
  }
}

TEST(NodeClient, UnreachableNamesNodeAndSocket) {
  NodeClient c("edge-9", "/nonexistent/edge-9.sock");
  try {
    c.hello();
    FAIL();
  } catch (const NodeError& e) {
    EXPECT_EQ(e.code, "unreachable");
    EXPECT_TRUE(e.is_down());
    EXPECT_NE(std::string(e.what()).find("node edge-9 (/nonexistent/edge-9.sock): cannot connect"),
              std::string::npos)
        << e.what();
  }
}

TEST(NodeClient, NoReplyIsATimeout) {
  TempDir d;
  // Listens but never accepts: the connect succeeds, no reply ever comes.
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::string p = d.path + "/mute.sock";
  std::strcpy(sa.sun_path, p.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  NodeClient c("edge-1", p, std::chrono::milliseconds(200));
  try {
    c.health();
    FAIL();
  } catch (const NodeError& e) {
    EXPECT_EQ(e.code, "timeout");
    EXPECT_NE(std::string(e.what()).find("no reply to 'health'"), std::string::npos) << e.what();
  }
  ::close(fd);
}

// A cached connection the agent dropped (it restarted) is not the node
// being down: the client reconnects once instead of reporting it.
TEST(NodeClient, AStaleCachedConnectionIsNotANodeDown) {
  TempDir d;
  test::FakeNode node("edge-1", d.path + "/n.sock", {0, 1}, {{"z", kZone}});
  node.start();
  NodeClient c("edge-1", d.path + "/n.sock");
  EXPECT_EQ(c.hello().node, "edge-1");
  node.restart();  // closes every connection, the client's cached one included
  EXPECT_NO_THROW(NodeClient("x", d.path + "/n.sock").hello());
  EXPECT_NO_THROW(c.hello());
  EXPECT_NO_THROW(c.status());
  node.stop();
  try {
    c.hello();
    ADD_FAILURE() << "a stopped node answered";
  } catch (const NodeError& e) {
    EXPECT_TRUE(e.is_down()) << e.what();
  }
}
