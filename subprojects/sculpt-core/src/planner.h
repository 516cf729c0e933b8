// Planner: scores + budgets -> which blocks to bring into a tier and which
// to push out of it.
//
// PlanSet() is the one decision rule every caller shares (the replay tool
// for its two-tier model, the core for its fast set and its hot zone):
//
//   - candidates are blocks outside the set with score > floor, best first;
//   - residents are blocks in the set, worst first;
//   - while there is room, candidates come in; when the set is full, the
//     best candidate displaces the worst resident only if its score is
//     higher by more than `hysteresis` (no ping-pong on near ties);
//   - residents beyond `capacity` leave first, worst first, whatever the
//     budget (the budget cannot hold a tier over its size);
//   - at most `budget` blocks move (promotions only, or promotions plus
//     displacing demotions when count_demotions is set).
//
// It only decides; the caller applies the change.  O(n + k log k) for k
// moving blocks.
#ifndef SCULPT_CORE_PLANNER_H_
#define SCULPT_CORE_PLANNER_H_

#include <cstdint>
#include <span>
#include <vector>

namespace sculpt {

struct PlanSetInput {
  std::span<const float> scores;    // per block
  std::span<const uint8_t> member;  // per block: 1 if in the set now
  // Per block: 1 if the block may enter the set (empty = all may).
  std::span<const uint8_t> eligible;
  uint64_t capacity = 0;         // blocks the set may hold
  uint64_t budget = UINT64_MAX;  // moves allowed
  bool count_demotions = false;
  float hysteresis = 0.0f;
  float floor = 0.0f;  // candidates need score > floor
};

struct PlanSetOutput {
  std::vector<uint32_t> promote;  // best first
  std::vector<uint32_t> demote;   // worst first
};

PlanSetOutput PlanSet(const PlanSetInput& in);

}  // namespace sculpt

#endif  // SCULPT_CORE_PLANNER_H_
