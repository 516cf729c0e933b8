// AccessHistory implementation.  See history.h.
#include "history.h"

#include <algorithm>
#include <cmath>

#include "serial.h"

namespace sculpt {

AccessHistory::AccessHistory(uint32_t n)
    : bits_(n, 0),
      ew_fast_(n, 0),
      ew_mid_(n, 0),
      ew_slow_(n, 0),
      dirty_(n, 0),
      last_(n, 0),
      gap_(n, 0),
      count_now_(n, 0),
      dirty_now_(n, 0),
      count_last_(n, 0),
      watched_now_(n, 1),
      watched_last_(n, 1) {}

void AccessHistory::BeginInterval() {
  std::fill(count_now_.begin(), count_now_.end(), 0);
  std::fill(dirty_now_.begin(), dirty_now_.end(), 0);
  std::fill(watched_now_.begin(), watched_now_.end(), 1);
  signals_ = VmSignals();
}

void AccessHistory::AddAccess(std::span<const uint32_t> counts,
                              std::span<const uint8_t> sampled) {
  const uint32_t n = size();
  for (uint32_t b = 0; b < n; b++) {
    if (!sampled.empty() && !sampled[b]) {
      // Unwatched unless something else (the dirty log) saw it.
      if (count_now_[b] == 0 && dirty_now_[b] == 0) watched_now_[b] = 0;
      continue;
    }
    uint64_t c = uint64_t{count_now_[b]} + counts[b];
    count_now_[b] = c > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(c);
  }
}

void AccessHistory::AddDirty(std::span<const uint32_t> dirty) {
  const uint32_t n = size();
  for (uint32_t b = 0; b < n; b++) {
    if (dirty[b] == 0) continue;
    uint64_t d = uint64_t{dirty_now_[b]} + dirty[b];
    dirty_now_[b] = d > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(d);
    watched_now_[b] = 1;
  }
}

void AccessHistory::AddTouch(uint32_t b, uint32_t count, uint32_t dirty) {
  uint64_t c = uint64_t{count_now_[b]} + count;
  count_now_[b] = c > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(c);
  uint64_t d = uint64_t{dirty_now_[b]} + dirty;
  dirty_now_[b] = d > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(d);
  if (dirty) watched_now_[b] = 1;
}

void AccessHistory::EndInterval() {
  const uint32_t n = size();
  now_++;
  touched_.clear();
  watched_count_ = 0;
  for (uint32_t b = 0; b < n; b++) {
    const bool watched = watched_now_[b];
    watched_last_[b] = watched;
    const uint32_t c = count_now_[b];
    const uint32_t d = dirty_now_[b];
    count_last_[b] = c > d ? c : d;
    if (!watched) {
      bits_[b] = (bits_[b] << 1) | (bits_[b] & 1);
      continue;
    }
    watched_count_++;
    const bool t = c > 0 || d > 0;
    const float x = t ? 1.0f : 0.0f;
    bits_[b] = (bits_[b] << 1) | (t ? 1 : 0);
    ew_fast_[b] += kFastAlpha * (x - ew_fast_[b]);
    ew_mid_[b] += kMidAlpha * (x - ew_mid_[b]);
    ew_slow_[b] += kSlowAlpha * (x - ew_slow_[b]);
    if (t) {
      touched_.push_back(b);
      if (last_[b] != 0) {
        uint32_t g = now_ - last_[b];
        gap_[b] = static_cast<uint16_t>(g > UINT16_MAX ? UINT16_MAX : g);
      }
      last_[b] = now_;
      // Dirty ratio: EWMA of "this touch wrote" over touching intervals.
      dirty_[b] += 0.25f * ((d > 0 ? 1.0f : 0.0f) - dirty_[b]);
    }
  }
}

float AccessHistory::neighbour_heat(uint32_t b) const {
  const uint32_t n = size();
  int hot = 0, tot = 0;
  for (int dlt = -2; dlt <= 2; dlt++) {
    if (dlt == 0) continue;
    int64_t nb = int64_t{b} + dlt;
    if (nb < 0 || nb >= n) continue;
    tot++;
    hot += bits_[nb] & 1;
  }
  return tot ? static_cast<float>(hot) / tot : 0.0f;
}

void AccessHistory::Save(std::string* out) const {
  const uint32_t n = size();
  PutU32(out, n);
  PutU32(out, now_);
  PutBytes(out, bits_.data(), n * sizeof(uint64_t));
  PutBytes(out, ew_fast_.data(), n * sizeof(float));
  PutBytes(out, ew_mid_.data(), n * sizeof(float));
  PutBytes(out, ew_slow_.data(), n * sizeof(float));
  PutBytes(out, dirty_.data(), n * sizeof(float));
  PutBytes(out, last_.data(), n * sizeof(uint32_t));
  PutBytes(out, gap_.data(), n * sizeof(uint16_t));
}

Status AccessHistory::Load(std::string_view* in) {
  uint32_t n, now;
  if (!GetU32(in, &n) || !GetU32(in, &now)) {
    return Status::Corrupt("history truncated");
  }
  if (n != size()) {
    return Status::Invalid("history has " + std::to_string(n) +
                           " blocks, this RAM block has " +
                           std::to_string(size()));
  }
  AccessHistory h(n);
  h.now_ = now;
  bool ok = GetBytes(in, h.bits_.data(), n * sizeof(uint64_t)) &&
            GetBytes(in, h.ew_fast_.data(), n * sizeof(float)) &&
            GetBytes(in, h.ew_mid_.data(), n * sizeof(float)) &&
            GetBytes(in, h.ew_slow_.data(), n * sizeof(float)) &&
            GetBytes(in, h.dirty_.data(), n * sizeof(float)) &&
            GetBytes(in, h.last_.data(), n * sizeof(uint32_t)) &&
            GetBytes(in, h.gap_.data(), n * sizeof(uint16_t));
  if (!ok) return Status::Corrupt("history truncated");
  for (uint32_t b = 0; b < n; b++) {
    for (float v : {h.ew_fast_[b], h.ew_mid_[b], h.ew_slow_[b], h.dirty_[b]}) {
      if (!std::isfinite(v) || v < 0 || v > 1) {
        return Status::Corrupt("history holds a value outside [0,1]");
      }
    }
    if (h.last_[b] > now) return Status::Corrupt("history touch in the future");
  }
  for (uint32_t b = 0; b < n; b++) {
    if (h.bits_[b] & 1) h.touched_.push_back(b);
  }
  h.watched_count_ = n;
  *this = std::move(h);
  return Status::Ok();
}

}  // namespace sculpt
