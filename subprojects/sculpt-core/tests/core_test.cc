// Core: config checks, the interval protocol, planning and move reports,
// statistics and the model blob.
#include "core.h"

#include <gtest/gtest.h>

#include <vector>

namespace sculpt {
namespace {

constexpr uint64_t K = 1024, M = K * K, G = M * K;

TEST(CoreConfig, ExplainsWhatIsWrongAndWhatWouldBeRight) {
  struct Case {
    uint64_t ram, bs;
    const char* expect;  // substring; nullptr = valid
  };
  const Case cases[] = {
      {1 * G, 96 * K, "block-size 96K is not a power of two; try 64K or 128K"},
      {1 * G, 32 * K, "block-size 32K is below the minimum 64K; try 64K"},
      {4 * G, 2 * G, "block-size 2G is above the maximum 1G; try 1G"},
      {1 * G, 0, "block-size is 0"},
      {0, 2 * M, "guest RAM size is 0"},
      {3 * M, 2 * M,
       "guest RAM size 3M is not a multiple of block-size 2M; try block-size "
       "1M"},
      {1 * G, 3 * G, "not a power of two; try 1G"},
      {1 * G, 2 * M, nullptr},
      {64 * K, 64 * K, nullptr},
  };
  for (const auto& c : cases) {
    Status s = Core::CheckConfig({c.ram, c.bs, 0});
    if (!c.expect) {
      EXPECT_TRUE(s.ok()) << s.message();
    } else {
      EXPECT_TRUE(s.IsInvalid());
      EXPECT_NE(s.message().find(c.expect), std::string::npos) << s.message();
    }
  }
}

std::unique_ptr<Core> NewCore(uint32_t nblocks,
                              const char* policy = "recency") {
  auto c = Core::Create({uint64_t{nblocks} * 64 * K, 64 * K, 1});
  EXPECT_TRUE(c.ok());
  EXPECT_TRUE((*c)->SetPolicy(policy).ok());
  return std::move(c.value());
}

void Interval(Core* c, uint64_t* now, const std::vector<uint32_t>& touched) {
  std::vector<uint32_t> counts(c->nblocks(), 0);
  for (uint32_t b : touched) counts[b] = 1;
  ASSERT_TRUE(c->BeginInterval(*now).ok());
  ASSERT_TRUE(c->RecordAccess(counts, nullptr).ok());
  *now += 1000;
  ASSERT_TRUE(c->EndInterval(*now).ok());
}

TEST(Core, IntervalProtocol) {
  auto c = NewCore(8);
  std::vector<uint32_t> counts(8, 0);
  EXPECT_TRUE(c->RecordAccess(counts, nullptr).IsState());
  EXPECT_TRUE(c->EndInterval(5).IsState());
  ASSERT_TRUE(c->BeginInterval(100).ok());
  EXPECT_TRUE(c->BeginInterval(100).IsState());
  EXPECT_TRUE(c->Plan({}, 8).status().IsState());
  EXPECT_TRUE(c->EndInterval(99).IsInvalid());
  ASSERT_TRUE(c->EndInterval(200).ok());
  EXPECT_TRUE(c->BeginInterval(150).IsInvalid());  // time went backwards
  EXPECT_EQ(c->stats().intervals, 1u);
}

TEST(Core, PredictionsClassesAndHottestRanges) {
  auto c = NewCore(16);
  uint64_t now = 0;
  Interval(c.get(), &now, {1});
  Interval(c.get(), &now, {4, 5, 6, 10});
  // recency: touched in the last interval -> hot; one interval older -> warm
  EXPECT_EQ(c->class_count(2), 4u);
  EXPECT_EQ(c->class_count(1), 1u);
  EXPECT_EQ(c->class_count(0), 11u);
  EXPECT_EQ(c->classes()[1], 1);
  auto r = c->HottestRanges(8);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].first + r[1].first, 14u);  // [4,7) and [10,11)
  EXPECT_EQ(r[0].n + r[1].n, 4u);
  EXPECT_EQ(c->HottestRanges(1).size(), 1u);
}

