// Named upper bounds (TigerBeetle style: a limit on everything, checked at the boundary).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tanpu::limits {

// Ledger
inline constexpr std::size_t transfers_per_request_max = 8'190;  // one API call
inline constexpr std::size_t transfers_per_batch_max = 32'768;   // one committed ledger batch
// Accounts whose balances the ledger keeps in memory between batches (about 100 bytes each).
inline constexpr std::size_t ledger_cached_accounts_max = 1'048'576;
inline constexpr std::size_t transfer_reference_bytes_max = 128;
inline constexpr std::int64_t pending_timeout_s_max = 400LL * 24 * 3600;  // about 13 months

// HTTP
inline constexpr std::size_t http_body_bytes_max = 4 * 1024 * 1024;
inline constexpr std::size_t http_header_bytes_max = 16 * 1024;
inline constexpr int json_depth_max = 32;
inline constexpr int http_request_seconds_max = 30;
inline constexpr std::size_t page_size_max = 200;
inline constexpr std::size_t page_size_default = 50;

// Members
inline constexpr std::size_t password_bytes_min = 8;
inline constexpr std::size_t password_bytes_max = 256;
inline constexpr std::size_t email_bytes_max = 254;
inline constexpr std::size_t display_name_bytes_max = 64;

}  // namespace tanpu::limits
