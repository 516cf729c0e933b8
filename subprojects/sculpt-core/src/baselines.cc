// The baselines every learned policy is judged against.
//
// recency: LRU over intervals.  score = 1/(1 + intervals since last touch),
//   so every block touched in the last interval outranks every older one;
//   among blocks touched in the same interval, more sampled accesses rank
//   higher (a finer "more recently used" within the interval), which only
//   breaks ties and never crosses an age class.
// ewma: frequency.  score = EWMA (weight 1/4) of "touched in the interval".
// Neither learns anything; both are O(n) per interval.
#include <algorithm>
#include <cmath>

#include "predictor.h"

namespace sculpt {
namespace {

class RecencyPredictor final : public Predictor {
 public:
  explicit RecencyPredictor(uint32_t n) : scores_(n, 0.0f) {}
  const char* name() const override { return "recency"; }
  void Update(const AccessHistory& h) override {
    const uint32_t n = h.size();
    for (uint32_t b = 0; b < n; b++) {
      uint32_t age = h.age(b);
      if (age == UINT32_MAX) {
        scores_[b] = 0.0f;
        continue;
      }
      float base = 1.0f / (1.0f + static_cast<float>(age));
      float tie = 0.0f;
      if (age == 0) {
        // log-scaled count in [0,1) so ties break toward busier blocks.
        tie = 1.0f - 1.0f / (1.0f + std::log1p(float(h.count_last(b))));
      }
      scores_[b] = base * (0.95f + 0.05f * tie);
    }
  }
  std::span<const float> scores() const override { return scores_; }
  void Save(std::string*) const override {}
  Status Load(std::string_view*) override { return Status::Ok(); }

 private:
  std::vector<float> scores_;
};

class EwmaPredictor final : public Predictor {
 public:
  explicit EwmaPredictor(uint32_t n) : scores_(n, 0.0f) {}
  const char* name() const override { return "ewma"; }
  void Update(const AccessHistory& h) override {
    const float* ew = h.ewma_mid_data();
    std::copy(ew, ew + h.size(), scores_.begin());
  }
  std::span<const float> scores() const override { return scores_; }
  void Save(std::string*) const override {}
  Status Load(std::string_view*) override { return Status::Ok(); }

 private:
  std::vector<float> scores_;
};

}  // namespace

std::unique_ptr<Predictor> NewRecencyPredictor(uint32_t n) {
  return std::make_unique<RecencyPredictor>(n);
}
std::unique_ptr<Predictor> NewEwmaPredictor(uint32_t n) {
  return std::make_unique<EwmaPredictor>(n);
}

StatusOr<std::unique_ptr<Predictor>> NewPredictor(std::string_view name,
                                                  const PredictorOptions& o) {
  if (name == "recency") return NewRecencyPredictor(o.nblocks);
  if (name == "ewma") return NewEwmaPredictor(o.nblocks);
  if (name == "learned") return NewLearnedPredictor(o.nblocks, o.seed, false);
  if (name == "learned+prefetch") {
    return NewLearnedPredictor(o.nblocks, o.seed, true);
  }
  if (name == "guarded") return NewGuardedPredictor(o.nblocks, o.seed);
  return Status::Invalid("unknown policy '" + std::string(name) +
                         "'; valid: recency, ewma, learned, learned+prefetch, "
                         "guarded");
}

}  // namespace sculpt
