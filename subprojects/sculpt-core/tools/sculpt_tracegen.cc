// sculpt-tracegen: write the fixed synthetic traces (src/tracegen.cc).
//
//   sculpt-tracegen --list
//   sculpt-tracegen NAME OUT.sctrace
//   sculpt-tracegen --all DIR          (writes DIR/NAME.sctrace for each)
#include <cstdio>
#include <string>

#include "trace.h"
#include "tracegen.h"

namespace {

int Write(const std::string& name, const std::string& path) {
  auto t = sculpt::GenerateTrace(name);
  if (!t.ok()) {
    std::fprintf(stderr, "sculpt-tracegen: %s\n", t.status().message().c_str());
    return 1;
  }
  auto w = sculpt::TraceWriter::Create(path, t->header);
  if (!w.ok()) {
    std::fprintf(stderr, "sculpt-tracegen: %s\n", w.status().message().c_str());
    return 1;
  }
  for (const auto& iv : t->intervals) {
    sculpt::Status s = (*w)->Add(iv);
    if (!s.ok()) {
      std::fprintf(stderr, "sculpt-tracegen: %s\n", s.message().c_str());
      return 1;
    }
  }
  sculpt::Status s = (*w)->Close();
  if (!s.ok()) {
    std::fprintf(stderr, "sculpt-tracegen: %s\n", s.message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string a1 = argc > 1 ? argv[1] : "";
  if (argc == 2 && a1 == "--list") {
    for (const auto& g : sculpt::TraceGenerators()) {
      std::printf("%-14s %s\n", g.name, g.description);
    }
    return 0;
  }
  if (argc == 3 && a1 == "--all") {
    for (const auto& g : sculpt::TraceGenerators()) {
      int rc = Write(g.name, std::string(argv[2]) + "/" + g.name + ".sctrace");
      if (rc) return rc;
    }
    return 0;
  }
  if (argc == 3 && a1[0] != '-') return Write(argv[1], argv[2]);
  std::fprintf(
      stderr, "usage: sculpt-tracegen --list | --all DIR | NAME OUT.sctrace\n");
  return 2;
}
