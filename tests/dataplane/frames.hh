// Test frames shared by the dataplane unit tests and bench/dataplane_bench:
// one node (198.18.53.53, 2001:db8:53::53, MAC 02:..:53) and one peer
// (198.18.53.2, 2001:db8:53::2, MAC 02:..:02), DNS queries and the
// Ethernet/IP/UDP frames that carry them. Header-only; test code, not part of
// any library.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <vector>

#include "dataplane/packet.hh"
#include "zones/name.hh"
#include "zones/wire.hh"

namespace edgedns::dp::test {

inline const Mac kOurMac = {0x02, 0, 0, 0, 0, 0x53};
inline const Mac kPeerMac = {0x02, 0, 0, 0, 0, 0x02};

// The node's addresses: kOurMac, 198.18.53.53 and 2001:db8:53::53.
inline NodeAddrs node_addrs() {
  NodeAddrs a;
  a.mac = kOurMac;
  inet_pton(AF_INET, "198.18.53.53", &a.v4[0]);
  a.n4 = 1;
  inet_pton(AF_INET6, "2001:db8:53::53", a.v6[0].data());
  a.n6 = 1;
  return a;
}

// A DNS query for NAME/TYPE (class IN) with ID; QR set when `qr`; with an OPT
// record advertising `edns_size` when it is not 0 (as real resolvers send).
inline std::vector<uint8_t> dns_query(const char* name, uint16_t type, uint16_t id, bool qr = false,
                                      uint16_t edns_size = 0) {
  std::vector<uint8_t> q(12, 0);
  zones::wr16(&q[0], id);
  if (qr) q[2] = 0x80;
  zones::wr16(&q[4], 1);
  zones::Name n = zones::Name::from_text(name);
  q.insert(q.end(), n.data(), n.data() + n.size());
  uint8_t t[4] = {0, 0, 0, 1};
  zones::wr16(t, type);
  q.insert(q.end(), t, t + 4);
  if (edns_size) {
    zones::wr16(&q[10], 1);
    const uint8_t opt[11] = {0, 0, 41, uint8_t(edns_size >> 8), uint8_t(edns_size), 0, 0, 0,
                             0, 0, 0};
    q.insert(q.end(), opt, opt + sizeof opt);
  }
  return q;
}

// Ethernet (peer -> us) + IPv4 (valid header checksum, fragment field `frag`)
// or IPv6 + UDP from `sport` to 53 carrying `dns` (UDP checksum 0: not
// verified on receive).
inline std::vector<uint8_t> udp_frame(bool v6, const std::vector<uint8_t>& dns, uint16_t frag = 0,
                                      uint16_t sport = 40000) {
  std::vector<uint8_t> f;
  f.reserve(64 + dns.size());  // one allocation (and no GCC 12 -Wstringop-overflow false positive)
  f.insert(f.end(), kOurMac.begin(), kOurMac.end());
  f.insert(f.end(), kPeerMac.begin(), kPeerMac.end());
  const size_t ulen = 8 + dns.size();
  if (!v6) {
    f.insert(f.end(), {0x08,
                       0x00,
                       0x45,
                       0,
                       uint8_t((20 + ulen) >> 8),
                       uint8_t(20 + ulen),
                       0,
                       1,
                       uint8_t(frag >> 8),
                       uint8_t(frag),
                       64,
                       ipproto::kUdp,
                       0,
                       0,
                       198,
                       18,
                       53,
                       2,
                       198,
                       18,
                       53,
                       53});
    const uint16_t cs = ip4_header_csum(&f[14], 20);  // classify drops a bad header checksum
    f[24] = uint8_t(cs >> 8);
    f[25] = uint8_t(cs);
  } else {
    f.insert(f.end(),
             {0x86, 0xdd, 0x60, 0, 0, 0, uint8_t(ulen >> 8), uint8_t(ulen), ipproto::kUdp, 64});
    uint8_t a[16];
    inet_pton(AF_INET6, "2001:db8:53::2", a);
    f.insert(f.end(), a, a + 16);
    inet_pton(AF_INET6, "2001:db8:53::53", a);
    f.insert(f.end(), a, a + 16);
  }
  f.insert(f.end(),
           {uint8_t(sport >> 8), uint8_t(sport), 0, 53, uint8_t(ulen >> 8), uint8_t(ulen), 0, 0});
  f.insert(f.end(), dns.begin(), dns.end());
  return f;
}

}  // namespace edgedns::dp::test
