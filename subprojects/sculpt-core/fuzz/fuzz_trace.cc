// libFuzzer target: the trace reader, then replay of what it accepted.
//
// Any byte string must either be rejected with a Status or parse into
// intervals that the replay engine can run without crashing; nothing may
// read out of bounds, overflow, or abort.
#include <cstddef>
#include <cstdint>
#include <string>

#include "replay.h"
#include "trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = sculpt::TraceReader::FromBuffer(
      std::string(reinterpret_cast<const char*>(data), size));
  if (!r.ok()) return 0;
  sculpt::Trace t;
  t.header = (*r)->header();
  for (int i = 0; i < 64; i++) {
    sculpt::TraceInterval iv;
    auto more = (*r)->Next(&iv);
    if (!more.ok() || !*more) break;
    t.intervals.push_back(std::move(iv));
  }
  // Keep replay cheap: only small geometries.
  if (t.header.nblocks > 4096 || t.intervals.empty()) return 0;
  sculpt::TierModel m;
  m.capacity_fraction = 0.1;
  m.move_budget = 16;
  for (const char* p : {"learned+prefetch", "belady", "belady-budget"}) {
    auto res = sculpt::Replay(t, p, m, 1);
    if (res.ok() && res->hits > res->touches) __builtin_trap();
  }
  return 0;
}
