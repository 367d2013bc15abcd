// The organisations' schema, the tree (create, rename, move, archive) and scoped roles.
#include <algorithm>
#include <array>
#include <charconv>
#include <map>

#include "core/crypto.h"
#include "orgs/internal.h"

namespace tanpu::orgs {

using detail::conflict;
using detail::forbidden;
using detail::invalid;

namespace {

// Organisations form trees; `path` ("/1/5/23/") lists the ids from the root so a subtree is one
// index range. Roles reach the subtree of their organisation. The roster (people) and the
// memberships copy their organisation's path for the same reason, and memberships carry the
// member's running totals so a dashboard reads one index range, never raw records. Rollups per
// organisation and day × scenario are written for every ancestor of the member's organisation in
// the posting's transaction (docs/organisations.md).
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE orgs_orgs (
  id {{serial_pk}},
  parent_id BIGINT REFERENCES orgs_orgs (id),
  root_id BIGINT NOT NULL,
  depth INTEGER NOT NULL,
  type TEXT NOT NULL,
  name TEXT NOT NULL,
  region TEXT,
  path TEXT {{bytewise}} NOT NULL,
  depth_max INTEGER NOT NULL,
  archived_at_us BIGINT,
  created_at_us BIGINT NOT NULL
);
CREATE UNIQUE INDEX orgs_orgs_sibling_name ON orgs_orgs (root_id, parent_id, name);
CREATE UNIQUE INDEX orgs_orgs_root_name ON orgs_orgs (name) WHERE parent_id IS NULL;
CREATE INDEX orgs_orgs_parent ON orgs_orgs (parent_id);
CREATE INDEX orgs_orgs_path ON orgs_orgs (path);
CREATE TABLE orgs_roles (
  org_id BIGINT NOT NULL REFERENCES orgs_orgs (id),
  member_id BIGINT NOT NULL REFERENCES members (id),
  role TEXT NOT NULL,
  granted_by BIGINT NOT NULL,
  granted_at_us BIGINT NOT NULL,
  PRIMARY KEY (org_id, member_id, role)
);
CREATE INDEX orgs_roles_member ON orgs_roles (member_id);
CREATE TABLE orgs_people (
  id {{serial_pk}},
  root_id BIGINT NOT NULL REFERENCES orgs_orgs (id),
  org_id BIGINT NOT NULL REFERENCES orgs_orgs (id),
  path TEXT {{bytewise}} NOT NULL,
  member_number TEXT NOT NULL,
  name TEXT NOT NULL,
  phone_enc {{blob}},
  phone_index {{blob}},
  email_enc {{blob}},
  email_index {{blob}},
  activation_hash {{blob}},
  member_id BIGINT REFERENCES members (id),
  imported_at_us BIGINT NOT NULL,
  updated_at_us BIGINT NOT NULL,
  activated_at_us BIGINT
);
CREATE UNIQUE INDEX orgs_people_number ON orgs_people (root_id, member_number);
CREATE UNIQUE INDEX orgs_people_phone ON orgs_people (root_id, phone_index);
CREATE UNIQUE INDEX orgs_people_email ON orgs_people (root_id, email_index);
CREATE UNIQUE INDEX orgs_people_activation ON orgs_people (activation_hash);
CREATE INDEX orgs_people_path ON orgs_people (path, member_id);
CREATE INDEX orgs_people_member ON orgs_people (member_id);
CREATE TABLE orgs_memberships (
  member_id BIGINT NOT NULL REFERENCES members (id),
  root_id BIGINT NOT NULL REFERENCES orgs_orgs (id),
  org_id BIGINT NOT NULL REFERENCES orgs_orgs (id),
  path TEXT {{bytewise}} NOT NULL,
  is_primary BIGINT NOT NULL,
  joined_at_us BIGINT NOT NULL,
  records BIGINT NOT NULL,
  reduction_mg BIGINT NOT NULL,
  points BIGINT NOT NULL,
  last_day BIGINT NOT NULL,
  PRIMARY KEY (member_id, root_id)
) {{update_heavy}};
CREATE INDEX orgs_memberships_path ON orgs_memberships (path, reduction_mg, member_id);
CREATE INDEX orgs_memberships_top ON orgs_memberships (root_id, reduction_mg, member_id);
CREATE TABLE orgs_member_settings (
  member_id BIGINT NOT NULL PRIMARY KEY REFERENCES members (id),
  name_hidden BIGINT NOT NULL
);
CREATE TABLE orgs_rollup_day (
  org_id BIGINT NOT NULL,
  day BIGINT NOT NULL,
  scenario TEXT NOT NULL,
  records BIGINT NOT NULL,
  reduction_mg BIGINT NOT NULL,
  points BIGINT NOT NULL,
  PRIMARY KEY (org_id, day, scenario)
) {{update_heavy}};
CREATE TABLE orgs_rollup_total (
  org_id BIGINT NOT NULL PRIMARY KEY,
  members BIGINT NOT NULL,
  imported BIGINT NOT NULL,
  activated BIGINT NOT NULL,
  records BIGINT NOT NULL,
  reduction_mg BIGINT NOT NULL,
  points BIGINT NOT NULL
) {{update_heavy}};
CREATE TABLE orgs_rollup_scenario (
  org_id BIGINT NOT NULL,
  scenario TEXT NOT NULL,
  records BIGINT NOT NULL,
  reduction_mg BIGINT NOT NULL,
  points BIGINT NOT NULL,
  PRIMARY KEY (org_id, scenario)
) {{update_heavy}};
CREATE TABLE orgs_rollup_active (
  org_id BIGINT NOT NULL,
  day BIGINT NOT NULL,
  members BIGINT NOT NULL,
  PRIMARY KEY (org_id, day)
) {{update_heavy}};
CREATE TABLE orgs_rollup_level (
  org_id BIGINT NOT NULL,
  level BIGINT NOT NULL,
  members BIGINT NOT NULL,
  PRIMARY KEY (org_id, level)
) {{update_heavy}};
CREATE TABLE orgs_member_points_day (
  member_id BIGINT NOT NULL,
  day BIGINT NOT NULL,
  points BIGINT NOT NULL,
  PRIMARY KEY (member_id, day)
) {{update_heavy}};
CREATE TABLE orgs_activities (
  id {{serial_pk}},
  org_id BIGINT NOT NULL REFERENCES orgs_orgs (id),
  title TEXT NOT NULL,
  place TEXT NOT NULL,
  starts_at_us BIGINT NOT NULL,
  ends_at_us BIGINT NOT NULL,
  capacity BIGINT NOT NULL,
  points_per_checkin BIGINT NOT NULL,
  reduction_mg_per_checkin BIGINT NOT NULL,
  scenario TEXT NOT NULL,
  secret {{blob}} NOT NULL,
  signed_up BIGINT NOT NULL,
  checked_in BIGINT NOT NULL,
  created_by BIGINT NOT NULL,
  created_at_us BIGINT NOT NULL
);
CREATE INDEX orgs_activities_org ON orgs_activities (org_id, ends_at_us);
CREATE TABLE orgs_signups (
  activity_id BIGINT NOT NULL REFERENCES orgs_activities (id),
  member_id BIGINT NOT NULL REFERENCES members (id),
  signed_up_at_us BIGINT NOT NULL,
  checked_in_at_us BIGINT,
  PRIMARY KEY (activity_id, member_id)
);
CREATE TABLE orgs_programmes (
  id {{serial_pk}},
  org_id BIGINT NOT NULL REFERENCES orgs_orgs (id),
  name TEXT NOT NULL,
  points_per_credit BIGINT NOT NULL CHECK (points_per_credit > 0),
  credits_max BIGINT NOT NULL CHECK (credits_max > 0),
  enrolment_starts BIGINT NOT NULL,
  enrolment_ends BIGINT NOT NULL,
  enrolment_years BIGINT NOT NULL,
  created_by BIGINT NOT NULL,
  created_at_us BIGINT NOT NULL
);
CREATE INDEX orgs_programmes_org ON orgs_programmes (org_id);
)sql";

// What a creating request with an Idempotency-Key created, per member and key.
constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE orgs_idempotency (
  member_id BIGINT NOT NULL,
  idempotency_key TEXT NOT NULL,
  kind TEXT NOT NULL,
  request_sha256 TEXT NOT NULL,
  created_id BIGINT NOT NULL,
  created_at_us BIGINT NOT NULL,
  PRIMARY KEY (member_id, idempotency_key)
);
)sql";

