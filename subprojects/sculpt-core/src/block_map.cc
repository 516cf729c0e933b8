// BlockMap implementation.  See block_map.h.
#include "block_map.h"

#include <string>

namespace sculpt {

BlockMap::BlockMap(uint32_t nblocks) : tier_(nblocks, 0), slot_(nblocks) {
  for (uint32_t b = 0; b < nblocks; b++) slot_[b] = b;
  count_[0] = nblocks;
  joins_ = nblocks > 0 ? nblocks - 1 : 0;
}

uint64_t BlockMap::capacity(Tier t) const {
  if (t == Tier::kBase) return size();
  return owner_[Idx(t)].size();
}

uint64_t BlockMap::free_slots(Tier t) const {
  if (t == Tier::kBase) return 0;
  return capacity(t) - used_[Idx(t)];
}

Status BlockMap::SetCapacity(Tier t, uint64_t nslots) {
  if (t == Tier::kBase) {
    return Status::Invalid(
        "the base tier's capacity is the RAM block itself; set HOT or COLD");
  }
  if (nslots > kMaxSlots) {
    return Status::Invalid("capacity " + std::to_string(nslots) +
                           " slots is too large; at most " +
                           std::to_string(kMaxSlots));
  }
  auto& own = owner_[Idx(t)];
  for (uint64_t s = nslots; s < own.size(); s++) {
    if (own[s] != kFree) {
      return Status::State("cannot shrink to " + std::to_string(nslots) +
                           " slots: slot " + std::to_string(s) +
                           " is in use; move its block out first");
    }
  }
  own.resize(nslots, kFree);
  return Status::Ok();
}

bool BlockMap::Joined(uint32_t b) const {
  if (b + 1 >= size()) return false;
  if (tier_[b] != tier_[b + 1]) return false;
  return slot_[b + 1] == slot_[b] + 1;
}

void BlockMap::AdjustJoins(uint32_t b, int sign) {
  if (b > 0 && Joined(b - 1)) joins_ += sign;
  if (Joined(b)) joins_ += sign;
}

Status BlockMap::Set(uint32_t b, Tier t, uint32_t s, bool from_reservation) {
  if (b >= size()) {
    return Status::Invalid("block " + std::to_string(b) + " out of range (" +
                           std::to_string(size()) + " blocks)");
  }
  int ti = Idx(t);
  if (ti < 0 || ti >= kNumTiers) return Status::Invalid("unknown tier");
  if (t == Tier::kBase) {
    if (s != b) {
      return Status::Invalid(
          "a block in the base tier lives at its own "
          "offset: slot must be " +
          std::to_string(b));
    }
  } else {
    if (s >= owner_[ti].size()) {
      return Status::Invalid("slot " + std::to_string(s) + " beyond the " +
                             std::to_string(owner_[ti].size()) +
                             "-slot capacity of the tier");
    }
    uint32_t o = owner_[ti][s];
    bool ok = o == kFree || (from_reservation && o == kReserved) ||
              (o == b && tier_[b] == ti);
    if (!ok) {
      return Status::State("slot " + std::to_string(s) + " is " +
                           (o == kReserved
                                ? std::string("reserved by a pending move")
                                : "held by block " + std::to_string(o)));
    }
  }
  if (tier_[b] == ti && slot_[b] == s) return Status::Ok();
  AdjustJoins(b, -1);
  int old = tier_[b];
  if (old != 0) {
    owner_[old][slot_[b]] = kFree;
    used_[old]--;
  }
  count_[old]--;
  if (ti != 0) {
    if (owner_[ti][s] == kFree) used_[ti]++;
    owner_[ti][s] = b;
  }
  count_[ti]++;
  tier_[b] = static_cast<uint8_t>(ti);
  slot_[b] = s;
  AdjustJoins(b, +1);
  return Status::Ok();
}

uint32_t BlockMap::FindFreeRun(Tier t, uint32_t n, uint32_t hint) const {
  if (t == Tier::kBase || n == 0) return kFree;
  const auto& own = owner_[Idx(t)];
  uint64_t cap = own.size();
  if (n > cap) return kFree;
  auto fits = [&](uint64_t s) {
    if (s + n > cap) return false;
    for (uint64_t i = s; i < s + n; i++) {
      if (own[i] != kFree) return false;
    }
    return true;
  };
  if (hint != kFree && fits(hint)) return hint;
  // First fit, scanning runs of free slots.
  uint64_t run = 0;
  for (uint64_t s = 0; s < cap; s++) {
    run = own[s] == kFree ? run + 1 : 0;
    if (run == n) return static_cast<uint32_t>(s + 1 - n);
  }
  return kFree;
}

uint32_t BlockMap::NeighbourHint(uint32_t b, Tier t) const {
  int ti = Idx(t);
  if (b > 0 && tier_[b - 1] == ti && slot_[b - 1] + 1 < capacity(t)) {
    return slot_[b - 1] + 1;
  }
  if (b + 1 < size() && tier_[b + 1] == ti && slot_[b + 1] > 0) {
    return slot_[b + 1] - 1;
  }
  return kFree;
}

Status BlockMap::Reserve(Tier t, uint32_t s, uint32_t n) {
  if (t == Tier::kBase) return Status::Ok();
  auto& own = owner_[Idx(t)];
  if (uint64_t{s} + n > own.size())
    return Status::Invalid("reserve out of range");
  for (uint32_t i = s; i < s + n; i++) {
    if (own[i] != kFree) return Status::State("slot not free");
  }
  for (uint32_t i = s; i < s + n; i++) own[i] = kReserved;
  used_[Idx(t)] += n;
  return Status::Ok();
}

void BlockMap::Release(Tier t, uint32_t s, uint32_t n) {
  if (t == Tier::kBase) return;
  auto& own = owner_[Idx(t)];
  for (uint32_t i = s; i < s + n && i < own.size(); i++) {
    if (own[i] == kReserved) {
      own[i] = kFree;
      used_[Idx(t)]--;
    }
  }
}

}  // namespace sculpt
