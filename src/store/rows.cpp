#include "core/assert.h"
#include "store/connection.h"

namespace tanpu::store {

const Rows::Cell& Rows::at(std::size_t row, std::size_t col) const {
  TANPU_ASSERT(col < columns_);
  const std::size_t index = row * columns_ + col;
  TANPU_ASSERT(index < cells_.size());
  return cells_[index];
}

bool Rows::is_null(std::size_t row, std::size_t col) const {
  return at(row, col).type == Type::null;
}

std::int64_t Rows::i64(std::size_t row, std::size_t col) const {
  const Cell& c = at(row, col);
  TANPU_ASSERT_MSG(c.type == Type::i64, "column is not an integer");
  return c.value;
}

std::string_view Rows::text(std::size_t row, std::size_t col) const {
  const Cell& c = at(row, col);
  if (c.type == Type::null) return {};
  TANPU_ASSERT_MSG(c.type == Type::text || c.type == Type::blob, "column is not text");
  return std::string_view(buffer_).substr(static_cast<std::size_t>(c.value), c.size);
}

std::span<const std::uint8_t> Rows::blob(std::size_t row, std::size_t col) const {
  const std::string_view t = text(row, col);
  return {reinterpret_cast<const std::uint8_t*>(t.data()), t.size()};
}

void Rows::push_null() {
  cells_.push_back({Type::null, 0, 0});
}

void Rows::push_i64(std::int64_t v) {
  cells_.push_back({Type::i64, v, 0});
}

void Rows::push_text(std::string_view v) {
  cells_.push_back({Type::text, static_cast<std::int64_t>(buffer_.size()), v.size()});
  buffer_.append(v);
}

void Rows::push_blob(std::span<const std::uint8_t> v) {
  cells_.push_back({Type::blob, static_cast<std::int64_t>(buffer_.size()), v.size()});
  buffer_.append(reinterpret_cast<const char*>(v.data()), v.size());
}

}  // namespace tanpu::store
