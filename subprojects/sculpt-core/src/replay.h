// Replay: run a policy over a recorded trace against a two-tier model and
// count what a placement would have earned.
//
// Tier model: fast memory holds `capacity` blocks, the rest is slow; every
// block starts slow.  A touch is a (block, interval) pair; it is a hit if
// the block was fast when the interval began, so first touches are misses
// unless something put the block there beforehand (a prefetch).  At each
// interval boundary the policy may promote at most `move_budget` blocks
// (demotions that make room are free of budget but counted in bytes moved).
//
// Policies: the predictors (recency, ewma, learned, learned+prefetch) fed
// through the same AccessHistory and planner as the core, and two limits:
//   belady         clairvoyant: at each boundary the blocks with the
//                  soonest next touch are fast; moves free and unbounded.
//                  No policy can exceed it.
//   belady-budget  the same oracle under the move budget: greedy by next
//                  touch, a block comes in only if it is needed sooner
//                  than the resident it displaces.
// Prefetch accounting (any policy): a promotion of a block not touched in
// the interval that just ended is a prefetch; it is useful if the block is
// touched while still fast.  Coverage = useful / (useful + misses).
#ifndef SCULPT_CORE_REPLAY_H_
#define SCULPT_CORE_REPLAY_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "status.h"
#include "trace.h"
#include "tracegen.h"

namespace sculpt {

struct TierModel {
  double capacity_fraction = 0.1;     // of the trace's blocks
  uint64_t move_budget = UINT64_MAX;  // promotions per interval
  double fast_ns = 100;               // per sampled access on a fast block
  double slow_ns = 1000;              // per sampled access on a slow block
  double move_ns = 20000;             // per block moved
};

struct ReplayResult {
  std::string policy;
  uint64_t capacity = 0;  // blocks
  uint64_t touches = 0;
  uint64_t hits = 0;
  uint64_t promotions = 0;
  uint64_t demotions = 0;
  uint64_t bytes_moved = 0;
  uint64_t prefetches = 0;
  uint64_t useful_prefetches = 0;
  double model_ms = 0;  // modelled access + move time
  double hit_ratio() const { return touches ? double(hits) / touches : 0; }
  double prefetch_precision() const {
    return prefetches ? double(useful_prefetches) / prefetches : 0;
  }
  double prefetch_coverage() const {
    uint64_t miss = touches - hits;
    return useful_prefetches + miss
               ? double(useful_prefetches) / (useful_prefetches + miss)
               : 0;
  }
};

inline constexpr const char* kReplayPolicies[] = {"recency", "ewma",
                                                  "learned", "learned+prefetch",
                                                  "guarded",
                                                  "belady",  "belady-budget"};

// informed: the bound for policies that see only the past, on a generated
// trace.  At each boundary the capacity's worth of blocks most likely to
// be touched in the coming interval, by the generator's prior (which knows
// the live hot set and every rate but not the draws), are fast; moves
// free.  Given the generator's state, an interval's draws are independent
// of everything before it, so no online policy expects more hits in any
// interval; an online policy also has to discover each new state (a phase
// change) from its first touches, which this bound is told.  Belady's
// limit, in contrast, also knows the draws.
StatusOr<ReplayResult> ReplayInformed(const Trace& t, const TracePrior& prior,
                                      const TierModel& m);

StatusOr<ReplayResult> Replay(const Trace& t, std::string_view policy,
                              const TierModel& m, uint64_t seed);

}  // namespace sculpt

#endif  // SCULPT_CORE_REPLAY_H_
