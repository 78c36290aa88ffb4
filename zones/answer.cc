#include "zones/answer.hh"
// Placeholder until the answer engine lands; keeps the tree linking.
namespace edgedns::zones {
QueryStatus parse_query(std::span<const uint8_t>, Query& q) noexcept { return q.status = QueryStatus::Drop; }
void prefetch(const ZoneSet&, const Query&) noexcept {}
AnswerResult answer(const ZoneSet&, const Query&, std::span<uint8_t>, Transport, const AnswerConfig&) noexcept { return {}; }
AnswerResult answer_query(const ZoneSet&, std::span<const uint8_t>, std::span<uint8_t>, Transport, const AnswerConfig&) noexcept { return {}; }
}
