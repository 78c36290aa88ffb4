#include "dataplane/counters.hh"

#include <cstdio>
#include <iterator>

namespace edgedns::dp {

namespace {
constexpr const char* kRcodeNames[16] = {
    "noerror", "formerr", "servfail", "nxdomain", "notimp",  "refused", "yxdomain", "yxrrset",
    "nxrrset", "notauth", "notzone",  "rcode11",  "rcode12", "rcode13", "rcode14",  "rcode15"};
constexpr const char* kDropNames[] = {"drop_not_for_us", "drop_malformed", "drop_fragment",
                                      "drop_ethertype",  "drop_protocol",  "drop_non_dns_port",
                                      "drop_icmp_other", "drop_bad_source"};
constexpr const char* kLateNames[] = {"drop_dns_unparsable", "drop_engine",        "drop_no_zones",
                                      "drop_multiseg",       "drop_too_small",     "drop_tx_full",
                                      "drop_exception_full", "drop_exception_rate"};
static_assert(std::size(kDropNames) == size_t(DropReason::kCount), "a name per DropReason");
static_assert(std::size(kLateNames) == size_t(LateDrop::kCount), "a name per LateDrop");

void kv(std::string& s, const char* k, uint64_t v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, " %s=%llu", k, static_cast<unsigned long long>(v));
  s += buf;
}
}  // namespace

std::string format_counters(unsigned lcore, const LcoreCounters& c) {
  std::string s = "counters lcore=" + std::to_string(lcore);
  kv(s, "rx", c.rx.get());
  kv(s, "tx", c.tx.get());
  kv(s, "queries", c.queries.get());
  kv(s, "answers", c.answers());
  for (size_t i = 0; i < 16; ++i)
    if (i < 6 || c.rcode[i].get()) kv(s, kRcodeNames[i], c.rcode[i].get());
  kv(s, "truncated", c.truncated.get());
  kv(s, "arp", c.arp_replies.get());
  kv(s, "nd", c.nd_adverts.get());
  kv(s, "echo4", c.echo4_replies.get());
  kv(s, "echo6", c.echo6_replies.get());
  kv(s, "malformed", c.malformed());
  kv(s, "non_dns", c.non_dns());
  for (size_t i = 0; i < size_t(DropReason::kCount); ++i) kv(s, kDropNames[i], c.drop[i].get());
  for (size_t i = 0; i < size_t(LateDrop::kCount); ++i) kv(s, kLateNames[i], c.late_drop[i].get());
  kv(s, "idle_sleeps", c.idle_sleeps.get());
  kv(s, "to_kernel", c.to_kernel.get());
  kv(s, "from_kernel", c.from_kernel.get());
  kv(s, "rrl_limited", c.rrl_limited.get());
  kv(s, "rrl_slipped", c.rrl_slipped.get());
  return s;
}

}  // namespace edgedns::dp