TEST(Core, PrecisionAndRecallCountWhatHappenedNext) {
  auto c = NewCore(8);
  uint64_t now = 0;
  Interval(c.get(), &now, {0, 1, 2});  // predicts {0,1,2} hot
  Interval(c.get(), &now, {1, 2, 3});  // TP 2 (1,2), FP 1 (0), FN 1 (3)
  const auto& s = c->stats();
  EXPECT_EQ(s.true_pos, 2u);
  EXPECT_EQ(s.false_pos, 1u);
  EXPECT_EQ(s.false_neg,
            4u);  // 3 in the first interval (nothing predicted) + 1
  EXPECT_DOUBLE_EQ(s.last_precision, 2.0 / 3);
  EXPECT_DOUBLE_EQ(s.last_recall, 2.0 / 3);
}

TEST(Core, PlanFillsTheHotZoneContiguouslyAndReportsApplyIt) {
  auto c = NewCore(32);
  ASSERT_TRUE(c->map().SetCapacity(Tier::kHot, 8).ok());
  uint64_t now = 0;
  Interval(c.get(), &now, {4, 5, 6, 7, 20});
  Budget b;
  b.hot_zone_bytes = 8 * 64 * K;
  b.move_bytes_per_sec = 1 * G;
  b.interval_ns = 1000000000;
  auto moves = c->Plan(b, 16);
  ASSERT_TRUE(moves.ok());
  ASSERT_EQ(moves->size(), 2u);  // [4,8) as one run, then 20
  uint32_t total = 0;
  for (const auto& m : *moves) {
    EXPECT_EQ(m.from, Tier::kBase);
    EXPECT_EQ(m.to, Tier::kHot);
    EXPECT_EQ(m.kind, MoveKind::kPromote);
    total += m.nblocks;
  }
  EXPECT_EQ(total, 5u);
  const Move run = (*moves)[0].nblocks == 4 ? (*moves)[0] : (*moves)[1];
  const Move one = (*moves)[0].nblocks == 4 ? (*moves)[1] : (*moves)[0];
  EXPECT_EQ(run.block_first, 4u);
  EXPECT_EQ(c->map().free_slots(Tier::kHot), 3u);  // reserved
  ASSERT_TRUE(c->MoveDone(run.id).ok());
  ASSERT_TRUE(c->MoveFailed(one.id).ok());
  EXPECT_TRUE(c->MoveDone(run.id).IsState());  // already reported
  EXPECT_TRUE(c->MoveFailed(999).IsState());
  for (uint32_t k = 0; k < 4; k++) {
    EXPECT_EQ(c->map().tier(4 + k), Tier::kHot);
    EXPECT_EQ(c->map().slot(4 + k), run.dst_slot + k);
  }
  // The failed move left block 20 exactly where it was.
  EXPECT_EQ(c->map().tier(20), Tier::kBase);
  EXPECT_EQ(c->map().slot(20), 20u);
  EXPECT_EQ(c->map().free_slots(Tier::kHot), 4u);
  // base [0,4) + hot run + base [8,32) = 3 mappings
  EXPECT_EQ(c->map().mapping_count(), 3u);
  EXPECT_EQ(c->stats().moves_done, 1u);
  EXPECT_EQ(c->stats().moves_failed, 1u);
  EXPECT_EQ(c->stats().bytes_moved, 4 * 64 * K);
}

