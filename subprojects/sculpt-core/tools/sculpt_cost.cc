// sculpt-cost: CPU cost of one interval of the core per block.
//
//   sculpt-cost [--blocks N] [--intervals K] [--policy P]
//
// Feeds K intervals of synthetic tracking data (5% of blocks touched, in a
// drifting Zipf-like pattern with a sequential stream) to a core of N
// blocks (default 262,144: 16 GiB at 64 KiB) through the same calls QEMU
// makes (record_access + end_interval), and prints nanoseconds per block
// per interval for end_interval (history update + training + prediction)
// and for the whole interval.  Time is the calling thread's CPU time
// (CLOCK_THREAD_CPUTIME_ID), so other processes on a busy machine inflate
// it less than wall-clock time would (they still share caches).  A plain
// timed tool, not a test: it asserts nothing about speed.
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core.h"
#include "rng.h"

int main(int argc, char** argv) {
  uint32_t n = 262144;
  int intervals = 40;
  std::vector<std::string> policies = {"recency", "ewma", "learned",
                                       "learned+prefetch", "guarded"};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--blocks") {
      n = uint32_t(std::strtoul(argv[i + 1], nullptr, 0));
    } else if (a == "--intervals") {
      intervals = std::atoi(argv[i + 1]);
    } else if (a == "--policy") {
      policies = {argv[i + 1]};
    } else {
      std::fprintf(
          stderr,
          "usage: sculpt-cost [--blocks N] [--intervals K] [--policy P]\n");
      return 2;
    }
  }
  auto cpu_ns = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
  };
  for (const auto& pol : policies) {
    auto c = sculpt::Core::Create({uint64_t{n} << 16, 64 << 10, 42});
    if (!c.ok() || !(*c)->SetPolicy(pol).ok()) {
      std::fprintf(stderr, "sculpt-cost: cannot create core\n");
      return 1;
    }
    sculpt::Core& core = **c;
    sculpt::Rng rng(7);
    std::vector<uint32_t> counts(n);
    double end_ns = 0, all_ns = 0;
    int measured = 0;
    const int warmup = 5;
    uint64_t now = 0;
    for (int t = 0; t < warmup + intervals; t++) {
      std::fill(counts.begin(), counts.end(), 0);
      uint32_t base = uint32_t(t) * 97u % n;
      for (uint32_t k = 0; k < n / 20; k++) {
        // Skewed offsets around a drifting base, plus a stream.
        uint32_t off = uint32_t(rng.Below(n / 8) * rng.Uniform());
        counts[(base + off) % n]++;
      }
      for (uint32_t k = 0; k < 256; k++)
        counts[(uint32_t(t) * 256 + k) % n] += 2;
      double t0 = cpu_ns();
      (void)core.BeginInterval(now);
      (void)core.RecordAccess(counts, nullptr);
      double t1 = cpu_ns();
      now += 1000000000;
      (void)core.EndInterval(now);
      double t2 = cpu_ns();
      if (t >= warmup) {
        end_ns += t2 - t1;
        all_ns += t2 - t0;
        measured++;
      }
    }
    std::printf(
        "%-17s blocks=%u intervals=%d end_interval=%.1f ns/block "
        "whole interval=%.1f ns/block (thread CPU time)\n",
        pol.c_str(), n, measured, end_ns / measured / n, all_ns / measured / n);
  }
  return 0;
}
