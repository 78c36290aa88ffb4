// edgedns option parsing: command line, YAML file, precedence (no EAL).
#include "dataplane/config.hh"

#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

using namespace edgedns::dp;

namespace {

ParsedArgs parse(std::vector<const char*> args) {
  args.insert(args.begin(), "edgedns");
  return parse_args(int(args.size()), args.data());
}

std::string write_temp(const std::string& text) {
  char path[] = "/tmp/edgedns_cfg_XXXXXX.yaml";
  int fd = mkstemps(path, 5);
  EXPECT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST(Config, CommandLine) {
  auto p = parse({"--listen", "198.18.0.1", "--listen", "2001:db8::1", "--zone", "a.zone", "--zone",
                  "example.org.=b.zone", "--control", "/run/e.sock", "--state-dir", "/var/lib/e",
                  "--idle-sleep"});
  ASSERT_FALSE(p.help);
  EXPECT_EQ(p.cfg.listen, (std::vector<std::string>{"198.18.0.1", "2001:db8::1"}));
  ASSERT_EQ(p.cfg.zones.size(), 2u);
  EXPECT_EQ(p.cfg.zones[0].origin, "");
  EXPECT_EQ(p.cfg.zones[0].path, "a.zone");
  EXPECT_EQ(p.cfg.zones[1].origin, "example.org.");
  EXPECT_EQ(p.cfg.zones[1].path, "b.zone");
  EXPECT_EQ(p.cfg.control, "/run/e.sock");
  EXPECT_EQ(p.cfg.state_dir, "/var/lib/e");
  EXPECT_TRUE(p.cfg.idle_sleep);
}

TEST(Config, HelpMentionsEveryOption) {
  auto p = parse({"--help"});
  ASSERT_TRUE(p.help);
  for (const char* o : {"--listen", "--zone", "--control", "--state-dir", "--idle-sleep", "--nsid",
                        "--config", "last-known-good"})
    EXPECT_NE(p.help_text.find(o), std::string::npos) << o;
}

TEST(Config, UnknownOptionIsAnError) {
  EXPECT_THROW(parse({"--lsiten", "1.2.3.4"}), ConfigError);
  // One value per occurrence: a stray second file is an error, not a second zone.
  EXPECT_THROW(parse({"--zone", "a.zone", "b.zone"}), ConfigError);
  auto p = parse({"--zone", "a.zone", "--zone", "b.zone"});
  EXPECT_EQ(p.cfg.zones.size(), 2u);
}

TEST(Config, YamlAndPrecedence) {
  std::string path = write_temp(
      "listen: [192.0.2.1, '2001:db8::1']\n"
      "zone: [x.zone, 'example.net.=y.zone']\n"
      "control: /run/a.sock\n"
      "idle-sleep: true\n");
  auto p = parse({"--config", path.c_str()});
  EXPECT_EQ(p.cfg.listen.size(), 2u);
  ASSERT_EQ(p.cfg.zones.size(), 2u);
  EXPECT_EQ(p.cfg.zones[1].origin, "example.net.");
  EXPECT_EQ(p.cfg.control, "/run/a.sock");
  EXPECT_TRUE(p.cfg.idle_sleep);
  // The command line wins, list for list.
  p = parse({"--config", path.c_str(), "--listen", "198.18.9.9", "--control", "/run/b.sock"});
  EXPECT_EQ(p.cfg.listen, (std::vector<std::string>{"198.18.9.9"}));
  EXPECT_EQ(p.cfg.zones.size(), 2u);
  EXPECT_EQ(p.cfg.control, "/run/b.sock");
  std::remove(path.c_str());
}

TEST(Config, YamlErrorsNameTheFile) {
  std::string path = write_temp("listen: [1.2.3.4\n");
  try {
    parse({"--config", path.c_str()});
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
  path = write_temp("listne: 1.2.3.4\n");
  EXPECT_THROW(parse({"--config", path.c_str()}), ConfigError);
  std::remove(path.c_str());
}

TEST(Config, ListenAddresses) {
  NodeAddrs a = addrs_from_listen({"198.18.0.1", "2001:db8::53", "198.18.0.1"});
  EXPECT_EQ(a.n4, 1u);  // duplicates collapse
  EXPECT_EQ(a.n6, 1u);
  const uint8_t v4[4] = {198, 18, 0, 1};
  EXPECT_TRUE(a.has_v4(v4));
  const uint8_t sn[16] = {0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0x53};
  EXPECT_TRUE(a.is_our_solicited_node(sn));
  EXPECT_THROW(addrs_from_listen({"198.18.0.300"}), ConfigError);
  EXPECT_THROW(addrs_from_listen({"example.com"}), ConfigError);
}

TEST(Config, ForceZone) {
  EXPECT_FALSE(parse({"--zone", "a.zone", "--state-dir", "/d"}).cfg.force_zone);
  EXPECT_TRUE(parse({"--zone", "a.zone", "--state-dir", "/d", "--force-zone"}).cfg.force_zone);
  try {
    parse({"--state-dir", "/d", "--force-zone"});
    FAIL() << "--force-zone without zone files accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--force-zone needs zone files"), std::string::npos)
        << e.what();
  }
  std::string path = write_temp("zone: x.zone\nstate-dir: /d\nforce-zone: true\n");
  EXPECT_TRUE(parse({"--config", path.c_str()}).cfg.force_zone);
  std::remove(path.c_str());
  EXPECT_NE(help_text().find("--force-zone"), std::string::npos);
}

TEST(Config, NsidNodeId) {
  EXPECT_FALSE(parse({"--listen", "198.18.0.1"}).cfg.nsid.has_value());  // the hostname, later
  EXPECT_EQ(parse({"--nsid", "edge-1.fra"}).cfg.nsid, "edge-1.fra");
  EXPECT_EQ(parse({"--nsid", ""}).cfg.nsid, "");  // no NSID
  for (const char* bad : {"edge 1", "tab\there", "\x7f"}) {
    try {
      parse({"--nsid", bad});
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("--nsid"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("without spaces"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(parse({"--nsid", std::string(kMaxNodeId + 1, 'x').c_str()}), ConfigError);
  std::string path = write_temp("nsid: edge-2\n");
  EXPECT_EQ(parse({"--config", path.c_str()}).cfg.nsid, "edge-2");
  EXPECT_EQ(parse({"--config", path.c_str(), "--nsid", "edge-3"}).cfg.nsid, "edge-3");
  std::remove(path.c_str());
  path = write_temp("nsid: 'a b'\n");
  try {
    parse({"--config", path.c_str()});
    ADD_FAILURE() << "accepted 'a b'";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": nsid 'a b'"), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
}
