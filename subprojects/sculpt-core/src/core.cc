// Core implementation.  See core.h and include/sculpt/sculpt.h.
#include "core.h"

#include <algorithm>
#include <cmath>

#include "planner.h"
#include "serial.h"

namespace sculpt {

namespace {
constexpr char kBlobMagic[4] = {'S', 'C', 'M', 'B'};
constexpr uint8_t kBlobVersion = 1;
constexpr uint64_t kMinBlock = 64ull << 10;
constexpr uint64_t kMaxBlock = 1ull << 30;

bool IsPow2(uint64_t v) { return v && !(v & (v - 1)); }
}  // namespace

std::string FormatSize(uint64_t v) {
  const char* suf[] = {"", "K", "M", "G", "T", "P", "E"};
  int i = 0;
  while (v >= 1024 && v % 1024 == 0 && i < 6) {
    v /= 1024;
    i++;
  }
  return std::to_string(v) + suf[i];
}

Status Core::CheckConfig(const CoreConfig& c) {
  const uint64_t bs = c.block_size;
  if (!IsPow2(bs)) {
    if (bs == 0) {
      return Status::Invalid("block-size is 0; try 2M (any power of two from " +
                             FormatSize(kMinBlock) + " to " +
                             FormatSize(kMaxBlock) + ")");
    }
    uint64_t lo = uint64_t{1} << (63 - __builtin_clzll(bs));
    uint64_t hi = lo << 1;
    lo = std::clamp(lo, kMinBlock, kMaxBlock);
    hi = std::clamp(hi, kMinBlock, kMaxBlock);
    std::string hint = lo == hi
                           ? "try " + FormatSize(lo)
                           : "try " + FormatSize(lo) + " or " + FormatSize(hi);
    return Status::Invalid("block-size " + FormatSize(bs) +
                           " is not a power of two; " + hint);
  }
  if (bs < kMinBlock) {
    return Status::Invalid("block-size " + FormatSize(bs) +
                           " is below the minimum " + FormatSize(kMinBlock) +
                           "; try " + FormatSize(kMinBlock));
  }
  if (bs > kMaxBlock) {
    return Status::Invalid("block-size " + FormatSize(bs) +
                           " is above the maximum " + FormatSize(kMaxBlock) +
                           "; try " + FormatSize(kMaxBlock));
  }
  if (c.guest_bytes == 0) {
    return Status::Invalid(
        "guest RAM size is 0; give the size of the RAM "
        "block, a multiple of block-size " +
        FormatSize(bs));
  }
  if (c.guest_bytes % bs != 0) {
    // Suggest the largest power-of-two block size that divides the RAM.
    uint64_t fit = c.guest_bytes & (~c.guest_bytes + 1);
    std::string hint =
        fit >= kMinBlock
            ? "try block-size " + FormatSize(std::min(fit, kMaxBlock))
            : "make the RAM size a multiple of " + FormatSize(bs);
    return Status::Invalid("guest RAM size " + FormatSize(c.guest_bytes) +
                           " is not a multiple of block-size " +
                           FormatSize(bs) + "; " + hint);
  }
  if (c.guest_bytes / bs > BlockMap::kMaxSlots) {
    return Status::Invalid("guest RAM of " + FormatSize(c.guest_bytes) +
                           " has too many blocks of " + FormatSize(bs) +
                           "; use a larger block-size");
  }
  return Status::Ok();
}

Core::Core(const CoreConfig& c, uint32_t n)
    : cfg_(c),
      n_(n),
      bs_(c.block_size),
      hist_(n),
      map_(n),
      probs_(n, 0.0f),
      classes_(n, 0) {
  class_count_[0] = n;
}

StatusOr<std::unique_ptr<Core>> Core::Create(const CoreConfig& c) {
  Status s = CheckConfig(c);
  if (!s.ok()) return s;
  uint32_t n = static_cast<uint32_t>(c.guest_bytes / c.block_size);
  std::unique_ptr<Core> core(new Core(c, n));
  auto p = NewPredictor("guarded", {n, c.seed});
  if (!p.ok()) return p.status();
  core->pred_ = std::move(p.value());
  return core;
}

Status Core::BeginInterval(uint64_t now_ns) {
  if (open_) return Status::State("an interval is already open; end it first");
  if (now_ns < last_ns_) {
    return Status::Invalid("time went backwards: " + std::to_string(now_ns) +
                           " ns is before the last interval's end " +
                           std::to_string(last_ns_) + " ns");
  }
  hist_.BeginInterval();
  open_ = true;
  begin_ns_ = now_ns;
  return Status::Ok();
}

Status Core::RecordAccess(std::span<const uint32_t> counts,
                          const uint8_t* sampled) {
  if (!open_)
    return Status::State("no open interval; call begin_interval first");
  hist_.AddAccess(counts, sampled ? std::span<const uint8_t>(sampled, n_)
                                  : std::span<const uint8_t>());
  return Status::Ok();
}

Status Core::RecordDirty(std::span<const uint32_t> dirty) {
  if (!open_)
    return Status::State("no open interval; call begin_interval first");
  hist_.AddDirty(dirty);
  return Status::Ok();
}

Status Core::RecordSignals(const VmSignals& s) {
  if (!open_)
    return Status::State("no open interval; call begin_interval first");
  hist_.SetSignals(s);
  return Status::Ok();
}

Status Core::EndInterval(uint64_t now_ns) {
  if (!open_)
    return Status::State("no open interval; call begin_interval first");
  if (now_ns < begin_ns_) {
    return Status::Invalid("interval ends at " + std::to_string(now_ns) +
                           " ns, before it began at " +
                           std::to_string(begin_ns_) + " ns");
  }
  open_ = false;
  last_ns_ = now_ns;
  hist_.EndInterval();
  // Score the last prediction against what happened.
  uint64_t tp = 0, fp = 0, fn = 0;
  const uint8_t* watched = hist_.watched_data();
  for (uint32_t b = 0; b < n_; b++) {
    if (!watched[b]) continue;
    bool pred = classes_[b] == 2;
    bool act = hist_.touched_last(b);
    tp += pred && act;
    fp += pred && !act;
    fn += !pred && act;
  }
  stats_.intervals++;
  stats_.true_pos += tp;
  stats_.false_pos += fp;
  stats_.false_neg += fn;
  stats_.last_precision = tp + fp ? double(tp) / (tp + fp) : 0;
  stats_.last_recall = tp + fn ? double(tp) / (tp + fn) : 0;
  pred_->Update(hist_);
  Classify();
  return Status::Ok();
}

void Core::Classify() {
  auto s = pred_->scores();
  class_count_[0] = class_count_[1] = class_count_[2] = 0;
  for (uint32_t b = 0; b < n_; b++) {
    float p = s[b];
    probs_[b] = p;
    uint8_t c = p >= kHotThreshold ? 2 : p >= kWarmThreshold ? 1 : 0;
    classes_[b] = c;
    class_count_[c]++;
  }
}

std::vector<HotRange> Core::HottestRanges(size_t max) const {
  std::vector<HotRange> r;
  for (uint32_t b = 0; b < n_;) {
    if (classes_[b] != 2) {
      b++;
      continue;
    }
    uint32_t e = b;
    double sum = 0;
    while (e < n_ && classes_[e] == 2) sum += probs_[e++];
    r.push_back({b, e - b, static_cast<float>(sum / (e - b))});
    b = e;
  }
  std::stable_sort(r.begin(), r.end(),
                   [](const HotRange& a, const HotRange& b) {
                     return a.prob > b.prob || (a.prob == b.prob && a.n > b.n);
                   });
  if (r.size() > max) r.resize(max);
  return r;
}

Status Core::SetBlock(uint32_t b, Tier t, uint32_t slot) {
  if (b >= n_) {
    return Status::Invalid("block " + std::to_string(b) + " out of range (" +
                           std::to_string(n_) + " blocks)");
  }
  for (const auto& [id, m] : pending_) {
    if (b >= m.block_first && b < m.block_first + m.nblocks) {
      return Status::State("block " + std::to_string(b) +
                           " has a pending move; report it first");
    }
  }
  return map_.Set(b, t, slot);
}

void Core::AbandonPending() {
  for (const auto& [id, m] : pending_)
    map_.Release(m.to, m.dst_slot, m.nblocks);
  pending_.clear();
}

StatusOr<std::vector<Move>> Core::Plan(const Budget& bud, size_t max_moves) {
  if (open_) return Status::State("cannot plan while an interval is open");
  AbandonPending();
  auto scores = pred_->scores();
  const float hyst = pred_->hysteresis();
  // Move budget in blocks.
  unsigned __int128 bytes =
      static_cast<unsigned __int128>(bud.move_bytes_per_sec) * bud.interval_ns /
      1000000000u;
  uint64_t budget = static_cast<uint64_t>(
      std::min<unsigned __int128>(bytes / bs_, UINT64_MAX));
  uint64_t fast_cap = bud.fast_bytes / bs_;
  if (fast_cap > n_) fast_cap = n_;

  // 1. The fast set (BASE + HOT) against the fast budget.
  std::vector<uint8_t> member(n_), eligible;
  uint64_t nfast = 0;
  for (uint32_t b = 0; b < n_; b++) {
    member[b] = map_.tier(b) != Tier::kCold;
    nfast += member[b];
  }
  PlanSetInput in;
  in.scores = scores;
  in.member = member;
  in.capacity = fast_cap;
  in.budget = budget;
  in.count_demotions = true;
  in.hysteresis = hyst;
  PlanSetOutput fast = PlanSet(in);
  // Demotions need free cold slots and count against the move budget
  // (PlanSet lets over-capacity demotions exceed it; the core does not).
  uint64_t max_demote = std::min(map_.free_slots(Tier::kCold), budget);
  if (fast.demote.size() > max_demote) fast.demote.resize(max_demote);
  int64_t room =
      int64_t(fast_cap) - int64_t(nfast) + int64_t(fast.demote.size());
  room = std::clamp<int64_t>(room, 0, int64_t(budget - fast.demote.size()));
  if (fast.promote.size() > uint64_t(room)) fast.promote.resize(room);
  uint64_t used = fast.promote.size() + fast.demote.size();
  budget = budget > used ? budget - used : 0;

  // 2. The hot zone among the blocks that will be fast.
  uint64_t hot_cap =
      std::min(bud.hot_zone_bytes / bs_, map_.capacity(Tier::kHot));
  std::vector<uint8_t> will_fast(member);
  for (uint32_t b : fast.demote) will_fast[b] = 0;
  for (uint32_t b : fast.promote) will_fast[b] = 1;
  std::vector<uint8_t> hot_member(n_);
  for (uint32_t b = 0; b < n_; b++) {
    hot_member[b] = map_.tier(b) == Tier::kHot && will_fast[b];
  }
  PlanSetInput hin = in;
  hin.member = hot_member;
  hin.eligible = will_fast;
  hin.capacity = hot_cap;
  hin.budget = budget;
  PlanSetOutput hot = PlanSet(hin);
  uint64_t hot_free = map_.free_slots(Tier::kHot);
  if (hot.promote.size() > hot_free) hot.promote.resize(hot_free);

  // 3. Per-block moves in execution order, then runs with slots.
  struct One {
    uint32_t b;
    Tier from, to;
    MoveKind kind;
  };
  auto kind_of = [&](uint32_t b) {
    return hist_.touched_last(b) ? MoveKind::kPromote : MoveKind::kPrefetch;
  };
  std::vector<std::vector<One>> groups(3);
  for (uint32_t b : fast.demote) {
    groups[0].push_back({b, map_.tier(b), Tier::kCold, MoveKind::kDemote});
  }
  for (uint32_t b : hot.demote) {
    groups[0].push_back({b, Tier::kHot, Tier::kBase, MoveKind::kDemote});
  }
  std::vector<uint8_t> to_hot(n_);
  for (uint32_t b : hot.promote) {
    to_hot[b] = 1;
    groups[1].push_back({b, map_.tier(b), Tier::kHot, kind_of(b)});
  }
  for (uint32_t b : fast.promote) {
    if (!to_hot[b])
      groups[2].push_back({b, Tier::kCold, Tier::kBase, kind_of(b)});
  }
  std::vector<Move> out;
  std::vector<float> run_score;
  for (int g = 0; g < 3; g++) {
    auto& v = groups[g];
    std::sort(v.begin(), v.end(),
              [](const One& a, const One& b) { return a.b < b.b; });
    std::vector<std::pair<Move, float>> runs;
    for (size_t i = 0; i < v.size();) {
      size_t j = i;
      while (j + 1 < v.size() && v[j + 1].b == v[j].b + 1 &&
             v[j + 1].from == v[i].from && v[j + 1].to == v[i].to &&
             v[j + 1].kind == v[i].kind) {
        j++;
      }
      // Blocks [v[i].b, v[j].b] share from/to/kind: place them.
      uint32_t first = v[i].b, len = uint32_t(j - i + 1);
      Tier to = v[i].to;
      while (len > 0) {
        uint32_t take = len, slot;
        if (to == Tier::kBase) {
          slot = first;
        } else {
          for (;;) {
            slot = map_.FindFreeRun(to, take, map_.NeighbourHint(first, to));
            if (slot != BlockMap::kFree || take == 1) break;
            take = (take + 1) / 2;
          }
          if (slot == BlockMap::kFree) break;  // tier full
          (void)map_.Reserve(to, slot, take);
        }
        Move m;
        m.block_first = first;
        m.nblocks = take;
        m.dst_slot = slot;
        m.from = v[i].from;
        m.to = to;
        m.kind = v[i].kind;
        float best = 0;
        for (uint32_t b = first; b < first + take; b++)
          best = std::max(best, scores[b]);
        runs.push_back({m, best});
        first += take;
        len -= take;
      }
      i = j + 1;
    }
    if (g > 0) {
      std::stable_sort(
          runs.begin(), runs.end(),
          [](const auto& a, const auto& b) { return a.second > b.second; });
    }
    for (auto& r : runs) out.push_back(r.first);
  }
  // Bound the list; release what is not returned.
  if (out.size() > max_moves) {
    for (size_t i = max_moves; i < out.size(); i++) {
      map_.Release(out[i].to, out[i].dst_slot, out[i].nblocks);
    }
    out.resize(max_moves);
  }
  for (auto& m : out) {
    m.id = next_id_++;
    pending_[m.id] = m;
  }
  stats_.moves_planned += out.size();
  return out;
}

Status Core::MoveDone(uint64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    return Status::State("move " + std::to_string(id) +
                         " is not pending (unknown, abandoned by a newer "
                         "plan, or already reported)");
  }
  Move m = it->second;
  pending_.erase(it);
  for (uint32_t i = 0; i < m.nblocks; i++) {
    if (map_.tier(m.block_first + i) != m.from) {
      map_.Release(m.to, m.dst_slot, m.nblocks);
      return Status::State("block " + std::to_string(m.block_first + i) +
                           " is no longer where the move expected it");
    }
  }
  for (uint32_t i = 0; i < m.nblocks; i++) {
    uint32_t b = m.block_first + i;
    uint32_t slot = m.to == Tier::kBase ? b : m.dst_slot + i;
    Status s = map_.Set(b, m.to, slot, /*from_reservation=*/true);
    if (!s.ok()) return s;  // cannot happen: slots were reserved
  }
  stats_.moves_done++;
  stats_.bytes_moved += uint64_t{m.nblocks} * bs_;
  return Status::Ok();
}

