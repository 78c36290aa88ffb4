// What a rollout sends a node that already holds an earlier version: the
// records that differ, as the node's `delta` command takes them, instead of
// every zone in full. Worked out from the two versions' canonical texts in
// the version store (one absolute record per line, control/zone_input.hh),
// zone by zone: a zone whose text is unchanged costs a string compare.
// Control thread; allocates.
#pragma once

#include <optional>
#include <vector>

#include "control/node_client.hh"

namespace edgedns::ctl {

// The changes taking `base` to `target` (deletions first, so that a TTL
// change is a delete then an add), or nullopt when a delta cannot say it:
// a zone added, removed or renamed, or more changed records than half of
// the target's (a full upload is then about as small and simpler).
std::optional<std::vector<DeltaChange>> plan_delta(const std::vector<ZoneUpload>& base,
                                                   const std::vector<ZoneUpload>& target);

}  // namespace edgedns::ctl
