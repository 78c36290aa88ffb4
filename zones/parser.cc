#include "zones/parser.hh"
#include <stdexcept>
// Placeholder until the parser lands; keeps the tree linking.
namespace edgedns::zones {
ParseResult parse_zone_file(const std::string&, const ParseOptions&) { throw std::logic_error("parser not implemented"); }
ParseResult parse_zone_text(std::string_view, const std::string&, const ParseOptions&) { throw std::logic_error("parser not implemented"); }
}
