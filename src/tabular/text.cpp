// Text helpers of src/tabular (internal.h): cell names, trimming, UTF-8, OOXML escapes, numbers.
#include <algorithm>
#include <string>
#include <string_view>

#include "core/assert.h"
#include "tabular/internal.h"

namespace tanpu::tabular::detail {

std::string column_name(std::size_t column) {
  std::string name;
  std::size_t n = column + 1;  // bijective base 26: A..Z, AA..ZZ, AAA..
  while (n > 0) {
    const std::size_t digit = (n - 1) % 26;
    name.insert(name.begin(), static_cast<char>('A' + digit));
    n = (n - 1) / 26;
  }
  return name;
}

std::string cell_name(std::size_t row_number, std::size_t column) {
  return "row " + std::to_string(row_number) + ", column " + column_name(column);
}

namespace {

// Length of the whitespace sequence at the start (from_end false) or end of text; 0 if none.
std::size_t space_at(std::string_view text, bool from_end) {
  static constexpr std::string_view wide[] = {"\xC2\xA0", "\xE3\x80\x80"};  // U+00A0, U+3000
  if (text.empty()) return 0;
  const char c = from_end ? text.back() : text.front();
  if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f') return 1;
  for (const std::string_view w : wide) {
    if (from_end ? text.ends_with(w) : text.starts_with(w)) return w.size();
  }
  return 0;
}

}  // namespace

std::string_view trim(std::string_view text) {
  while (const std::size_t n = space_at(text, false)) text.remove_prefix(n);
  while (const std::size_t n = space_at(text, true)) text.remove_suffix(n);
  return text;
}

bool valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* const end = p + text.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if ((c & 0xE0) == 0xC0) {
      extra = 1, cp = c & 0x1FU, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, cp = c & 0x0FU, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, cp = c & 0x07U, min = 0x10000;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) <= extra) return false;
    for (std::size_t i = 1; i <= extra; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3FU);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += extra + 1;
  }
  return true;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  TANPU_ASSERT(cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF));
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

namespace {

long hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The code point of the escape "_xHHHH_" at text[i], or -1 if there is none there.
long escape_at(std::string_view text, std::size_t i) {
  if (text.size() - i < 7 || text[i] != '_' || text[i + 1] != 'x' || text[i + 6] != '_') return -1;
  long cp = 0;
  for (std::size_t k = i + 2; k < i + 6; ++k) {
    const long digit = hex_value(text[k]);
    if (digit < 0) return -1;
    cp = cp * 16 + digit;
  }
  return (cp >= 0xD800 && cp <= 0xDFFF) ? -1 : cp;
}

}  // namespace

void decode_ooxml_escapes(std::string& text, std::size_t from) {
  TANPU_ASSERT(from <= text.size());
  std::size_t i = text.find("_x", from);
  if (i == std::string::npos) return;  // the common case: nothing to do, nothing copied
  std::string out = text.substr(from, i - from);
  while (i < text.size()) {
    const long cp = escape_at(text, i);
    if (cp >= 0) {
      append_utf8(out, static_cast<std::uint32_t>(cp));
      i += 7;
    } else {
      out += text[i++];
    }
  }
  text.resize(from);
  text += out;
}

namespace {

struct Number {
  bool negative = false;
  std::string_view integer, fraction;  // digits before and after the point
  long exponent = 0;
  bool plain = true;  // neither point nor exponent
};

// Parses [+-]digits[.digits][(e|E)[+-]digits]; false if text is not such a number.
bool parse_number(std::string_view text, Number& n) {
  std::size_t i = 0;
  auto digits = [&] {
    const std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return text.substr(start, i - start);
  };
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) n.negative = text[i++] == '-';
  n.integer = digits();
  if (i < text.size() && text[i] == '.') {
    ++i, n.plain = false;
    n.fraction = digits();
  }
  if (n.integer.empty() && n.fraction.empty()) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i, n.plain = false;
    bool negative_exponent = false;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) negative_exponent = text[i++] == '-';
    const std::string_view e = digits();
    if (e.empty() || e.size() > 4) return false;  // |exponent| < 10^4: enough, and no overflow
    for (const char c : e) n.exponent = n.exponent * 10 + (c - '0');
    if (negative_exponent) n.exponent = -n.exponent;
  }
  return i == text.size();
}

}  // namespace

std::string integral_text(std::string_view number) {
  static constexpr std::size_t digits_max = 20;
  Number n;
  if (!parse_number(number, n) || n.plain) return std::string(number);
  std::string digits;
  digits.reserve(n.integer.size() + n.fraction.size());
  digits.append(n.integer).append(n.fraction);
  const long point = static_cast<long>(n.integer.size()) + n.exponent;  // where the point moves
  const auto whole =
      static_cast<std::size_t>(std::clamp(point, 0L, static_cast<long>(digits.size())));
  if (digits.find_first_not_of('0', whole) != std::string::npos) return std::string(number);
  if (point > static_cast<long>(digits_max)) return std::string(number);
  digits.resize(whole);
  if (point > static_cast<long>(whole)) digits.append(static_cast<std::size_t>(point) - whole, '0');
  const std::size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return "0";
  digits.erase(0, first);
  return n.negative ? "-" + digits : digits;
}

}  // namespace tanpu::tabular::detail
