// BlockMap: where each guest-RAM block lives (tier and slot), and the slot
// allocators of the HOT and COLD pools.
//
// The allocator keeps neighbouring blocks in neighbouring slots so that the
// host mappings of a run of blocks merge into one VMA: the number of
// mappings the placement needs is maintained in O(1) per change and must
// stay far below vm.max_map_count.  The map only records placement; it never
// touches memory.  Not thread safe: the owner serialises access.
#ifndef SCULPT_CORE_BLOCK_MAP_H_
#define SCULPT_CORE_BLOCK_MAP_H_

#include <cstdint>
#include <vector>

#include "status.h"

namespace sculpt {

enum class Tier : uint8_t { kBase = 0, kHot = 1, kCold = 2 };
inline constexpr int kNumTiers = 3;

class BlockMap {
 public:
  static constexpr uint32_t kFree = UINT32_MAX;
  static constexpr uint32_t kReserved = UINT32_MAX - 1;
  static constexpr uint64_t kMaxSlots = UINT32_MAX - 2;

  // Every block starts in kBase at slot == block; HOT/COLD have 0 slots.
  explicit BlockMap(uint32_t nblocks);

  uint32_t size() const { return static_cast<uint32_t>(tier_.size()); }
  Tier tier(uint32_t b) const { return static_cast<Tier>(tier_[b]); }
  uint32_t slot(uint32_t b) const { return slot_[b]; }
  uint64_t blocks_in(Tier t) const { return count_[static_cast<int>(t)]; }
  uint64_t capacity(Tier t) const;
  // Slots of HOT/COLD neither occupied nor reserved.
  uint64_t free_slots(Tier t) const;
  // Maximal runs of neighbouring blocks in one tier at consecutive slots.
  uint64_t mapping_count() const { return size() - joins_; }

  // REQUIRES nothing; fails for kBase, or when shrinking over a used slot.
  Status SetCapacity(Tier t, uint64_t nslots);
  // Place block b at (t, s).  Frees its old slot.  Fails if s is taken,
  // reserved (unless `from_reservation`), or out of range.
  Status Set(uint32_t b, Tier t, uint32_t s, bool from_reservation = false);

  // Find `n` free contiguous slots in t, preferring to start at `hint`;
  // returns the first slot or kFree.  Does not reserve.
  uint32_t FindFreeRun(Tier t, uint32_t n, uint32_t hint) const;
  // The slot a block at `b` would ideally take in t to continue its
  // neighbours' run (slot(b-1)+1 or slot(b+1)-1), else kFree.
  uint32_t NeighbourHint(uint32_t b, Tier t) const;
  // Mark [s, s+n) reserved / free again.  REQUIRES the slots free /
  // reserved respectively.
  Status Reserve(Tier t, uint32_t s, uint32_t n);
  void Release(Tier t, uint32_t s, uint32_t n);
  uint32_t owner(Tier t, uint32_t s) const { return owner_[Idx(t)][s]; }

 private:
  static int Idx(Tier t) { return static_cast<int>(t); }
  bool Joined(uint32_t b) const;  // does block b merge with b+1?
  void AdjustJoins(uint32_t b, int sign);

  std::vector<uint8_t> tier_;
  std::vector<uint32_t> slot_;
  std::vector<uint32_t> owner_[kNumTiers];  // unused for kBase
  uint64_t count_[kNumTiers] = {0, 0, 0};
  uint64_t used_[kNumTiers] = {0, 0, 0};  // occupied or reserved slots
  uint64_t joins_ = 0;
};

}  // namespace sculpt

#endif  // SCULPT_CORE_BLOCK_MAP_H_
