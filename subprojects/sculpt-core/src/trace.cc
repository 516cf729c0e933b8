// Trace reader and writer.  See trace.h and
// docs/devel/sculpt-trace-format.rst.
#include "trace.h"

#include <cerrno>
#include <cstring>
#include <string_view>

#include "serial.h"

namespace sculpt {

Status CheckTraceHeader(const TraceHeader& h) {
  if (h.block_size < (64u << 10) || h.block_size > (1ull << 30) ||
      (h.block_size & (h.block_size - 1))) {
    return Status::Invalid("trace block size " + std::to_string(h.block_size) +
                           " must be a power of two from 64 KiB to 1 GiB");
  }
  if (h.nblocks == 0 || h.nblocks > UINT32_MAX - 2) {
    return Status::Invalid("trace block count " + std::to_string(h.nblocks) +
                           " must be 1..4294967293");
  }
  return Status::Ok();
}

std::string EncodeHeader(const TraceHeader& h) {
  std::string o(kTraceMagic, 8);
  PutU8(&o, kTraceVersion);
  PutU8(&o, 0);
  PutU8(&o, 0);
  PutU8(&o, 0);
  PutU64(&o, h.block_size);
  PutU64(&o, h.nblocks);
  PutU64(&o, h.interval_ns);
  PutU32(&o, Crc32(o.data(), o.size()));
  return o;
}

StatusOr<std::unique_ptr<TraceWriter>> TraceWriter::Create(
    const std::string& path, const TraceHeader& h) {
  Status s = CheckTraceHeader(h);
  if (!s.ok()) return s;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    return Status::Io("cannot create trace '" + path +
                      "': " + std::strerror(errno));
  }
  std::unique_ptr<TraceWriter> w(new TraceWriter(f, h));
  std::string hdr = EncodeHeader(h);
  if (std::fwrite(hdr.data(), 1, hdr.size(), f) != hdr.size()) {
    return Status::Io("cannot write trace header: " +
                      std::string(std::strerror(errno)));
  }
  return w;
}

TraceWriter::~TraceWriter() {
  if (f_) std::fclose(f_);
}

Status TraceWriter::WriteRecord(uint8_t type, const std::string& payload) {
  if (!f_) return Status::State("trace writer is closed");
  std::string rec;
  PutU8(&rec, type);
  PutVarint(&rec, payload.size());
  rec += payload;
  uint32_t crc = Crc32(&type, 1);
  crc = Crc32(payload.data(), payload.size(), crc);
  PutU32(&rec, crc);
  if (std::fwrite(rec.data(), 1, rec.size(), f_) != rec.size()) {
    failed_ = true;
    return Status::Io("trace write failed: " +
                      std::string(std::strerror(errno)));
  }
  return Status::Ok();
}

Status TraceWriter::Add(const TraceInterval& iv) {
  if (iv.now_ns < last_ns_) {
    return Status::Invalid("trace time went backwards");
  }
  if (iv.counts.size() != iv.blocks.size() ||
      (!iv.dirty.empty() && iv.dirty.size() != iv.blocks.size())) {
    return Status::Invalid("trace interval arrays differ in length");
  }
  if (iv.signals.vcpu_busy_ppm > 1000000) {
    return Status::Invalid("vcpu busy above 1000000 ppm");
  }
  std::string p;
  PutVarint(&p, iv.now_ns - last_ns_);
  PutVarint(&p, iv.signals.vcpu_busy_ppm);
  PutVarint(&p, iv.signals.block_io_bytes);
  PutVarint(&p, iv.signals.net_bytes);
  PutVarint(&p, iv.signals.minor_faults);
  PutVarint(&p, iv.signals.major_faults);
  PutVarint(&p, iv.blocks.size());
  int64_t prev = -1;
  for (size_t i = 0; i < iv.blocks.size(); i++) {
    int64_t b = iv.blocks[i];
    if (b <= prev || uint64_t(b) >= h_.nblocks) {
      return Status::Invalid("trace blocks must ascend and lie below " +
                             std::to_string(h_.nblocks));
    }
    PutVarint(&p, uint64_t(b - prev - 1));
    PutVarint(&p, iv.counts[i]);
    PutVarint(&p, iv.dirty.empty() ? 0 : iv.dirty[i]);
    prev = b;
  }
  PutVarint(&p, iv.unwatched.size());
  uint64_t end = 0;
  for (auto [first, len] : iv.unwatched) {
    if (len == 0 || first < end || uint64_t{first} + len > h_.nblocks) {
      return Status::Invalid(
          "unwatched ranges must be non-empty, ascending, disjoint");
    }
    PutVarint(&p, first - end);
    PutVarint(&p, len);
    end = uint64_t{first} + len;
  }
  Status s = WriteRecord(kRecordInterval, p);
  if (!s.ok()) return s;
  last_ns_ = iv.now_ns;
  count_++;
  return Status::Ok();
}

