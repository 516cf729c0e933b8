// AccessHistory: what each block did in past intervals, and the VM's
// signals, as the predictors see them.
//
// Per block (structure of arrays, so the per-interval pass vectorises):
// a 64-interval touch bit history, EWMAs of the touch indicator at three
// time scales, the interval of the last touch and the gap before it,
// a dirty ratio, and this interval's sampled counts.  Blocks that were not
// watched in an interval (sampled DAMON-style) keep their state: their bit
// history repeats the last known bit and their EWMAs do not move.
// The history never decides anything; it only remembers.
#ifndef SCULPT_CORE_HISTORY_H_
#define SCULPT_CORE_HISTORY_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "status.h"

namespace sculpt {

struct VmSignals {
  double vcpu_busy = 0;  // 0..1
  double block_io_bytes = 0;
  double net_bytes = 0;
  double minor_faults = 0;
  double major_faults = 0;
};

class AccessHistory {
 public:
  // EWMA weights of the three time scales (new = old + a * (x - old)).
  static constexpr float kFastAlpha = 0.5f;
  static constexpr float kMidAlpha = 0.25f;
  static constexpr float kSlowAlpha = 1.0f / 32;

  explicit AccessHistory(uint32_t nblocks);

  uint32_t size() const { return static_cast<uint32_t>(bits_.size()); }
  // Completed intervals.
  uint32_t intervals() const { return now_; }

  // ---- feeding one interval ----
  void BeginInterval();
  // Add sampled accesses; counts.size() == size(); sampled may be empty
  // (all watched), else sampled.size() == size().
  void AddAccess(std::span<const uint32_t> counts,
                 std::span<const uint8_t> sampled);
  void AddDirty(std::span<const uint32_t> dirty);
  // Sparse form used by replay: one touched block.
  void AddTouch(uint32_t b, uint32_t count, uint32_t dirty);
  // Mark block b unwatched this interval (default is watched).
  void SetUnwatched(uint32_t b) { watched_now_[b] = 0; }
  void SetSignals(const VmSignals& s) { signals_ = s; }
  // Fold the interval in.  O(size()).
  void EndInterval();

  // ---- state after the last EndInterval ----
  uint64_t bits(uint32_t b) const { return bits_[b]; }
  bool touched_last(uint32_t b) const { return bits_[b] & 1; }
  bool watched_last(uint32_t b) const { return watched_last_[b]; }
  uint32_t count_last(uint32_t b) const { return count_last_[b]; }
  float ewma_fast(uint32_t b) const { return ew_fast_[b]; }
  float ewma_mid(uint32_t b) const { return ew_mid_[b]; }
  float ewma_slow(uint32_t b) const { return ew_slow_[b]; }
  float dirty_ratio(uint32_t b) const { return dirty_[b]; }
  // Intervals since the last touch (0 = touched in the last interval);
  // UINT32_MAX if never touched.
  uint32_t age(uint32_t b) const {
    return last_[b] == 0 ? UINT32_MAX : now_ - last_[b];
  }
  // Gap between the last two touches in intervals (0 if unknown).
  uint32_t gap(uint32_t b) const { return gap_[b]; }
  // Fraction of the (up to 2) neighbours on each side touched last interval.
  float neighbour_heat(uint32_t b) const;
  // Touched blocks of the last interval, ascending.
  const std::vector<uint32_t>& touched() const { return touched_; }
  uint64_t watched_count() const { return watched_count_; }
  const VmSignals& signals() const { return signals_; }

  // Raw arrays for the hot loops of the predictors.
  const uint64_t* bits_data() const { return bits_.data(); }
  const float* ewma_fast_data() const { return ew_fast_.data(); }
  const float* ewma_mid_data() const { return ew_mid_.data(); }
  const float* ewma_slow_data() const { return ew_slow_.data(); }
  const float* dirty_data() const { return dirty_.data(); }
  const uint32_t* last_data() const { return last_.data(); }
  const uint16_t* gap_data() const { return gap_.data(); }
  const uint8_t* watched_data() const { return watched_last_.data(); }

  // Serialisation of the per-block state (not the open interval).
  void Save(std::string* out) const;
  Status Load(std::string_view* in);

 private:
  uint32_t now_ = 0;
  std::vector<uint64_t> bits_;
  std::vector<float> ew_fast_, ew_mid_, ew_slow_, dirty_;
  std::vector<uint32_t> last_;  // interval number (1-based) of last touch
  std::vector<uint16_t> gap_;
  std::vector<uint32_t> count_now_, dirty_now_, count_last_;
  std::vector<uint8_t> watched_now_, watched_last_;
  std::vector<uint32_t> touched_;
  uint64_t watched_count_ = 0;
  VmSignals signals_;
};

}  // namespace sculpt

#endif  // SCULPT_CORE_HISTORY_H_
