// Replay: the hit definition, the oracles, and their ordering.
#include "replay.h"

#include <gtest/gtest.h>

#include "tracegen.h"

namespace sculpt {
namespace {

Trace Handmade(uint32_t n, std::vector<std::vector<uint32_t>> touches) {
  Trace t;
  t.header = {64 << 10, n, 1000};
  uint64_t ns = 0;
  for (auto& b : touches) {
    TraceInterval iv;
    iv.now_ns = (ns += 1000);
    iv.blocks = b;
    iv.counts.assign(b.size(), 1);
    iv.dirty.assign(b.size(), 0);
    t.intervals.push_back(iv);
  }
  return t;
}

TEST(Replay, FirstTouchesMissUnlessSomethingWasFastBefore) {
  // interval: 0      1      2      3
  // touched:  {0,1}  {0,1}  {0,1}  {2}
  Trace t = Handmade(10, {{0, 1}, {0, 1}, {0, 1}, {2}});
  TierModel m;
  m.capacity_fraction = 0.2;  // 2 blocks
  auto rec = Replay(t, "recency", m, 1);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->touches, 7u);
  EXPECT_EQ(rec->hits, 4u);  // intervals 1 and 2; 0 and 3 are first touches
  EXPECT_EQ(rec->promotions, 3u);  // 0 and 1, then 2 after the last interval
  EXPECT_EQ(rec->prefetches, 0u);
  auto bel = Replay(t, "belady", m, 1);
  ASSERT_TRUE(bel.ok());
  EXPECT_EQ(bel->hits, 7u);  // clairvoyant: everything, first touches too
  EXPECT_EQ(bel->useful_prefetches, 3u);  // 0 and 1 at start, 2 later
  EXPECT_DOUBLE_EQ(bel->prefetch_precision(), 1.0);
  EXPECT_DOUBLE_EQ(bel->prefetch_coverage(), 1.0);
}

TEST(Replay, BeladyUnderBudgetIsBoundedByTheBudget) {
  // Every interval a brand-new set of 4 blocks.
  std::vector<std::vector<uint32_t>> touches;
  for (uint32_t i = 0; i < 10; i++)
    touches.push_back({4 * i, 4 * i + 1, 4 * i + 2, 4 * i + 3});
  Trace t = Handmade(40, touches);
  TierModel m;
  m.capacity_fraction = 0.1;  // 4 blocks
  m.move_budget = 2;
  auto bb = Replay(t, "belady-budget", m, 1);
  auto b = Replay(t, "belady", m, 1);
  ASSERT_TRUE(bb.ok() && b.ok());
  EXPECT_EQ(b->hits, 40u);
  EXPECT_EQ(bb->hits, 20u);  // 2 of each 4
  EXPECT_LE(bb->promotions, 2u * 10);
  auto rec = Replay(t, "recency", m, 1);
  EXPECT_EQ(rec->hits, 0u);
}

TEST(Replay, NoPolicyBeatsBeladyOnAnyGeneratedTrace) {
  for (const auto& g : TraceGenerators()) {
    auto t = GenerateTrace(g.name, 0.125);
    ASSERT_TRUE(t.ok());
    for (double cap : {0.02, 0.1, 0.5}) {
      TierModel m;
      m.capacity_fraction = cap;
      m.move_budget = t->header.nblocks / 10;
      auto bel = Replay(*t, "belady", m, 1);
      auto bb = Replay(*t, "belady-budget", m, 1);
      ASSERT_TRUE(bel.ok() && bb.ok());
      EXPECT_LE(bb->hits, bel->hits) << g.name;
      for (const char* p : kReplayPolicies) {
        auto r = Replay(*t, p, m, 1);
        ASSERT_TRUE(r.ok()) << p;
        EXPECT_LE(r->hits, bel->hits) << g.name << " " << p << " " << cap;
        EXPECT_EQ(r->touches, bel->touches);
      }
    }
  }
}

TEST(Replay, StreamsArePrefetched) {
  auto t = GenerateTrace("seq-stream", 0.25);
  ASSERT_TRUE(t.ok());
  TierModel m;
  m.capacity_fraction = 0.05;
  m.move_budget = t->header.nblocks / 10;
  auto lp = Replay(*t, "learned+prefetch", m, 1);
  auto rec = Replay(*t, "recency", m, 1);
  ASSERT_TRUE(lp.ok() && rec.ok());
  EXPECT_GT(lp->useful_prefetches, 0u);
  EXPECT_GT(lp->prefetch_coverage(), rec->prefetch_coverage());
  EXPECT_GT(lp->hits, rec->hits);
}

TEST(Replay, RejectsBadArguments) {
  Trace t = Handmade(4, {{0}});
  TierModel m;
  m.capacity_fraction = 2;
  EXPECT_FALSE(Replay(t, "recency", m, 1).ok());
  m.capacity_fraction = 0.5;
  EXPECT_FALSE(Replay(t, "oracle", m, 1).ok());
}

// The informed bound: what the generator knew before each interval's
// draws.  The prior leaves the trace unchanged, a block the generator
// touches for sure is touched, the bound never beats Belady, and where the
// generator's state is worth knowing (a hot set, streams) it beats the
// baselines.
TEST(Replay, InformedBound) {
  for (const auto& g : TraceGenerators()) {
    TracePrior prior;
    auto t = GenerateTrace(g.name, 0.125, &prior);
    auto plain = GenerateTrace(g.name, 0.125);
    ASSERT_TRUE(t.ok() && plain.ok());
    ASSERT_EQ(prior.p.size(), t->intervals.size()) << g.name;
    for (size_t i = 0; i < t->intervals.size(); i++) {
      ASSERT_EQ(t->intervals[i].blocks, plain->intervals[i].blocks) << g.name;
      ASSERT_EQ(prior.p[i].size(), t->header.nblocks);
      std::vector<uint8_t> touched(t->header.nblocks, 0);
      for (uint32_t b : t->intervals[i].blocks) touched[b] = 1;
      for (uint32_t b = 0; b < t->header.nblocks; b++) {
        ASSERT_TRUE(prior.p[i][b] >= 0 && prior.p[i][b] <= 1);
        if (prior.p[i][b] >= 1) {
          ASSERT_TRUE(touched[b]) << g.name;
        }
        if (prior.p[i][b] == 0) {
          ASSERT_FALSE(touched[b]) << g.name;
        }
      }
    }
    for (double cap : {0.02, 0.1, 0.5}) {
      TierModel m;
      m.capacity_fraction = cap;
      auto inf = ReplayInformed(*t, prior, m);
      auto bel = Replay(*t, "belady", m, 1);
      ASSERT_TRUE(inf.ok() && bel.ok());
      EXPECT_LE(inf->hits, bel->hits) << g.name << " " << cap;
      EXPECT_EQ(inf->touches, bel->touches);
    }
  }
  for (const char* name : {"phase-shift", "seq-stream"}) {
    TracePrior prior;
    auto t = GenerateTrace(name, 0.25, &prior);
    ASSERT_TRUE(t.ok());
    TierModel m;
    m.capacity_fraction = 0.1;
    auto inf = ReplayInformed(*t, prior, m);
    auto rec = Replay(*t, "recency", m, 1);
    auto ew = Replay(*t, "ewma", m, 1);
    ASSERT_TRUE(inf.ok() && rec.ok() && ew.ok());
    EXPECT_GT(inf->hits, std::max(rec->hits, ew->hits)) << name;
  }
  TracePrior short_prior;
  auto t = GenerateTrace("zipf-small", 0.125);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(ReplayInformed(*t, short_prior, TierModel()).ok());
}

// The guarded policy never falls far behind the best baseline: it serves
// whichever of the model and the baselines did best recently, judged at
// the depth of the fast tier (replay tells it the capacity).
TEST(Replay, GuardedKeepsUpWithTheBestBaseline) {
  for (const char* trace : {"phase-shift", "recurring-4", "zipf-small"}) {
    auto t = GenerateTrace(trace, 0.25);
    ASSERT_TRUE(t.ok());
    for (double cap : {0.02, 0.05, 0.1, 0.25}) {
      TierModel m;
      m.capacity_fraction = cap;
      m.move_budget = t->header.nblocks / 10;
      auto g = Replay(*t, "guarded", m, 1);
      auto rec = Replay(*t, "recency", m, 1);
      auto ew = Replay(*t, "ewma", m, 1);
      ASSERT_TRUE(g.ok() && rec.ok() && ew.ok());
      double best = std::max(rec->hit_ratio(), ew->hit_ratio());
      EXPECT_GE(g->hit_ratio(), best - 0.01) << trace << " " << cap;
    }
  }
}

}  // namespace
}  // namespace sculpt