// The methodology version an activity's reduction per check-in was quantified under.
constexpr std::string_view kSchemaV3 = R"sql(
ALTER TABLE orgs_activities ADD COLUMN methodology TEXT NOT NULL DEFAULT '';
)sql";

// Whether an organisation's region was given or copied from its parent: a copied one follows the
// organisation when it moves. Organisations created before this knew no difference; those whose
// region equals their parent's are taken as copied.
constexpr std::string_view kSchemaV4 = R"sql(
ALTER TABLE orgs_orgs ADD COLUMN region_inherited BIGINT NOT NULL DEFAULT 0;
UPDATE orgs_orgs SET region_inherited = 1 WHERE parent_id IS NOT NULL AND region IS NOT DISTINCT
  FROM (SELECT p.region FROM orgs_orgs p WHERE p.id = orgs_orgs.parent_id);
)sql";

constexpr std::array kMigrations{
    store::Migration{"orgs", 1, "organisations", kSchemaV1},
    store::Migration{"orgs", 2, "idempotency", kSchemaV2},
    store::Migration{"orgs", 3, "activity_methodology", kSchemaV3},
    store::Migration{"orgs", 4, "inherited_region", kSchemaV4},
};

constexpr std::array<std::pair<OrgType, std::string_view>, 10> kTypeNames{{
    {OrgType::university, "university"},
    {OrgType::college, "college"},
    {OrgType::class_, "class"},
    {OrgType::enterprise, "enterprise"},
    {OrgType::department, "department"},
    {OrgType::team, "team"},
    {OrgType::agency, "agency"},
    {OrgType::unit, "unit"},
    {OrgType::community, "community"},
    {OrgType::group, "group"},
}};

