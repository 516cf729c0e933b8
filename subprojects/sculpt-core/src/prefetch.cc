// PrefetchModel implementation.  See prefetch.h for the picture.
#include "prefetch.h"

#include <algorithm>

namespace sculpt {

PrefetchModel::PrefetchModel(uint32_t n) : n_(n), stream_(n, 0) {
  phases_.resize(kMaxPhases);
}

int PrefetchModel::phase_count() const {
  int c = 0;
  for (const auto& p : phases_) c += p.used;
  return c;
}

const uint8_t* PrefetchModel::phase_expected_counts(float* scale) const {
  int p = next_ >= 0 ? next_ : cur_;
  if (p < 0) return nullptr;
  *scale = phases_[p].inv_n;
  return phases_[p].counts.data();
}

const uint8_t* PrefetchModel::phase_ending_counts(float* scale) const {
  if (next_ < 0 || cur_ < 0) return nullptr;
  *scale = phases_[cur_].inv_n;
  return phases_[cur_].counts.data();
}

void PrefetchModel::Update(const AccessHistory& h) {
  tick_++;
  UpdateStreams(h);
  UpdatePhases(h);
}

void PrefetchModel::UpdateStreams(const AccessHistory& h) {
  for (uint32_t b : marked_) stream_[b] = 0;
  marked_.clear();
  const auto& t = h.touched();
  // Segments of the interval.
  struct Seg {
    int64_t lo, hi;
  };
  std::vector<Seg> segs;
  for (size_t i = 0; i < t.size();) {
    size_t j = i;
    while (j + 1 < t.size() && t[j + 1] - t[j] <= kMaxGap) j++;
    segs.push_back({t[i], t[j]});
    i = j + 1;
  }
  // Old streams sorted by head for lookup.
  std::sort(streams_.begin(), streams_.end(),
            [](const Stream& a, const Stream& b) { return a.head < b.head; });
  std::vector<Stream> next;
  std::vector<uint8_t> seg_used(segs.size(), 0);
  for (const Stream& s : streams_) {
    // Find a segment that continues s: ascending, one that starts at most
    // kMaxGap+1 past the head and reaches beyond it; descending, mirrored.
    int64_t lo_bound =
        s.dir > 0 ? s.head - s.velocity : s.head - s.velocity - kMaxGap - 1;
    auto it =
        std::lower_bound(segs.begin(), segs.end(), lo_bound,
                         [](const Seg& g, int64_t v) { return g.hi < v; });
    for (; it != segs.end(); ++it) {
      if (s.dir > 0) {
        if (it->lo > s.head + kMaxGap + 1) break;
        if (it->hi > s.head) {
          next.push_back({it->hi, it->hi - s.head, +1, s.conf + 1});
          seg_used[it - segs.begin()] = 1;
          break;
        }
      } else {
        if (it->lo >= s.head) break;
        if (it->hi + int64_t{kMaxGap} + 1 >= s.head) {
          next.push_back({it->lo, s.head - it->lo, -1, s.conf + 1});
          seg_used[it - segs.begin()] = 1;
          break;
        }
      }
    }
  }
  // Unclaimed segments are candidates both ways.
  for (size_t i = 0; i < segs.size(); i++) {
    if (seg_used[i]) continue;
    int64_t len = segs[i].hi - segs[i].lo + 1;
    next.push_back({segs[i].hi, len, +1, 0});
    next.push_back({segs[i].lo, len, -1, 0});
  }
  if (next.size() > kMaxStreams) {
    std::partial_sort(
        next.begin(), next.begin() + kMaxStreams, next.end(),
        [](const Stream& a, const Stream& b) { return a.conf > b.conf; });
    next.resize(kMaxStreams);
  }
  streams_ = std::move(next);
  // Predict the window ahead of every stream that kept going.
  for (const Stream& s : streams_) {
    if (s.conf == 0) continue;
    uint8_t v = static_cast<uint8_t>(std::min<uint32_t>(s.conf, 3) * 85);
    int64_t lo = s.dir > 0 ? s.head + 1 : s.head - s.velocity;
    int64_t hi = s.dir > 0 ? s.head + s.velocity : s.head - 1;
    lo = std::max<int64_t>(lo, 0);
    hi = std::min<int64_t>(hi, int64_t{n_} - 1);
    for (int64_t b = lo; b <= hi; b++) {
      if (stream_[b] == 0) marked_.push_back(static_cast<uint32_t>(b));
      stream_[b] = std::max(stream_[b], v);
    }
  }
}

float PrefetchModel::Similarity(const Phase& p,
                                const std::vector<uint32_t>& sample) const {
  if (!p.used || sample.empty()) return 0.0f;
  uint32_t hit = 0;
  for (uint32_t b : sample) hit += p.counts[b] > 0;
  return static_cast<float>(hit) / sample.size();
}

void PrefetchModel::UpdatePhases(const AccessHistory& h) {
  const auto& t = h.touched();
  if (t.empty()) {
    next_ = -1;
    return;
  }
  std::vector<uint32_t> sample;
  size_t step = t.size() > kSample ? t.size() / kSample : 1;
  for (size_t i = 0; i < t.size(); i += step) sample.push_back(t[i]);

  int best = -1;
  float best_sim = kMatch;
  if (cur_ >= 0) {
    float s = Similarity(phases_[cur_], sample);
    if (s >= kMatch) {
      best = cur_;
      best_sim = s;
    }
  }
  if (best < 0) {
    for (int i = 0; i < kMaxPhases; i++) {
      if (i == cur_) continue;
      float s = Similarity(phases_[i], sample);
      if (s >= best_sim) {
        best = i;
        best_sim = s;
      }
    }
  }
  if (best < 0) {
    // A new phase: take a free slot or the least recently seen one.
    best = 0;
    for (int i = 0; i < kMaxPhases; i++) {
      if (!phases_[i].used) {
        best = i;
        break;
      }
      if (phases_[i].last_seen < phases_[best].last_seen) best = i;
    }
    Phase& p = phases_[best];
    p.counts.assign(n_, 0);
    p.n = 0;
    p.used = true;
    p.succ = -1;
    p.duration = 0;
    for (auto& q : phases_) {
      if (q.succ == best) q.succ = -1;
    }
  }
  if (best != cur_) {
    if (cur_ >= 0) {
      Phase& old = phases_[cur_];
      old.succ = best;
      old.duration = old.duration == 0
                         ? float(run_)
                         : old.duration + 0.5f * (run_ - old.duration);
    }
    cur_ = best;
    run_ = 0;
  }
  run_++;
  Phase& p = phases_[cur_];
  p.last_seen = tick_;
  for (uint32_t b : t) {
    if (p.counts[b] < 255) p.counts[b]++;
  }
  p.n++;
  if (p.n >= kDecayAt) {
    for (auto& c : p.counts) c >>= 1;
    p.n >>= 1;
  }
  p.inv_n = 1.0f / p.n;
  // Is the phase about to end?  Predict its usual successor.
  next_ = -1;
  if (p.succ >= 0 && p.duration > 0 && float(run_) + 0.5f >= p.duration &&
      phases_[p.succ].used && phases_[p.succ].n > 0) {
    next_ = p.succ;
  }
}

}  // namespace sculpt
