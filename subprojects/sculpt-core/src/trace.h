// The sculpt trace format: recorded tracking data, one record per interval.
// Specification: docs/devel/sculpt-trace-format.rst.  Version 1.
//
// The reader is the only part of the core that parses untrusted bytes from
// a file, so it checks everything (lengths, CRCs, block ranges, ordering)
// and reports Corrupt instead of trusting; it is fuzzed.  The writer
// produces exactly what the reader accepts.
#ifndef SCULPT_CORE_TRACE_H_
#define SCULPT_CORE_TRACE_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "status.h"

namespace sculpt {

inline constexpr char kTraceMagic[8] = {'S', 'C', 'U', 'L', 'P', 'T', 'T', 'R'};
inline constexpr uint8_t kTraceVersion = 1;
inline constexpr size_t kTraceHeaderSize = 40;
inline constexpr uint64_t kTraceMaxRecord = 64ull << 20;
inline constexpr uint8_t kRecordInterval = 'I';
inline constexpr uint8_t kRecordEnd = 'E';

struct TraceHeader {
  uint64_t block_size = 0;
  uint64_t nblocks = 0;
  uint64_t interval_ns = 0;
};

struct TraceSignals {
  uint32_t vcpu_busy_ppm = 0;
  uint64_t block_io_bytes = 0;
  uint64_t net_bytes = 0;
  uint64_t minor_faults = 0;
  uint64_t major_faults = 0;
};

struct TraceInterval {
  uint64_t now_ns = 0;  // end of the interval
  TraceSignals signals;
  std::vector<uint32_t> blocks;  // touched, strictly ascending
  std::vector<uint32_t> counts;  // per touched block, >= 1 unless dirty
  std::vector<uint32_t> dirty;   // per touched block: dirty pages
  // Unwatched block ranges [first, first + len), ascending, disjoint.
  std::vector<std::pair<uint32_t, uint32_t>> unwatched;
};

// Checks the geometry of a header: block size a power of two in
// 64 KiB..1 GiB, 1..2^32-2 blocks.
Status CheckTraceHeader(const TraceHeader& h);

class TraceWriter {
 public:
  static StatusOr<std::unique_ptr<TraceWriter>> Create(const std::string& path,
                                                       const TraceHeader& h);
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  const TraceHeader& header() const { return h_; }
  Status Add(const TraceInterval& iv);
  // Dense arrays as the C ABI gets them; sampled/dirty/sig may be null.
  Status AddDense(uint64_t now_ns, std::span<const uint32_t> counts,
                  const uint8_t* sampled, const uint32_t* dirty,
                  const TraceSignals* sig);
  // Writes the end record and closes the file.
  Status Close();

 private:
  TraceWriter(FILE* f, const TraceHeader& h) : f_(f), h_(h) {}
  Status WriteRecord(uint8_t type, const std::string& payload);
  FILE* f_;
  TraceHeader h_;
  uint64_t last_ns_ = 0;
  uint64_t count_ = 0;
  bool failed_ = false;
};

// Encodes one interval record's payload (exposed for the fuzzer/tests).
std::string EncodeHeader(const TraceHeader& h);

class TraceReader {
 public:
  static StatusOr<std::unique_ptr<TraceReader>> Open(const std::string& path);
  static StatusOr<std::unique_ptr<TraceReader>> FromBuffer(std::string data);

  const TraceHeader& header() const { return h_; }
  // Reads the next interval into *out.  Returns false after the end record
  // (and for a file cut short after a whole record: see truncated()).
  StatusOr<bool> Next(TraceInterval* out);
  // True if the data ended without an end record.
  bool truncated() const { return truncated_; }

 private:
  TraceReader(std::string data, const TraceHeader& h)
      : data_(std::move(data)), pos_(kTraceHeaderSize), h_(h) {}
  std::string data_;
  size_t pos_;
  TraceHeader h_;
  uint64_t last_ns_ = 0;
  uint64_t count_ = 0;
  bool done_ = false;
  bool truncated_ = false;
};

struct Trace {
  TraceHeader header;
  std::vector<TraceInterval> intervals;
};
StatusOr<Trace> ReadTrace(const std::string& path);

}  // namespace sculpt

#endif  // SCULPT_CORE_TRACE_H_
