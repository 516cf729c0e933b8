// PrefetchModel: predicts blocks about to be touched that the recent past
// alone would not rank: the blocks just ahead of a sequential stream, and
// the hot set of a phase the VM has been in before.
//
// Streams.  The touched blocks of an interval are cut into segments (runs
// with gaps of at most kMaxGap blocks).  A segment that starts where a
// segment of the previous interval ended (ascending) or ends where one
// started (descending) continues that stream; its advance is the stream's
// velocity.  The next `velocity` blocks beyond the head are predicted, with
// a confidence that grows with each interval the stream keeps going:
//
//     interval t-1:   ....[#####]..........      head = h
//     interval t:     .........[#####]......     advance v, head h+v
//     predicted t+1:  ...............[+++++]     (h+v, h+2v]
//
// Phases.  Each remembered phase keeps, per block, how many of the phase's
// intervals touched it (saturating uint8, halved every kDecayAt intervals).
// An interval belongs to the phase whose blocks cover at least kMatch of a
// sample of its touched blocks (the current phase wins ties); if none does,
// a new phase starts, evicting the least recently seen.  When the VM comes
// back to an old phase after one interval, the whole of that phase's
// profile is predicted at once instead of being relearned; and when the
// current phase has lasted as long as it usually does, its usual successor
// is predicted for the next interval instead (and the ending phase is
// flagged, so the model can learn to let go of it):
//
//     phase:     A A A A | B B B B | C C C C | A A A A | B ...
//     expected:  . . . . | . . . . | . . . . | A A A B | B B B C
//                (new)     (new)     (new)     ^recognised after 1
//                                                    ^A's usual length  VM
//                                                    signals are not used to
//                                                    match phases yet: the
// access signature alone decides.
//
// O(touched + phases * kSample) per interval plus O(n) on phase changes
// and decays; never allocates after construction except for stream lists.
#ifndef SCULPT_CORE_PREFETCH_H_
#define SCULPT_CORE_PREFETCH_H_

#include <cstdint>
#include <vector>

#include "history.h"

namespace sculpt {

class PrefetchModel {
 public:
  static constexpr uint32_t kMaxGap = 4;
  static constexpr uint32_t kMaxStreams = 256;
  static constexpr int kMaxPhases = 8;
  static constexpr float kMatch = 0.5f;
  static constexpr uint32_t kSample = 256;
  static constexpr uint32_t kDecayAt = 64;

  explicit PrefetchModel(uint32_t nblocks);

  void Update(const AccessHistory& h);

  // Confidence in [0,1] that a stream reaches block b next interval.
  float stream(uint32_t b) const { return stream_[b] * (1.0f / 255); }
  // P(touch | the current phase) and P(touch | the predicted next phase).
  float phase_cur(uint32_t b) const {
    return cur_ < 0 ? 0.0f : phases_[cur_].counts[b] * phases_[cur_].inv_n;
  }
  float phase_next(uint32_t b) const {
    return next_ < 0 ? 0.0f : phases_[next_].counts[b] * phases_[next_].inv_n;
  }
  // For the loop of the learned model (nullptr when inactive):
  // the profile of the phase expected in the next interval (the successor
  // when the current phase is due to end, else the current one), and the
  // profile of a current phase that is due to end.
  const uint8_t* stream_data() const { return stream_.data(); }
  const uint8_t* phase_expected_counts(float* scale) const;
  const uint8_t* phase_ending_counts(float* scale) const;

  int current_phase() const { return cur_; }
  int predicted_next_phase() const { return next_; }
  int phase_count() const;
  size_t stream_count() const { return streams_.size(); }

 private:
  struct Stream {
    int64_t head;      // last block reached (hi if ascending, lo if desc.)
    int64_t velocity;  // blocks per interval, > 0
    int dir;           // +1 ascending, -1 descending
    uint32_t conf;     // intervals it kept going
  };
  struct Phase {
    std::vector<uint8_t> counts;
    uint32_t n = 0;  // intervals counted (after decay)
    float inv_n = 0;
    uint32_t last_seen = 0;
    bool used = false;
    int succ = -1;       // phase that followed last time
    float duration = 0;  // EWMA of how long a visit lasts
  };
  void UpdateStreams(const AccessHistory& h);
  void UpdatePhases(const AccessHistory& h);
  float Similarity(const Phase& p, const std::vector<uint32_t>& sample) const;

  uint32_t n_;
  std::vector<uint8_t> stream_;
  std::vector<uint32_t> marked_;
  std::vector<Stream> streams_;
  std::vector<Phase> phases_;
  int cur_ = -1;
  int next_ = -1;
  uint32_t run_ = 0;  // intervals in the current visit of cur_
  uint32_t tick_ = 0;
};

}  // namespace sculpt

#endif  // SCULPT_CORE_PREFETCH_H_
