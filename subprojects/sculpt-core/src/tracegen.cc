// Trace generators.  See tracegen.h.  THE PARAMETERS BELOW ARE FIXED: do
// not tune them to flatter a policy.
#include "tracegen.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "rng.h"

namespace sculpt {
namespace {

// Collects one interval's touches, then emits them sorted.
class IntervalBuilder {
 public:
  explicit IntervalBuilder(uint32_t n) : count_(n, 0) {}
  void Touch(uint32_t b, uint32_t c = 1) {
    if (count_[b] == 0) list_.push_back(b);
    count_[b] += c;
  }
  TraceInterval Finish(uint64_t now_ns, double busy, Rng* rng) {
    std::sort(list_.begin(), list_.end());
    TraceInterval iv;
    iv.now_ns = now_ns;
    iv.signals.vcpu_busy_ppm =
        static_cast<uint32_t>(std::clamp(busy, 0.0, 1.0) * 1e6);
    iv.signals.minor_faults = list_.size();
    for (uint32_t b : list_) {
      iv.blocks.push_back(b);
      iv.counts.push_back(count_[b]);
      // About a third of touches write.
      iv.dirty.push_back(
          rng->Below(3) == 0 ? 1 + uint32_t(rng->Below(count_[b])) : 0);
      count_[b] = 0;
    }
    list_.clear();
    return iv;
  }