Status TraceWriter::AddDense(uint64_t now_ns, std::span<const uint32_t> counts,
                             const uint8_t* sampled, const uint32_t* dirty,
                             const TraceSignals* sig) {
  if (counts.size() != h_.nblocks) {
    return Status::Invalid("trace interval has " +
                           std::to_string(counts.size()) +
                           " blocks, the trace " + std::to_string(h_.nblocks));
  }
  TraceInterval iv;
  iv.now_ns = now_ns;
  if (sig) iv.signals = *sig;
  for (uint32_t b = 0; b < counts.size(); b++) {
    bool watched = !sampled || sampled[b];
    uint32_t d = dirty ? dirty[b] : 0;
    uint32_t c = watched ? counts[b] : 0;
    if (c || d) {
      iv.blocks.push_back(b);
      iv.counts.push_back(c);
      iv.dirty.push_back(d);
    }
    if (!watched && d == 0) {
      if (!iv.unwatched.empty() &&
          iv.unwatched.back().first + iv.unwatched.back().second == b) {
        iv.unwatched.back().second++;
      } else {
        iv.unwatched.push_back({b, 1});
      }
    }
  }
  return Add(iv);
}

Status TraceWriter::Close() {
  if (!f_) return Status::State("trace writer already closed");
  std::string p;
  PutVarint(&p, count_);
  Status s = WriteRecord(kRecordEnd, p);
  int rc = std::fclose(f_);
  f_ = nullptr;
  if (!s.ok()) return s;
  if (rc != 0 || failed_) {
    return Status::Io("closing trace failed: " +
                      std::string(std::strerror(errno)));
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<TraceReader>> TraceReader::FromBuffer(
    std::string data) {
  if (data.size() < kTraceHeaderSize) {
    return Status::Corrupt("trace shorter than its 40-byte header");
  }
  if (std::memcmp(data.data(), kTraceMagic, 8) != 0) {
    return Status::Corrupt("not a sculpt trace (bad magic)");
  }
  std::string_view in(data.data() + 8, kTraceHeaderSize - 8);
  uint8_t ver, flags, r0, r1;
  TraceHeader h;
  uint32_t crc = 0;
  (void)(GetU8(&in, &ver) && GetU8(&in, &flags) && GetU8(&in, &r0) &&
         GetU8(&in, &r1) && GetU64(&in, &h.block_size) &&
         GetU64(&in, &h.nblocks) && GetU64(&in, &h.interval_ns) &&
         GetU32(&in, &crc));
  if (ver != kTraceVersion) {
    return Status::Invalid("trace version " + std::to_string(ver) +
                           " unknown; this build reads version 1");
  }
  if (crc != Crc32(data.data(), kTraceHeaderSize - 4)) {
    return Status::Corrupt("trace header CRC mismatch");
  }
  if (flags || r0 || r1)
    return Status::Corrupt("trace header reserved bits set");
  Status s = CheckTraceHeader(h);
  if (!s.ok()) return Status::Corrupt(s.message());
  return std::unique_ptr<TraceReader>(new TraceReader(std::move(data), h));
}

StatusOr<std::unique_ptr<TraceReader>> TraceReader::Open(
    const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    return Status::Io("cannot open trace '" + path +
                      "': " + std::strerror(errno));
  }
  std::string data;
  char buf[1 << 16];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof(buf), f)) > 0) data.append(buf, got);
  bool err = std::ferror(f);
  std::fclose(f);
  if (err) return Status::Io("cannot read trace '" + path + "'");
  return FromBuffer(std::move(data));
}