TEST(Core, PlanDemotesColdestUnderTheFastBudgetWithinTheMoveBudget) {
  auto c = NewCore(16);
  ASSERT_TRUE(c->map().SetCapacity(Tier::kCold, 16).ok());
  uint64_t now = 0;
  Interval(c.get(), &now, {0, 1, 2, 3});
  Budget b;
  b.fast_bytes = 10 * 64 * K;         // 6 of 16 blocks must leave
  b.move_bytes_per_sec = 4 * 64 * K;  // but only 4 may move
  b.interval_ns = 1000000000;
  auto moves = c->Plan(b, 16);
  ASSERT_TRUE(moves.ok());
  uint32_t n = 0;
  for (const auto& m : *moves) {
    EXPECT_EQ(m.to, Tier::kCold);
    EXPECT_EQ(m.kind, MoveKind::kDemote);
    EXPECT_GE(m.block_first, 4u);  // never a touched block
    n += m.nblocks;
  }
  EXPECT_EQ(n, 4u);
  // A new plan abandons the unreported moves and frees their slots.
  auto again = c->Plan(b, 0);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
  EXPECT_EQ(c->map().free_slots(Tier::kCold), 16u);
  EXPECT_TRUE(c->MoveDone((*moves)[0].id).IsState());
}

TEST(Core, PrefetchKindAndSetBlockRespectsPendingMoves) {
  auto c = NewCore(16, "learned+prefetch");
  ASSERT_TRUE(c->map().SetCapacity(Tier::kHot, 16).ok());
  uint64_t now = 0;
  for (uint32_t t = 0; t < 6; t++) Interval(c.get(), &now, {2 * t, 2 * t + 1});
  Budget b;
  b.hot_zone_bytes = 16 * 64 * K;
  b.move_bytes_per_sec = 1 * G;
  b.interval_ns = 1000000000;
  auto moves = c->Plan(b, 64);
  ASSERT_TRUE(moves.ok());
  // The stream touched {0,1}, {2,3}, ... {10,11}: the blocks ahead of it
  // (12, 13) come in as prefetches, the last touched ones as promotions.
  bool ahead_prefetched = false;
  for (const auto& m : *moves) {
    bool covers12 = m.block_first <= 12 && 12 < m.block_first + m.nblocks;
    if (covers12) ahead_prefetched = m.kind == MoveKind::kPrefetch;
    bool covers10 = m.block_first <= 10 && 10 < m.block_first + m.nblocks;
    if (covers10) {
      EXPECT_EQ(m.kind, MoveKind::kPromote);
    }
  }
  EXPECT_TRUE(ahead_prefetched);
  const Move& m0 = (*moves)[0];
  EXPECT_TRUE(
      c->SetBlock(m0.block_first, Tier::kBase, m0.block_first).IsState());
}

TEST(Core, SaveLoadRoundTripAndAllOrNothingOnGarbage) {
  auto c = NewCore(64, "learned+prefetch");
  uint64_t now = 0;
  for (uint32_t t = 0; t < 5; t++) Interval(c.get(), &now, {t, 10, 11, 12});
  auto blob = c->Save();
  ASSERT_TRUE(blob.ok());
  auto d = NewCore(64, "ewma");
  ASSERT_TRUE(d->Load(*blob).ok());
  EXPECT_STREQ(d->policy(), "learned+prefetch");
  // The round trip is exact: the loaded state saves to the same bytes.
  auto blob2 = d->Save();
  ASSERT_TRUE(blob2.ok());
  EXPECT_EQ(*blob, *blob2);
  // And the loaded core keeps working.
  Interval(d.get(), &now, {10, 11});
  EXPECT_GT(d->probs()[10], d->probs()[40]);

  auto e = NewCore(64, "ewma");
  std::string bad = *blob;
  for (size_t i = 0; i < bad.size(); i += 97) {
    std::string x = bad;
    x[i] ^= 0x20;
    EXPECT_FALSE(e->Load(x).ok()) << i;
    EXPECT_STREQ(e->policy(), "ewma");
  }
  EXPECT_FALSE(e->Load(std::string_view(*blob).substr(0, 10)).ok());
  EXPECT_FALSE(e->Load("").ok());
  auto f = NewCore(32, "ewma");
  Status s = f->Load(*blob);
  EXPECT_TRUE(s.IsInvalid());
  EXPECT_NE(s.message().find("64 blocks"), std::string::npos);
}

}  // namespace
}  // namespace sculpt
