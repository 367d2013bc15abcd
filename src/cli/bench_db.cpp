#include "cli/bench_db.h"

#include <array>
#include <cstdlib>

#include "core/crypto.h"
#include "store/store.h"

namespace tanpu::cli {

Result<std::unique_ptr<BenchDb>> BenchDb::create(const std::string& store, std::int64_t clients,
                                                 const std::string& tag) {
  auto db = std::unique_ptr<BenchDb>(new BenchDb());
  std::array<std::uint8_t, 6> rnd{};
  random_bytes(rnd);
  const std::string name = "bench_" + tag + "_" + to_hex(rnd);
  db->dir_ = std::filesystem::temp_directory_path() / ("tanpu-" + name);
  std::filesystem::create_directories(db->dir_);
  std::filesystem::permissions(db->dir_, std::filesystem::perms::owner_all);
  db->config_.secret_key_file = (db->dir_ / "secret.key").string();
  if (store == "sqlite") {
    db->config_.database_url = "sqlite:" + (db->dir_ / "bench.db").string();
  } else {
    const char* url = std::getenv("TANPU_DATABASE_URL");
    if (url == nullptr || std::string_view(url).rfind("postgres", 0) != 0) {
      return fail(ErrorKind::invalid, "no_postgres",
                  "--store postgres needs TANPU_DATABASE_URL (run under scripts/with-postgres)");
    }
    db->admin_url_ = url;
    db->schema_ = name;
    if (auto r = db->admin_exec("CREATE SCHEMA " + name); !r) return std::unexpected(r.error());
    const std::string sep = db->admin_url_.find('?') == std::string::npos ? "?" : "&";
    db->config_.database_url = db->admin_url_ + sep + "options=-csearch_path%3D" + name;
  }
  db->config_.read_connections = std::max<std::int64_t>(clients, 4);
  return db;
}

BenchDb::~BenchDb() {
  if (!schema_.empty()) (void)admin_exec("DROP SCHEMA " + schema_ + " CASCADE");
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

Result<void> BenchDb::admin_exec(const std::string& sql) {
  store::Options o;
  o.url = admin_url_;
  o.read_connections = 1;
  auto s = store::Store::open(o);
  if (!s) return std::unexpected(s.error());
  auto lease = (*s)->acquire();
  if (!lease) return std::unexpected(lease.error());
  return (*lease)->exec_script(sql);
}

}  // namespace tanpu::cli