StatusOr<bool> TraceReader::Next(TraceInterval* out) {
  if (done_) return false;
  std::string_view in(data_.data() + pos_, data_.size() - pos_);
  if (in.empty()) {
    truncated_ = true;
    done_ = true;
    return false;
  }
  uint8_t type;
  uint64_t len;
  GetU8(&in, &type);
  if (!GetVarint(&in, &len))
    return Status::Corrupt("trace record length truncated");
  if (len > kTraceMaxRecord || len + 4 > in.size()) {
    return Status::Corrupt("trace record length " + std::to_string(len) +
                           " runs past the end");
  }
  std::string_view p(in.data(), len);
  std::string_view tail(in.data() + len, 4);
  uint32_t crc = 0;
  GetU32(&tail, &crc);
  if (crc != Crc32(p.data(), p.size(), Crc32(&type, 1))) {
    return Status::Corrupt("trace record " + std::to_string(count_) +
                           " CRC mismatch");
  }
  pos_ = (in.data() + len + 4) - data_.data();
  auto corrupt = [&](const char* what) {
    return Status::Corrupt("trace record " + std::to_string(count_) + ": " +
                           what);
  };
  if (type == kRecordEnd) {
    uint64_t n;
    if (!GetVarint(&p, &n) || !p.empty()) return corrupt("bad end record");
    if (n != count_)
      return corrupt("end record count differs from records read");
    done_ = true;
    return false;
  }
  if (type != kRecordInterval) return corrupt("unknown record type");
  TraceInterval iv;
  uint64_t dns, busy, nt;
  if (!GetVarint(&p, &dns) || !GetVarint(&p, &busy) ||
      !GetVarint(&p, &iv.signals.block_io_bytes) ||
      !GetVarint(&p, &iv.signals.net_bytes) ||
      !GetVarint(&p, &iv.signals.minor_faults) ||
      !GetVarint(&p, &iv.signals.major_faults) || !GetVarint(&p, &nt)) {
    return corrupt("truncated interval header");
  }
  if (busy > 1000000) return corrupt("vcpu busy above 1000000 ppm");
  if (dns > UINT64_MAX - last_ns_) return corrupt("time overflows");
  if (nt > h_.nblocks || nt > p.size() / 3)
    return corrupt("too many touched blocks");
  iv.signals.vcpu_busy_ppm = static_cast<uint32_t>(busy);
  iv.now_ns = last_ns_ + dns;
  iv.blocks.reserve(nt);
  iv.counts.reserve(nt);
  iv.dirty.reserve(nt);
  uint64_t next = 0;
  for (uint64_t i = 0; i < nt; i++) {
    uint64_t d, c, dy;
    if (!GetVarint(&p, &d) || !GetVarint(&p, &c) || !GetVarint(&p, &dy)) {
      return corrupt("truncated block list");
    }
    if (d >= h_.nblocks - next + 0 || next + d >= h_.nblocks) {
      return corrupt("block index out of range");
    }
    if (c > UINT32_MAX || dy > UINT32_MAX) return corrupt("count too large");
    if (c == 0 && dy == 0) return corrupt("touched block with no access");
    uint64_t b = next + d;
    iv.blocks.push_back(static_cast<uint32_t>(b));
    iv.counts.push_back(static_cast<uint32_t>(c));
    iv.dirty.push_back(static_cast<uint32_t>(dy));
    next = b + 1;
  }
  uint64_t nu;
  if (!GetVarint(&p, &nu)) return corrupt("truncated unwatched list");
  if (nu > h_.nblocks || nu > p.size() / 2)
    return corrupt("too many unwatched ranges");
  uint64_t end = 0;
  for (uint64_t i = 0; i < nu; i++) {
    uint64_t d, l;
    if (!GetVarint(&p, &d) || !GetVarint(&p, &l))
      return corrupt("truncated unwatched list");
    if (l == 0 || d > h_.nblocks || end + d > h_.nblocks ||
        l > h_.nblocks - (end + d)) {
      return corrupt("unwatched range out of range");
    }
    iv.unwatched.push_back(
        {static_cast<uint32_t>(end + d), static_cast<uint32_t>(l)});
    end += d + l;
  }
  if (!p.empty()) return corrupt("trailing bytes in interval record");
  last_ns_ = iv.now_ns;
  count_++;
  *out = std::move(iv);
  return true;
}

StatusOr<Trace> ReadTrace(const std::string& path) {
  auto r = TraceReader::Open(path);
  if (!r.ok()) return r.status();
  Trace t;
  t.header = (*r)->header();
  for (;;) {
    TraceInterval iv;
    auto more = (*r)->Next(&iv);
    if (!more.ok()) return more.status();
    if (!*more) break;
    t.intervals.push_back(std::move(iv));
  }
  if ((*r)->truncated()) {
    return Status::Corrupt("trace '" + path + "' ends without its end record");
  }
  return t;
}

}  // namespace sculpt