bool first_tier(OrgType t) {
  return t == OrgType::university || t == OrgType::enterprise || t == OrgType::agency ||
         t == OrgType::community;
}

// The types a child of `parent` may have: the tier below; a group fits anywhere below the top.
bool child_type_ok(OrgType parent, OrgType child) {
  switch (parent) {
    case OrgType::university:
      return child == OrgType::college || child == OrgType::group;
    case OrgType::college:
      return child == OrgType::class_ || child == OrgType::group;
    case OrgType::enterprise:
      return child == OrgType::department || child == OrgType::group;
    case OrgType::department:
      return child == OrgType::team || child == OrgType::group;
    case OrgType::agency:
    case OrgType::unit:
      return child == OrgType::unit || child == OrgType::group;
    case OrgType::class_:
    case OrgType::team:
    case OrgType::community:
    case OrgType::group:
      return child == OrgType::group;
  }
  return false;
}

Result<std::string> check_name(std::string_view name) {
  if (name.empty()) return invalid("name_required", "an organisation needs a name", "name");
  if (name.size() > kOrgNameBytesMax)
    return invalid("name_too_long", "the name is longer than 120 bytes", "name");
  if (name.find('/') != std::string_view::npos)
    return invalid("invalid_name", "a name cannot contain '/' (it separates import paths)", "name");
  if (std::any_of(name.begin(), name.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
    return invalid("invalid_name", "a name cannot contain control characters", "name");
  return std::string(name);
}

bool region_ok(std::string_view r) {
  // "CN", "CN-LN", "CN-LN-SHE": upper-case letters and digits in parts of 2..3, joined by '-'.
  if (r.empty() || r.size() > kRegionBytesMax) return false;
  std::size_t part = 0;
  for (const char c : r) {
    if (c == '-') {
      if (part < 2) return false;
      part = 0;
    } else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      if (++part > 3) return false;
    } else {
      return false;
    }
  }
  return part >= 2;
}

}  // namespace

std::span<const store::Migration> migrations() {
  return kMigrations;
}

std::string_view to_string(OrgType t) {
  for (const auto& [type, name] : kTypeNames)
    if (type == t) return name;
  return "group";
}

std::optional<OrgType> parse_org_type(std::string_view text) {
  for (const auto& [type, name] : kTypeNames)
    if (name == text) return type;
  return std::nullopt;
}

std::string_view to_string(OrgRole r) {
  return r == OrgRole::admin ? "admin" : "reviewer";
}

std::optional<OrgRole> parse_org_role(std::string_view text) {
  if (text == "admin") return OrgRole::admin;
  if (text == "reviewer") return OrgRole::reviewer;
  return std::nullopt;
}

