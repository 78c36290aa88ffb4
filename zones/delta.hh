// IXFR-like deltas applied to a compiled zone set (docs/control-protocol.md,
// command "delta"): each change adds or deletes one RR given in presentation
// form, "owner ttl class type rdata". The result is a new ZoneSet that shares
// every untouched zone and, inside a touched zone, every shard whose names
// did not change (copy-on-write of the few touched shards), so a small
// delta to a big zone costs a few shards' worth of work and memory, not a
// recompile. Answers from the result equal those of a zone compiled
// from scratch with the same content, and its version id is the same.
//
// Validation happens before anything is built: a bad delta returns errors
// naming the change (1-based index and RR text) and no zone set.
// Control thread; allocates; the base set is only read.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "zones/snapshot.hh"
#include "zones/zone_data.hh"

namespace edgedns::zones {

struct DeltaChange {
  enum class Op : uint8_t { Add, Del };
  Op op = Op::Add;
  // "owner ttl class type rdata" on one line. The owner is absolute, or
  // relative to the zone when the set holds exactly one zone; its zone is the
  // longest match among the set's zones. RDATA names are completed with that
  // zone's apex. A deletion matches type, class and RDATA (any TTL).
  std::string rr;
};

enum class DeltaStatus : uint8_t {
  Ok,
  BadRequest,   // unreadable RR, deletion of a missing RR, duplicate addition
  InvalidZone,  // the result would break a zone rule (zones/check.hh)
};

struct DeltaResult {
  std::shared_ptr<const ZoneSet> zones;  // null unless status == Ok
  DeltaStatus status = DeltaStatus::Ok;
  // Errors and warnings. `file` is "delta", `line` the 1-based index of the
  // change concerned (0: the delta as a whole); the message quotes the RR.
  std::vector<Diagnostic> diagnostics;
  size_t added = 0, removed = 0;  // records
  size_t shards_rebuilt = 0;      // across all touched zones
  size_t new_shard_bytes = 0;     // memory of those new shards (the extra memory of the result)
  // Scans of a whole old zone: only when a cut or DNAME changes above a name
  // with 255 or more children (kept without a children list); 0 otherwise.
  size_t full_scans = 0;
  bool ok() const noexcept { return status == DeltaStatus::Ok; }
};

DeltaResult apply_delta(const ZoneSet& base, std::span<const DeltaChange> changes);

}  // namespace edgedns::zones
