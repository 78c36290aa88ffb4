// answer_batch: the answer engine behind a pipe, for the differential test
// (tests/integration/diff_knot.py) and anyone who wants our answers without a
// network server. Loads zones with load_zone_file + ZoneSet::build (exactly the
// production path), then reads one hex-encoded DNS message per stdin line and
// writes one hex-encoded response per stdout line (an empty line when the
// engine drops the query), in order, flushing after each line so that a
// caller may talk to it interactively.
//
//   answer_batch --zone FILE [--zone FILE...] [--tcp] [--payload N] < queries
//
// Exit: 0 after end of input, 1 when a zone does not load (diagnostics on
// stderr), 2 on bad usage or an input line that is not hex.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "zones/answer.hh"
#include "zones/load.hh"
#include "zones/snapshot.hh"

using namespace edgedns::zones;

namespace {

int usage() {
  std::cerr << "usage: answer_batch --zone FILE [--zone FILE...] [--tcp] [--payload N]\n"
               "  stdin: one hex DNS query per line; stdout: one hex response per line\n";
  return 2;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Spaces and tabs are allowed between bytes; anything else that is not hex is an error.
bool decode_hex(const std::string& line, std::vector<uint8_t>& out) {
  out.clear();
  int hi = -1;
  for (char c : line) {
    if (c == ' ' || c == '\t' || c == '\r') continue;
    int v = hex_value(c);
    if (v < 0) return false;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(uint8_t(hi << 4 | v));
      hi = -1;
    }
  }
  return hi < 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> zone_files;
  Transport transport = Transport::Udp;
  AnswerConfig cfg;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--zone" && i + 1 < argc) {
      zone_files.emplace_back(argv[++i]);
    } else if (a == "--tcp") {
      transport = Transport::Tcp;
    } else if (a == "--payload" && i + 1 < argc) {
      cfg.edns_payload = uint16_t(std::stoul(argv[++i]));
    } else {
      return usage();
    }
  }
  if (zone_files.empty()) return usage();

  std::shared_ptr<const ZoneSet> zs;
  try {
    std::vector<std::shared_ptr<const Zone>> zones;
    for (const auto& f : zone_files) {
      LoadResult lr = load_zone_file(f);
      for (const auto& d : lr.diagnostics)
        if (d.is_error() || !lr.zone) std::cerr << d.to_string() << "\n";
      if (!lr.zone) {
        std::cerr << "answer_batch: " << f << ": not loaded\n";
        return 1;
      }
      zones.push_back(std::move(lr.zone));
    }
    zs = ZoneSet::build(std::move(zones));
  } catch (const std::exception& e) {
    std::cerr << "answer_batch: " << e.what() << "\n";
    return 1;
  }

  static constexpr char kHex[] = "0123456789abcdef";
  std::vector<uint8_t> query;
  // 64 KiB: the largest DNS message; TCP answers may use all of it.
  std::vector<uint8_t> out(65535);
  std::string line, text;
  size_t lineno = 0;
  while (std::getline(std::cin, line)) {
    ++lineno;
    if (!decode_hex(line, query)) {
      std::cerr << "answer_batch: stdin line " << lineno << ": not hex\n";
      return 2;
    }
    AnswerResult r = answer_query(*zs, query, out, transport, cfg);
    text.clear();
    for (size_t i = 0; i < r.len; ++i) {
      text += kHex[out[i] >> 4];
      text += kHex[out[i] & 15];
    }
    text += '\n';
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  }
  return 0;
}
