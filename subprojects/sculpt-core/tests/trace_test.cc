// Trace format: round trips, the dense writer, and rejection of damage.
#include "trace.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace sculpt {
namespace {

std::string TmpPath(const char* name) {
  return std::string(::testing::TempDir()) + "/" + name;
}

std::string Slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TraceInterval Iv(uint64_t ns, std::vector<uint32_t> blocks) {
  TraceInterval iv;
  iv.now_ns = ns;
  iv.blocks = blocks;
  for (size_t i = 0; i < blocks.size(); i++) {
    iv.counts.push_back(uint32_t(i + 1));
    iv.dirty.push_back(uint32_t(i % 2));
  }
  return iv;
}

TEST(Trace, RoundTrip) {
  const std::string p = TmpPath("rt.sctrace");
  TraceHeader h{64 << 10, 1000, 1000000000};
  auto w = TraceWriter::Create(p, h);
  ASSERT_TRUE(w.ok());
  TraceInterval a = Iv(1000, {0, 5, 999});
  a.signals = {250000, 1 << 20, 4096, 77, 3};
  a.unwatched = {{10, 20}, {500, 1}};
  TraceInterval b = Iv(2500, {});
  ASSERT_TRUE((*w)->Add(a).ok());
  ASSERT_TRUE((*w)->Add(b).ok());
  ASSERT_TRUE((*w)->Close().ok());
  auto t = ReadTrace(p);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->header.nblocks, 1000u);
  EXPECT_EQ(t->header.block_size, 64u << 10);
  EXPECT_EQ(t->header.interval_ns, 1000000000u);
  ASSERT_EQ(t->intervals.size(), 2u);
  const auto& x = t->intervals[0];
  EXPECT_EQ(x.now_ns, 1000u);
  EXPECT_EQ(x.blocks, a.blocks);
  EXPECT_EQ(x.counts, a.counts);
  EXPECT_EQ(x.dirty, a.dirty);
  EXPECT_EQ(x.unwatched, a.unwatched);
  EXPECT_EQ(x.signals.vcpu_busy_ppm, 250000u);
  EXPECT_EQ(x.signals.block_io_bytes, 1u << 20);
  EXPECT_EQ(x.signals.major_faults, 3u);
  EXPECT_EQ(t->intervals[1].now_ns, 2500u);
  EXPECT_TRUE(t->intervals[1].blocks.empty());
}

TEST(Trace, WriterRejectsWhatTheReaderWould) {
  const std::string p = TmpPath("bad.sctrace");
  EXPECT_FALSE(TraceWriter::Create(p, {96 << 10, 10, 1}).ok());
  EXPECT_FALSE(TraceWriter::Create(p, {64 << 10, 0, 1}).ok());
  auto w = TraceWriter::Create(p, {64 << 10, 10, 1});
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE((*w)->Add(Iv(5, {3, 3})).ok());  // not ascending
  EXPECT_FALSE((*w)->Add(Iv(5, {10})).ok());    // out of range
  ASSERT_TRUE((*w)->Add(Iv(5, {1})).ok());
  EXPECT_FALSE((*w)->Add(Iv(4, {1})).ok());  // time backwards
  TraceInterval u = Iv(6, {});
  u.unwatched = {{5, 6}};  // past the end
  EXPECT_FALSE((*w)->Add(u).ok());
  ASSERT_TRUE((*w)->Close().ok());
  EXPECT_FALSE((*w)->Close().ok());
}

TEST(Trace, DenseWriterSplitsTouchedAndUnwatched) {
  const std::string p = TmpPath("dense.sctrace");
  auto w = TraceWriter::Create(p, {64 << 10, 6, 1});
  ASSERT_TRUE(w.ok());
  std::vector<uint32_t> counts = {0, 3, 0, 9, 0, 0};
  std::vector<uint8_t> sampled = {1, 1, 0, 0, 0, 1};
  std::vector<uint32_t> dirty = {0, 0, 0, 0, 2, 0};
  ASSERT_TRUE(
      (*w)->AddDense(10, counts, sampled.data(), dirty.data(), nullptr).ok());
  EXPECT_FALSE(
      (*w)->AddDense(11, std::vector<uint32_t>(5), nullptr, nullptr, nullptr)
          .ok());
  ASSERT_TRUE((*w)->Close().ok());
  auto t = ReadTrace(p);
  ASSERT_TRUE(t.ok());
  const auto& iv = t->intervals[0];
  // block 3 was not watched (its count is ignored); 4 is dirty, so seen.
  EXPECT_EQ(iv.blocks, std::vector<uint32_t>({1, 4}));
  EXPECT_EQ(iv.dirty, std::vector<uint32_t>({0, 2}));
  ASSERT_EQ(iv.unwatched.size(), 1u);
  EXPECT_EQ(iv.unwatched[0], std::make_pair(2u, 2u));
}

TEST(Trace, EveryFlippedByteIsCaughtAndTruncationIsReported) {
  const std::string p = TmpPath("flip.sctrace");
  auto w = TraceWriter::Create(p, {64 << 10, 300, 1});
  ASSERT_TRUE(w.ok());
  for (uint64_t t = 1; t <= 4; t++) {
    ASSERT_TRUE(
        (*w)->Add(Iv(t * 10, {uint32_t(t), 100, 200 + uint32_t(t)})).ok());
  }
  ASSERT_TRUE((*w)->Close().ok());
  const std::string good = Slurp(p);
  auto read_all = [](std::string data) -> Status {
    auto r = TraceReader::FromBuffer(std::move(data));
    if (!r.ok()) return r.status();
    TraceInterval iv;
    for (;;) {
      auto more = (*r)->Next(&iv);
      if (!more.ok()) return more.status();
      if (!*more) break;
    }
    if ((*r)->truncated()) return Status::Corrupt("truncated");
    return Status::Ok();
  };
  ASSERT_TRUE(read_all(good).ok());
  for (size_t i = 0; i < good.size(); i++) {
    std::string bad = good;
    bad[i] ^= 0x01;
    EXPECT_FALSE(read_all(bad).ok()) << "byte " << i;
  }
  for (size_t cut = 0; cut < good.size(); cut++) {
    EXPECT_FALSE(read_all(good.substr(0, cut)).ok()) << "cut at " << cut;
  }
  EXPECT_FALSE(ReadTrace(TmpPath("does-not-exist")).ok());
}

}  // namespace
}  // namespace sculpt