namespace detail {

const std::string_view kOrgColumns =
    "o.id, o.parent_id, o.root_id, o.depth, o.type, o.name, o.region, o.path, r.depth_max, "
    "o.archived_at_us, o.created_at_us";

Org org_from_row(const store::Rows& rows, std::size_t i) {
  Org o;
  o.id = rows.i64(i, 0);
  if (!rows.is_null(i, 1)) o.parent_id = rows.i64(i, 1);
  o.root_id = rows.i64(i, 2);
  o.depth = static_cast<std::int32_t>(rows.i64(i, 3));
  o.type = parse_org_type(rows.text(i, 4)).value_or(OrgType::group);
  o.name = rows.text(i, 5);
  if (!rows.is_null(i, 6)) o.region = std::string(rows.text(i, 6));
  o.path = rows.text(i, 7);
  o.depth_max = static_cast<std::int32_t>(rows.i64(i, 8));
  o.archived = !rows.is_null(i, 9);
  o.created_at_us = rows.i64(i, 10);
  return o;
}

std::vector<std::int64_t> path_ids(std::string_view path) {
  std::vector<std::int64_t> ids;
  std::size_t at = 1;
  while (at < path.size()) {
    const std::size_t slash = path.find('/', at);
    if (slash == std::string_view::npos) break;
    std::int64_t v = 0;
    std::from_chars(path.data() + at, path.data() + slash, v);
    ids.push_back(v);
    at = slash + 1;
  }
  return ids;
}

std::string random_code(std::size_t n) {
  static constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  std::vector<std::uint8_t> bytes(n);
  random_bytes(bytes);
  std::string out(n, '0');
  for (std::size_t i = 0; i < n; ++i) out[i] = kAlphabet[bytes[i] & 31u];
  return out;
}

std::string normalise_code(std::string_view typed) {
  std::string out;
  for (char c : typed) {
    if (c == ' ' || c == '-') continue;
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    out += c;
  }
  return out;
}

Result<std::optional<std::int64_t>> replay(store::Connection& c, std::int64_t member_id,
                                           std::string_view key, std::string_view kind,
                                           std::string_view request_sha256) {
  if (key.empty()) return std::optional<std::int64_t>{};
  auto rows = c.query(
      "SELECT kind, request_sha256, created_id FROM orgs_idempotency WHERE member_id = ? AND "
      "idempotency_key = ?",
      {member_id, key});
  if (!rows) return fail(rows.error());
  if (rows->empty()) return std::optional<std::int64_t>{};
  if (rows->text(0, 0) != kind || rows->text(0, 1) != request_sha256)
    return conflict("idempotency_conflict",
                    "this Idempotency-Key was used for another request; use a new key");
  return std::optional<std::int64_t>{rows->i64(0, 2)};
}

Result<std::int64_t> write_created(
    store::Store& store, std::string_view key,
    const std::function<Result<std::int64_t>(store::Connection&)>& job) {
  auto id = store.write_value<std::int64_t>(job);
  if (!id && id.error().code == store::kUniqueViolation && !key.empty())
    id = store.write_value<std::int64_t>(job);
  return id;
}

Result<void> remember(store::Connection& c, std::int64_t member_id, std::string_view key,
                      std::string_view kind, std::string_view request_sha256,
                      std::int64_t created_id, std::int64_t now_us) {
  if (key.empty()) return {};
  auto r = c.exec(
      "INSERT INTO orgs_idempotency (member_id, idempotency_key, kind, request_sha256, "
      "created_id, created_at_us) VALUES (?, ?, ?, ?, ?, ?)",
      {member_id, key, kind, request_sha256, created_id, now_us});
  if (!r) return fail(r.error());
  return {};
}

std::string request_hash(std::initializer_list<std::string_view> fields) {
  std::string joined;
  for (const auto f : fields) {
    joined += std::to_string(f.size());
    joined += ':';
    joined += f;
  }
  return to_hex(sha256(joined));
}

Result<std::string> path_names(store::Connection& c, std::string_view path) {
  const auto ids = path_ids(path);
  std::string out;
  if (ids.size() <= 1) return out;
  std::vector<store::Param> params(ids.begin() + 1, ids.end());
  auto rows = c.query(
      "SELECT id, name FROM orgs_orgs WHERE id IN " + store::placeholder_list(params.size()),
      params);
  if (!rows) return fail(rows.error());
  std::map<std::int64_t, std::string> names;
  for (std::size_t i = 0; i < rows->size(); ++i) names[rows->i64(i, 0)] = rows->text(i, 1);
  for (std::size_t k = 1; k < ids.size(); ++k) {
    if (k > 1) out += '/';
    out += names[ids[k]];
  }
  return out;
}

}  // namespace detail

Orgs::Orgs(store::Store& store, ledger::Ledger& ledger, members::Members& members,
           members::Keys keys, const Clock& clock, Options options)
    : store_(store),
      ledger_(ledger),
      members_(members),
      keys_(keys),
      clock_(clock),
      options_(options) {}

