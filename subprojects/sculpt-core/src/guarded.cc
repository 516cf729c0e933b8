// GuardedPredictor: the learned model with a safety net.
//
// An online model needs intervals before it is any good, and on a VM whose
// pattern it cannot learn it may stay worse than a plain baseline.  The
// guarded policy runs the learned+prefetch model, recency and EWMA side by
// side, judges each one every interval on what actually happened (the
// share of the touched blocks it had ranked within the top `capacity`, the
// blocks fast memory holds, when SetCapacity() gave it; else within the top
// |touched| and the top |touched|/2), and serves the scores of the one with
// the best recent record.  Judged at the fast tier's depth, the choice
// follows what a placement there earns: on the traces recorded from the
// test guest, judged at |touched| it served the model at 25% capacity
// where recency hit 14 points more (bench/core/guest-traces.md).  A challenger must beat the serving predictor by a
// margin before it takes over, so the choice does not flap.
//
//   interval k-1: scores s_i (per predictor i)
//   interval k:   touched set T        -> quality_i += a * (hits_i(T) - q_i)
//                 serve argmax q_i (with margin), then Update() all
//
// Cost: one nth_element per predictor per interval on top of the models.
#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "predictor.h"
#include "serial.h"

namespace sculpt {
namespace {

constexpr double kQualityWeight = 0.3;  // EWMA weight of the newest interval
constexpr double kSwitchMargin = 0.02;  // quality a challenger must add

class GuardedPredictor final : public Predictor {
 public:
  GuardedPredictor(uint32_t nblocks, uint64_t seed) : scratch_(nblocks) {
    subs_.push_back(NewLearnedPredictor(nblocks, seed, true));
    subs_.push_back(NewRecencyPredictor(nblocks));
    subs_.push_back(NewEwmaPredictor(nblocks));
    quality_.assign(subs_.size(), 0.0);
    active_ = 1;  // recency until the model has earned its place
  }

  const char* name() const override { return "guarded"; }

  void Update(const AccessHistory& h) override {
    const std::vector<uint32_t>& t = h.touched();
    if (judged_ || !t.empty()) {
      for (size_t i = 0; i < subs_.size() && have_scores_ && !t.empty();
           i++) {
        double q =
            capacity_ ? Hits(subs_[i]->scores(), t, capacity_)
                      : 0.5 * (Hits(subs_[i]->scores(), t, t.size()) +
                               Hits(subs_[i]->scores(), t, (t.size() + 1) / 2));
        quality_[i] += kQualityWeight * (q - quality_[i]);
        judged_ = true;
      }
    }
    for (auto& p : subs_) p->Update(h);
    have_scores_ = true;
    size_t best = active_;
    for (size_t i = 0; i < subs_.size(); i++) {
      if (quality_[i] > quality_[best] + kSwitchMargin) best = i;
    }
    active_ = best;
  }

  std::span<const float> scores() const override {
    return subs_[active_]->scores();
  }
  float hysteresis() const override { return subs_[active_]->hysteresis(); }
  void SetCapacity(uint64_t blocks) override { capacity_ = blocks; }

  // The learned model's state; the baselines keep none.
  void Save(std::string* out) const override { subs_[0]->Save(out); }
  Status Load(std::string_view* in) override { return subs_[0]->Load(in); }

 private:
  // Share of `t` among the top `k` of `s` (ties shared pro rata).
  double Hits(std::span<const float> s, const std::vector<uint32_t>& t,
              size_t k) {
    if (k == 0 || s.empty()) return 0.0;
    k = std::min(k, s.size());
    std::copy(s.begin(), s.end(), scratch_.begin());
    std::nth_element(scratch_.begin(), scratch_.begin() + (k - 1),
                     scratch_.end(), std::greater<float>());
    const float thr = scratch_[k - 1];
    size_t above = 0, at = 0;
    for (float v : s) {
      above += v > thr;
      at += v == thr;
    }
    double hits = 0;
    const double tie_share =
        at ? static_cast<double>(k - std::min(k, above)) / at : 0.0;
    for (uint32_t b : t) {
      if (s[b] > thr) {
        hits += 1;
      } else if (s[b] == thr) {
        hits += tie_share;
      }
    }
    return hits / static_cast<double>(std::min(k, t.size()));
  }

  std::vector<std::unique_ptr<Predictor>> subs_;
  std::vector<double> quality_;
  std::vector<float> scratch_;
  size_t active_ = 0;
  uint64_t capacity_ = 0;  // 0: not known
  bool have_scores_ = false;
  bool judged_ = false;
};

}  // namespace

std::unique_ptr<Predictor> NewGuardedPredictor(uint32_t nblocks,
                                               uint64_t seed) {
  return std::make_unique<GuardedPredictor>(nblocks, seed);
}

}  // namespace sculpt
