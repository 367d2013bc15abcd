// The ledger's tables. Amounts are BIGINT; ids of transfers are 16-byte big-endian blobs.
#include "ledger/ledger.h"

namespace tanpu::ledger {
namespace {

// Accounts 1 and 2 are the platform issuance accounts (hot: their balances are derived from
// ledger_hot_deltas). They are the first rows, so both engines number them 1 and 2.
constexpr std::string_view kV1 = R"sql(
CREATE TABLE ledger_accounts (
  id {{serial_pk}},
  currency BIGINT NOT NULL,
  owner_kind TEXT NOT NULL,
  owner_id TEXT NOT NULL,
  flags BIGINT NOT NULL,
  debits_pending BIGINT NOT NULL DEFAULT 0,
  debits_posted BIGINT NOT NULL DEFAULT 0,
  credits_pending BIGINT NOT NULL DEFAULT 0,
  credits_posted BIGINT NOT NULL DEFAULT 0,
  created_at_us BIGINT NOT NULL,
  last_seq BIGINT NOT NULL DEFAULT 0
) {{update_heavy}};
CREATE INDEX ledger_accounts_owner ON ledger_accounts (owner_kind, owner_id);
INSERT INTO ledger_accounts (currency, owner_kind, owner_id, flags, created_at_us)
  VALUES (1, 'platform', 'issuance', 4, 0);
INSERT INTO ledger_accounts (currency, owner_kind, owner_id, flags, created_at_us)
  VALUES (2, 'platform', 'issuance', 4, 0);

-- seq = batch_id << 20 | position in batch: unique, increasing within a batch, and the batch's
-- transfers are one range scan of the primary key (no extra index for the hash chain).
CREATE TABLE ledger_transfers (
  seq BIGINT PRIMARY KEY,
  id {{blob}} NOT NULL UNIQUE,
  debit_account_id BIGINT NOT NULL,
  credit_account_id BIGINT NOT NULL,
  amount BIGINT NOT NULL,
  pending_id {{blob}},
  timeout_s BIGINT NOT NULL,
  code BIGINT NOT NULL,
  flags BIGINT NOT NULL,
  reference TEXT NOT NULL,
  timestamp_us BIGINT NOT NULL,
  debit_prev_seq BIGINT NOT NULL,
  credit_prev_seq BIGINT NOT NULL
);
-- No index per account: an account's history is the list ledger_accounts.last_seq →
-- *_prev_seq → … (primary-key look-ups). Both remaining keys (seq, time-ordered id) append.

-- Open and resolved two-phase transfers. state: 0 pending, 1 posted, 2 voided, 3 expired.
CREATE TABLE ledger_pending (
  id {{blob}} PRIMARY KEY,
  debit_account_id BIGINT NOT NULL,
  credit_account_id BIGINT NOT NULL,
  amount BIGINT NOT NULL,
  expires_at_us BIGINT NOT NULL,
  state BIGINT NOT NULL
);
CREATE INDEX ledger_pending_expiry ON ledger_pending (expires_at_us) WHERE state = 0 AND expires_at_us > 0;

-- One row per committed ledger batch; chain_pos orders the hash chain (hashes in lower-case hex).
CREATE TABLE ledger_batches (
  id {{serial_pk}},
  chain_pos BIGINT UNIQUE,
  prev_hash TEXT,
  hash TEXT,
  transfer_count BIGINT NOT NULL,
  created_at_us BIGINT NOT NULL
);

CREATE TABLE ledger_chain_head (
  singleton BIGINT PRIMARY KEY,
  chain_pos BIGINT NOT NULL,
  hash TEXT NOT NULL
);
INSERT INTO ledger_chain_head (singleton, chain_pos, hash)
  VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Net change of a hot account per batch; its balance is the account row plus the sum of these.
CREATE TABLE ledger_hot_deltas (
  batch_id BIGINT NOT NULL,
  account_id BIGINT NOT NULL,
  debits_pending BIGINT NOT NULL,
  debits_posted BIGINT NOT NULL,
  credits_pending BIGINT NOT NULL,
  credits_posted BIGINT NOT NULL,
  PRIMARY KEY (account_id, batch_id)
);
)sql";

// On SQLite a BIGINT PRIMARY KEY is an index beside the table's rowid: every transfer was written
// into three B-trees (rowid, seq, id). Rebuilt with seq as the rowid, it is written into two; on
// PostgreSQL the table is rebuilt the same, unchanged.
constexpr std::string_view kV2 = R"sql(
CREATE TABLE ledger_transfers_v2 (
  seq {{int64_pk}},
  id {{blob}} NOT NULL UNIQUE,
  debit_account_id BIGINT NOT NULL,
  credit_account_id BIGINT NOT NULL,
  amount BIGINT NOT NULL,
  pending_id {{blob}},
  timeout_s BIGINT NOT NULL,
  code BIGINT NOT NULL,
  flags BIGINT NOT NULL,
  reference TEXT NOT NULL,
  timestamp_us BIGINT NOT NULL,
  debit_prev_seq BIGINT NOT NULL,
  credit_prev_seq BIGINT NOT NULL
);
INSERT INTO ledger_transfers_v2 (seq, id, debit_account_id, credit_account_id, amount, pending_id,
    timeout_s, code, flags, reference, timestamp_us, debit_prev_seq, credit_prev_seq)
  SELECT seq, id, debit_account_id, credit_account_id, amount, pending_id, timeout_s, code, flags,
    reference, timestamp_us, debit_prev_seq, credit_prev_seq FROM ledger_transfers ORDER BY seq;
DROP TABLE ledger_transfers;
ALTER TABLE ledger_transfers_v2 RENAME TO ledger_transfers;
)sql";

