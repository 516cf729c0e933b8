// sculpt-replay: run policies over recorded or generated traces against a
// two-tier model and report hit ratios next to Belady's optimum.
//
//   sculpt-replay [options] TRACE...
//
// TRACE is a trace file (docs/devel/sculpt-trace-format.rst).  With
// --table it prints the markdown tables committed in bench/core; otherwise
// one line per (trace, capacity, policy).  A trace named after one of
// sculpt-tracegen's generators, with the same contents, also gets the
// "informed" bound (replay.h), which needs the generator's prior.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "replay.h"
#include "trace.h"
#include "tracegen.h"

namespace {

void Usage() {
  std::fprintf(
      stderr,
      "usage: sculpt-replay [options] TRACE...\n"
      "  --policy P[,P...]    policies (default: recency,ewma,learned,\n"
      "                       learned+prefetch,guarded,belady,belady-budget,\n"
      "                       informed: generated traces only)\n"
      "  --capacity C[,C...]  fast capacity, percent of RAM (default "
      "2,5,10,25,50)\n"
      "  --move-budget PCT    promotions per interval, percent of RAM (default "
      "10)\n"
      "  --fast-ns N          cost of an access to fast memory (default 100)\n"
      "  --slow-ns N          cost of an access to slow memory (default 1000)\n"
      "  --move-ns N          cost of moving one block (default 20000)\n"
      "  --seed N             model seed (default 1)\n"
      "  --table              markdown tables and the gap-closed summary\n"
      "  --details            with --table: bytes moved and prefetch "
      "figures\n");
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p <= s.size()) {
    size_t q = s.find(',', p);
    if (q == std::string::npos) q = s.size();
    if (q > p) out.push_back(s.substr(p, q - p));
    p = q + 1;
  }
  return out;
}

std::string Basename(const std::string& p) {
  size_t s = p.find_last_of('/');
  std::string b = s == std::string::npos ? p : p.substr(s + 1);
  size_t d = b.find('.');
  return d == std::string::npos ? b : b.substr(0, d);
}