Status Core::MoveFailed(uint64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    return Status::State("move " + std::to_string(id) + " is not pending");
  }
  map_.Release(it->second.to, it->second.dst_slot, it->second.nblocks);
  pending_.erase(it);
  stats_.moves_failed++;
  return Status::Ok();
}

Status Core::SetPolicy(std::string_view name) {
  auto p = NewPredictor(name, {n_, cfg_.seed});
  if (!p.ok()) return p.status();
  pred_ = std::move(p.value());
  pred_->SetCapacity(fast_capacity_);
  return Status::Ok();
}

Status Core::SetFastCapacity(uint64_t blocks) {
  if (blocks > n_) {
    return Status::Invalid("fast capacity of " + std::to_string(blocks) +
                           " blocks is more than the guest's " +
                           std::to_string(n_));
  }
  fast_capacity_ = blocks;
  pred_->SetCapacity(blocks);
  return Status::Ok();
}

StatusOr<std::string> Core::Save() const {
  if (open_) return Status::State("cannot save while an interval is open");
  std::string o(kBlobMagic, 4);
  PutU8(&o, kBlobVersion);
  PutU64(&o, n_);
  PutU64(&o, bs_);
  std::string name = pred_->name();
  PutU8(&o, static_cast<uint8_t>(name.size()));
  o += name;
  hist_.Save(&o);
  pred_->Save(&o);
  PutU32(&o, Crc32(o.data(), o.size()));
  return o;
}

