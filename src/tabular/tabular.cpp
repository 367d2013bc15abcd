// detect() and read() (tabular.h): the checks every upload passes before a reader sees it.
#include "tabular/tabular.h"

#include <algorithm>
#include <array>
#include <exception>

#include "tabular/internal.h"

namespace tanpu::tabular {

namespace {

constexpr std::array<std::uint8_t, 4> zip_magic = {'P', 'K', 3, 4};
// Compound File Binary (OLE2): .xls, .doc, and Excel's password-protected workbooks of any kind.
constexpr std::array<std::uint8_t, 8> ole_magic = {0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1};

template <std::size_t N>
bool starts_with(std::span<const std::uint8_t> bytes, const std::array<std::uint8_t, N>& magic) {
  return bytes.size() >= N && std::equal(magic.begin(), magic.end(), bytes.begin());
}

}  // namespace

Format detect(std::span<const std::uint8_t> bytes) {
  return starts_with(bytes, zip_magic) ? Format::xlsx : Format::csv;
}

Result<Table> read(std::span<const std::uint8_t> bytes, const Limits& limits) {
  if (bytes.empty()) return fail(ErrorKind::invalid, "empty_file", "The file is empty.");
  if (bytes.size() > limits.bytes_max) {
    return fail(ErrorKind::too_large, "file_too_large",
                "The file has " + std::to_string(bytes.size()) + " bytes; at most " +
                    std::to_string(limits.bytes_max) + " are allowed.");
  }
  if (starts_with(bytes, ole_magic)) {
    return fail(ErrorKind::invalid, "unsupported_format",
                "This is an old Excel (.xls) or a password-protected workbook; save it as .xlsx "
                "or .csv.");
  }
  try {
    return detect(bytes) == Format::xlsx ? detail::read_xlsx(bytes, limits)
                                         : detail::read_csv(bytes, limits);
  } catch (const std::exception&) {  // allocation failures: the readers throw nothing else
    return fail(ErrorKind::internal, "out_of_memory", "The file could not be read.");
  }
}

}  // namespace tanpu::tabular
