// Predictors: the baselines' orderings and the learned model's learning.
#include "predictor.h"

#include <gtest/gtest.h>

#include <vector>

#include "rng.h"

namespace sculpt {
namespace {

void Interval(AccessHistory* h, const std::vector<uint32_t>& touched,
              uint32_t count = 1) {
  h->BeginInterval();
  for (uint32_t b : touched) h->AddTouch(b, count, 0);
  h->EndInterval();
}

TEST(Predictor, FactoryKnowsEveryNameAndRejectsOthers) {
  for (const char* n : kPolicyNames) {
    auto p = NewPredictor(n, {8, 1});
    ASSERT_TRUE(p.ok()) << n;
    EXPECT_STREQ((*p)->name(), n);
    EXPECT_EQ((*p)->scores().size(), 8u);
  }
  auto bad = NewPredictor("lru", {8, 1});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("valid: recency"), std::string::npos);
}

TEST(Predictor, RecencyRanksByLastTouchThenCount) {
  AccessHistory h(4);
  auto p = NewRecencyPredictor(4);
  Interval(&h, {0});  // block 0 at interval 1
  Interval(&h, {1});  // block 1 at interval 2
  h.BeginInterval();  // blocks 2 (1 access) and 3 (9) at interval 3
  h.AddTouch(2, 1, 0);
  h.AddTouch(3, 9, 0);
  h.EndInterval();
  p->Update(h);
  auto s = p->scores();
  EXPECT_GT(s[3], s[2]);
  EXPECT_GT(s[2], s[1]);
  EXPECT_GT(s[1], s[0]);
  EXPECT_GT(s[0], 0.0f);
}

TEST(Predictor, EwmaRanksByFrequency) {
  AccessHistory h(3);
  auto p = NewEwmaPredictor(3);
  for (int i = 0; i < 10; i++)
    Interval(&h,
             i % 2 ? std::vector<uint32_t>{0, 1} : std::vector<uint32_t>{0});
  Interval(&h, {2});
  p->Update(h);
  auto s = p->scores();
  EXPECT_GT(s[0], s[1]);
  EXPECT_GT(s[1], 0.0f);
  EXPECT_GT(s[0], s[2]);  // one recent touch is not frequency
}

TEST(Predictor, LearnedSeparatesAlwaysFromNeverAndRarely) {
  const uint32_t n = 600;
  AccessHistory h(n);
  auto p = NewLearnedPredictor(n, 3, false);
  Rng rng(5);
  // 0..99 touched every interval; 100..199 with probability 0.1.
  for (int t = 0; t < 60; t++) {
    std::vector<uint32_t> touched;
    for (uint32_t b = 0; b < 100; b++) touched.push_back(b);
    for (uint32_t b = 100; b < 200; b++) {
      if (rng.Uniform() < 0.1) touched.push_back(b);
    }
    Interval(&h, touched);
    p->Update(h);
  }
  auto s = p->scores();
  double always = 0, rarely = 0, never = 0;
  for (uint32_t b = 0; b < 100; b++) always += s[b] / 100;
  for (uint32_t b = 100; b < 200; b++) rarely += s[b] / 100;
  for (uint32_t b = 200; b < n; b++) never += s[b] / (n - 200);
  EXPECT_GT(always, 0.8);
  EXPECT_LT(rarely, 0.4);
  EXPECT_GT(rarely, never);
  EXPECT_LT(never, 0.05);
}

TEST(Predictor, LearnedIsDeterministicForASeed) {
  auto run = [](uint64_t seed) {
    AccessHistory h(64);
    auto p = NewLearnedPredictor(64, seed, true);
    Rng rng(9);
    for (int t = 0; t < 20; t++) {
      std::vector<uint32_t> touched;
      for (uint32_t b = 0; b < 64; b++) {
        if (rng.Uniform() < 0.3) touched.push_back(b);
      }
      Interval(&h, touched);
      p->Update(h);
    }
    auto s = p->scores();
    return std::vector<float>(s.begin(), s.end());
  };
  EXPECT_EQ(run(1), run(1));
}

TEST(Predictor, LearnedSaveLoadKeepsWeightsAndRejectsGarbage) {
  AccessHistory h(32);
  auto p = NewLearnedPredictor(32, 1, true);
  for (int t = 0; t < 10; t++) {
    Interval(&h, {uint32_t(t % 4), 10, 11});
    p->Update(h);
  }
  std::string blob;
  p->Save(&blob);
  auto q = NewLearnedPredictor(32, 1, true);
  std::string_view in = blob;
  ASSERT_TRUE(q->Load(&in).ok());
  EXPECT_TRUE(in.empty());
  // Exact round trip: the loaded model saves to the same bytes.
  std::string again;
  q->Save(&again);
  EXPECT_EQ(again, blob);
  std::string bad = blob;
  bad[0] = 9;  // version
  in = bad;
  EXPECT_TRUE(q->Load(&in).IsInvalid());
  auto plain = NewLearnedPredictor(32, 1, false);
  in = blob;
  EXPECT_FALSE(plain->Load(&in).ok());  // kind mismatch
  std::string nan = blob;
  for (int k = 0; k < 4; k++) nan[2 + k] = '\xff';  // w[0] = NaN
  in = nan;
  EXPECT_TRUE(q->Load(&in).IsCorrupt());
}

}  // namespace
}  // namespace sculpt