 private:
  std::vector<uint32_t> count_;
  std::vector<uint32_t> list_;
};

// Zipf(alpha) over ranks 0..k-1 by inverse CDF.
class Zipf {
 public:
  Zipf(uint32_t k, double alpha) : cdf_(k) {
    double s = 0;
    for (uint32_t i = 0; i < k; i++)
      cdf_[i] = (s += 1.0 / std::pow(i + 1.0, alpha));
    for (auto& c : cdf_) c /= s;
  }
  // Probability that rank i comes up at least once in `draws` draws.
  std::vector<double> Within(uint32_t draws) const {
    std::vector<double> p(cdf_.size());
    for (size_t i = 0; i < cdf_.size(); i++) {
      double mass = cdf_[i] - (i ? cdf_[i - 1] : 0.0);
      p[i] = 1 - std::pow(1 - mass, double(draws));
    }
    return p;
  }
  uint32_t Draw(Rng* r) const {
    double u = r->Uniform();
    return static_cast<uint32_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) -
                                 cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

std::vector<uint32_t> Shuffled(uint32_t first, uint32_t n, Rng* r) {
  std::vector<uint32_t> v(n);
  for (uint32_t i = 0; i < n; i++) v[i] = first + i;
  for (uint32_t i = n; i > 1; i--) std::swap(v[i - 1], v[r->Below(i)]);
  return v;
}

// `k` blocks chosen as runs of `run` neighbouring blocks at random places.
std::vector<uint32_t> RandomRuns(uint32_t n, uint32_t k, uint32_t run, Rng* r) {
  std::vector<uint8_t> used(n, 0);
  std::vector<uint32_t> out;
  while (out.size() < k) {
    uint32_t s = static_cast<uint32_t>(r->Below(n - run));
    for (uint32_t b = s; b < s + run && out.size() < k; b++) {
      if (!used[b]) {
        used[b] = 1;
        out.push_back(b);
      }
    }
  }
  return out;
}

struct Ctx {
  uint32_t n;
  uint32_t T;
  Rng rng;
  Trace trace;
  IntervalBuilder ib;
  TracePrior* prior;
  std::vector<double> pri;  // the interval's prior, while it is built
  Ctx(uint32_t n_, uint32_t T_, uint64_t seed, TracePrior* p)
      : n(n_), T(T_), rng(seed), ib(n_), prior(p) {
    trace.header = {kGenBlockSize, n, kGenIntervalNs};
    if (prior) pri.assign(n, 0.0);
  }
  // Block b is also touched with probability p, independently of the rest
  // of the interval's sources.  Never draws from rng.
  void Likely(uint32_t b, double p) {
    if (prior) pri[b] = 1 - (1 - pri[b]) * (1 - p);
  }
  // Each blocks[i] with probability p[i].
  void Likely(const std::vector<uint32_t>& blocks,
              const std::vector<double>& p) {
    if (!prior) return;
    for (size_t i = 0; i < blocks.size(); i++) Likely(blocks[i], p[i]);
  }
  // `draws` uniform draws over all blocks.
  void LikelyUniform(uint32_t draws) {
    if (!prior || !draws) return;
    double p = 1 - std::pow(1 - 1.0 / n, double(draws));
    for (uint32_t b = 0; b < n; b++) Likely(b, p);
  }
  void Emit(uint32_t t, double busy) {
    trace.intervals.push_back(ib.Finish((t + 1) * kGenIntervalNs, busy, &rng));
    if (prior) {
      prior->p.emplace_back(pri.begin(), pri.end());
      std::fill(pri.begin(), pri.end(), 0.0);
    }
  }
  uint32_t Frac(double f) const {
    return std::max<uint32_t>(1, uint32_t(f * n));
  }
};

// static Zipf over a footprint of `foot` x RAM, `draws` per interval
// (draws scale with the trace so densities stay the same).
void GenZipf(Ctx& c, double foot, double alpha, double draws_frac) {
  auto blocks = Shuffled(0, c.n, &c.rng);
  blocks.resize(c.Frac(foot));
  Zipf z(uint32_t(blocks.size()), alpha);
  uint32_t draws = c.Frac(draws_frac);
  const auto pz = c.prior ? z.Within(draws) : std::vector<double>();
  for (uint32_t t = 0; t < c.T; t++) {
    c.Likely(blocks, pz);
    for (uint32_t d = 0; d < draws; d++) c.ib.Touch(blocks[z.Draw(&c.rng)]);
    c.Emit(t, 0.6 + 0.1 * c.rng.Uniform());
  }
}

// Hot sets that change for good every `period` intervals.
void GenPhaseShift(Ctx& c) {
  const uint32_t period = 40;
  std::vector<uint32_t> hot;
  for (uint32_t t = 0; t < c.T; t++) {
    if (t % period == 0) hot = RandomRuns(c.n, c.Frac(0.08), 8, &c.rng);
    for (uint32_t b : hot) c.Likely(b, 0.5);
    c.LikelyUniform(c.Frac(0.005));
    for (uint32_t b : hot) {
      if (c.rng.Uniform() < 0.5) c.ib.Touch(b, 1 + uint32_t(c.rng.Below(8)));
    }
    for (uint32_t k = 0, m = c.Frac(0.005); k < m; k++)
      c.ib.Touch(uint32_t(c.rng.Below(c.n)));
    c.Emit(t, 0.5 + 0.05 * ((t / period) % 4));
  }
}

// `nphase` hot sets visited in a fixed cycle, `dur` intervals each; each
// hot block is touched with probability p_touch per interval.  recurring-6
// is the field.md workload (six 96 MiB regions, 2,000,000 random
// read-modify-writes per phase): every 128 KiB block of the live region
// takes thousands of accesses per phase, so nearly every one is touched in
// every interval (p = 0.95); recurring-4 is a noisier variant (p = 0.5).
void GenRecurring(Ctx& c, uint32_t nphase, uint32_t dur, double hot_frac,
                  bool contiguous, double p_touch, double background) {
  std::vector<std::vector<uint32_t>> sets;
  for (uint32_t i = 0; i < nphase; i++) {
    if (contiguous) {
      uint32_t len = c.Frac(hot_frac);
      std::vector<uint32_t> s;
      for (uint32_t b = i * len; b < (i + 1) * len && b < c.n; b++)
        s.push_back(b);
      sets.push_back(s);
    } else {
      sets.push_back(RandomRuns(c.n, c.Frac(hot_frac), 16, &c.rng));
    }
  }
  for (uint32_t t = 0; t < c.T; t++) {
    uint32_t ph = (t / dur) % nphase;
    for (uint32_t b : sets[ph]) c.Likely(b, p_touch);
    c.LikelyUniform(uint32_t(background * c.n));
    for (uint32_t b : sets[ph]) {
      if (c.rng.Uniform() < p_touch)
        c.ib.Touch(b, 1 + uint32_t(c.rng.Below(8)));
    }
    for (uint32_t k = 0, m = uint32_t(background * c.n); k < m; k++) {
      c.ib.Touch(uint32_t(c.rng.Below(c.n)));
    }
    c.Emit(t, 0.3 + 0.1 * ph);
  }
}

// Two sequential streams plus a small Zipf hot set.
void GenStreams(Ctx& c) {
  const uint32_t a_len = c.Frac(0.5), b_first = a_len, b_len = c.Frac(0.4);
  const uint32_t a_vel =
      std::max<uint32_t>(1, uint32_t(24.0 * c.n / kGenBlocks));
  const uint32_t b_vel =
      std::max<uint32_t>(1, uint32_t(8.0 * c.n / kGenBlocks));
  auto hot = Shuffled(0, c.n, &c.rng);
  hot.resize(c.Frac(0.03));
  Zipf z(uint32_t(hot.size()), 1.0);
  uint32_t draws = c.Frac(300.0 / kGenBlocks);
  const auto pz = c.prior ? z.Within(draws) : std::vector<double>();
  uint64_t a = 0, bpos = 0;
  for (uint32_t t = 0; t < c.T; t++) {
    for (uint32_t k = 0; k < a_vel; k++) c.Likely(uint32_t((a + k) % a_len), 1);
    for (uint32_t k = 0; k < b_vel; k++)
      c.Likely(b_first + b_len - 1 - uint32_t((bpos + k) % b_len), 1);
    c.Likely(hot, pz);
    for (uint32_t k = 0; k < a_vel; k++)
      c.ib.Touch(uint32_t((a + k) % a_len), 4);
    a += a_vel;
    for (uint32_t k = 0; k < b_vel; k++) {
      c.ib.Touch(b_first + b_len - 1 - uint32_t((bpos + k) % b_len), 4);
    }
    bpos += b_vel;
    for (uint32_t d = 0; d < draws; d++) c.ib.Touch(hot[z.Draw(&c.rng)]);
    c.Emit(t, 0.7);
  }
}

// A Zipf hot set plus a periodic scan over a large region.
void GenScanHot(Ctx& c) {
  auto hot = Shuffled(0, c.n, &c.rng);
  hot.resize(c.Frac(0.05));
  Zipf z(uint32_t(hot.size()), 1.0);
  uint32_t draws = c.Frac(800.0 / kGenBlocks);
  const uint32_t scan_first = c.Frac(0.3), scan_len = c.Frac(0.6);
  const uint32_t vel = std::max<uint32_t>(1, uint32_t(64.0 * c.n / kGenBlocks));
  const auto pz = c.prior ? z.Within(draws) : std::vector<double>();
  uint64_t pos = 0;
  for (uint32_t t = 0; t < c.T; t++) {
    c.Likely(hot, pz);
    for (uint32_t k = 0; k < vel; k++)
      c.Likely(scan_first + uint32_t((pos + k) % scan_len), 1);
    for (uint32_t d = 0; d < draws; d++) c.ib.Touch(hot[z.Draw(&c.rng)]);
    for (uint32_t k = 0; k < vel; k++) {
      c.ib.Touch(scan_first + uint32_t((pos + k) % scan_len), 2);
    }
    pos += vel;
    c.Emit(t, 0.8);
  }
}

// Every block of a footprint touched independently with probability p.
void GenUniform(Ctx& c, double foot, double p) {
  const uint32_t f = c.Frac(foot);
  for (uint32_t t = 0; t < c.T; t++) {
    for (uint32_t b = 0; b < f; b++) c.Likely(b, p);
    for (uint32_t b = 0; b < f; b++) {
      if (c.rng.Uniform() < p) c.ib.Touch(b, 1 + uint32_t(c.rng.Below(4)));
    }
    c.Emit(t, 0.5);
  }
}

const std::vector<GenSpec> kGens = {
    {"zipf-near",
     "static Zipf(0.9), footprint 90% of RAM, 3000 draws/interval"},
    {"zipf-small",
     "static Zipf(1.1), footprint 20% of RAM, 1000 draws/interval"},
    {"phase-shift",
     "new hot set (8% of RAM, runs of 8) every 40 intervals, p=0.5, 0.5% "
     "noise"},
    {"recurring-4",
     "4 scattered hot sets (6% of RAM each) cycled, 20 intervals each, p=0.5, "
     "0.2% noise"},
    {"recurring-6",
     "6 contiguous 96 MiB regions cycled, 25 intervals each, p=0.95 (field.md "
     "workload)"},
    {"seq-stream",
     "streams of 24 and 8 blocks/interval over 90% of RAM + Zipf hot set (3%)"},
    {"scan-hot",
     "Zipf hot set (5%) + scan of 60% of RAM at 64 blocks/interval"},
    {"uniform-near", "uniform random, footprint 90% of RAM, p=0.03"},
    {"uniform-small", "uniform random, footprint 20% of RAM, p=0.15"},
};

uint64_t SeedOf(std::string_view name) {
  uint64_t h = 1469598103934665603ull;
  for (char ch : name) h = (h ^ uint8_t(ch)) * 1099511628211ull;
  return h;
}

}  // namespace

const std::vector<GenSpec>& TraceGenerators() { return kGens; }

StatusOr<Trace> GenerateTrace(std::string_view name, double scale,
                              TracePrior* prior) {
  if (!(scale > 0 && scale <= 1))
    return Status::Invalid("scale must be in (0,1]");
  uint32_t n = std::max<uint32_t>(256, uint32_t(kGenBlocks * scale));
  uint32_t T = std::max<uint32_t>(60, uint32_t(kGenIntervals * scale));
  if (prior) prior->p.clear();
  Ctx c(n, T, SeedOf(name), prior);
  if (name == "zipf-near") {
    GenZipf(c, 0.9, 0.9, 3000.0 / kGenBlocks);
  } else if (name == "zipf-small") {
    GenZipf(c, 0.2, 1.1, 1000.0 / kGenBlocks);
  } else if (name == "phase-shift") {
    GenPhaseShift(c);
  } else if (name == "recurring-4") {
    GenRecurring(c, 4, 20, 0.06, false, 0.5, 0.002);
  } else if (name == "recurring-6") {
    GenRecurring(c, 6, 25, 96.0 / 1024, true, 0.95, 0.0);
  } else if (name == "seq-stream") {
    GenStreams(c);
  } else if (name == "scan-hot") {
    GenScanHot(c);
  } else if (name == "uniform-near") {
    GenUniform(c, 0.9, 0.03);
  } else if (name == "uniform-small") {
    GenUniform(c, 0.2, 0.15);
  } else {
    std::string all;
    for (const auto& g : kGens)
      all += std::string(all.empty() ? "" : ", ") + g.name;
    return Status::Invalid("unknown trace generator '" + std::string(name) +
                           "'; known: " + all);
  }
  return std::move(c.trace);
}

}  // namespace sculpt