Result<Org> Orgs::load_org(store::Connection& c, std::int64_t org_id) {
  auto rows = c.query("SELECT " + std::string(detail::kOrgColumns) +
                          " FROM orgs_orgs o JOIN orgs_orgs r ON r.id = o.root_id WHERE o.id = ?",
                      {org_id});
  if (!rows) return fail(rows.error());
  if (rows->empty()) return fail(ErrorKind::not_found, "org_not_found", "no such organisation");
  return detail::org_from_row(*rows, 0);
}

Result<Org> Orgs::load_holding(store::Connection& c, const Actor& who, std::int64_t org_id,
                               OrgRole role, std::string_view may) {
  auto org = load_org(c, org_id);
  if (!org) return fail(org.error());
  auto ok = holds(c, who, *org, role);
  if (!ok) return fail(ok.error());
  if (!*ok) {
    return forbidden(
        std::string(role == OrgRole::admin ? "only an admin" : "only an admin or reviewer") +
        " of this organisation may " + std::string(may));
  }
  return org;
}

Result<bool> Orgs::holds(store::Connection& c, const Actor& who, const Org& org, OrgRole role) {
  if (who.operator_) return true;
  const auto ids = detail::path_ids(org.path);
  std::vector<store::Param> params{who.member_id};
  params.insert(params.end(), ids.begin(), ids.end());
  // An admin may do what a reviewer may.
  const std::string roles = role == OrgRole::admin ? "('admin')" : "('admin', 'reviewer')";
  auto rows = c.query("SELECT 1 FROM orgs_roles WHERE member_id = ? AND role IN " + roles +
                          " AND org_id IN " + store::placeholder_list(ids.size()) + " LIMIT 1",
                      params);
  if (!rows) return fail(rows.error());
  return !rows->empty();
}

Result<void> Orgs::require(const Actor& who, const Org& org, OrgRole role) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto ok = holds(**lease, who, org, role);
  if (!ok) return fail(ok.error());
  if (!*ok)
    return forbidden(role == OrgRole::admin
                         ? "only an admin of this organisation or one above it may do this"
                         : "only an admin or reviewer of this organisation may see this");
  return {};
}

Result<bool> Orgs::has_role(const Actor& who, std::int64_t org_id, OrgRole role) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto org = load_org(**lease, org_id);
  if (!org) return fail(org.error());
  return holds(**lease, who, *org, role);
}

