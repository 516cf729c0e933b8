// The learned per-VM model: online logistic regression over block features
// and VM signals, trained every interval on what actually happened next.
//
// At the end of interval t the model knows, for every watched block, the
// features x(t-1) it computed one interval ago (kept quantised to a byte
// each) and whether the block was touched in t.  It trains on a sample of
// those pairs (every touched block up to kSamplesPerClass, as many untouched
// ones, importance-weighted so the model stays calibrated), in mini-batches
// with AdaGrad step sizes whose accumulators decay (RMSProp-style) so the
// model keeps adapting when the workload changes.  Then it computes x(t) for
// every block and predicts P(touched in t+1) = sigmoid(w . x(t)).
//
// Features (all in [0,1]):
//   0 bias               1 touched in t         2 touched in t-1
//   3 touches in last 4  4 touches in last 64   5-7 EWMA fast/mid/slow
//   8 1/(1+age)          9 periodic: the last inter-touch gap ends next
//  10 neighbour heat    11 dirty ratio         12 vCPU busy x touched in t
//  13 stream ahead      14 P(touch | the phase expected next interval)
//  15 P(touch | the current phase) when that phase is due to end
// 13-15 come from the PrefetchModel and are 0 for the plain "learned" policy.
//
// Cost: one pass over the blocks (feature computation + a 16-wide dot
// product + a sigmoid) plus O(samples) training.  No allocation after the
// first interval.
#include <algorithm>
#include <array>
#include <cmath>

#include "predictor.h"
#include "prefetch.h"
#include "rng.h"
#include "serial.h"

namespace sculpt {
namespace {

constexpr int kF = 16;
constexpr uint32_t kSamplesPerClass = 512;
constexpr int kBatch = 32;
constexpr float kLearningRate = 0.05f;
constexpr float kDecay = 0.999f;  // AdaGrad accumulator decay per batch
constexpr float kL2 = 1e-4f;
constexpr uint8_t kModelVersion = 1;
constexpr uint8_t kPop4[16] = {0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4};

inline float Sigmoid(float z) { return 1.0f / (1.0f + std::exp(-z)); }

// Portable popcount without a libgcc call (no -mpopcnt assumed).
inline int Popcount64(uint64_t x) {
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
  return static_cast<int>((x * 0x0101010101010101ull) >> 56);
}

class LearnedPredictor final : public Predictor {
 public:
  LearnedPredictor(uint32_t n, uint64_t seed, bool prefetch)
      : n_(n),
        prefetch_(prefetch),
        scores_(n, 0.0f),
        x_(size_t{n} * kF, 0),
        rng_(seed ^ 0x5c0ffee5u),
        pf_(prefetch ? n : 0) {
    w_.fill(0.0f);
    g2_.fill(1e-2f);
    // A prior that behaves like recency+frequency before any training.
    w_[0] = -3.0f;
    w_[1] = 2.0f;
    w_[6] = 2.0f;
    w_[13] = 2.0f;
    w_[14] = 1.0f;
    for (int i = 0; i < 64; i++) inv_age_[i] = 1.0f / (1.0f + i);
  }

  const char* name() const override {
    return prefetch_ ? "learned+prefetch" : "learned";
  }
  float hysteresis() const override { return 0.02f; }
  std::span<const float> scores() const override { return scores_; }

  void Update(const AccessHistory& h) override {
    if (prefetch_) pf_.Update(h);
    if (have_prev_) Train(h);
    Predict(h);
    have_prev_ = true;
  }

  void Save(std::string* out) const override {
    PutU8(out, kModelVersion);
    PutU8(out, prefetch_);
    for (float v : w_) PutF32(out, v);
    for (float v : g2_) PutF32(out, v);
    PutU64(out, rng_.state());
  }

