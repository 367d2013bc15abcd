#include "http/metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace tanpu::http {
namespace {

TEST(Metrics, RendersCountersWithHelpTypeAndLabels) {
  Metrics m;
  m.counter("jobs_total", "Jobs done.", {{"queue", "a"}}).inc(3);
  m.counter("jobs_total", "Jobs done.", {{"queue", "b"}}).inc();
  EXPECT_EQ(m.render(),
            "# HELP jobs_total Jobs done.\n"
            "# TYPE jobs_total counter\n"
            "jobs_total{queue=\"a\"} 3\n"
            "jobs_total{queue=\"b\"} 1\n");
}

TEST(Metrics, OneLabelSetIsOneSeriesWhateverTheOrder) {
  Metrics m;
  Counter& a = m.counter("c", "h", {{"x", "1"}, {"y", "2"}});
  Counter& b = m.counter("c", "h", {{"y", "2"}, {"x", "1"}});
  EXPECT_EQ(&a, &b);
  a.inc();
  b.inc();
  EXPECT_NE(m.render().find("c{x=\"1\",y=\"2\"} 2\n"), std::string::npos) << m.render();
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  Metrics m;
  m.gauge("g", "line one\nback\\slash \"quoted\"", {{"path", "a\"b\\c\nd"}}).set(1.5);
  EXPECT_EQ(m.render(),
            "# HELP g line one\\nback\\\\slash \"quoted\"\n"
            "# TYPE g gauge\n"
            "g{path=\"a\\\"b\\\\c\\nd\"} 1.5\n");
}

TEST(Metrics, GaugesGoUpAndDown) {
  Metrics m;
  Gauge& g = m.gauge("open", "Open things.");
  g.inc();
  g.inc();
  g.dec();
  EXPECT_EQ(g.value(), 1.0);
  EXPECT_NE(m.render().find("\nopen 1\n"), std::string::npos) << m.render();
}

TEST(Metrics, RendersHistogramsCumulatively) {
  Metrics m;
  Histogram& h = m.histogram("latency_seconds", "Latency.", {0.5, 1.0}, {{"route", "/x"}});
  h.observe(0.25);
  h.observe(0.5);  // on the bound: counted in le="0.5"
  h.observe(0.75);
  h.observe(7.0);
  EXPECT_EQ(m.render(),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{route=\"/x\",le=\"0.5\"} 2\n"
            "latency_seconds_bucket{route=\"/x\",le=\"1\"} 3\n"
            "latency_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"
            "latency_seconds_sum{route=\"/x\"} 8.5\n"
            "latency_seconds_count{route=\"/x\"} 4\n");
}

TEST(Metrics, HistogramWithoutLabels) {
  Metrics m;
  m.histogram("h", "H.", {1.0}).observe(2.0);
  EXPECT_NE(m.render().find("h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 1\nh_sum 2\nh_count 1\n"),
            std::string::npos)
      << m.render();
}

TEST(Metrics, FamiliesAreSortedByName) {
  Metrics m;
  m.counter("b_total", "B.").inc();
  m.counter("a_total", "A.").inc();
  const std::string text = m.render();
  EXPECT_LT(text.find("a_total"), text.find("b_total"));
}

TEST(Metrics, CountsExactlyUnderConcurrency) {
  Metrics m;
  constexpr int kThreads = 8;
  constexpr int kIncrements = 10'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < kIncrements; ++i) {
        m.counter("hits_total", "Hits.", {{"parity", t % 2 == 0 ? "even" : "odd"}}).inc();
        m.histogram("d", "D.", {1.0}).observe(0.5);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(m.counter("hits_total", "Hits.", {{"parity", "even"}}).value(),
            static_cast<std::uint64_t>(kThreads / 2 * kIncrements));
  EXPECT_EQ(m.histogram("d", "D.", {1.0}).count(),
            static_cast<std::uint64_t>(kThreads * kIncrements));
}

TEST(MetricsDeathTest, RefusesANameUsedWithAnotherType) {
  Metrics m;
  m.counter("x", "X.");
  EXPECT_DEATH(m.gauge("x", "X."), "one type");
  EXPECT_DEATH(m.counter("1x", "X."), "invalid metric name");
  EXPECT_DEATH(m.counter("y", "Y.", {{"__reserved", "v"}}), "invalid label name");
  EXPECT_DEATH(m.histogram("z", "Z.", {1.0}, {{"le", "v"}}), "reserved");
}

}  // namespace
}  // namespace tanpu::http