Result<Org> Orgs::create_org(const Actor& who, const OrgInput& input) {
  auto name = check_name(input.name);
  if (!name) return fail(name.error());
  if (input.region && !region_ok(*input.region))
    return invalid("invalid_region", "a region is like CN, CN-LN or CN-LN-SHE", "region");
  if (!input.parent_id) {
    if (!who.operator_) return forbidden("only the operator creates first-tier organisations");
    if (!first_tier(input.type))
      return invalid("invalid_type",
                     "a first-tier organisation is a university, enterprise, agency or community",
                     "type");
    if (input.depth_max < 1 || input.depth_max > kDepthMaxLimit)
      return invalid("invalid_depth_max", "depth_max is 1 to 6", "depth_max");
  }
  const std::int64_t now = clock_.now_us();
  const std::string hash = detail::request_hash(
      {std::to_string(input.parent_id.value_or(0)), to_string(input.type), input.name,
       input.region.value_or(""), std::to_string(input.depth_max)});
  bool replayed = false;
  const auto job = [&](store::Connection& c) -> Result<std::int64_t> {
    auto earlier = detail::replay(c, who.member_id, input.idempotency_key, "org", hash);
    if (!earlier) return fail(earlier.error());
    replayed = earlier->has_value();
    if (replayed) return **earlier;
    std::int64_t root = 0;
    std::int32_t depth = 1;
    std::string parent_path = "/";
    std::optional<std::string> region = input.region;
    if (input.parent_id) {
      auto parent = load_org(c, *input.parent_id);
      if (!parent) return fail(parent.error());
      auto ok = holds(c, who, *parent, OrgRole::admin);
      if (!ok) return fail(ok.error());
      if (!*ok) return forbidden("only an admin of the parent organisation may add to it");
      if (parent->archived) return conflict("parent_archived", "the parent is archived");
      if (!child_type_ok(parent->type, input.type))
        return invalid("invalid_type",
                       "a " + std::string(to_string(parent->type)) + " cannot hold a " +
                           std::string(to_string(input.type)),
                       "type");
      if (parent->depth + 1 > parent->depth_max)
        return invalid("depth_exceeded",
                       "this tree is at most " + std::to_string(parent->depth_max) + " deep",
                       "parent_id");
      auto siblings = c.query("SELECT COUNT(*) FROM orgs_orgs WHERE parent_id = ?", {parent->id});
      if (!siblings) return fail(siblings.error());
      if (static_cast<std::size_t>(siblings->i64(0, 0)) >= kChildrenPerOrgMax)
        return invalid("too_many_children", "an organisation holds at most 2,000 children");
      root = parent->root_id;
      depth = parent->depth + 1;
      parent_path = parent->path;
      if (!region) region = parent->region;
    }
    auto taken =
        c.query("SELECT 1 FROM orgs_orgs WHERE parent_id IS NOT DISTINCT FROM ? AND name = ?",
                {store::nullable(input.parent_id), std::string_view(*name)});
    if (!taken) return fail(taken.error());
    if (!taken->empty())
      return conflict("sibling_name_taken", "an organisation beside it has this name already");
    auto row = c.query(
        "INSERT INTO orgs_orgs (parent_id, root_id, depth, type, name, region, region_inherited, "
        "path, depth_max, created_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, '/', ?, ?) RETURNING id",
        {store::nullable(input.parent_id), root, std::int64_t{depth}, to_string(input.type),
         std::string_view(*name), store::nullable(region),
         std::int64_t{input.parent_id && !input.region ? 1 : 0}, std::int64_t{input.depth_max},
         now});
    if (!row) return fail(row.error());
    const std::int64_t created = row->i64(0, 0);
    const std::string path = parent_path + std::to_string(created) + "/";
    if (auto u = c.exec("UPDATE orgs_orgs SET path = ?, root_id = ? WHERE id = ?",
                        {std::string_view(path), root == 0 ? created : root, created});
        !u)
      return fail(u.error());
    if (auto r =
            detail::remember(c, who.member_id, input.idempotency_key, "org", hash, created, now);
        !r)
      return fail(r.error());
    return created;
  };
  auto id = detail::write_created(store_, input.idempotency_key, job);
  if (!id && id.error().code == store::kUniqueViolation)
    return conflict("sibling_name_taken", "an organisation beside it has this name already");
  if (!id) return fail(id.error());
  auto org = get_org(who, *id);
  if (org) org->replayed = replayed;
  return org;
}

Result<Org> Orgs::get_org(const Actor& who, std::int64_t org_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto org = load_org(**lease, org_id);
  if (!org) return fail(org.error());
  auto ok = holds(**lease, who, *org, OrgRole::reviewer);
  if (!ok) return fail(ok.error());
  if (!*ok) {
    // Members see the organisations they belong to (and the ones above).
    auto mine =
        (*lease)->query("SELECT path FROM orgs_memberships WHERE member_id = ? AND root_id = ?",
                        {who.member_id, org->root_id});
    if (!mine) return fail(mine.error());
    if (mine->empty() || !std::string_view(mine->text(0, 0)).starts_with(org->path))
      return forbidden("this organisation is not yours to see");
  }
  return org;
}

Result<std::vector<Org>> Orgs::children(const Actor& who, std::int64_t org_id) {
  auto org = get_org(who, org_id);
  if (!org) return fail(org.error());
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto rows = (*lease)->query("SELECT " + std::string(detail::kOrgColumns) +
                                  " FROM orgs_orgs o JOIN orgs_orgs r ON r.id = o.root_id "
                                  "WHERE o.parent_id = ? ORDER BY o.name",
                              {org_id});
  if (!rows) return fail(rows.error());
  std::vector<Org> out;
  for (std::size_t i = 0; i < rows->size(); ++i) out.push_back(detail::org_from_row(*rows, i));
  return out;
}

Result<std::vector<Org>> Orgs::roots(const Actor& who) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  const std::string cols = std::string(detail::kOrgColumns);
  auto rows =
      who.operator_
          ? (*lease)->query("SELECT " + cols +
                            " FROM orgs_orgs o JOIN orgs_orgs r ON r.id = o.root_id "
                            "WHERE o.parent_id IS NULL ORDER BY o.id")
          : (*lease)->query("SELECT DISTINCT " + cols +
                                " FROM orgs_roles g JOIN orgs_orgs o ON o.id = g.org_id "
                                "JOIN orgs_orgs r ON r.id = o.root_id WHERE g.member_id = ? "
                                "ORDER BY o.id",
                            {who.member_id});
  if (!rows) return fail(rows.error());
  std::vector<Org> out;
  for (std::size_t i = 0; i < rows->size(); ++i) out.push_back(detail::org_from_row(*rows, i));
  return out;
}