Status Core::Load(std::string_view blob) {
  if (open_) return Status::State("cannot load while an interval is open");
  if (blob.size() < 4 + 1 + 16 + 1 + 4)
    return Status::Corrupt("model blob too short");
  if (blob.substr(0, 4) != std::string_view(kBlobMagic, 4)) {
    return Status::Corrupt("not a sculpt model blob (bad magic)");
  }
  if (static_cast<uint8_t>(blob[4]) != kBlobVersion) {
    return Status::Invalid(
        "model blob version " + std::to_string(static_cast<uint8_t>(blob[4])) +
        " unknown; this build reads version " + std::to_string(kBlobVersion));
  }
  std::string_view crc_part = blob.substr(blob.size() - 4);
  uint32_t crc = 0;
  GetU32(&crc_part, &crc);
  if (crc != Crc32(blob.data(), blob.size() - 4)) {
    return Status::Corrupt("model blob CRC mismatch");
  }
  std::string_view in = blob.substr(5, blob.size() - 9);
  uint64_t n, bs;
  uint8_t len;
  if (!GetU64(&in, &n) || !GetU64(&in, &bs) || !GetU8(&in, &len) ||
      in.size() < len) {
    return Status::Corrupt("model blob truncated");
  }
  if (n != n_ || bs != bs_) {
    return Status::Invalid("model blob is for " + std::to_string(n) +
                           " blocks of " + FormatSize(bs) + ", this core has " +
                           std::to_string(n_) + " blocks of " +
                           FormatSize(bs_));
  }
  std::string name(in.substr(0, len));
  in.remove_prefix(len);
  auto p = NewPredictor(name, {n_, cfg_.seed});
  if (!p.ok()) return Status::Corrupt(p.status().message());
  AccessHistory h(n_);
  Status s = h.Load(&in);
  if (!s.ok()) return s;
  s = (*p)->Load(&in);
  if (!s.ok()) return s;
  if (!in.empty()) return Status::Corrupt("model blob has trailing bytes");
  hist_ = std::move(h);
  pred_ = std::move(p.value());
  pred_->SetCapacity(fast_capacity_);
  probs_.assign(n_, 0.0f);
  classes_.assign(n_, 0);
  class_count_[0] = n_;
  class_count_[1] = class_count_[2] = 0;
  return Status::Ok();
}

}  // namespace sculpt
