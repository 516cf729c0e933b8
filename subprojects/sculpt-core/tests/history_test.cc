// AccessHistory: bit histories, EWMAs, ages, gaps, sampling, dirty ratio.
#include "history.h"

#include <gtest/gtest.h>

#include <vector>

namespace sculpt {
namespace {

void Interval(AccessHistory* h, std::vector<uint32_t> touched,
              std::vector<uint32_t> dirty = {}) {
  h->BeginInterval();
  for (uint32_t b : touched) h->AddTouch(b, 1, 0);
  for (uint32_t b : dirty) h->AddTouch(b, 0, 1);
  h->EndInterval();
}

TEST(History, BitsAgesAndGaps) {
  AccessHistory h(4);
  // interval: 1  2  3  4  5
  // block 0:  x  .  x  .  .
  // block 1:  x  x  x  x  x
  Interval(&h, {0, 1});
  Interval(&h, {1});
  Interval(&h, {0, 1});
  Interval(&h, {1});
  Interval(&h, {1});
  EXPECT_EQ(h.intervals(), 5u);
  EXPECT_EQ(h.bits(0), 0b10100u);
  EXPECT_EQ(h.bits(1), 0b11111u);
  EXPECT_EQ(h.age(0), 2u);
  EXPECT_EQ(h.gap(0), 2u);
  EXPECT_EQ(h.age(1), 0u);
  EXPECT_EQ(h.gap(1), 1u);
  EXPECT_EQ(h.age(2), UINT32_MAX);
  EXPECT_EQ(h.touched(), std::vector<uint32_t>({1}));
  EXPECT_GT(h.ewma_fast(1), h.ewma_fast(0));
  EXPECT_GT(h.ewma_slow(1), h.ewma_slow(0));
  EXPECT_EQ(h.ewma_mid(2), 0.0f);
  // Faster scales react more to the last two idle intervals of block 0.
  EXPECT_LT(h.ewma_fast(0), h.ewma_mid(0));
}

TEST(History, UnwatchedBlocksKeepTheirState) {
  AccessHistory h(2);
  Interval(&h, {0});
  float ew = h.ewma_mid(0);
  h.BeginInterval();
  std::vector<uint32_t> counts = {0, 0};
  std::vector<uint8_t> sampled = {0, 1};
  h.AddAccess(counts, sampled);
  h.EndInterval();
  EXPECT_FALSE(h.watched_last(0));
  EXPECT_TRUE(h.watched_last(1));
  EXPECT_EQ(h.ewma_mid(0), ew);
  EXPECT_EQ(h.bits(0), 0b11u);  // repeats the last known bit
  EXPECT_EQ(h.watched_count(), 1u);
  EXPECT_TRUE(h.touched().empty());
}

TEST(History, DirtyCountsAsWatchedTouch) {
  AccessHistory h(2);
  h.BeginInterval();
  std::vector<uint32_t> counts = {0, 0};
  std::vector<uint8_t> sampled = {0, 0};
  std::vector<uint32_t> dirty = {3, 0};
  h.AddAccess(counts, sampled);
  h.AddDirty(dirty);
  h.EndInterval();
  EXPECT_TRUE(h.touched_last(0));
  EXPECT_TRUE(h.watched_last(0));
  EXPECT_FALSE(h.watched_last(1));
  EXPECT_GT(h.dirty_ratio(0), 0.0f);
  Interval(&h, {0});
  float d1 = h.dirty_ratio(0);
  Interval(&h, {}, {0});
  EXPECT_GT(h.dirty_ratio(0), d1);
}

TEST(History, NeighbourHeat) {
  AccessHistory h(6);
  Interval(&h, {1, 2, 4});
  // block 3's neighbours: 1,2,4,5 -> 3 of 4 touched
  EXPECT_FLOAT_EQ(h.neighbour_heat(3), 0.75f);
  // block 0's: 1,2 -> 2 of 2
  EXPECT_FLOAT_EQ(h.neighbour_heat(0), 1.0f);
}

TEST(History, SaveLoadRoundTripAndRejectsGarbage) {
  AccessHistory h(5);
  Interval(&h, {0, 3});
  Interval(&h, {3, 4});
  std::string blob;
  h.Save(&blob);
  AccessHistory g(5);
  std::string_view in = blob;
  ASSERT_TRUE(g.Load(&in).ok());
  EXPECT_TRUE(in.empty());
  for (uint32_t b = 0; b < 5; b++) {
    EXPECT_EQ(g.bits(b), h.bits(b));
    EXPECT_EQ(g.ewma_mid(b), h.ewma_mid(b));
    EXPECT_EQ(g.age(b), h.age(b));
  }
  AccessHistory wrong(4);
  in = blob;
  EXPECT_TRUE(wrong.Load(&in).IsInvalid());
  std::string cut = blob.substr(0, blob.size() - 1);
  in = cut;
  EXPECT_TRUE(g.Load(&in).IsCorrupt());
  std::string bad = blob;
  bad[8 + 5 * 8 + 3] = '\x7f';  // ewma_fast[0]'s exponent -> inf
  in = bad;
  EXPECT_FALSE(g.Load(&in).ok());
}

}  // namespace
}  // namespace sculpt
