// The engine-neutral part of a connection: transaction tails, and the savepoint marks that let a
// rolled-back savepoint take its tail entries with it.
#include "store/connection.h"

#include <algorithm>
#include <utility>

#include "core/assert.h"

namespace tanpu::store {

void Connection::clear_tails() {
  tails_.clear();
  marks_.clear();
}

Result<void> Connection::begin() {
  clear_tails();
  return do_begin();
}

Result<void> Connection::commit() {
  // Taken out first: a tail may use savepoints of its own, and must not see itself in the marks.
  std::vector<Tail> tails = std::exchange(tails_, {});
  marks_.clear();
  std::ranges::stable_sort(tails, {}, [](const Tail& t) { return t.work->rank(); });
  for (Tail& t : tails) {
    if (auto r = t.work->finish(*this); !r) {
      // Part of the tails' work may be done; none of it may ever be committed.
      (void)do_rollback();
      return r;
    }
  }
  return do_commit();
}

Result<void> Connection::rollback() {
  clear_tails();
  return do_rollback();
}

Result<void> Connection::savepoint(std::string_view name) {
  auto r = do_savepoint(name);
  if (!r) return r;
  Mark m{.name = std::string(name), .sizes = {}};
  m.sizes.reserve(tails_.size());
  for (const Tail& t : tails_) m.sizes.push_back(t.work->size());
  marks_.push_back(std::move(m));
  return {};
}

namespace {
// The innermost open savepoint of that name, as SQL resolves it.
template <class Marks>
auto innermost(Marks& marks, std::string_view name) {
  return std::find_if(marks.rbegin(), marks.rend(), [&](const auto& m) { return m.name == name; });
}
}  // namespace

Result<void> Connection::release(std::string_view name) {
  auto r = do_release(name);
  if (!r) return r;
  // Releasing keeps the work done since, so the tails stay as they are.
  if (auto it = innermost(marks_, name); it != marks_.rend()) {
    marks_.erase(std::next(it).base(), marks_.end());
  }
  return {};
}

Result<void> Connection::rollback_to(std::string_view name) {
  auto r = do_rollback_to(name);
  if (!r) return r;
  auto it = innermost(marks_, name);
  if (it == marks_.rend()) return {};
  // The savepoint itself stays open; those inside it are gone.
  marks_.erase(it.base(), marks_.end());
  const std::vector<std::size_t>& sizes = marks_.back().sizes;
  tails_.resize(sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i) tails_[i].work->truncate(sizes[i]);
  return {};
}

TransactionTail* Connection::tail(const void* key) const {
  for (const Tail& t : tails_) {
    if (t.key == key) return t.work.get();
  }
  return nullptr;
}

TransactionTail& Connection::add_tail(const void* key, std::unique_ptr<TransactionTail> tail) {
  TANPU_ASSERT(tail != nullptr);
  TANPU_ASSERT_MSG(this->tail(key) == nullptr, "one tail per key");
  TANPU_ASSERT_MSG(in_transaction(), "a transaction tail needs an open transaction");
  tails_.push_back(Tail{.key = key, .work = std::move(tail)});
  return *tails_.back().work;
}

}  // namespace tanpu::store
