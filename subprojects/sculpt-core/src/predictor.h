// Predictor: one interface for every policy that scores blocks.
//
// After each interval the owner folds the interval into an AccessHistory
// and calls Update(); scores() then holds, per block, an estimate in [0,1]
// that the block is touched in the next interval.  Higher means "keep it
// fast".  The baselines' scores are orderings mapped into [0,1], not
// calibrated probabilities; the learned model's are probabilities.
// A predictor never moves anything and never reads the clock: everything it
// knows comes through Update().
#ifndef SCULPT_CORE_PREDICTOR_H_
#define SCULPT_CORE_PREDICTOR_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "history.h"
#include "status.h"

namespace sculpt {

class Predictor {
 public:
  virtual ~Predictor() = default;
  // The name NewPredictor() knows it by.
  virtual const char* name() const = 0;
  // REQUIRES: h.size() equals the size given at construction; h has just
  // completed an interval.  O(h.size()).
  virtual void Update(const AccessHistory& h) = 0;
  virtual std::span<const float> scores() const = 0;
  // Score margin a newcomer needs over a resident to displace it.
  virtual float hysteresis() const { return 0.0f; }
  // How many blocks fast memory holds (0: not known).  A predictor may
  // judge itself at that depth of its ranking.
  virtual void SetCapacity(uint64_t blocks) { (void)blocks; }
  // Model state (not the history) for migration.
  virtual void Save(std::string* out) const = 0;
  virtual Status Load(std::string_view* in) = 0;
};

// The policy names, in the order tools list them.
inline constexpr const char* kPolicyNames[] = {"recency", "ewma", "learned",
                                               "learned+prefetch", "guarded"};

struct PredictorOptions {
  uint32_t nblocks = 0;
  uint64_t seed = 1;
};

// Creates the predictor called `name` (one of kPolicyNames).
StatusOr<std::unique_ptr<Predictor>> NewPredictor(std::string_view name,
                                                  const PredictorOptions& o);

// Factories used by NewPredictor; exposed for tests.
std::unique_ptr<Predictor> NewRecencyPredictor(uint32_t nblocks);
std::unique_ptr<Predictor> NewEwmaPredictor(uint32_t nblocks);
std::unique_ptr<Predictor> NewLearnedPredictor(uint32_t nblocks, uint64_t seed,
                                               bool prefetch);
// learned+prefetch, recency and EWMA side by side; serves the best recent.
std::unique_ptr<Predictor> NewGuardedPredictor(uint32_t nblocks,
                                               uint64_t seed);

}  // namespace sculpt

#endif  // SCULPT_CORE_PREDICTOR_H_
