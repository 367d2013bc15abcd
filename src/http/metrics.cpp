#include "http/metrics.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

#include "core/assert.h"

namespace tanpu::http {
namespace {

bool valid_name(std::string_view name, bool colon_allowed) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (colon_allowed && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Label values escape backslash, double quote and newline; HELP text only backslash and newline.
void append_escaped(std::string& out, std::string_view text, bool quote) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    std::array<char, 64> buf{};
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    TANPU_ASSERT(ec == std::errc());
    out.append(buf.data(), end);
  }
}

void append_number(std::string& out, std::uint64_t v) {
  out += std::to_string(v);
}

// The series key: labels sorted by name and rendered as they appear between the braces, so one
// label set always finds one series whatever order the caller listed it in.
std::string label_key(Labels labels) {
  std::ranges::sort(labels);
  std::string key;
  for (const auto& [name, value] : labels) {
    if (!key.empty()) key += ',';
    key += name;
    key += "=\"";
    append_escaped(key, value, true);
    key += '"';
  }
  return key;
}

void check_labels(const Labels& labels, bool histogram) {
  for (const auto& [name, value] : labels) {
    TANPU_ASSERT_MSG(valid_name(name, false) && !name.starts_with("__"), "invalid label name");
    TANPU_ASSERT_MSG(!histogram || name != "le", "'le' is reserved in histograms");
  }
}

std::string_view type_name(int type) {
  switch (type) {
    case 0:
      return "counter";
    case 1:
      return "gauge";
    default:
      return "histogram";
  }
}

void append_sample(std::string& out, std::string_view name, std::string_view suffix,
                   std::string_view key, std::string_view extra_label) {
  out += name;
  out += suffix;
  if (!key.empty() || !extra_label.empty()) {
    out += '{';
    out += key;
    if (!key.empty() && !extra_label.empty()) out += ',';
    out += extra_label;
    out += '}';
  }
  out += ' ';
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    TANPU_ASSERT(std::isfinite(bounds_[i]));
    TANPU_ASSERT_MSG(i == 0 || bounds_[i - 1] < bounds_[i], "bounds must increase strictly");
  }
}

void Histogram::observe(double v) {
  // A bucket counts observations v <= its bound ("le").
  const auto it = std::ranges::lower_bound(bounds_, v);
  const auto index = static_cast<std::size_t>(it - bounds_.begin());
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<std::uint64_t> Histogram::cumulative_counts() const {
  std::vector<std::uint64_t> out(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    out[i] = running;
  }
  return out;
}

struct Metrics::Family {
  Type type;
  std::string help;
  std::vector<double> buckets;  // histograms only
  struct Series {
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  std::map<std::string, Series, std::less<>> series;
};

Metrics::Metrics() = default;
Metrics::~Metrics() = default;

Metrics::Family& Metrics::family(std::string_view name, std::string_view help, Type type) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    TANPU_ASSERT_MSG(valid_name(name, true), "invalid metric name");
    auto created = std::make_unique<Family>(Family{type, std::string(help), {}, {}});
    it = families_.emplace(std::string(name), std::move(created)).first;
  }
  TANPU_ASSERT_MSG(it->second->type == type, "a metric name is registered with one type");
  return *it->second;
}

Counter& Metrics::counter(std::string_view name, std::string_view help, const Labels& labels) {
  const std::string key = label_key(labels);
  {
    const std::shared_lock lock(mutex_);
    const auto f = families_.find(name);
    if (f != families_.end() && f->second->type == Type::counter) {
      const auto s = f->second->series.find(key);
      if (s != f->second->series.end()) return *s->second.counter;
    }
  }
  const std::unique_lock lock(mutex_);
  check_labels(labels, false);
  auto& series = family(name, help, Type::counter).series[key];
  if (!series.counter) series.counter = std::make_unique<Counter>();
  return *series.counter;
}

Gauge& Metrics::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  const std::string key = label_key(labels);
  {
    const std::shared_lock lock(mutex_);
    const auto f = families_.find(name);
    if (f != families_.end() && f->second->type == Type::gauge) {
      const auto s = f->second->series.find(key);
      if (s != f->second->series.end()) return *s->second.gauge;
    }
  }
  const std::unique_lock lock(mutex_);
  check_labels(labels, false);
  auto& series = family(name, help, Type::gauge).series[key];
  if (!series.gauge) series.gauge = std::make_unique<Gauge>();
  return *series.gauge;
}

Histogram& Metrics::histogram(std::string_view name, std::string_view help,
                              const std::vector<double>& buckets, const Labels& labels) {
  const std::string key = label_key(labels);
  {
    const std::shared_lock lock(mutex_);
    const auto f = families_.find(name);
    if (f != families_.end() && f->second->type == Type::histogram) {
      const auto s = f->second->series.find(key);
      if (s != f->second->series.end()) return *s->second.histogram;
    }
  }
  const std::unique_lock lock(mutex_);
  check_labels(labels, true);
  Family& f = family(name, help, Type::histogram);
  if (f.series.empty()) f.buckets = buckets;
  TANPU_ASSERT_MSG(f.buckets == buckets, "every series of a histogram has the same buckets");
  auto& series = f.series[key];
  if (!series.histogram) series.histogram = std::make_unique<Histogram>(buckets);
  return *series.histogram;
}

void Metrics::render_family(std::string& out, const std::string& name, const Family& f) {
  out += "# HELP ";
  out += name;
  out += ' ';
  append_escaped(out, f.help, false);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type_name(static_cast<int>(f.type));
  out += '\n';
  for (const auto& [key, series] : f.series) {
    if (series.counter) {
      append_sample(out, name, "", key, "");
      append_number(out, series.counter->value());
    } else if (series.gauge) {
      append_sample(out, name, "", key, "");
      append_number(out, series.gauge->value());
    } else {
      const Histogram& h = *series.histogram;
      const auto counts = h.cumulative_counts();
      for (std::size_t i = 0; i < counts.size(); ++i) {
        std::string le = "le=\"";
        append_number(le, i < h.bounds().size() ? h.bounds()[i] : HUGE_VAL);
        le += '"';
        append_sample(out, name, "_bucket", key, le);
        append_number(out, counts[i]);
        out += '\n';
      }
      append_sample(out, name, "_sum", key, "");
      append_number(out, h.sum());
      out += '\n';
      // _count is the +Inf bucket, so the two agree even while observations land mid-render.
      append_sample(out, name, "_count", key, "");
      append_number(out, counts.back());
    }
    out += '\n';
  }
}

std::string Metrics::render() const {
  const std::shared_lock lock(mutex_);
  std::string out;
  for (const auto& [name, f] : families_) render_family(out, name, *f);
  return out;
}

const std::vector<double>& Metrics::latency_buckets_s() {
  static const std::vector<double> buckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                              0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
  return buckets;
}

}  // namespace tanpu::http
