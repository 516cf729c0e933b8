// BlockMap: placement, the slot allocator and the mapping count.
#include "block_map.h"

#include <gtest/gtest.h>

#include <string>

namespace sculpt {
namespace {

TEST(BlockMap, StartsAllBaseInOneMapping) {
  BlockMap m(8);
  for (uint32_t b = 0; b < 8; b++) {
    EXPECT_EQ(m.tier(b), Tier::kBase);
    EXPECT_EQ(m.slot(b), b);
  }
  EXPECT_EQ(m.mapping_count(), 1u);
  EXPECT_EQ(m.blocks_in(Tier::kBase), 8u);
  EXPECT_EQ(m.capacity(Tier::kHot), 0u);
  EXPECT_EQ(m.capacity(Tier::kCold), 0u);
}

// Mapping counts for placements drawn as block -> (tier, slot).
//   B = base (slot = block), H3 = hot slot 3, C0 = cold slot 0.
struct Placement {
  const char* name;
  std::vector<std::pair<uint32_t, std::pair<Tier, uint32_t>>> moves;
  uint64_t mappings;
};

TEST(BlockMap, MappingCountTable) {
  const std::vector<Placement> cases = {
      // blocks: 0  1  2  3  4  5  6  7
      //         B  B  B  B  B  B  B  B                 -> 1
      {"all base", {}, 1},
      //         B  B  H0 H1 B  B  B  B                 -> 3 (hot run merges)
      {"hot run", {{2, {Tier::kHot, 0}}, {3, {Tier::kHot, 1}}}, 3},
      //         B  B  H1 H0 B  B  B  B                 -> 4 (reversed slots)
      {"reversed", {{2, {Tier::kHot, 1}}, {3, {Tier::kHot, 0}}}, 4},
      //         H0 H1 H2 H3 H4 H5 H6 H7                -> 1
      {"all hot",
       {{0, {Tier::kHot, 0}},
        {1, {Tier::kHot, 1}},
        {2, {Tier::kHot, 2}},
        {3, {Tier::kHot, 3}},
        {4, {Tier::kHot, 4}},
        {5, {Tier::kHot, 5}},
        {6, {Tier::kHot, 6}},
        {7, {Tier::kHot, 7}}},
       1},
      //         C0 B  B  B  B  B  B  C1                -> 3
      {"cold ends", {{0, {Tier::kCold, 0}}, {7, {Tier::kCold, 1}}}, 3},
      //         B  H0 C0 B  ...                        -> 4
      {"mixed", {{1, {Tier::kHot, 0}}, {2, {Tier::kCold, 0}}}, 4},
  };
  for (const auto& c : cases) {
    BlockMap m(8);
    ASSERT_TRUE(m.SetCapacity(Tier::kHot, 8).ok());
    ASSERT_TRUE(m.SetCapacity(Tier::kCold, 8).ok());
    for (const auto& [b, ts] : c.moves) {
      ASSERT_TRUE(m.Set(b, ts.first, ts.second).ok()) << c.name;
    }
    EXPECT_EQ(m.mapping_count(), c.mappings) << c.name;
    // Moving everything back restores one mapping.
    for (uint32_t b = 0; b < 8; b++) ASSERT_TRUE(m.Set(b, Tier::kBase, b).ok());
    EXPECT_EQ(m.mapping_count(), 1u) << c.name;
    EXPECT_EQ(m.free_slots(Tier::kHot), 8u) << c.name;
  }
}

TEST(BlockMap, RejectsBadPlacements) {
  BlockMap m(4);
  ASSERT_TRUE(m.SetCapacity(Tier::kHot, 2).ok());
  EXPECT_TRUE(m.Set(4, Tier::kBase, 4).IsInvalid());  // no such block
  EXPECT_TRUE(m.Set(1, Tier::kBase, 0).IsInvalid());  // base slot = block
  EXPECT_TRUE(m.Set(1, Tier::kHot, 2).IsInvalid());   // beyond capacity
  ASSERT_TRUE(m.Set(1, Tier::kHot, 0).ok());
  EXPECT_TRUE(m.Set(2, Tier::kHot, 0).IsState());  // taken
  EXPECT_TRUE(m.Set(1, Tier::kHot, 0).ok());       // idempotent
  EXPECT_TRUE(m.SetCapacity(Tier::kBase, 3).IsInvalid());
  EXPECT_TRUE(m.SetCapacity(Tier::kHot, 0).IsState());  // slot 0 in use
  ASSERT_TRUE(m.Set(1, Tier::kHot, 1).ok());            // move within tier
  EXPECT_EQ(m.owner(Tier::kHot, 0), BlockMap::kFree);
  EXPECT_TRUE(m.SetCapacity(Tier::kHot, 1).IsState());
  EXPECT_TRUE(m.SetCapacity(Tier::kHot, 4).ok());
}

TEST(BlockMap, ReservationsBlockOthersButNotTheirMove) {
  BlockMap m(4);
  ASSERT_TRUE(m.SetCapacity(Tier::kCold, 4).ok());
  ASSERT_TRUE(m.Reserve(Tier::kCold, 1, 2).ok());
  EXPECT_EQ(m.free_slots(Tier::kCold), 2u);
  EXPECT_TRUE(m.Reserve(Tier::kCold, 2, 1).IsState());
  EXPECT_TRUE(m.Set(0, Tier::kCold, 1).IsState());
  EXPECT_TRUE(m.Set(0, Tier::kCold, 1, /*from_reservation=*/true).ok());
  EXPECT_EQ(m.free_slots(Tier::kCold), 2u);  // still 2: reserved -> used
  m.Release(Tier::kCold, 1, 2);              // frees only the still-reserved 2
  EXPECT_EQ(m.owner(Tier::kCold, 1), 0u);
  EXPECT_EQ(m.owner(Tier::kCold, 2), BlockMap::kFree);
  EXPECT_EQ(m.free_slots(Tier::kCold), 3u);
}

TEST(BlockMap, FindFreeRunPrefersHintThenFirstFit) {
  BlockMap m(16);
  ASSERT_TRUE(m.SetCapacity(Tier::kHot, 8).ok());
  // slots: 0 1 2 3 4 5 6 7
  //        .  X  .  .  .  X  .  .
  ASSERT_TRUE(m.Set(10, Tier::kHot, 1).ok());
  ASSERT_TRUE(m.Set(12, Tier::kHot, 5).ok());
  EXPECT_EQ(m.FindFreeRun(Tier::kHot, 3, BlockMap::kFree), 2u);
  EXPECT_EQ(m.FindFreeRun(Tier::kHot, 2, 6), 6u);
  EXPECT_EQ(m.FindFreeRun(Tier::kHot, 2, 0), 2u);  // hint does not fit
  EXPECT_EQ(m.FindFreeRun(Tier::kHot, 4, 0), BlockMap::kFree);
  // Block 11 sits between 10 (slot 1) and 12 (slot 5): continue 10's run.
  EXPECT_EQ(m.NeighbourHint(11, Tier::kHot), 2u);
  EXPECT_EQ(m.NeighbourHint(13, Tier::kHot), 6u);
  EXPECT_EQ(m.NeighbourHint(3, Tier::kHot), BlockMap::kFree);
}

}  // namespace
}  // namespace sculpt