  Status Load(std::string_view* in) override {
    uint8_t ver, pf;
    std::array<float, kF> w, g2;
    uint64_t rs;
    if (!GetU8(in, &ver) || !GetU8(in, &pf)) {
      return Status::Corrupt("model truncated");
    }
    if (ver != kModelVersion) {
      return Status::Invalid("model version " + std::to_string(ver) +
                             " unknown; this build reads version " +
                             std::to_string(kModelVersion));
    }
    if (pf != prefetch_) return Status::Corrupt("model kind mismatch");
    for (auto& v : w) {
      if (!GetF32(in, &v)) return Status::Corrupt("model truncated");
      if (!std::isfinite(v) || std::fabs(v) > 1e6f) {
        return Status::Corrupt("model weight not finite");
      }
    }
    for (auto& v : g2) {
      if (!GetF32(in, &v)) return Status::Corrupt("model truncated");
      if (!std::isfinite(v) || v <= 0) {
        return Status::Corrupt("model accumulator not positive");
      }
    }
    if (!GetU64(in, &rs)) return Status::Corrupt("model truncated");
    w_ = w;
    g2_ = g2;
    rng_.set_state(rs);
    have_prev_ = false;  // features of the source are not carried over
    return Status::Ok();
  }

 private:
  struct Sample {
    uint32_t b;
    float y;
    float weight;
  };

  void Train(const AccessHistory& h) {
    const auto& pos = h.touched();
    const uint64_t npos = pos.size();
    const uint64_t nwatched = h.watched_count();
    const uint64_t nneg = nwatched > npos ? nwatched - npos : 0;
    samples_.clear();
    // Positives: all, or a random subset.
    uint32_t take_pos =
        static_cast<uint32_t>(std::min<uint64_t>(npos, kSamplesPerClass));
    for (uint32_t i = 0; i < take_pos; i++) {
      uint32_t b = npos <= kSamplesPerClass ? pos[i] : pos[rng_.Below(npos)];
      samples_.push_back({b, 1.0f, 0.0f});
    }
    // Negatives: random watched blocks that were not touched.
    uint32_t take_neg =
        static_cast<uint32_t>(std::min<uint64_t>(nneg, kSamplesPerClass));
    const uint8_t* watched = h.watched_data();
    const uint64_t* bits = h.bits_data();
    uint32_t got_neg = 0;
    for (uint32_t tries = 0; got_neg < take_neg && tries < 4 * kSamplesPerClass;
         tries++) {
      uint32_t b = static_cast<uint32_t>(rng_.Below(n_));
      if (!watched[b] || (bits[b] & 1)) continue;
      samples_.push_back({b, 0.0f, 0.0f});
      got_neg++;
    }
    if (samples_.empty()) return;
    // Importance weights: each class stands for its whole population.
    const double total = double(npos) + double(nneg);
    const double wp = take_pos ? double(npos) / take_pos : 0;
    const double wn = got_neg ? double(nneg) / got_neg : 0;
    const double mean = total / samples_.size();
    for (auto& s : samples_) {
      s.weight = static_cast<float>((s.y > 0 ? wp : wn) / mean);
    }
    // Shuffle so batches mix classes.
    for (size_t i = samples_.size(); i > 1; i--) {
      std::swap(samples_[i - 1], samples_[rng_.Below(i)]);
    }
    std::array<float, kF> grad{};
    int in_batch = 0;
    for (size_t i = 0; i < samples_.size(); i++) {
      const Sample& s = samples_[i];
      const uint8_t* xq = &x_[size_t{s.b} * kF];
      float x[kF];
      float z = 0;
      for (int k = 0; k < kF; k++) {
        x[k] = xq[k] * (1.0f / 255);
        z += w_[k] * x[k];
      }
      float err = (Sigmoid(z) - s.y) * s.weight;
      for (int k = 0; k < kF; k++) grad[k] += err * x[k];
      if (++in_batch == kBatch || i + 1 == samples_.size()) {
        for (int k = 0; k < kF; k++) {
          float g = grad[k] / in_batch + kL2 * w_[k];
          g2_[k] = kDecay * g2_[k] + g * g;
          w_[k] -= kLearningRate * g / std::sqrt(g2_[k] + 1e-8f);
          grad[k] = 0;
        }
        in_batch = 0;
      }
    }
  }

