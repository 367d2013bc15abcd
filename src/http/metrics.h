// A small thread-safe metrics registry, rendered in the Prometheus text exposition format 0.0.4.
//
// Registering (counter(), gauge(), histogram()) takes a lock and may allocate; it returns a
// reference that stays valid for the registry's lifetime, so hot paths look a series up once and
// then only touch atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tanpu::http {

// Label name → value pairs of one series, e.g. {{"method", "GET"}, {"status", "200"}}.
using Labels = std::vector<std::pair<std::string, std::string>>;

// Monotonic count of events.
class Counter {
 public:
  // Adds n (one relaxed atomic add).
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  // The count so far.
  [[nodiscard]] std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down (open connections, queue depth).
class Gauge {
 public:
  // Replaces the value.
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  // Adds delta (negative to subtract); inc() and dec() add 1 and -1.
  void add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  void inc() { add(1.0); }
  void dec() { add(-1.0); }
  // The current value.
  [[nodiscard]] double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Observations counted into buckets by upper bound; also their sum and count.
class Histogram {
 public:
  // bounds: strictly increasing, finite upper bounds; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds);

  // Counts v in the first bucket whose bound is >= v (or +Inf), and adds it to the sum.
  void observe(double v);

  [[nodiscard]] const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts, one per bound and a last one for +Inf (equal to count()).
  [[nodiscard]] std::vector<std::uint64_t> cumulative_counts() const;
  [[nodiscard]] double sum() const { return sum_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // non-cumulative, bounds_.size() + 1
  std::atomic<double> sum_{0.0};
  std::atomic<std::uint64_t> count_{0};
};

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;
  Metrics(Metrics&&) = delete;
  Metrics& operator=(Metrics&&) = delete;

  // The series of family `name` with these labels, created on first use. A name is registered
  // with one type and one help text; using it with another type is a programmer error (asserted).
  // Names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*.
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  // buckets are the upper bounds (see Histogram); every series of a family must use the same ones.
  Histogram& histogram(std::string_view name, std::string_view help,
                       const std::vector<double>& buckets, const Labels& labels = {});

  // Every family, sorted by name, in the text exposition format 0.0.4.
  [[nodiscard]] std::string render() const;

  // Bounds for request latencies in seconds, 0.5 ms to 10 s.
  static const std::vector<double>& latency_buckets_s();

 private:
  enum class Type : std::uint8_t { counter, gauge, histogram };
  struct Family;
  Family& family(std::string_view name, std::string_view help, Type type);
  static void render_family(std::string& out, const std::string& name, const Family& f);

  mutable std::shared_mutex mutex_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
};

}  // namespace tanpu::http
