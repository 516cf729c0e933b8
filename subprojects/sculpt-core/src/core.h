// Core: one VM's RAM block as the predictor and planner see it.  Ties the
// access history, the selected predictor, the block map and the planner
// together behind the operations the C ABI exposes (sculpt.h documents
// their contracts).  Deterministic: time and seed are inputs.  Not thread
// safe; the C caller serialises.  Never touches guest memory.
#ifndef SCULPT_CORE_CORE_H_
#define SCULPT_CORE_CORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "block_map.h"
#include "history.h"
#include "predictor.h"
#include "status.h"

namespace sculpt {

struct CoreConfig {
  uint64_t guest_bytes = 0;
  uint64_t block_size = 0;
  uint64_t seed = 0;
};

// Human-friendly size: "96K", "2M", "1G", else bytes.
std::string FormatSize(uint64_t bytes);

enum class MoveKind : uint8_t { kPromote = 0, kDemote = 1, kPrefetch = 2 };

struct Move {
  uint64_t id = 0;
  uint32_t block_first = 0;
  uint32_t nblocks = 0;
  uint32_t dst_slot = 0;
  Tier from = Tier::kBase;
  Tier to = Tier::kBase;
  MoveKind kind = MoveKind::kPromote;
};

struct Budget {
  uint64_t fast_bytes = UINT64_MAX;
  uint64_t hot_zone_bytes = 0;
  uint64_t move_bytes_per_sec = 0;
  uint64_t interval_ns = 0;
};

struct CoreStats {
  uint64_t intervals = 0;
  uint64_t true_pos = 0, false_pos = 0, false_neg = 0;
  double last_precision = 0, last_recall = 0;
  uint64_t moves_planned = 0, moves_done = 0, moves_failed = 0;
  uint64_t bytes_moved = 0;
};

struct HotRange {
  uint32_t first;
  uint32_t n;
  float prob;
};

class Core {
 public:
  static constexpr float kHotThreshold = 0.5f;
  static constexpr float kWarmThreshold = 0.1f;

  static Status CheckConfig(const CoreConfig& c);
  static StatusOr<std::unique_ptr<Core>> Create(const CoreConfig& c);

  uint32_t nblocks() const { return n_; }
  uint64_t block_size() const { return bs_; }

  Status BeginInterval(uint64_t now_ns);
  Status RecordAccess(std::span<const uint32_t> counts, const uint8_t* sampled);
  Status RecordDirty(std::span<const uint32_t> dirty);
  Status RecordSignals(const VmSignals& s);
  Status EndInterval(uint64_t now_ns);
  bool interval_open() const { return open_; }

  std::span<const float> probs() const { return probs_; }
  std::span<const uint8_t> classes() const { return classes_; }
  uint64_t class_count(int c) const { return class_count_[c]; }
  std::vector<HotRange> HottestRanges(size_t max) const;

  BlockMap& map() { return map_; }
  const BlockMap& map() const { return map_; }
  // Direct placement (fails on slots reserved by pending moves).
  Status SetBlock(uint32_t b, Tier t, uint32_t slot);

  StatusOr<std::vector<Move>> Plan(const Budget& b, size_t max_moves);
  Status MoveDone(uint64_t id);
  Status MoveFailed(uint64_t id);
  size_t pending_moves() const { return pending_.size(); }

  Status SetPolicy(std::string_view name);
  // Blocks fast memory holds (0: not known), for the predictor.
  Status SetFastCapacity(uint64_t blocks);
  const char* policy() const { return pred_->name(); }
  const CoreStats& stats() const { return stats_; }

  StatusOr<std::string> Save() const;
  Status Load(std::string_view blob);

 private:
  Core(const CoreConfig& c, uint32_t n);
  void AbandonPending();
  void Classify();

  CoreConfig cfg_;
  uint32_t n_;
  uint64_t bs_;
  AccessHistory hist_;
  std::unique_ptr<Predictor> pred_;
  uint64_t fast_capacity_ = 0;
  BlockMap map_;
  std::vector<float> probs_;
  std::vector<uint8_t> classes_;
  uint64_t class_count_[3] = {0, 0, 0};
  bool open_ = false;
  uint64_t begin_ns_ = 0;
  uint64_t last_ns_ = 0;
  CoreStats stats_;
  std::map<uint64_t, Move> pending_;
  uint64_t next_id_ = 1;
};

}  // namespace sculpt

#endif  // SCULPT_CORE_CORE_H_
