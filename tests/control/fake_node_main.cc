// fake_node: runs the test-only node agent of fake_node.hh as a process, so
// scripts can drive `edgectl serve` / `edgectl node` without DPDK:
//   fake_node NAME SOCKET ZONEFILE...   (UDP probe port printed on stdout)
// Counters: 1000 NOERROR queries per lcore per status. SIGTERM/SIGINT stop it.
#include <unistd.h>
#include <csignal>
#include <fstream>
#include <iostream>
#include <sstream>

#include "fake_node.hh"

static volatile sig_atomic_t g_stop = 0;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: fake_node NAME SOCKET ZONEFILE...\n";
    return 1;
  }
  std::vector<edgedns::test::FakeNode::ZoneText> zones;
  for (int i = 3; i < argc; ++i) {
    std::ifstream in(argv[i]);
    std::stringstream ss;
    ss << in.rdbuf();
    zones.push_back({argv[i], ss.str()});
  }
  edgedns::test::FakeNode node(argv[1], argv[2], {0, 1}, zones, true);
  node.start();
  std::cout << node.udp_address() << std::endl;
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  std::signal(SIGINT, [](int) { g_stop = 1; });
  while (!g_stop) ::usleep(100'000);
  node.stop();
  return 0;
}