Result<Org> Orgs::rename_org(const Actor& who, std::int64_t org_id, std::string_view name) {
  auto checked = check_name(name);
  if (!checked) return fail(checked.error());
  auto done = store_.write([&](store::Connection& c) -> Result<void> {
    auto org = load_holding(c, who, org_id, OrgRole::admin, "rename it");
    if (!org) return fail(org.error());
    auto taken = c.query(
        "SELECT 1 FROM orgs_orgs WHERE id <> ? AND name = ? AND parent_id IS NOT DISTINCT FROM ?",
        {org_id, std::string_view(*checked), store::nullable(org->parent_id)});
    if (!taken) return fail(taken.error());
    if (!taken->empty())
      return conflict("sibling_name_taken", "an organisation beside it has this name already");
    auto u =
        c.exec("UPDATE orgs_orgs SET name = ? WHERE id = ?", {std::string_view(*checked), org_id});
    if (!u) return fail(u.error());
    return {};
  });
  if (!done) return fail(done.error());
  return get_org(who, org_id);
}

namespace {

// Rewrites the path prefix `from` to `to` in every table that copies paths.
Result<void> repath(store::Connection& c, const std::string& from, const std::string& to) {
  auto [lo, hi] = detail::subtree_bounds(from);
  const std::int64_t cut = static_cast<std::int64_t>(from.size()) + 1;
  for (const std::string_view table : {"orgs_orgs", "orgs_people", "orgs_memberships"}) {
    auto r = c.exec("UPDATE " + std::string(table) +
                        // PostgreSQL has substr(text, integer) only: a BIGINT parameter needs the
                        // cast.
                        " SET path = ? || substr(path, CAST(? AS INTEGER)) WHERE path >= ? AND "
                        "path < ?",
                    {std::string_view(to), cut, std::string_view(lo), std::string_view(hi)});
    if (!r) return fail(r.error());
  }
  return {};
}

}  // namespace

Result<Org> Orgs::move_org(const Actor& who, std::int64_t org_id, std::int64_t new_parent_id) {
  auto done = store_.write([&](store::Connection& c) -> Result<void> {
    auto org = load_org(c, org_id);
    if (!org) return fail(org.error());
    if (!org->parent_id) return invalid("move_root", "a first-tier organisation cannot move");
    auto target = load_org(c, new_parent_id);
    if (!target) return fail(target.error());
    auto from = load_org(c, *org->parent_id);
    if (!from) return fail(from.error());
    for (const Org* o : {&*from, &*target}) {
      auto ok = holds(c, who, *o, OrgRole::admin);
      if (!ok) return fail(ok.error());
      if (!*ok) return forbidden("moving needs admin rights over both the old and new parent");
    }
    if (target->root_id != org->root_id)
      return invalid("other_tree", "an organisation moves only within its own tree", "parent_id");
    if (target->path.starts_with(org->path))
      return invalid("move_into_descendant",
                     "an organisation cannot move under itself or its own descendant", "parent_id");
    if (target->archived) return conflict("parent_archived", "the new parent is archived");
    if (!child_type_ok(target->type, org->type))
      return invalid("invalid_type",
                     "a " + std::string(to_string(target->type)) + " cannot hold a " +
                         std::string(to_string(org->type)),
                     "parent_id");
    auto [lo, hi] = detail::subtree_bounds(org->path);
    auto deepest = c.query("SELECT MAX(depth) FROM orgs_orgs WHERE path >= ? AND path < ?",
                           {std::string_view(lo), std::string_view(hi)});
    if (!deepest) return fail(deepest.error());
    const std::int64_t shift = target->depth + 1 - org->depth;
    if (deepest->i64(0, 0) + shift > target->depth_max)
      return invalid("depth_exceeded",
                     "the subtree would be deeper than " + std::to_string(target->depth_max),
                     "parent_id");
    // Rollups: the ancestors it leaves lose its totals; the ones it joins gain them.
    const auto old_up = detail::path_ids(from->path);
    const auto new_up = detail::path_ids(target->path);
    std::vector<std::int64_t> leave, join;
    for (auto a : old_up)
      if (std::find(new_up.begin(), new_up.end(), a) == new_up.end()) leave.push_back(a);
    for (auto a : new_up)
      if (std::find(old_up.begin(), old_up.end(), a) == old_up.end()) join.push_back(a);
    if (auto r = detail::shift_org(c, org_id, leave, -1); !r) return r;
    if (auto r = detail::shift_org(c, org_id, join, 1); !r) return r;
    const std::string new_path = target->path + std::to_string(org_id) + "/";
    if (auto u = c.exec("UPDATE orgs_orgs SET depth = depth + ? WHERE path >= ? AND path < ?",
                        {shift, std::string_view(lo), std::string_view(hi)});
        !u)
      return fail(u.error());
    if (auto u = c.exec("UPDATE orgs_orgs SET parent_id = ? WHERE id = ?", {target->id, org_id});
        !u)
      return fail(u.error());
    if (auto r = repath(c, org->path, new_path); !r) return r;
    // Copied regions follow the new parent, level by level from the moved organisation down (an
    // organisation with a region of its own passes that one on to those below it).
    auto [new_lo, new_hi] = detail::subtree_bounds(new_path);
    for (std::int64_t d = target->depth + 1; d <= deepest->i64(0, 0) + shift; ++d) {
      auto u = c.exec(
          "UPDATE orgs_orgs SET region = (SELECT p.region FROM orgs_orgs p WHERE p.id = "
          "orgs_orgs.parent_id) WHERE path >= ? AND path < ? AND depth = ? AND region_inherited = "
          "1",
          {std::string_view(new_lo), std::string_view(new_hi), d});
      if (!u) return fail(u.error());
    }
    return {};
  });
  if (!done && done.error().code == store::kUniqueViolation)
    return conflict("sibling_name_taken", "the new parent holds an organisation of this name");
  if (!done) return fail(done.error());
  return get_org(who, org_id);
}

