// PrefetchModel: streams and recurring phases.
#include "prefetch.h"

#include <gtest/gtest.h>

#include <vector>

namespace sculpt {
namespace {

void Interval(AccessHistory* h, PrefetchModel* p, uint32_t lo, uint32_t hi) {
  h->BeginInterval();
  for (uint32_t b = lo; b < hi; b++) h->AddTouch(b, 1, 0);
  h->EndInterval();
  p->Update(*h);
}

TEST(Prefetch, AscendingStreamPredictsTheWindowAhead) {
  AccessHistory h(200);
  PrefetchModel p(200);
  // interval 1: [10,20)  2: [20,30)  3: [30,40)  -> predict [40,50)
  Interval(&h, &p, 10, 20);
  EXPECT_EQ(p.stream(25), 0.0f);  // one segment is not yet a stream
  Interval(&h, &p, 20, 30);
  Interval(&h, &p, 30, 40);
  for (uint32_t b = 40; b < 50; b++) EXPECT_GT(p.stream(b), 0.5f) << b;
  EXPECT_EQ(p.stream(50), 0.0f);
  EXPECT_EQ(p.stream(35), 0.0f);  // behind the head
}

TEST(Prefetch, DescendingStreamPredictsBelow) {
  AccessHistory h(200);
  PrefetchModel p(200);
  Interval(&h, &p, 150, 160);
  Interval(&h, &p, 140, 150);
  Interval(&h, &p, 130, 140);
  for (uint32_t b = 120; b < 130; b++) EXPECT_GT(p.stream(b), 0.5f) << b;
  EXPECT_EQ(p.stream(119), 0.0f);
}

TEST(Prefetch, RecurringPhaseIsRecognisedAndItsSuccessorPredicted) {
  AccessHistory h(300);
  PrefetchModel p(300);
  // Phases A=[0,50) B=[100,150) C=[200,250), 3 intervals each, cycled.
  const uint32_t lo[3] = {0, 100, 200};
  int a_phase = -1;
  for (int cycle = 0; cycle < 2; cycle++) {
    for (int ph = 0; ph < 3; ph++) {
      for (int k = 0; k < 3; k++) {
        Interval(&h, &p, lo[ph], lo[ph] + 50);
        if (cycle == 0 && ph == 0) a_phase = p.current_phase();
      }
    }
  }
  EXPECT_EQ(p.phase_count(), 3);
  // Back in A for one interval: A is recognised, not a new phase, and its
  // whole profile is predicted.
  Interval(&h, &p, 0, 20);
  EXPECT_EQ(p.current_phase(), a_phase);
  EXPECT_EQ(p.phase_count(), 3);
  EXPECT_GT(p.phase_cur(40), 0.5f);  // not touched this interval, predicted
  EXPECT_EQ(p.phase_cur(120), 0.0f);
  // Near the end of A's usual visit, B is predicted as next.
  Interval(&h, &p, 0, 50);
  Interval(&h, &p, 0, 50);
  ASSERT_GE(p.predicted_next_phase(), 0);
  EXPECT_GT(p.phase_next(120), 0.5f);
  EXPECT_EQ(p.phase_next(220), 0.0f);
}

}  // namespace
}  // namespace sculpt
