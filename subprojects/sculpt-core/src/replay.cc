// Replay implementation.  See replay.h.
#include "replay.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "history.h"
#include "planner.h"
#include "predictor.h"

namespace sculpt {
namespace {

// Bookkeeping shared by every policy.
struct Sim {
  Sim(const Trace& t, const TierModel& m, std::string_view name)
      : trace(t),
        model(m),
        n(static_cast<uint32_t>(t.header.nblocks)),
        fast(n, 0),
        prefetched(n, 0),
        touched_prev(n, 0) {
    r.policy = std::string(name);
    r.capacity = static_cast<uint64_t>(
        std::floor(m.capacity_fraction * double(n) + 1e-9));
  }
  // Count interval i against the current fast set.
  void Score(size_t i) {
    const TraceInterval& iv = trace.intervals[i];
    for (size_t k = 0; k < iv.blocks.size(); k++) {
      uint32_t b = iv.blocks[k];
      uint32_t d = iv.dirty.empty() ? 0 : iv.dirty[k];
      double acc = std::max<double>(1, std::max(iv.counts[k], d));
      r.touches++;
      if (fast[b]) {
        r.hits++;
        r.model_ms += acc * model.fast_ns * 1e-6;
        if (prefetched[b]) {
          r.useful_prefetches++;
          prefetched[b] = 0;
        }
      } else {
        r.model_ms += acc * model.slow_ns * 1e-6;
      }
    }
    std::fill(touched_prev.begin(), touched_prev.end(), 0);
    for (uint32_t b : iv.blocks) touched_prev[b] = 1;
  }
  void Promote(uint32_t b) {
    fast[b] = 1;
    r.promotions++;
    r.model_ms += model.move_ns * 1e-6;
    r.bytes_moved += trace.header.block_size;
    if (!touched_prev[b]) {
      prefetched[b] = 1;
      r.prefetches++;
    }
  }
  void Demote(uint32_t b) {
    fast[b] = 0;
    prefetched[b] = 0;
    r.demotions++;
    r.model_ms += model.move_ns * 1e-6;
    r.bytes_moved += trace.header.block_size;
  }
  // Moves free: make fast the capacity's first blocks by key(b) (smaller
  // first; among equals what is fast already, then the lower block), of
  // those that are useful(b) or fast already, and demote the rest.
  template <class Key, class Useful>
  void KeepFirst(Key key, Useful useful) {
    std::vector<uint32_t> order(n);
    for (uint32_t b = 0; b < n; b++) order[b] = b;
    auto before = [&](uint32_t a, uint32_t b) {
      auto ka = key(a), kb = key(b);
      if (ka != kb) return ka < kb;
      if (fast[a] != fast[b]) return fast[a] > fast[b];
      return a < b;
    };
    size_t k = std::min<uint64_t>(r.capacity, n);
    std::nth_element(order.begin(), order.begin() + k, order.end(), before);
    std::vector<uint8_t> want(n, 0);
    for (size_t j = 0; j < k; j++) {
      if (useful(order[j]) || fast[order[j]]) want[order[j]] = 1;
    }
    for (uint32_t b = 0; b < n; b++) {
      if (fast[b] && !want[b]) Demote(b);
    }
    for (uint32_t b = 0; b < n; b++) {
      if (!fast[b] && want[b]) Promote(b);
    }
  }
  const Trace& trace;
  const TierModel& model;
  uint32_t n;
  std::vector<uint8_t> fast, prefetched, touched_prev;
  ReplayResult r;
};

void Feed(AccessHistory* h, const TraceInterval& iv) {
  h->BeginInterval();
  for (size_t k = 0; k < iv.blocks.size(); k++) {
    h->AddTouch(iv.blocks[k], iv.counts[k], iv.dirty.empty() ? 0 : iv.dirty[k]);
  }
  for (auto [first, len] : iv.unwatched) {
    for (uint32_t b = first; b < first + len; b++) h->SetUnwatched(b);
  }
  VmSignals s;
  s.vcpu_busy = iv.signals.vcpu_busy_ppm / 1e6;
  s.block_io_bytes = double(iv.signals.block_io_bytes);
  s.net_bytes = double(iv.signals.net_bytes);
  s.minor_faults = double(iv.signals.minor_faults);
  s.major_faults = double(iv.signals.major_faults);
  h->SetSignals(s);
  h->EndInterval();
}

StatusOr<ReplayResult> ReplayPredictor(const Trace& t, std::string_view name,
                                       const TierModel& m, uint64_t seed) {
  Sim sim(t, m, name);
  auto p = NewPredictor(name, {sim.n, seed});
  if (!p.ok()) return p.status();
  Predictor& pred = **p;
  pred.SetCapacity(sim.r.capacity);
  AccessHistory h(sim.n);
  PlanSetInput in;
  in.member = sim.fast;
  in.capacity = sim.r.capacity;
  in.budget = m.move_budget;
  in.hysteresis = pred.hysteresis();
  for (size_t i = 0; i < t.intervals.size(); i++) {
    sim.Score(i);
    Feed(&h, t.intervals[i]);
    pred.Update(h);
    in.scores = pred.scores();
    PlanSetOutput o = PlanSet(in);
    for (uint32_t b : o.demote) sim.Demote(b);
    for (uint32_t b : o.promote) sim.Promote(b);
  }
  return sim.r;
}

// Next-touch oracle: next[i][k] is the interval after i at which block
// intervals[i].blocks[k] is touched again (or "never").
constexpr uint32_t kNever = UINT32_MAX;

ReplayResult ReplayBelady(const Trace& t, const TierModel& m, bool budgeted) {
  Sim sim(t, m, budgeted ? "belady-budget" : "belady");
  const size_t T = t.intervals.size();
  const uint32_t n = sim.n;
  // first touch at or after each boundary, maintained backwards.
  std::vector<std::vector<uint32_t>> next_after(T);
  {
    std::vector<uint32_t> nxt(n, kNever);
    for (size_t i = T; i-- > 0;) {
      const auto& iv = t.intervals[i];
      next_after[i].resize(iv.blocks.size());
      for (size_t k = 0; k < iv.blocks.size(); k++) {
        next_after[i][k] = nxt[iv.blocks[k]];
        nxt[iv.blocks[k]] = static_cast<uint32_t>(i);
      }
    }
    // nxt now holds each block's first touch: the boundary-0 state.
    std::vector<uint32_t> next_touch = nxt;
    const uint64_t cap = sim.r.capacity;
    for (size_t i = 0; i < T; i++) {
      // Boundary before interval i: next_touch[b] >= i for all b.
      if (!budgeted) {
        sim.KeepFirst([&](uint32_t b) { return next_touch[b]; },
                      [&](uint32_t b) { return next_touch[b] != kNever; });
      } else {
        // Greedy within the budget: soonest-needed outsiders displace the
        // latest-needed residents while that is a strict improvement.
        std::vector<uint32_t> cand, res;
        uint64_t nfast = 0;
        for (uint32_t b = 0; b < n; b++) {
          if (sim.fast[b]) {
            res.push_back(b);
            nfast++;
          } else if (next_touch[b] != kNever) {
            cand.push_back(b);
          }
        }
        size_t k = std::min<uint64_t>({cand.size(), m.move_budget, cap});
        auto sooner = [&](uint32_t a, uint32_t b) {
          return next_touch[a] < next_touch[b] ||
                 (next_touch[a] == next_touch[b] && a < b);
        };
        std::partial_sort(cand.begin(), cand.begin() + k, cand.end(), sooner);
        std::sort(res.begin(), res.end(),
                  [&](uint32_t a, uint32_t b) { return sooner(b, a); });
        size_t ri = 0;
        for (size_t j = 0; j < k; j++) {
          uint32_t c = cand[j];
          if (nfast < cap) {
            sim.Promote(c);
            nfast++;
            continue;
          }
          if (ri >= res.size() || !(next_touch[c] < next_touch[res[ri]])) break;
          sim.Demote(res[ri++]);
          sim.Promote(c);
        }
      }
      sim.Score(i);
      const auto& iv = t.intervals[i];
      for (size_t k = 0; k < iv.blocks.size(); k++) {
        next_touch[iv.blocks[k]] = next_after[i][k];
      }
    }
  }
  return sim.r;
}

}  // namespace

StatusOr<ReplayResult> ReplayInformed(const Trace& t, const TracePrior& prior,
                                      const TierModel& m) {
  if (!(m.capacity_fraction >= 0 && m.capacity_fraction <= 1)) {
    return Status::Invalid("capacity fraction must be within [0,1]");
  }
  if (prior.p.size() != t.intervals.size()) {
    return Status::Invalid("the prior does not match the trace's intervals");
  }
  Sim sim(t, m, "informed");
  for (size_t i = 0; i < t.intervals.size(); i++) {
    const std::vector<float>& p = prior.p[i];
    if (p.size() != sim.n) {
      return Status::Invalid("the prior does not match the trace's blocks");
    }
    // Most likely first; among equals, keep what is fast (moves are free,
    // but needless ones would count as prefetches).
    sim.KeepFirst([&](uint32_t b) { return -p[b]; },
                  [&](uint32_t b) { return p[b] > 0; });
    sim.Score(i);
  }
  return sim.r;
}

StatusOr<ReplayResult> Replay(const Trace& t, std::string_view policy,
                              const TierModel& m, uint64_t seed) {
  if (!(m.capacity_fraction >= 0 && m.capacity_fraction <= 1)) {
    return Status::Invalid("capacity fraction must be within [0,1]");
  }
  if (t.header.nblocks == 0 || t.header.nblocks > UINT32_MAX - 2) {
    return Status::Invalid("trace has no blocks");
  }
  if (policy == "belady") return ReplayBelady(t, m, false);
  if (policy == "belady-budget") return ReplayBelady(t, m, true);
  return ReplayPredictor(t, policy, m, seed);
}

}  // namespace sculpt
