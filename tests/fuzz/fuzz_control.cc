// Fuzz target: the node control protocol as the agent receives it. The input
// is the byte stream of one connection: frames (4-byte big-endian length +
// JSON) read back with proto::read_frame from a socketpair, each handed to
// the real node agent (dp::ControlAgent::handle_frame: proto::parse_message,
// the version and command checks, the typed field validation of every
// command) over a real VersionRegistry and ZonePublisher (two publisher
// slots, liburcu QSBR, no EAL, no reader threads). Upload texts go through
// parse + check + compile (dp::build_zone_set), delta changes through
// zones::apply_delta, so the zones-side decoders the agent calls are
// covered too. Each input starts from a fresh registry holding one base
// version (tests/fuzz/zones/delta.zone).
//
// To let the fuzzer chain commands, the harness replaces "@BASE@" in a frame
// with the base version's hex id and "@LAST@" with the "version" of the last
// successful reply (e.g. upload, then publish/commit/drop of what it made).
//
// Invariants: every frame gets a reply that is a JSON object with "v": 1, a
// boolean "ok", on failure a known error code and a message; the reply
// survives write_frame / read_frame / parse_message unchanged; version ids in
// replies are 32 hex digits; the committed version, when there is one, is
// still held by the registry. Nothing crashes, leaks or hangs whatever the bytes.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <string>

#include "dataplane/agent.hh"
#include "dataplane/registry.hh"
#include "fuzz_common.hh"
#include "proto/framing.hh"

using namespace edgedns;
using nlohmann::json;

namespace {

// Frames per input: enough for upload -> publish -> commit -> rollback ->
// drop chains; more only slows the fuzzer down.
constexpr int kMaxFrames = 12;
// Well above any frame the fuzzer writes (its inputs are capped by -max_len),
// below the default so that the TooLarge path is reachable.
constexpr uint32_t kMaxFrame = 1 << 20;

const std::set<std::string> kCodes = {"bad_request", "invalid_zone",  "unknown_version",
                                      "bad_lcore",   "base_mismatch", "busy",
                                      "state_io"};

std::shared_ptr<const zones::ZoneSet> base_set() {
  static auto zs = fuzz::load_zone_set({std::string(EDGEDNS_FUZZ_DIR) + "/zones/delta.zone"});
  return zs;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
    s.replace(p, from.size(), to);
}

bool is_hex_id(const json& j) {
  if (!j.is_string()) return false;
  const std::string& s = j.get_ref<const std::string&>();
  if (s.size() != 32) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// The client side's view of a reply: through a real frame and parse_message.
void check_round_trip(const json& reply) {
  const std::string text = reply.dump(-1, ' ', false, json::error_handler_t::replace);
  int sv[2];
  FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
  // Reader and writer on one thread: replies are small, the socket buffer holds them.
  int big = 4 << 20;
  ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  ::setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  if (text.size() < (1u << 20)) {
    FUZZ_CHECK(proto::write_frame(sv[0], text), "write_frame of a reply failed");
    std::string back;
    FUZZ_CHECK(proto::read_frame(sv[1], back) == proto::IoStatus::Ok,
               "read_frame of a reply failed");
    std::string err;
    auto j = proto::parse_message(back, &err);
    FUZZ_CHECK(j, "a reply does not parse back: %s", err.c_str());
    FUZZ_CHECK(j->dump(-1, ' ', false, json::error_handler_t::replace) == text,
               "a reply changed over write_frame/read_frame/parse_message");
  }
  ::close(sv[0]);
  ::close(sv[1]);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The stream goes into the socket in one non-blocking write: keep it within
  // the send buffer (libFuzzer's -max_len keeps inputs far below this anyway).
  if (size > (1u << 20)) return 0;
  static const bool verbose = std::getenv("FUZZ_VERBOSE") != nullptr;
  int sv[2];
  FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
  int big = 4 << 20;
  ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  ::setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  size_t off = 0;
  while (off < size) {
    ssize_t w = ::send(sv[0], data + off, size - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w <= 0) break;  // the rest would block: the stream simply ends there
    off += size_t(w);
  }
  ::shutdown(sv[0], SHUT_WR);

  dp::ZonePublisher pub(2);
  std::unique_ptr<dp::VersionCounters[]> c0(new dp::VersionCounters[dp::kVersionSlots]);
  std::unique_ptr<dp::VersionCounters[]> c1(new dp::VersionCounters[dp::kVersionSlots]);
  {
    dp::VersionRegistry reg(pub, {3, 5}, {c0.get(), c1.get()});
    const std::string base_hex = reg.add(base_set())->hex;
    dp::ControlAgent agent(reg, dp::AgentHooks{});
    std::string last = base_hex;
    std::string frame;
    for (int i = 0; i < kMaxFrames; ++i) {
      proto::IoStatus st = proto::read_frame(sv[1], frame, kMaxFrame);
      if (st != proto::IoStatus::Ok) break;
      replace_all(frame, "@BASE@", base_hex);
      replace_all(frame, "@LAST@", last);
      json reply = agent.handle_frame(frame);
      if (verbose)
        std::fprintf(stderr, "> %s\n< %s\n", frame.c_str(),
                     reply.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
      FUZZ_CHECK(reply.is_object(), "a reply that is not an object");
      FUZZ_CHECK(reply.value("v", 0) == proto::kVersion, "a reply without \"v\": 1");
      auto ok = reply.find("ok");
      FUZZ_CHECK(ok != reply.end() && ok->is_boolean(), "a reply without a boolean \"ok\"");
      if (!ok->get<bool>()) {
        auto code = reply.find("code");
        FUZZ_CHECK(
            code != reply.end() && code->is_string() && kCodes.count(code->get<std::string>()),
            "an error reply with an unknown code: %s",
            reply.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
        FUZZ_CHECK(reply.contains("error") && reply["error"].is_string(),
                   "an error reply without a message");
      } else {
        for (const char* k : {"version", "committed", "base"}) {
          auto it = reply.find(k);
          if (it != reply.end() && !it->is_null())
            FUZZ_CHECK(is_hex_id(*it), "\"%s\" in a reply is not a version id", k);
        }
        auto v = reply.find("version");
        if (v != reply.end() && v->is_string()) last = v->get<std::string>();
      }
      check_round_trip(reply);
      if (auto cm = reg.committed())
        FUZZ_CHECK(reg.find(cm->hex) == cm, "the committed version is not held");
    }
  }
  ::close(sv[0]);
  ::close(sv[1]);
  return 0;
}