// The generator's prior for trace `name`, if `t` is exactly what
// sculpt-tracegen writes under that name.
bool PriorFor(const std::string& name, const sculpt::Trace& t,
              sculpt::TracePrior* prior) {
  bool known = false;
  for (const auto& g : sculpt::TraceGenerators()) known |= name == g.name;
  if (!known) return false;
  auto g = sculpt::GenerateTrace(name, 1.0, prior);
  if (!g.ok() || g->header.nblocks != t.header.nblocks ||
      g->intervals.size() != t.intervals.size()) {
    return false;
  }
  for (size_t i = 0; i < t.intervals.size(); i++) {
    if (g->intervals[i].blocks != t.intervals[i].blocks ||
        g->intervals[i].counts != t.intervals[i].counts) {
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> policies(std::begin(sculpt::kReplayPolicies),
                                    std::end(sculpt::kReplayPolicies));
  policies.push_back("informed");
  std::vector<double> caps = {2, 5, 10, 25, 50};
  double budget_pct = 10;
  sculpt::TierModel model;
  uint64_t seed = 1;
  bool table = false, details = false;
  std::vector<std::string> files;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        Usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--policy") {
      policies = Split(val());
    } else if (a == "--capacity") {
      caps.clear();
      for (auto& c : Split(val())) caps.push_back(std::atof(c.c_str()));
    } else if (a == "--move-budget") {
      budget_pct = std::atof(val().c_str());
    } else if (a == "--fast-ns") {
      model.fast_ns = std::atof(val().c_str());
    } else if (a == "--slow-ns") {
      model.slow_ns = std::atof(val().c_str());
    } else if (a == "--move-ns") {
      model.move_ns = std::atof(val().c_str());
    } else if (a == "--seed") {
      seed = std::strtoull(val().c_str(), nullptr, 0);
    } else if (a == "--table") {
      table = true;
    } else if (a == "--details") {
      details = true;
    } else if (a == "-h" || a == "--help") {
      Usage();
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      Usage();
      return 2;
    } else {
      files.push_back(a);
    }
  }
  if (files.empty()) {
    Usage();
    return 2;
  }
  // results[trace][cap][policy]
  std::map<std::string,
           std::map<double, std::map<std::string, sculpt::ReplayResult>>>
      res;
  std::vector<std::string> names;
  for (const auto& f : files) {
    auto t = sculpt::ReadTrace(f);
    if (!t.ok()) {
      std::fprintf(stderr, "sculpt-replay: %s\n", t.status().message().c_str());
      return 1;
    }
    std::string name = Basename(f);
    names.push_back(name);
    sculpt::TracePrior prior;
    bool have_prior = false;
    for (const auto& p : policies) {
      if (p == "informed") have_prior = PriorFor(name, *t, &prior);
    }
    for (double c : caps) {
      sculpt::TierModel m = model;
      m.capacity_fraction = c / 100;
      m.move_budget =
          static_cast<uint64_t>(budget_pct / 100 * t->header.nblocks);
      for (const auto& p : policies) {
        if (p == "informed" && !have_prior) continue;  // not generated
        auto r = p == "informed" ? sculpt::ReplayInformed(*t, prior, m)
                                 : sculpt::Replay(*t, p, m, seed);
        if (!r.ok()) {
          std::fprintf(stderr, "sculpt-replay: %s\n",
                       r.status().message().c_str());
          return 1;
        }
        res[name][c][p] = *r;
        if (!table) {
          std::printf(
              "%-14s cap=%5.1f%% %-17s hit=%.4f touches=%llu moved=%.1fMiB "
              "prefetch=%llu precision=%.3f coverage=%.3f model=%.1fms\n",
              name.c_str(), c, p.c_str(), r->hit_ratio(),
              (unsigned long long)r->touches, r->bytes_moved / 1048576.0,
              (unsigned long long)r->prefetches, r->prefetch_precision(),
              r->prefetch_coverage(), r->model_ms);
        }
      }
    }
  }
  if (!table) return 0;

  auto has = [&](const char* p) {
    for (auto& q : policies) {
      if (q == p) return true;
    }
    return false;
  };
  std::printf(
      "Hit ratio (%%) of every policy; in brackets, as a fraction of "
      "Belady's.  Move budget %.0f%% of RAM per interval.\n\n",
      budget_pct);
  for (const auto& name : names) {
    std::printf("#### %s\n\n| policy |", name.c_str());
    for (double c : caps) std::printf(" %g%% |", c);
    std::printf("\n|---|");
    for (size_t i = 0; i < caps.size(); i++) std::printf("---|");
    std::printf("\n");
    for (const auto& p : policies) {
      if (!res[name][caps[0]].count(p)) continue;  // informed, not generated
      std::printf("| %s |", p.c_str());
      for (double c : caps) {
        const auto& r = res[name][c][p];
        double bel = has("belady") ? res[name][c]["belady"].hit_ratio() : 0;
        if (bel > 0) {
          std::printf(" %.1f (%.2f) |", 100 * r.hit_ratio(),
                      r.hit_ratio() / bel);
        } else {
          std::printf(" %.1f |", 100 * r.hit_ratio());
        }
      }
      std::printf("\n");
    }
    std::printf("\n");
  }
  if (details) {
    std::printf(
        "#### Moves and prefetch\n\n| trace | cap | policy | GiB moved | "
        "prefetches | prefetch precision | prefetch coverage | model s |\n"
        "|---|---|---|---|---|---|---|---|\n");
    for (const auto& name : names) {
      for (double c : caps) {
        for (const auto& p : policies) {
          if (!res[name][c].count(p)) continue;
          const auto& r = res[name][c][p];
          std::printf("| %s | %g%% | %s | %.2f | %llu | %.3f | %.3f | %.2f |\n",
                      name.c_str(), c, p.c_str(), r.bytes_moved / 1073741824.0,
                      (unsigned long long)r.prefetches, r.prefetch_precision(),
                      r.prefetch_coverage(), r.model_ms / 1000);
        }
      }
    }
    std::printf("\n");
  }
  if (!(has("recency") && has("ewma") && has("learned+prefetch") &&
        has("belady"))) {
    return 0;
  }
  // The candidate judged against the baselines: the guarded policy when it
  // was replayed, else the learned model with prefetch.
  const std::string cand = has("guarded") ? "guarded" : "learned+prefetch";
  // Gap closed at small capacities, and the worst loss anywhere.  Where the
  // informed bound exists, also how much of the gap any online policy could
  // close at all, and how much of that the candidate closes.
  auto pct = [](double num, double den) {
    if (den <= 0.005) return std::string("n/a");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f%%", 100 * num / den);
    return std::string(buf);
  };
  auto points = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", 100 * v);
    return std::string(buf);
  };
  std::printf(
      "#### Gap closed by %s (capacities <= 10%%)\n\n"
      "informed: the bound for any policy that sees only the past (see "
      "replay.h); its column is the share of Belady's gap it closes, the "
      "last column the share of informed's gap that %s closes.\n\n"
      "| trace | cap | best baseline | %s | informed | belady | gap | "
      "closed | informed closes | closed of informed's |\n"
      "|---|---|---|---|---|---|---|---|---|---|\n",
      cand.c_str(), cand.c_str(), cand.c_str());
  double sum_gap = 0, sum_gain = 0, sum_frac = 0;
  double sum_igap = 0, sum_igain = 0, sum_igap_bel = 0;
  int nfrac = 0, ncell = 0, nicell = 0;
  // per trace: gain, gap to Belady, gap to informed (-1: no informed)
  std::map<std::string, std::array<double, 3>> per_trace;
  for (const auto& name : names) {
    for (double c : caps) {
      if (c > 10) continue;
      auto& row = res[name][c];
      double base =
          std::max(row["recency"].hit_ratio(), row["ewma"].hit_ratio());
      double lp = row[cand].hit_ratio();
      double bel = row["belady"].hit_ratio();
      double gap = bel - base;
      bool inf = row.count("informed") > 0;
      double igap = inf ? row["informed"].hit_ratio() - base : 0;
      ncell++;
      sum_gap += gap;
      sum_gain += lp - base;
      auto& pt = per_trace[name];
      pt[0] += lp - base;
      pt[1] += gap;
      if (inf) {
        nicell++;
        sum_igap += std::max(0.0, igap);
        sum_igain += lp - base;
        sum_igap_bel += gap;
        pt[2] += std::max(0.0, igap);
      } else {
        pt[2] = -1;
      }
      if (gap > 0.005) {
        sum_frac += (lp - base) / gap;
        nfrac++;
      }
      std::printf("| %s | %g%% | %.1f | %.1f | %s | %.1f | %.1f | %s | %s | "
                  "%s |\n",
                  name.c_str(), c, 100 * base, 100 * lp,
                  inf ? points(row["informed"].hit_ratio()).c_str() : "n/a",
                  100 * bel, 100 * gap, pct(lp - base, gap).c_str(),
                  inf ? pct(igap, gap).c_str() : "n/a",
                  inf ? pct(lp - base, igap).c_str() : "n/a");
    }
  }
  std::printf(
      "\nPer trace (capacities <= 10%%, points summed over capacities):\n\n"
      "| trace | gain over best baseline | gap to Belady | closed | gap to "
      "informed | closed of informed's |\n"
      "|---|---|---|---|---|---|\n");
  for (const auto& name : names) {
    auto [g, gap, igap] = per_trace[name];
    std::printf("| %s | %.1f | %.1f | %s | %s | %s |\n", name.c_str(),
                100 * g, 100 * gap, pct(g, gap).c_str(),
                igap >= 0 ? points(igap).c_str() : "n/a",
                igap >= 0 ? pct(g, igap).c_str() : "n/a");
  }
  double worst = 1e9;
  std::string worst_at;
  for (const auto& name : names) {
    for (double c : caps) {
      auto& row = res[name][c];
      double base =
          std::max(row["recency"].hit_ratio(), row["ewma"].hit_ratio());
      double d = row[cand].hit_ratio() - base;
      if (d < worst) {
        worst = d;
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s at %g%%", name.c_str(), c);
        worst_at = buf;
      }
    }
  }
  std::printf(
      "\nSummary over %d (trace, capacity) cells at <= 10%%:\n"
      "- gap closed, ratio of sums: %.1f%% (%.1f of %.1f points)\n"
      "- gap closed, mean over cells with a gap > 0.5 point: %.1f%% (%d "
      "cells)\n"
      "- worst difference to the best baseline anywhere: %+.2f points (%s)\n",
      ncell, sum_gap > 0 ? 100 * sum_gain / sum_gap : 0.0, 100 * sum_gain,
      100 * sum_gap, nfrac ? 100 * sum_frac / nfrac : 0.0, nfrac, 100 * worst,
      worst_at.c_str());
  if (nicell) {
    std::printf(
        "\nOver the %d of those cells whose trace has the informed bound:\n"
        "- the most any online policy can close, in expectation (informed's "
        "gain over the best baseline, ratio of sums): %.1f%% (%.1f of %.1f "
        "points)\n"
        "- %s closes %.1f%% of that (%.1f of %.1f points)\n",
        nicell, sum_igap_bel > 0 ? 100 * sum_igap / sum_igap_bel : 0.0,
        100 * sum_igap, 100 * sum_igap_bel, cand.c_str(),
        sum_igap > 0 ? 100 * sum_igain / sum_igap : 0.0, 100 * sum_igain,
        100 * sum_igap);
  }
  return 0;
}
