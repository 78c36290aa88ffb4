#include "control/delta_plan.hh"

#include <algorithm>
#include <map>
#include <string_view>

namespace edgedns::ctl {

namespace {

// The record lines of a canonical text, sorted ($ORIGIN and blank lines
// left out; every record line is absolute, so it stands on its own).
std::vector<std::string_view> record_lines(const std::string& text, size_t* records) {
  std::vector<std::string_view> out;
  std::string_view t(text);
  while (!t.empty()) {
    size_t nl = t.find('\n');
    std::string_view line = t.substr(0, nl);
    t = nl == std::string_view::npos ? std::string_view() : t.substr(nl + 1);
    if (line.empty() || line[0] == '$') continue;
    out.push_back(line);
  }
  std::sort(out.begin(), out.end());
  *records += out.size();
  return out;
}

}  // namespace

std::optional<std::vector<DeltaChange>> plan_delta(const std::vector<ZoneUpload>& base,
                                                   const std::vector<ZoneUpload>& target) {
  if (base.size() != target.size()) return std::nullopt;
  std::map<std::string_view, const ZoneUpload*> by_apex;
  for (const auto& z : base) by_apex[z.origin] = &z;
  if (by_apex.size() != base.size()) return std::nullopt;
  std::vector<DeltaChange> dels, adds;
  size_t target_records = 0;
  for (const auto& z : target) {
    auto it = by_apex.find(z.origin);
    if (z.origin.empty() || it == by_apex.end()) return std::nullopt;
    if (it->second->text == z.text) {
      // Unchanged: only counted, never split into lines.
      target_records += size_t(std::count(z.text.begin(), z.text.end(), '\n'));
      continue;
    }
    size_t ignored = 0;
    auto old_lines = record_lines(it->second->text, &ignored);
    auto new_lines = record_lines(z.text, &target_records);
    std::vector<std::string_view> gone, added;
    std::set_difference(old_lines.begin(), old_lines.end(), new_lines.begin(), new_lines.end(),
                        std::back_inserter(gone));
    std::set_difference(new_lines.begin(), new_lines.end(), old_lines.begin(), old_lines.end(),
                        std::back_inserter(added));
    for (auto l : gone) dels.push_back({false, std::string(l)});
    for (auto l : added) adds.push_back({true, std::string(l)});
  }
  if (dels.size() + adds.size() > target_records / 2) return std::nullopt;
  dels.insert(dels.end(), std::make_move_iterator(adds.begin()),
              std::make_move_iterator(adds.end()));
  return dels;
}

}  // namespace edgedns::ctl
