// Trace generators: synthetic workloads of known shape for the replay
// table.  Their parameters are fixed here, were fixed before any policy was
// tuned on them, and must stay fixed: the committed results in bench/core
// depend on them.  Each generator is deterministic (its own fixed seed).
//
// All traces: 8192 blocks of 128 KiB (a 1 GiB guest), 500 intervals of
// 1 s, every block watched every interval.
#ifndef SCULPT_CORE_TRACEGEN_H_
#define SCULPT_CORE_TRACEGEN_H_

#include <string_view>
#include <vector>

#include "status.h"
#include "trace.h"

namespace sculpt {

inline constexpr uint32_t kGenBlocks = 8192;
inline constexpr uint64_t kGenBlockSize = 128 << 10;
inline constexpr uint32_t kGenIntervals = 500;
inline constexpr uint64_t kGenIntervalNs = 1000000000;

struct GenSpec {
  const char* name;
  const char* description;
};

// The generators, in table order.
const std::vector<GenSpec>& TraceGenerators();

// What the generator knew before each interval's random draws: p[i][b] is
// the probability that block b is touched in interval i, given the
// generator's state (the live hot set, the Zipf ranks, the stream
// positions, the noise rates) but not its draws.  No policy that sees only
// the past can expect more hits in an interval than the top of p[i] holds
// (see ReplayInformed() in replay.h).
struct TracePrior {
  std::vector<std::vector<float>> p;
};

// Generates the named trace; `scale` < 1 shrinks the block count and
// interval count proportionally (for fast unit tests; tables use 1).  With
// `prior`, also fills it; the trace is the same either way.
StatusOr<Trace> GenerateTrace(std::string_view name, double scale = 1.0,
                              TracePrior* prior = nullptr);

}  // namespace sculpt

#endif  // SCULPT_CORE_TRACEGEN_H_
