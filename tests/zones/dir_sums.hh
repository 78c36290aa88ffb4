// Checks every RRset directory entry of a compiled zone: its stored sum
// (RRsetDir::sum, read by the answer path's UDP checksum) must equal the
// one's complement sum of its wire bytes, after a compile and after deltas.
#pragma once

#include <gtest/gtest.h>

#include "zones/wire.hh"
#include "zones/zone.hh"

namespace edgedns::zones::test {

// Returns how many RRsets were checked (so that a test can see it looked).
inline size_t expect_dir_sums(const Zone& z) {
  size_t n = 0;
  for (const ShardView& v : z.views)
    for (uint32_t i = 0; i < v.nslots; ++i) {
      if (v.slots[i].off == kEmptySlot) continue;
      const uint8_t* node = v.blob + v.slots[i].off;
      const RRsetDir* dir = node_dir(node);
      const uint8_t* w = node_wire(node);
      for (uint16_t k = 0; k < reinterpret_cast<const NodeHdr*>(node)->nrrsets; ++k) {
        EXPECT_EQ(dir[k].sum, ones_sum(w, dir[k].len)) << "RRset type " << dir[k].type;
        w += dir[k].len;
        ++n;
      }
    }
  return n;
}

}  // namespace edgedns::zones::test
