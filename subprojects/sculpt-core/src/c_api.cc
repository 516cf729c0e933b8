// The C ABI (include/sculpt/sculpt.h) over the C++ core.
//
// Every entry point catches everything: no exception crosses into C.  On
// failure it stores a malloc()ed message in *errptr (if errptr is not NULL)
// and returns the failure value; on success it never touches *errptr.
#include <cstdlib>
#include <cstring>
#include <new>

#include "core.h"
#include "sculpt/sculpt.h"
#include "trace.h"

using sculpt::Core;
using sculpt::Status;

struct sculpt_core {
  std::unique_ptr<Core> core;
};

struct sculpt_trace_writer {
  std::unique_ptr<sculpt::TraceWriter> w;
};

namespace {

void SetErr(char** errptr, const std::string& msg) {
  if (!errptr) return;
  char* m = static_cast<char*>(std::malloc(msg.size() + 1));
  if (!m) return;
  std::memcpy(m, msg.c_str(), msg.size() + 1);
  *errptr = m;
}

int Report(const Status& s, char** errptr) {
  if (s.ok()) return 0;
  SetErr(errptr, s.message());
  return -1;
}

// Runs f, turning exceptions (allocation failure) into an error.
template <typename F>
int Guard(char** errptr, F&& f) {
  try {
    return Report(f(), errptr);
  } catch (const std::bad_alloc&) {
    SetErr(errptr, "out of memory");
  } catch (...) {
    SetErr(errptr, "internal error");
  }
  return -1;
}

bool CheckCore(const sculpt_core_t* c, char** errptr) {
  if (!c || !c->core) {
    SetErr(errptr, "core handle is NULL");
    return false;
  }
  return true;
}

Status CheckN(const sculpt_core_t* c, uint64_t n) {
  if (n != c->core->nblocks()) {
    return Status::Invalid("array has " + std::to_string(n) +
                           " blocks; this RAM block has " +
                           std::to_string(c->core->nblocks()));
  }
  return Status::Ok();
}

sculpt::CoreConfig ToConfig(const sculpt_core_config_t* cfg) {
  return {cfg->guest_bytes, cfg->block_size, cfg->seed};
}

bool TierOk(sculpt_tier t) { return t >= 0 && t < SCULPT_TIER__MAX; }

}  // namespace