// Balances in a narrow table of their own: every batch rewrites the balance row of each account
// it touches, and the account's identity (currency, owner, flags) never changes. A narrow row is
// about a third of the bytes per update and per page written to the log, and rows are written as
// multi-row upserts instead of one statement each.
constexpr std::string_view kV3 = R"sql(
CREATE TABLE ledger_balances (
  account_id {{int64_pk}} REFERENCES ledger_accounts (id),
  debits_pending BIGINT NOT NULL DEFAULT 0,
  debits_posted BIGINT NOT NULL DEFAULT 0,
  credits_pending BIGINT NOT NULL DEFAULT 0,
  credits_posted BIGINT NOT NULL DEFAULT 0,
  last_seq BIGINT NOT NULL DEFAULT 0
) {{update_heavy}};
INSERT INTO ledger_balances (account_id, debits_pending, debits_posted, credits_pending,
    credits_posted, last_seq)
  SELECT id, debits_pending, debits_posted, credits_pending, credits_posted, last_seq
  FROM ledger_accounts ORDER BY id;
ALTER TABLE ledger_accounts DROP COLUMN debits_pending;
ALTER TABLE ledger_accounts DROP COLUMN debits_posted;
ALTER TABLE ledger_accounts DROP COLUMN credits_pending;
ALTER TABLE ledger_accounts DROP COLUMN credits_posted;
ALTER TABLE ledger_accounts DROP COLUMN last_seq;
)sql";

// The batch id comes from the chain head, which every batch locks first: a batch's row is then
// written once, with its link, instead of inserted for an id and updated with the link.
constexpr std::string_view kV4 = R"sql(
ALTER TABLE ledger_chain_head ADD COLUMN last_batch_id BIGINT NOT NULL DEFAULT 0;
UPDATE ledger_chain_head SET last_batch_id = (SELECT COALESCE(MAX(id), 0) FROM ledger_batches);
)sql";

const store::Migration kMigrations[] = {
    {"ledger", 1, "accounts_transfers_chain", kV1},
    {"ledger", 2, "transfers_seq_as_rowid", kV2},
    {"ledger", 3, "balances_table", kV3},
    {"ledger", 4, "batch_id_from_head", kV4},
};

}  // namespace

std::span<const store::Migration> migrations() {
  return kMigrations;
}

}  // namespace tanpu::ledger
