#include "ps/step_clock.h"

#include <gtest/gtest.h>

namespace moerec {
namespace {

TEST(StepClockTest, BspAppliesAStepOnlyWhenEveryWorkerPushedIt) {
  StepClock clock(ClusterConfig::BSP, 3, 0);
  EXPECT_TRUE(clock.PullReady(0));
  EXPECT_FALSE(clock.PullReady(1));
  EXPECT_EQ(clock.CompleteStep(), -1);
  clock.Pushed(0, 0);
  clock.Pushed(2, 0);
  EXPECT_EQ(clock.CompleteStep(), -1) << "worker 1 has not pushed step 0";
  EXPECT_FALSE(clock.PullReady(1));
  clock.Pushed(1, 0);
  EXPECT_EQ(clock.CompleteStep(), 0);
  EXPECT_FALSE(clock.PullReady(1)) << "pushed but not yet applied";
  clock.Applied();
  EXPECT_EQ(clock.applied(), 1);
  EXPECT_EQ(clock.CompleteStep(), -1);
  EXPECT_TRUE(clock.PullReady(1));
  EXPECT_FALSE(clock.PullReady(2));
}

TEST(StepClockTest, BspWorkerThatFallsBehindHoldsTheOthers) {
  StepClock clock(ClusterConfig::BSP, 2, 0);
  // Worker 0 races ahead by three steps; worker 1 is still at step 0.
  for (int64_t t = 0; t < 3; ++t) clock.Pushed(0, t);
  EXPECT_EQ(clock.CompleteStep(), -1);
  EXPECT_FALSE(clock.PullReady(1));
  clock.Pushed(1, 0);
  ASSERT_EQ(clock.CompleteStep(), 0);
  clock.Applied();
  EXPECT_EQ(clock.CompleteStep(), -1) << "step 1 of worker 1 missing";
  clock.Pushed(1, 1);
  clock.Pushed(1, 2);
  // Steps apply one at a time, in order.
  ASSERT_EQ(clock.CompleteStep(), 1);
  clock.Applied();
  ASSERT_EQ(clock.CompleteStep(), 2);
  clock.Applied();
  EXPECT_EQ(clock.CompleteStep(), -1);
  EXPECT_TRUE(clock.PullReady(3));
}

TEST(StepClockTest, AspServesEverythingAtOnce) {
  StepClock clock(ClusterConfig::ASP, 2, 0);
  EXPECT_TRUE(clock.PullReady(100));
  clock.Pushed(0, 5);
  EXPECT_EQ(clock.CompleteStep(), -1) << "ASP applies on arrival";
  EXPECT_EQ(clock.applied(), 0) << "worker 1 pushed nothing";
  clock.Pushed(1, 2);
  EXPECT_EQ(clock.applied(), 3);
}

TEST(StepClockTest, SspBoundsHowFarAWorkerRunsAhead) {
  const int s = 2;
  StepClock clock(ClusterConfig::SSP, 2, s);
  // With nothing pushed, pulls up to step s are served.
  for (int64_t t = 0; t <= s; ++t) EXPECT_TRUE(clock.PullReady(t)) << t;
  EXPECT_FALSE(clock.PullReady(s + 1));
  // The fast worker pushes steps 0..5; the slow one is at step 1 (pushed step 0 only).
  for (int64_t t = 0; t < 6; ++t) clock.Pushed(0, t);
  clock.Pushed(1, 0);
  EXPECT_EQ(clock.applied(), 1);
  // A pull at step t needs every worker to have pushed step t - s - 1.
  EXPECT_TRUE(clock.PullReady(3));   // needs step 0: pushed by both
  EXPECT_FALSE(clock.PullReady(4));  // needs step 1: the slow worker is behind
  clock.Pushed(1, 1);
  EXPECT_TRUE(clock.PullReady(4));
  EXPECT_FALSE(clock.PullReady(5));
  EXPECT_EQ(clock.CompleteStep(), -1);
}

TEST(StepClockTest, SspWithZeroStalenessIsLockStepForPulls) {
  StepClock clock(ClusterConfig::SSP, 2, 0);
  EXPECT_TRUE(clock.PullReady(0));
  EXPECT_FALSE(clock.PullReady(1));
  clock.Pushed(0, 0);
  EXPECT_FALSE(clock.PullReady(1));
  clock.Pushed(1, 0);
  EXPECT_TRUE(clock.PullReady(1));
}

TEST(StepClockTest, ResetStartsOverAtTheResumedStep) {
  StepClock bsp(ClusterConfig::BSP, 2, 0);
  bsp.Reset(10);
  EXPECT_EQ(bsp.applied(), 10);
  EXPECT_TRUE(bsp.PullReady(10));
  EXPECT_FALSE(bsp.PullReady(11));
  bsp.Pushed(0, 10);
  bsp.Pushed(1, 10);
  EXPECT_EQ(bsp.CompleteStep(), 10);

  StepClock ssp(ClusterConfig::SSP, 2, 1);
  ssp.Reset(10);
  EXPECT_TRUE(ssp.PullReady(11));
  EXPECT_FALSE(ssp.PullReady(12));
}

}  // namespace
}  // namespace moerec
