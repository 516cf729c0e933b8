// PlanSet implementation.  See planner.h.
#include "planner.h"

#include <algorithm>

namespace sculpt {

PlanSetOutput PlanSet(const PlanSetInput& in) {
  PlanSetOutput out;
  const uint32_t n = static_cast<uint32_t>(in.scores.size());
  std::vector<uint32_t> cand, res;
  for (uint32_t b = 0; b < n; b++) {
    if (in.member[b]) {
      res.push_back(b);
    } else if (in.scores[b] > in.floor &&
               (in.eligible.empty() || in.eligible[b])) {
      cand.push_back(b);
    }
  }
  const auto& s = in.scores;
  auto better = [&](uint32_t a, uint32_t b) {
    return s[a] > s[b] || (s[a] == s[b] && a < b);
  };
  auto worse = [&](uint32_t a, uint32_t b) { return better(b, a); };
  // Only the best few candidates can ever enter.
  size_t kmax = std::min<uint64_t>(cand.size(), in.capacity);
  if (in.budget < kmax) kmax = in.budget;
  std::partial_sort(cand.begin(), cand.begin() + kmax, cand.end(), better);
  cand.resize(kmax);
  std::sort(res.begin(), res.end(), worse);

  size_t ri = 0;
  uint64_t size = res.size();
  // Over capacity: the worst residents leave regardless of the budget.
  while (size > in.capacity) {
    out.demote.push_back(res[ri++]);
    size--;
  }
  uint64_t moves = 0;
  for (uint32_t c : cand) {
    if (moves >= in.budget) break;
    if (size < in.capacity) {
      out.promote.push_back(c);
      size++;
      moves++;
      continue;
    }
    if (ri >= res.size()) break;
    uint32_t victim = res[ri];
    if (!(s[c] > s[victim] + in.hysteresis)) break;
    if (in.count_demotions && moves + 2 > in.budget) break;
    out.demote.push_back(victim);
    out.promote.push_back(c);
    ri++;
    moves += in.count_demotions ? 2 : 1;
  }
  return out;
}

}  // namespace sculpt