extern "C" {

int sculpt_core_abi_version(void) { return SCULPT_CORE_ABI_VERSION; }

int sculpt_core_config_check(const sculpt_core_config_t* cfg, char** errptr) {
  return Guard(errptr, [&] {
    if (!cfg) return Status::Invalid("config is NULL");
    return Core::CheckConfig(ToConfig(cfg));
  });
}

sculpt_core_t* sculpt_core_new(const sculpt_core_config_t* cfg, char** errptr) {
  sculpt_core_t* out = nullptr;
  Guard(errptr, [&] {
    if (!cfg) return Status::Invalid("config is NULL");
    auto c = Core::Create(ToConfig(cfg));
    if (!c.ok()) return c.status();
    out = new sculpt_core_t{std::move(c.value())};
    return Status::Ok();
  });
  return out;
}

void sculpt_core_free(sculpt_core_t* core) { delete core; }

uint64_t sculpt_core_block_count(const sculpt_core_t* core) {
  return core ? core->core->nblocks() : 0;
}

uint64_t sculpt_core_block_size(const sculpt_core_t* core) {
  return core ? core->core->block_size() : 0;
}

uint64_t sculpt_core_tier_bytes(const sculpt_core_t* core, sculpt_tier tier) {
  if (!core || !TierOk(tier)) return 0;
  return core->core->map().blocks_in(static_cast<sculpt::Tier>(tier)) *
         core->core->block_size();
}

int sculpt_core_begin_interval(sculpt_core_t* core, uint64_t now_ns,
                               char** errptr) {
  if (!CheckCore(core, errptr)) return -1;
  return Guard(errptr, [&] { return core->core->BeginInterval(now_ns); });
}

int sculpt_core_record_access(sculpt_core_t* core, const uint32_t* counts,
                              const uint8_t* sampled, uint64_t nblocks,
                              char** errptr) {
  if (!CheckCore(core, errptr)) return -1;
  return Guard(errptr, [&] {
    if (!counts) return Status::Invalid("counts is NULL");
    Status s = CheckN(core, nblocks);
    if (!s.ok()) return s;
    return core->core->RecordAccess({counts, nblocks}, sampled);
  });
}

int sculpt_core_record_dirty(sculpt_core_t* core, const uint32_t* dirty_pages,
                             uint64_t nblocks, char** errptr) {
  if (!CheckCore(core, errptr)) return -1;
  return Guard(errptr, [&] {
    if (!dirty_pages) return Status::Invalid("dirty_pages is NULL");
    Status s = CheckN(core, nblocks);
    if (!s.ok()) return s;
    return core->core->RecordDirty({dirty_pages, nblocks});
  });
}

int sculpt_core_record_signals(sculpt_core_t* core,
                               const sculpt_vm_signals_t* sig, char** errptr) {
  if (!CheckCore(core, errptr)) return -1;
  return Guard(errptr, [&] {
    if (!sig) return Status::Invalid("signals is NULL");
    if (sig->vcpu_busy_ppm > 1000000) {
      return Status::Invalid("vcpu_busy_ppm " +
                             std::to_string(sig->vcpu_busy_ppm) +
                             " is above 1000000 (all vCPUs busy)");
    }
    if (sig->reserved) return Status::Invalid("reserved field must be 0");
    sculpt::VmSignals v;
    v.vcpu_busy = sig->vcpu_busy_ppm / 1e6;
    v.block_io_bytes = double(sig->block_io_bytes);
    v.net_bytes = double(sig->net_bytes);
    v.minor_faults = double(sig->minor_faults);
    v.major_faults = double(sig->major_faults);
    return core->core->RecordSignals(v);
  });
}

int sculpt_core_end_interval(sculpt_core_t* core, uint64_t now_ns,
                             char** errptr) {
  if (!CheckCore(core, errptr)) return -1;
  return Guard(errptr, [&] { return core->core->EndInterval(now_ns); });
}

int sculpt_core_predictions(const sculpt_core_t* core, uint8_t* classes,
                            float* probs, uint64_t nblocks, char** errptr) {
  if (!CheckCore(core, errptr)) return -1;
  return Guard(errptr, [&] {
    Status s = CheckN(core, nblocks);
    if (!s.ok()) return s;
    auto c = core->core->classes();
    auto p = core->core->probs();
    if (classes) std::memcpy(classes, c.data(), c.size());
    if (probs) std::memcpy(probs, p.data(), p.size() * sizeof(float));
    return Status::Ok();
  });
}

uint64_t sculpt_core_class_count(const sculpt_core_t* core, sculpt_class cls) {
  if (!core || cls < 0 || cls >= SCULPT_CLASS__MAX) return 0;
  return core->core->class_count(cls);
}

uint64_t sculpt_core_hottest_ranges(const sculpt_core_t* core,
                                    sculpt_range_t* out, uint64_t max) {
  if (!core || !out || max == 0) return 0;
  try {
    auto r = core->core->HottestRanges(max);
    for (size_t i = 0; i < r.size(); i++) {
      out[i].block_first = r[i].first;
      out[i].nblocks = r[i].n;
      out[i].prob = r[i].prob;
      out[i].reserved = 0;
    }
    return r.size();
  } catch (...) {
    return 0;
  }
}

int sculpt_core_tier_set_capacity(sculpt_core_t* core, sculpt_tier tier,
                                  uint64_t nslots, char** errptr) {
  if (!CheckCore(core, errptr)) return -1;
  return Guard(errptr, [&] {
    if (!TierOk(tier)) return Status::Invalid("unknown tier");
    return core->core->map().SetCapacity(static_cast<sculpt::Tier>(tier),
                                         nslots);
  });
}

uint64_t sculpt_core_tier_capacity(const sculpt_core_t* core,
                                   sculpt_tier tier) {
  if (!core || !TierOk(tier)) return 0;
  return core->core->map().capacity(static_cast<sculpt::Tier>(tier));
}

int sculpt_core_block_get(const sculpt_core_t* core, uint64_t block,
                          sculpt_tier* tier, uint64_t* slot, char** errptr) {
  if (!CheckCore(core, errptr)) return -1;
  if (block >= core->core->nblocks()) {
    SetErr(errptr, "block " + std::to_string(block) + " out of range (" +
                       std::to_string(core->core->nblocks()) + " blocks)");
    return -1;
  }
  const auto& m = core->core->map();
  if (tier) *tier = static_cast<sculpt_tier>(m.tier(uint32_t(block)));
  if (slot) *slot = m.slot(uint32_t(block));
  return 0;
}

int sculpt_core_block_set(sculpt_core_t* core, uint64_t block, sculpt_tier tier,
                          uint64_t slot, char** errptr) {
  if (!CheckCore(core, errptr)) return -1;
  return Guard(errptr, [&] {
    if (!TierOk(tier)) return Status::Invalid("unknown tier");
    if (block >= core->core->nblocks()) {
      return Status::Invalid(
          "block " + std::to_string(block) + " out of range (" +
          std::to_string(core->core->nblocks()) + " blocks)");
    }
    if (slot > sculpt::BlockMap::kMaxSlots) {
      return Status::Invalid("slot " + std::to_string(slot) + " out of range");
    }
    return core->core->SetBlock(
        uint32_t(block), static_cast<sculpt::Tier>(tier), uint32_t(slot));
  });
}

uint64_t sculpt_core_mapping_count(const sculpt_core_t* core) {
  return core ? core->core->map().mapping_count() : 0;
}

int64_t sculpt_core_plan(sculpt_core_t* core, const sculpt_budget_t* budget,
                         sculpt_move_t* moves, uint64_t max_moves,
                         char** errptr) {
  if (!CheckCore(core, errptr)) return -1;
  int64_t n = -1;
  Guard(errptr, [&] {
    if (!budget) return Status::Invalid("budget is NULL");
    if (!moves && max_moves > 0) return Status::Invalid("moves is NULL");
    sculpt::Budget b{budget->fast_bytes, budget->hot_zone_bytes,
                     budget->move_bytes_per_sec, budget->interval_ns};
    auto r = core->core->Plan(b, max_moves > (uint64_t{1} << 31)
                                     ? (size_t{1} << 31)
                                     : size_t(max_moves));
    if (!r.ok()) return r.status();
    for (size_t i = 0; i < r->size(); i++) {
      const auto& m = (*r)[i];
      sculpt_move_t& o = moves[i];
      std::memset(&o, 0, sizeof(o));
      o.id = m.id;
      o.block_first = m.block_first;
      o.nblocks = m.nblocks;
      o.dst_slot = m.dst_slot;
      o.from = static_cast<uint8_t>(m.from);
      o.to = static_cast<uint8_t>(m.to);
      o.kind = static_cast<uint8_t>(m.kind);
    }
    n = static_cast<int64_t>(r->size());
    return Status::Ok();
  });
  return n;
}

int sculpt_core_move_done(sculpt_core_t* core, uint64_t id, char** errptr) {
  if (!CheckCore(core, errptr)) return -1;
  return Guard(errptr, [&] { return core->core->MoveDone(id); });
}

int sculpt_core_move_failed(sculpt_core_t* core, uint64_t id, char** errptr) {
  if (!CheckCore(core, errptr)) return -1;
  return Guard(errptr, [&] { return core->core->MoveFailed(id); });
}

int sculpt_core_set_policy(sculpt_core_t* core, const char* name,
                           char** errptr) {
  if (!CheckCore(core, errptr)) return -1;
  return Guard(errptr, [&] {
    if (!name) return Status::Invalid("policy name is NULL");
    return core->core->SetPolicy(name);
  });
}

const char* sculpt_core_policy(const sculpt_core_t* core) {
  return core ? core->core->policy() : "";
}

int sculpt_core_set_fast_capacity(sculpt_core_t* core, uint64_t blocks,
                                  char** errptr) {
  if (!CheckCore(core, errptr)) return -1;
  return Guard(errptr, [&] { return core->core->SetFastCapacity(blocks); });
}

void sculpt_core_get_stats(const sculpt_core_t* core,
                           sculpt_core_stats_t* out) {
  if (!core || !out) return;
  const auto& s = core->core->stats();
  std::memset(out, 0, sizeof(*out));
  out->intervals = s.intervals;
  out->true_pos = s.true_pos;
  out->false_pos = s.false_pos;
  out->false_neg = s.false_neg;
  out->precision = s.true_pos + s.false_pos
                       ? double(s.true_pos) / double(s.true_pos + s.false_pos)
                       : 0;
  out->recall = s.true_pos + s.false_neg
                    ? double(s.true_pos) / double(s.true_pos + s.false_neg)
                    : 0;
  out->last_precision = s.last_precision;
  out->last_recall = s.last_recall;
  out->moves_planned = s.moves_planned;
  out->moves_done = s.moves_done;
  out->moves_failed = s.moves_failed;
  out->bytes_moved = s.bytes_moved;
  out->mappings = core->core->map().mapping_count();
}

int sculpt_core_save(const sculpt_core_t* core, uint8_t** blob, size_t* len,
                     char** errptr) {
  if (!CheckCore(core, errptr)) return -1;
  return Guard(errptr, [&] {
    if (!blob || !len) return Status::Invalid("blob or len is NULL");
    auto r = core->core->Save();
    if (!r.ok()) return r.status();
    uint8_t* p = static_cast<uint8_t*>(std::malloc(r->size() ? r->size() : 1));
    if (!p) return Status::Io("out of memory");
    std::memcpy(p, r->data(), r->size());
    *blob = p;
    *len = r->size();
    return Status::Ok();
  });
}

int sculpt_core_load(sculpt_core_t* core, const uint8_t* blob, size_t len,
                     char** errptr) {
  if (!CheckCore(core, errptr)) return -1;
  return Guard(errptr, [&] {
    if (!blob && len) return Status::Invalid("blob is NULL");
    return core->core->Load(
        std::string_view(reinterpret_cast<const char*>(blob), blob ? len : 0));
  });
}

sculpt_trace_writer_t* sculpt_trace_writer_new(const char* path,
                                               uint64_t block_size,
                                               uint64_t nblocks,
                                               uint64_t interval_ns,
                                               char** errptr) {
  sculpt_trace_writer_t* out = nullptr;
  Guard(errptr, [&] {
    if (!path) return Status::Invalid("path is NULL");
    auto w =
        sculpt::TraceWriter::Create(path, {block_size, nblocks, interval_ns});
    if (!w.ok()) return w.status();
    out = new sculpt_trace_writer_t{std::move(w.value())};
    return Status::Ok();
  });
  return out;
}

int sculpt_trace_writer_add(sculpt_trace_writer_t* w, uint64_t now_ns,
                            const uint32_t* counts, const uint8_t* sampled,
                            const uint32_t* dirty_pages,
                            const sculpt_vm_signals_t* sig, uint64_t nblocks,
                            char** errptr) {
  return Guard(errptr, [&] {
    if (!w || !w->w) return Status::Invalid("trace writer is NULL");
    if (!counts) return Status::Invalid("counts is NULL");
    if (nblocks != w->w->header().nblocks) {
      return Status::Invalid("array has " + std::to_string(nblocks) +
                             " blocks; the trace has " +
                             std::to_string(w->w->header().nblocks));
    }
    sculpt::TraceSignals ts;
    if (sig) {
      ts.vcpu_busy_ppm = sig->vcpu_busy_ppm;
      ts.block_io_bytes = sig->block_io_bytes;
      ts.net_bytes = sig->net_bytes;
      ts.minor_faults = sig->minor_faults;
      ts.major_faults = sig->major_faults;
    }
    return w->w->AddDense(now_ns, {counts, nblocks}, sampled, dirty_pages,
                          sig ? &ts : nullptr);
  });
}

int sculpt_trace_writer_close(sculpt_trace_writer_t* w, char** errptr) {
  if (!w) {
    SetErr(errptr, "trace writer is NULL");
    return -1;
  }
  int rc = Guard(errptr, [&] { return w->w->Close(); });
  delete w;
  return rc;
}

}  // extern "C"
