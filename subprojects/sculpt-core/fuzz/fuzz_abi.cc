// libFuzzer target: the C ABI driven by a byte-coded program.
//
// The first bytes choose the geometry (1..256 blocks of 64 KiB) and seed;
// every following byte picks an operation whose arguments come from the
// next bytes.  Besides "no crash, no sanitizer report", it checks
// invariants after every step: tier bytes add up to the RAM size, the
// mapping count stays within [1, blocks], and a failed move leaves the
// block map exactly as it was.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "sculpt/sculpt.h"

namespace {

class Input {
 public:
  Input(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  bool empty() const { return i_ >= n_; }
  uint8_t U8() { return i_ < n_ ? d_[i_++] : 0; }
  uint32_t U32() {
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) v = (v << 8) | U8();
    return v;
  }
  uint64_t U64() { return (uint64_t{U32()} << 32) | U32(); }
  const uint8_t* Take(size_t* len) {
    size_t want = U8() * 8u;
    if (want > n_ - i_) want = n_ - i_;
    const uint8_t* p = d_ + i_;
    i_ += want;
    *len = want;
    return p;
  }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t i_ = 0;
};

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void Free(char** err) {
  std::free(*err);
  *err = nullptr;
}

struct Snapshot {
  std::vector<sculpt_tier> tier;
  std::vector<uint64_t> slot;
};

Snapshot Snap(sculpt_core_t* c, uint64_t n) {
  Snapshot s;
  s.tier.resize(n);
  s.slot.resize(n);
  for (uint64_t b = 0; b < n; b++) {
    Check(sculpt_core_block_get(c, b, &s.tier[b], &s.slot[b], nullptr) == 0);
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const uint64_t n = 1 + in.U8();
  sculpt_core_config_t cfg = {n * 65536, 65536, in.U8()};
  char* err = nullptr;
  // Also exercise config_check with arbitrary numbers.
  sculpt_core_config_t junk = {in.U64(), in.U64(), 0};
  if (sculpt_core_config_check(&junk, &err) != 0) {
    Check(err != nullptr);
    Free(&err);
  }
  sculpt_core_t* c = sculpt_core_new(&cfg, &err);
  Check(c != nullptr);
  std::vector<uint32_t> counts(n), dirty(n);
  std::vector<uint8_t> sampled(n), classes(n);
  std::vector<float> probs(n);
  std::vector<sculpt_move_t> moves(64);
  int64_t nmoves = 0;
  uint64_t now = 0;
  static const char* kPolicies[] = {"recency", "ewma", "learned",
                                    "learned+prefetch", "guarded", "bogus"};
  for (int steps = 0; !in.empty() && steps < 2000; steps++) {
    switch (in.U8() % 16) {
      case 0:
        now += in.U8();
        if (sculpt_core_begin_interval(c, now, &err)) Free(&err);
        break;
      case 1:
      case 2: {
        uint8_t dens = in.U8();
        for (uint64_t b = 0; b < n; b++) {
          counts[b] = (in.U8() < dens) ? in.U8() : 0;
          sampled[b] = in.U8() > 16;
        }
        const uint8_t* s = (dens & 1) ? sampled.data() : nullptr;
        if (sculpt_core_record_access(c, counts.data(), s, n, &err)) Free(&err);
        break;
      }
      case 3:
        for (uint64_t b = 0; b < n; b++) dirty[b] = in.U8() < 32 ? 1 : 0;
        if (sculpt_core_record_dirty(c, dirty.data(), n - (in.U8() == 0),
                                     &err)) {
          Free(&err);
        }
        break;
      case 4: {
        sculpt_vm_signals_t sig = {in.U32() % 1100000, 0,        in.U64(),
                                   in.U64(),           in.U64(), in.U64()};
        if (sculpt_core_record_signals(c, &sig, &err)) Free(&err);
        break;
      }
      case 5:
        now += in.U8();
        if (sculpt_core_end_interval(c, now, &err)) Free(&err);
        break;
      case 6: {
        sculpt_budget_t b = {in.U8() * 65536ull, in.U8() * 65536ull, in.U32(),
                             in.U32()};
        if (in.U8() == 255) b.fast_bytes = UINT64_MAX;
        nmoves = sculpt_core_plan(c, &b, moves.data(), in.U8() % 64, &err);
        if (nmoves < 0) {
          Free(&err);
          nmoves = 0;
        }
        for (int64_t i = 0; i < nmoves; i++) {
          Check(moves[i].nblocks >= 1);
          Check(moves[i].block_first + moves[i].nblocks <= n);
          Check(moves[i].from != moves[i].to);
        }
        break;
      }
      case 7:
      case 8: {
        if (nmoves == 0) break;
        const sculpt_move_t& m = moves[in.U8() % nmoves];
        if (in.U8() & 1) {
          if (sculpt_core_move_done(c, m.id, &err) == 0) {
            sculpt_tier t;
            uint64_t s;
            Check(sculpt_core_block_get(c, m.block_first, &t, &s, nullptr) ==
                  0);
            Check(t == m.to);
          } else {
            Free(&err);
          }
        } else {
          Snapshot before = Snap(c, n);
          if (sculpt_core_move_failed(c, m.id, &err)) Free(&err);
          Snapshot after = Snap(c, n);
          Check(before.tier == after.tier && before.slot == after.slot);
        }
        break;
      }
      case 9:
        if (sculpt_core_tier_set_capacity(c, sculpt_tier(in.U8() % 4), in.U8(),
                                          &err)) {
          Free(&err);
        }
        break;
      case 10:
        if (sculpt_core_block_set(c, in.U8() % (n + 1),
                                  sculpt_tier(in.U8() % 4), in.U8(), &err)) {
          Free(&err);
        }
        break;
      case 11:
        if (in.U8() & 1) {
          if (sculpt_core_set_policy(c, kPolicies[in.U8() % 6], &err))
            Free(&err);
        } else if (sculpt_core_set_fast_capacity(c, in.U8() % (n + 2),
                                                 &err)) {
          Free(&err);
        }
        break;
      case 12: {
        uint8_t* blob = nullptr;
        size_t len = 0;
        if (sculpt_core_save(c, &blob, &len, &err) == 0) {
          // Damage it a little (or not) and load it back.
          if (len && (in.U8() & 1))
            blob[in.U32() % len] ^= uint8_t(1 + in.U8() % 255);
          if (sculpt_core_load(c, blob, (in.U8() & 3) ? len : len / 2, &err))
            Free(&err);
          std::free(blob);
        } else {
          Free(&err);
        }
        break;
      }
      case 13: {
        size_t len;
        const uint8_t* p = in.Take(&len);
        if (sculpt_core_load(c, p, len, &err)) Free(&err);
        break;
      }
      case 14: {
        if (sculpt_core_predictions(c, classes.data(), probs.data(), n, &err))
          Free(&err);
        sculpt_range_t r[8];
        uint64_t k = sculpt_core_hottest_ranges(c, r, in.U8() % 9);
        for (uint64_t i = 0; i < k; i++)
          Check(r[i].block_first + r[i].nblocks <= n);
        uint64_t tot = 0;
        for (int cl = 0; cl < SCULPT_CLASS__MAX; cl++) {
          tot += sculpt_core_class_count(c, sculpt_class(cl));
        }
        Check(tot == n);
        break;
      }
      case 15: {
        sculpt_core_stats_t st;
        sculpt_core_get_stats(c, &st);
        Check(st.precision >= 0 && st.precision <= 1);
        break;
      }
    }
    uint64_t sum = 0;
    for (int t = 0; t < SCULPT_TIER__MAX; t++) {
      sum += sculpt_core_tier_bytes(c, sculpt_tier(t));
    }
    Check(sum == n * 65536);
    uint64_t maps = sculpt_core_mapping_count(c);
    Check(maps >= 1 && maps <= n);
  }
  sculpt_core_free(c);
  return 0;
}