  void Predict(const AccessHistory& h) {
    const uint64_t* bits = h.bits_data();
    const float* ewf = h.ewma_fast_data();
    const float* ewm = h.ewma_mid_data();
    const float* ews = h.ewma_slow_data();
    const float* dirty = h.dirty_data();
    const uint32_t* last = h.last_data();
    const uint16_t* gap = h.gap_data();
    const uint32_t now = h.intervals();
    const float busy =
        static_cast<float>(std::clamp(h.signals().vcpu_busy, 0.0, 1.0));
    float pc_scale = 0, pn_scale = 0;
    const uint8_t* stream = prefetch_ ? pf_.stream_data() : nullptr;
    const uint8_t* pcur =
        prefetch_ ? pf_.phase_expected_counts(&pc_scale) : nullptr;
    const uint8_t* pnext =
        prefetch_ ? pf_.phase_ending_counts(&pn_scale) : nullptr;
    const std::array<float, kF> w = w_;
    for (uint32_t b = 0; b < n_; b++) {
      float f[kF];
      const uint64_t bb = bits[b];
      const float t0 = float(bb & 1);
      f[0] = 1.0f;
      f[1] = t0;
      f[2] = float((bb >> 1) & 1);
      f[3] = kPop4[bb & 0xF] * 0.25f;
      f[4] = Popcount64(bb) * (1.0f / 64);
      f[5] = ewf[b];
      f[6] = ewm[b];
      f[7] = ews[b];
      const uint32_t age = last[b] == 0 ? UINT32_MAX : now - last[b];
      f[8] = age < 64 ? inv_age_[age]
                      : (age == UINT32_MAX ? 0.0f : 1.0f / (1.0f + age));
      f[9] =
          (gap[b] > 1 && age != UINT32_MAX && age + 1 == gap[b]) ? 1.0f : 0.0f;
      int nh = 0, nt = 0;
      if (b > 0) {
        nh += bits[b - 1] & 1;
        nt++;
      }
      if (b > 1) {
        nh += bits[b - 2] & 1;
        nt++;
      }
      if (b + 1 < n_) {
        nh += bits[b + 1] & 1;
        nt++;
      }
      if (b + 2 < n_) {
        nh += bits[b + 2] & 1;
        nt++;
      }
      f[10] = nt ? float(nh) / nt : 0.0f;
      f[11] = dirty[b];
      f[12] = busy * t0;
      f[13] = stream ? stream[b] * (1.0f / 255) : 0.0f;
      f[14] = pcur ? std::min(1.0f, pcur[b] * pc_scale) : 0.0f;
      f[15] = pnext ? std::min(1.0f, pnext[b] * pn_scale) : 0.0f;
      float z = 0;
      uint8_t* xq = &x_[size_t{b} * kF];
      for (int k = 0; k < kF; k++) {
        z += w[k] * f[k];
        xq[k] = static_cast<uint8_t>(f[k] * 255.0f + 0.5f);
      }
      scores_[b] = last[b] == 0 && f[13] == 0 && f[14] == 0 ? 0.0f : Sigmoid(z);
    }
  }

  uint32_t n_;
  bool prefetch_;
  std::vector<float> scores_;
  std::vector<uint8_t> x_;  // quantised features of the last Predict
  std::array<float, kF> w_;
  std::array<float, kF> g2_;
  std::array<float, 64> inv_age_;
  Rng rng_;
  PrefetchModel pf_;
  std::vector<Sample> samples_;
  bool have_prev_ = false;
};

}  // namespace

std::unique_ptr<Predictor> NewLearnedPredictor(uint32_t n, uint64_t seed,
                                               bool prefetch) {
  return std::make_unique<LearnedPredictor>(n, seed, prefetch);
}

}  // namespace sculpt
