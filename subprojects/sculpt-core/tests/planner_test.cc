// PlanSet: the shared promote/demote decision.
#include "planner.h"

#include <gtest/gtest.h>

#include <vector>

namespace sculpt {
namespace {

struct Case {
  const char* name;
  std::vector<float> scores;
  std::vector<uint8_t> member;
  uint64_t capacity;
  uint64_t budget;
  float hysteresis;
  bool count_demotions;
  std::vector<uint32_t> promote;
  std::vector<uint32_t> demote;
};

TEST(PlanSet, Table) {
  const std::vector<Case> cases = {
      // blocks:    0    1    2    3
      {"fills free room best first",
       {0.1f, 0.9f, 0.5f, 0.0f},
       {0, 0, 0, 0},
       2,
       10,
       0,
       false,
       {1, 2},
       {}},
      {"zero scores never enter",
       {0.0f, 0.0f, 0.3f, 0.0f},
       {0, 0, 0, 0},
       3,
       10,
       0,
       false,
       {2},
       {}},
      {"swap when better",
       {0.2f, 0.9f, 0.5f, 0.0f},
       {1, 0, 0, 0},
       1,
       10,
       0,
       false,
       {1},
       {0}},
      {"hysteresis holds a near tie",
       {0.50f, 0.51f, 0.0f, 0.0f},
       {1, 0, 0, 0},
       1,
       10,
       0.05f,
       false,
       {},
       {}},
      {"hysteresis lets a clear winner in",
       {0.40f, 0.51f, 0.0f, 0.0f},
       {1, 0, 0, 0},
       1,
       10,
       0.05f,
       false,
       {1},
       {0}},
      {"budget caps promotions",
       {0.1f, 0.9f, 0.5f, 0.7f},
       {0, 0, 0, 0},
       4,
       2,
       0,
       false,
       {1, 3},
       {}},
      {"swaps cost two when demotions count",
       {0.1f, 0.9f, 0.5f, 0.7f},
       {1, 0, 0, 0},
       1,
       3,
       0,
       true,
       {1},
       {0}},
      {"over capacity demotes worst regardless of budget",
       {0.1f, 0.9f, 0.5f, 0.7f},
       {1, 1, 1, 1},
       2,
       0,
       0,
       false,
       {},
       {0, 2}},
  };
  for (const auto& c : cases) {
    PlanSetInput in;
    in.scores = c.scores;
    in.member = c.member;
    in.capacity = c.capacity;
    in.budget = c.budget;
    in.hysteresis = c.hysteresis;
    in.count_demotions = c.count_demotions;
    PlanSetOutput o = PlanSet(in);
    EXPECT_EQ(o.promote, c.promote) << c.name;
    EXPECT_EQ(o.demote, c.demote) << c.name;
  }
}

TEST(PlanSet, EligibilityAndFloor) {
  std::vector<float> s = {0.9f, 0.8f, 0.3f};
  std::vector<uint8_t> member = {0, 0, 0};
  std::vector<uint8_t> elig = {0, 1, 1};
  PlanSetInput in;
  in.scores = s;
  in.member = member;
  in.eligible = elig;
  in.capacity = 3;
  in.floor = 0.5f;
  EXPECT_EQ(PlanSet(in).promote, std::vector<uint32_t>({1}));
}

}  // namespace
}  // namespace sculpt
