// A test-only node agent: the protocol of docs/control-protocol.md on a unix
// socket, versions computed with the real zones code, per-lcore publication,
// counters scripted by the test (added on every `status`), and optionally a
// UDP responder that emulates RSS: the query's source port picks the lcore
// (a hash, as a NIC's Toeplitz over the 4-tuple spreads ephemeral ports),
// whose version answers, with the NSID the real node sends ("<name>
// lcore=<id> v=<12 hex>") unless told to act as an older node. Not a model
// of the dataplane: no RCU, no LKG files (committed state lives in memory).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "control/node_client.hh"
#include "control/zone_input.hh"
#include "proto/server.hh"

namespace edgedns::test {

class FakeNode {
 public:
  struct ZoneText {
    std::string file, text;
  };
  FakeNode(std::string name, std::string socket, std::vector<int> lcores,
           const std::vector<ZoneText>& initial, bool udp = false);
  ~FakeNode();
  void start();
  void stop();  // as if killed: sockets closed, in-flight requests fail
  // Restart after stop(): serves its committed version (its LKG).
  void restart();

  std::string udp_address() const { return "127.0.0.1:" + std::to_string(udp_port_); }
  std::string initial_version() const { return initial_; }

  // Counters added per (lcore, served version) on every status request.
  void set_traffic(std::function<ctl::Counters(int lcore, const std::string& version)> fn);
  // Refuse commands (e.g. "publish") with this agent error code.
  void fail_command(const std::string& cmd, const std::string& code);
  // Answer `cmd` only after `ms` (a slow agent); 0 removes the delay.
  void delay_command(const std::string& cmd, int ms);
  // false: answer without NSID, as a node from before NSID did.
  void answer_nsid(bool on);
  // Answer DNS from this held version whatever the lcores serve (a node
  // whose agent and answers disagree); "" answers as served again.
  void answer_from(const std::string& version);
  // Every UDP answer: the lcore RSS chose, the version it served, and whether
  // the lcores served more than one version then (a canary stage).
  struct UdpAnswer {
    int lcore;
    std::string version;
    bool mixed;
  };
  std::vector<UdpAnswer> udp_answers();

  std::string committed();
  std::map<int, std::string> served();
  std::set<std::string> ever_served();
  std::vector<std::string> commands();
  bool holds(const std::string& v);

 private:
  struct Version {
    std::string label;
    std::vector<ctl::LoadedZone> zones;
    std::shared_ptr<const void> zoneset;  // zones::ZoneSet, type-erased to keep the header light
    size_t records = 0;
  };
  nlohmann::json handle_frame(const std::string& frame);
  void udp_loop();
  nlohmann::json handle(const nlohmann::json& req);
  std::string add_version(const std::vector<ctl::LoadedZone>& zones);

  std::string name_, socket_;
  std::vector<int> lcores_;
  bool udp_;
  std::mutex mu_;
  std::map<std::string, Version> versions_;
  std::string committed_, prev_committed_, initial_;
  std::map<int, std::string> served_;
  std::map<int, std::map<std::string, ctl::Counters>> counters_;
  std::set<std::string> ever_;
  std::vector<std::string> log_;
  std::map<std::string, std::string> failing_;
  std::mutex delay_mu_;
  std::map<std::string, int> delays_;
  std::function<ctl::Counters(int, const std::string&)> traffic_;
  int udp_fd_ = -1;
  uint16_t udp_port_ = 0;
  std::atomic<bool> running_{false};
  std::thread udp_thread_;
  bool nsid_ = true;
  std::string answer_from_;
  std::vector<UdpAnswer> answers_;
  // The node agent's own server (proto/): the fake differs from a node in
  // what it answers, not in how it speaks.
  proto::Server server_;
};

}  // namespace edgedns::test