Result<Org> Orgs::archive_org(const Actor& who, std::int64_t org_id) {
  const std::int64_t now = clock_.now_us();
  auto done = store_.write([&](store::Connection& c) -> Result<void> {
    auto org = load_holding(c, who, org_id, OrgRole::admin, "archive it");
    if (!org) return fail(org.error());
    if (org->archived) return {};
    auto [lo, hi] = detail::subtree_bounds(org->path);
    auto u = c.exec(
        "UPDATE orgs_orgs SET archived_at_us = ? WHERE path >= ? AND path < ? AND "
        "archived_at_us IS NULL",
        {now, std::string_view(lo), std::string_view(hi)});
    if (!u) return fail(u.error());
    return {};
  });
  if (!done) return fail(done.error());
  return get_org(who, org_id);
}

Result<void> Orgs::grant_role(const Actor& who, std::int64_t org_id, std::int64_t member_id,
                              OrgRole role) {
  const std::int64_t now = clock_.now_us();
  return store_.write([&](store::Connection& c) -> Result<void> {
    auto org = load_org(c, org_id);
    if (!org) return fail(org.error());
    if (!org->parent_id && !who.operator_)
      return forbidden("only the operator grants roles on a first-tier organisation");
    auto ok = holds(c, who, *org, OrgRole::admin);
    if (!ok) return fail(ok.error());
    if (!*ok) return forbidden("only an admin of this organisation may grant roles in it");
    auto m = c.query("SELECT 1 FROM members WHERE id = ?", {member_id});
    if (!m) return fail(m.error());
    if (m->empty())
      return fail(ErrorKind::not_found, "member_not_found", "no such member", "member_id");
    auto r = c.exec(
        "INSERT INTO orgs_roles (org_id, member_id, role, granted_by, granted_at_us) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (org_id, member_id, role) DO NOTHING",
        {org_id, member_id, to_string(role), who.member_id, now});
    if (!r) return fail(r.error());
    return {};
  });
}

Result<void> Orgs::revoke_role(const Actor& who, std::int64_t org_id, std::int64_t member_id,
                               OrgRole role) {
  return store_.write([&](store::Connection& c) -> Result<void> {
    auto org = load_org(c, org_id);
    if (!org) return fail(org.error());
    if (!org->parent_id && !who.operator_)
      return forbidden("only the operator revokes roles on a first-tier organisation");
    auto ok = holds(c, who, *org, OrgRole::admin);
    if (!ok) return fail(ok.error());
    if (!*ok) return forbidden("only an admin of this organisation may revoke roles in it");
    auto r = c.exec("DELETE FROM orgs_roles WHERE org_id = ? AND member_id = ? AND role = ?",
                    {org_id, member_id, to_string(role)});
    if (!r) return fail(r.error());
    if (*r == 0)
      return fail(ErrorKind::not_found, "role_not_found", "the member holds no such role here");
    return {};
  });
}

}  // namespace tanpu::orgs
