// Trace generators: deterministic, well formed, of the promised shape.
#include "tracegen.h"

#include <gtest/gtest.h>

#include <set>

namespace sculpt {
namespace {

TEST(TraceGen, EveryGeneratorIsDeterministicAndWellFormed) {
  for (const auto& g : TraceGenerators()) {
    auto a = GenerateTrace(g.name, 0.125);
    auto b = GenerateTrace(g.name, 0.125);
    ASSERT_TRUE(a.ok()) << g.name;
    ASSERT_TRUE(b.ok());
    ASSERT_EQ(a->intervals.size(), b->intervals.size());
    EXPECT_GE(a->intervals.size(), 60u);
    EXPECT_EQ(a->header.block_size, kGenBlockSize);
    uint64_t touches = 0;
    for (size_t i = 0; i < a->intervals.size(); i++) {
      const auto& x = a->intervals[i];
      EXPECT_EQ(x.blocks, b->intervals[i].blocks) << g.name;
      for (size_t k = 1; k < x.blocks.size(); k++)
        ASSERT_LT(x.blocks[k - 1], x.blocks[k]);
      for (uint32_t blk : x.blocks) ASSERT_LT(blk, a->header.nblocks);
      touches += x.blocks.size();
    }
    EXPECT_GT(touches, 0u) << g.name;
  }
  EXPECT_FALSE(GenerateTrace("nope").ok());
  EXPECT_FALSE(GenerateTrace("zipf-near", 0).ok());
}

TEST(TraceGen, FullSizeGeometryIsFixed) {
  auto t = GenerateTrace("uniform-small");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->header.nblocks, kGenBlocks);
  EXPECT_EQ(t->intervals.size(), kGenIntervals);
  // Footprint 20% of RAM: nothing above it is ever touched.
  for (const auto& iv : t->intervals) {
    for (uint32_t b : iv.blocks) ASSERT_LT(b, kGenBlocks / 5 + 1);
  }
}

TEST(TraceGen, StreamsAdvanceEveryInterval) {
  auto t = GenerateTrace("seq-stream", 0.25);
  ASSERT_TRUE(t.ok());
  // The ascending stream's lowest block moves forward by its velocity.
  const auto& a = t->intervals[1].blocks;
  const auto& b = t->intervals[2].blocks;
  std::set<uint32_t> sa(a.begin(), a.end()), sb(b.begin(), b.end());
  int fresh = 0;
  for (uint32_t x : sb) fresh += !sa.count(x);
  EXPECT_GT(fresh, 0);
}

}  // namespace
}  // namespace sculpt
