// The roster: one-click import (CSV or XLSX), activation codes, memberships, market eligibility.
#include <algorithm>
#include <map>
#include <unordered_map>

#include "core/crypto.h"
#include "orgs/internal.h"
#include "tabular/tabular.h"

namespace tanpu::orgs {

using detail::conflict;
using detail::forbidden;
using detail::invalid;

std::string_view to_string(RowFate f) {
  switch (f) {
    case RowFate::created:
      return "created";
    case RowFate::updated:
      return "updated";
    case RowFate::unchanged:
      return "unchanged";
    case RowFate::failed:
      return "failed";
  }
  return "failed";
}

namespace {

constexpr std::size_t kActivationCodeChars = 12;

// The organisations of a subtree by their path of names relative to its top ("" is the top).
struct Subtree {
  struct Node {
    std::int64_t id = 0;
    std::string path;
    bool archived = false;
  };
  std::unordered_map<std::string, Node> by_names;
  std::unordered_map<std::int64_t, std::string> names_of;  // id -> relative names
};

Result<Subtree> load_subtree(store::Connection& c, const Org& top) {
  auto [lo, hi] = detail::subtree_bounds(top.path);
  auto rows = c.query(
      "SELECT id, parent_id, name, path, archived_at_us FROM orgs_orgs WHERE path >= ? AND "
      "path < ? ORDER BY depth",
      {std::string_view(lo), std::string_view(hi)});
  if (!rows) return fail(rows.error());
  Subtree t;
  for (std::size_t i = 0; i < rows->size(); ++i) {
    const std::int64_t id = rows->i64(i, 0);
    std::string names;
    if (id != top.id) {
      const std::string& parent = t.names_of[rows->i64(i, 1)];  // parents come first (depth)
      names = parent.empty() ? std::string(rows->text(i, 2))
                             : parent + "/" + std::string(rows->text(i, 2));
    }
    t.names_of[id] = names;
    t.by_names[names] = {id, std::string(rows->text(i, 3)), !rows->is_null(i, 4)};
  }
  return t;
}

std::string lower_trimmed(std::string_view s) {
  std::string out;
  for (char ch : s) out += (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
  return out;
}

enum Col : std::size_t { kName, kNumber, kPhone, kEmail, kPath, kCols };

// Which table column each field is in (SIZE_MAX: absent).
Result<std::array<std::size_t, kCols>> map_columns(const std::vector<std::string>& header) {
  static const std::array<std::vector<std::string_view>, kCols> kNames{{
      {"name", "姓名"},
      {"member_number", "number", "student_number", "employee_number", "学号", "工号", "编号"},
      {"phone", "mobile", "手机号", "手机", "电话"},
      {"email", "e-mail", "邮箱", "电子邮箱"},
      {"org_path", "organisation", "organization", "path", "组织", "组织路径", "班级"},
  }};
  std::array<std::size_t, kCols> at;
  at.fill(SIZE_MAX);
  for (std::size_t i = 0; i < header.size(); ++i) {
    const std::string h = lower_trimmed(header[i]);
    for (std::size_t f = 0; f < kCols; ++f) {
      if (std::find(kNames[f].begin(), kNames[f].end(), h) == kNames[f].end()) continue;
      if (at[f] != SIZE_MAX)
        return invalid("duplicate_column", "the column " + header[i] + " appears twice");
      at[f] = i;
    }
  }
  if (at[kName] == SIZE_MAX)
    return invalid("missing_column", "the file needs a name column (name or 姓名)");
  if (at[kNumber] == SIZE_MAX)
    return invalid("missing_column", "the file needs a member_number column (学号 or 工号)");
  if (at[kPhone] == SIZE_MAX && at[kEmail] == SIZE_MAX)
    return invalid("missing_column", "the file needs a phone or an email column");
  return at;
}

bool member_number_ok(std::string_view n) {
  return !n.empty() && n.size() <= kMemberNumberBytesMax &&
         std::all_of(n.begin(), n.end(), [](char ch) {
           return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= 'a' && ch <= 'z') || ch == '-' || ch == '_' || ch == '.';
         });
}

bool person_name_ok(std::string_view n) {
  return !n.empty() && n.size() <= kPersonNameBytesMax &&
         std::none_of(n.begin(), n.end(),
                      [](char ch) { return static_cast<unsigned char>(ch) < 0x20; });
}

// A person as stored, for comparing an imported row with.
struct Existing {
  std::int64_t id = 0;
  std::int64_t org_id = 0;
  std::string path;
  std::string name;
  std::string phone_index;  // hex, "" if none
  std::string email_index;
  std::optional<std::int64_t> member_id;
};

struct Loaded {
  std::unordered_map<std::string, Existing> by_number;
  std::unordered_map<std::string, std::string> number_of_phone;  // blind index hex -> number
  std::unordered_map<std::string, std::string> number_of_email;
};

Result<Loaded> load_people(store::Connection& c, std::int64_t root_id) {
  auto rows = c.query(
      "SELECT id, org_id, path, member_number, name, phone_index, email_index, member_id "
      "FROM orgs_people WHERE root_id = ?",
      {root_id});
  if (!rows) return fail(rows.error());
  Loaded l;
  l.by_number.reserve(rows->size());
  for (std::size_t i = 0; i < rows->size(); ++i) {
    Existing e;
    e.id = rows->i64(i, 0);
    e.org_id = rows->i64(i, 1);
    e.path = rows->text(i, 2);
    e.name = rows->text(i, 4);
    if (!rows->is_null(i, 5)) e.phone_index = to_hex(rows->blob(i, 5));
    if (!rows->is_null(i, 6)) e.email_index = to_hex(rows->blob(i, 6));
    if (!rows->is_null(i, 7)) e.member_id = rows->i64(i, 7);
    std::string number(rows->text(i, 3));
    if (!e.phone_index.empty()) l.number_of_phone[e.phone_index] = number;
    if (!e.email_index.empty()) l.number_of_email[e.email_index] = number;
    l.by_number.emplace(std::move(number), std::move(e));
  }
  return l;
}

// One row after validation.
struct Planned {
  std::size_t row = 0;
  std::string number;
  std::string name;
  std::optional<std::string> phone;  // normalised
  std::optional<std::string> email;
  Sha256Digest phone_index{};
  Sha256Digest email_index{};
  const Subtree::Node* org = nullptr;
  RowFate fate = RowFate::failed;
  std::optional<Error> error;
  const Existing* existing = nullptr;
};

Error row_error(std::string code, std::string message, std::string field) {
  return Error{ErrorKind::invalid, std::move(code), std::move(message), std::move(field)};
}

}  // namespace

namespace {

// Validates every row against the file and the stored roster; decides each row's fate.
std::vector<Planned> plan_rows(const tabular::Table& table,
                               const std::array<std::size_t, kCols>& at, const Subtree& subtree,
                               const Org& top, const Loaded& loaded, const members::Keys& keys) {
  std::vector<Planned> out(table.rows.size());
  std::unordered_map<std::string, std::size_t> row_of_number, row_of_phone, row_of_email;
  const auto cell = [&](std::size_t r, Col f) -> std::string_view {
    return at[f] == SIZE_MAX ? std::string_view() : std::string_view(table.rows[r][at[f]]);
  };
  const auto& [lo, hi] = detail::subtree_bounds(top.path);
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    Planned& p = out[r];
    p.row = table.row_numbers[r];
    p.number = cell(r, kNumber);
    p.name = cell(r, kName);
    const auto failed = [&](std::string code, std::string message, std::string field) {
      p.error = row_error(std::move(code), std::move(message), std::move(field));
    };
    if (!member_number_ok(p.number)) {
      failed("invalid_member_number", "a member number is 1 to 32 letters, digits, '-', '_' or '.'",
             "member_number");
      continue;
    }
    if (!person_name_ok(p.name)) {
      failed("invalid_name", "a name is 1 to 80 bytes without control characters", "name");
      continue;
    }
    if (!cell(r, kPhone).empty()) {
      auto phone = members::normalise_phone(cell(r, kPhone));
      if (!phone) {
        failed("invalid_phone", "not a phone number: " + std::string(cell(r, kPhone)), "phone");
        continue;
      }
      p.phone = *phone;
      p.phone_index = members::blind_index(keys, members::PiiField::phone, *phone);
    }
    if (!cell(r, kEmail).empty()) {
      auto email = members::normalise_email(cell(r, kEmail));
      if (!email) {
        failed("invalid_email", "not an e-mail address: " + std::string(cell(r, kEmail)), "email");
        continue;
      }
      p.email = *email;
      p.email_index = members::blind_index(keys, members::PiiField::email, *email);
    }
    if (!p.phone && !p.email) {
      failed("phone_or_email_required", "each person needs a phone number or an e-mail", "phone");
      continue;
    }
    std::string names;  // the path of names, without surrounding or doubled slashes
    for (char ch : std::string(cell(r, kPath))) {
      if (ch == '/' && (names.empty() || names.back() == '/')) continue;
      names += ch;
    }
    while (!names.empty() && (names.back() == '/' || names.back() == ' ')) names.pop_back();
    const auto node = subtree.by_names.find(names);
    if (node == subtree.by_names.end()) {
      failed("unknown_org_path", "no organisation \"" + names + "\" under " + top.name, "org_path");
      continue;
    }
    if (node->second.archived) {
      failed("org_archived", "the organisation \"" + names + "\" is archived", "org_path");
      continue;
    }
    p.org = &node->second;
    if (auto [it, fresh] = row_of_number.emplace(p.number, p.row); !fresh) {
      failed("duplicate_member_number",
             "member number " + p.number + " is also on row " + std::to_string(it->second),
             "member_number");
      continue;
    }
    const auto e = loaded.by_number.find(p.number);
    p.existing = e == loaded.by_number.end() ? nullptr : &e->second;
    if (p.existing && !(p.existing->path >= lo && p.existing->path < hi)) {
      failed("member_number_elsewhere",
             "member number " + p.number + " belongs to another part of the organisation",
             "member_number");
      continue;
    }
    const std::string ph = p.phone ? to_hex(p.phone_index) : std::string();
    const std::string em = p.email ? to_hex(p.email_index) : std::string();
    // Only a row that passes claims its phone and e-mail for the rest of the file: a refused row
    // must not make a later good row (e.g. the stored owner's own) fail too.
    const auto taken = [&](const std::unordered_map<std::string, std::string>& stored,
                           const std::unordered_map<std::string, std::size_t>& in_file,
                           const std::string& index) -> std::optional<std::string> {
      if (index.empty()) return std::nullopt;
      if (const auto f = in_file.find(index); f != in_file.end())
        return "row " + std::to_string(f->second);
      const auto s = stored.find(index);
      if (s != stored.end() && s->second != p.number) return "member number " + s->second;
      return std::nullopt;
    };
    if (auto other = taken(loaded.number_of_phone, row_of_phone, ph)) {
      failed("phone_taken", "this phone number is also given for " + *other, "phone");
      continue;
    }
    if (auto other = taken(loaded.number_of_email, row_of_email, em)) {
      failed("email_taken", "this e-mail is also given for " + *other, "email");
      continue;
    }
    if (!ph.empty()) row_of_phone.emplace(ph, p.row);
    if (!em.empty()) row_of_email.emplace(em, p.row);
    if (!p.existing) {
      p.fate = RowFate::created;
    } else {
      const bool same = p.existing->name == p.name && p.existing->org_id == p.org->id &&
                        p.existing->phone_index == ph && p.existing->email_index == em;
      p.fate = same ? RowFate::unchanged : RowFate::updated;
    }
  }
  return out;
}

// Writes the created and updated rows; fills in the created rows' activation codes.
Result<void> apply_rows(store::Connection& c, const members::Keys& keys, std::int64_t root_id,
                        std::vector<Planned>& plan, std::vector<RowResult>& results,
                        std::int64_t now) {
  std::vector<std::vector<std::uint8_t>> blobs;  // ciphertexts and hashes the params borrow
  blobs.reserve(plan.size() * 3);
  std::vector<store::Param> values;
  values.reserve(plan.size() * 12);
  const auto blob = [&](std::vector<std::uint8_t> b) -> store::Param {
    blobs.push_back(std::move(b));
    return std::span<const std::uint8_t>(blobs.back());
  };
  for (std::size_t i = 0; i < plan.size(); ++i) {
    Planned& p = plan[i];
    if (p.fate != RowFate::created && p.fate != RowFate::updated) continue;
    store::Param activation{nullptr};
    if (p.fate == RowFate::created) {
      const std::string code = detail::random_code(kActivationCodeChars);
      const auto h = sha256(code);
      activation = blob({h.begin(), h.end()});
      results[i].activation_code =
          code.substr(0, 4) + "-" + code.substr(4, 4) + "-" + code.substr(8, 4);
    }
    values.insert(
        values.end(),
        {root_id, p.org->id, std::string_view(p.org->path), std::string_view(p.number),
         std::string_view(p.name),
         p.phone ? blob(members::encrypt_pii(keys, members::PiiField::phone, *p.phone))
                 : store::Param{nullptr},
         p.phone ? blob({p.phone_index.begin(), p.phone_index.end()}) : store::Param{nullptr},
         p.email ? blob(members::encrypt_pii(keys, members::PiiField::email, *p.email))
                 : store::Param{nullptr},
         p.email ? blob({p.email_index.begin(), p.email_index.end()}) : store::Param{nullptr},
         activation, now, now});
  }
  // A re-import keeps the activation (code or member) and the first import's time.
  if (auto r = store::upsert_rows(
          c, "orgs_people",
          "root_id, org_id, path, member_number, name, phone_enc, phone_index, email_enc, "
          "email_index, activation_hash, imported_at_us, updated_at_us",
          12, "root_id, member_number",
          "org_id = excluded.org_id, path = excluded.path, name = excluded.name, phone_enc = "
          "excluded.phone_enc, phone_index = excluded.phone_index, email_enc = excluded.email_enc, "
          "email_index = excluded.email_index, updated_at_us = excluded.updated_at_us",
          values);
      !r)
    return r;
  // The roster counts of every organisation above the rows; activated people who moved take
  // their membership (and its place in the member, activity and level counts) along.
  detail::RollupDeltas d;
  for (const Planned& p : plan) {
    if (p.fate == RowFate::created) d.person(p.org->path, false, 1);
    if (p.fate != RowFate::updated || !p.existing || p.existing->org_id == p.org->id) continue;
    d.person(p.existing->path, p.existing->member_id.has_value(), -1);
    d.person(p.org->path, p.existing->member_id.has_value(), 1);
    if (!p.existing->member_id) continue;
    auto m = c.query(
        "SELECT path, last_day, reduction_mg FROM orgs_memberships WHERE member_id = ? AND "
        "root_id = ?",
        {*p.existing->member_id, root_id});
    if (!m) return fail(m.error());
    if (m->empty()) continue;
    d.member(m->text(0, 0), m->i64(0, 1), m->i64(0, 2), -1);
    d.member(p.org->path, m->i64(0, 1), m->i64(0, 2), 1);
    auto u = c.exec(
        "UPDATE orgs_memberships SET org_id = ?, path = ? WHERE member_id = ? AND root_id = ?",
        {p.org->id, std::string_view(p.org->path), *p.existing->member_id, root_id});
    if (!u) return fail(u.error());
  }
  return d.write(c);
}

}  // namespace

Result<ImportReport> Orgs::import_people(const Actor& who, std::int64_t org_id,
                                         std::span<const std::uint8_t> bytes, bool dry_run) {
  {  // The caller's rights first: a stranger's upload is not even parsed.
    auto lease = store_.acquire();
    if (!lease) return fail(lease.error());
    auto org = load_org(**lease, org_id);
    if (!org) return fail(org.error());
    auto ok = holds(**lease, who, *org, OrgRole::admin);
    if (!ok) return fail(ok.error());
    if (!*ok) return forbidden("only an admin of this organisation may import into it");
  }
  tabular::Limits limits;
  limits.bytes_max = kImportBytesMax;
  limits.rows_max = kImportRowsMax;
  auto table = tabular::read(bytes, limits);
  if (!table) return fail(table.error());
  auto at = map_columns(table->header);
  if (!at) return fail(at.error());
  const std::int64_t now = clock_.now_us();
  ImportReport report;
  report.dry_run = dry_run;
  const auto run = [&](store::Connection& c) -> Result<void> {
    auto org = load_holding(c, who, org_id, OrgRole::admin, "import into it");
    if (!org) return fail(org.error());
    if (org->archived) return conflict("org_archived", "the organisation is archived");
    if (!dry_run && c.dialect() == store::Dialect::postgres) {
      // Imports into one tree take turns: each checks member numbers, phones and e-mails against
      // what the others wrote.
      auto lock = c.query("SELECT id FROM orgs_orgs WHERE id = ? FOR UPDATE", {org->root_id});
      if (!lock) return fail(lock.error());
    }
    auto subtree = load_subtree(c, *org);
    if (!subtree) return fail(subtree.error());
    auto loaded = load_people(c, org->root_id);
    if (!loaded) return fail(loaded.error());
    auto plan = plan_rows(*table, *at, *subtree, *org, *loaded, keys_);
    report = ImportReport{};
    report.dry_run = dry_run;
    report.rows = plan.size();
    report.results.resize(plan.size());
    for (std::size_t i = 0; i < plan.size(); ++i) {
      RowResult& r = report.results[i];
      r.row = plan[i].row;
      r.member_number = plan[i].number;
      r.fate = plan[i].error ? RowFate::failed : plan[i].fate;
      r.error = plan[i].error;
      if (plan[i].error) plan[i].fate = RowFate::failed;
      switch (r.fate) {
        case RowFate::created:
          ++report.created;
          break;
        case RowFate::updated:
          ++report.updated;
          break;
        case RowFate::unchanged:
          ++report.unchanged;
          break;
        case RowFate::failed:
          ++report.failed;
          break;
      }
    }
    if (dry_run) return {};
    return apply_rows(c, keys_, org->root_id, plan, report.results, now);
  };
  Result<void> done;
  if (dry_run) {
    auto lease = store_.acquire();
    if (!lease) return fail(lease.error());
    done = run(**lease);
  } else {
    done = store_.write(run);
  }
  if (!done && done.error().code == store::kUniqueViolation)
    return conflict("import_conflict",
                    "another import changed this roster at the same time; "
                    "run the import again");
  if (!done) return fail(done.error());
  return report;
}

Result<std::vector<Person>> Orgs::people(const Actor& who, std::int64_t org_id, std::size_t limit,
                                         std::string_view after_member_number) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto& c = **lease;
  auto org = load_holding(c, who, org_id, OrgRole::reviewer, "see its roster");
  if (!org) return fail(org.error());
  auto root = load_org(c, org->root_id);
  if (!root) return fail(root.error());
  auto subtree = load_subtree(c, *root);
  if (!subtree) return fail(subtree.error());
  auto [lo, hi] = detail::subtree_bounds(org->path);
  auto rows = c.query(
      "SELECT id, org_id, member_number, name, phone_enc, email_enc, member_id, imported_at_us, "
      "activated_at_us FROM orgs_people WHERE root_id = ? AND path >= ? AND path < ? AND "
      "member_number > ? ORDER BY member_number LIMIT ?",
      {org->root_id, std::string_view(lo), std::string_view(hi), after_member_number,
       static_cast<std::int64_t>(limit)});
  if (!rows) return fail(rows.error());
  std::vector<Person> out;
  for (std::size_t i = 0; i < rows->size(); ++i) {
    Person p;
    p.id = rows->i64(i, 0);
    p.org_id = rows->i64(i, 1);
    p.org_path_names = subtree->names_of[p.org_id];
    p.member_number = rows->text(i, 2);
    p.name = rows->text(i, 3);
    if (!rows->is_null(i, 4)) {
      auto phone = members::decrypt_pii(keys_, members::PiiField::phone, rows->blob(i, 4));
      if (!phone) return fail(phone.error());
      p.phone_masked = members::mask_phone(*phone);
    }
    if (!rows->is_null(i, 5)) {
      auto email = members::decrypt_pii(keys_, members::PiiField::email, rows->blob(i, 5));
      if (!email) return fail(email.error());
      p.email_masked = members::mask_email(*email);
    }
    if (!rows->is_null(i, 6)) p.member_id = rows->i64(i, 6);
    p.imported_at_us = rows->i64(i, 7);
    if (!rows->is_null(i, 8)) p.activated_at_us = rows->i64(i, 8);
    out.push_back(std::move(p));
  }
  return out;
}

Result<std::string> Orgs::reissue_activation(const Actor& who, std::int64_t org_id,
                                             std::int64_t person_id) {
  const std::string code = detail::random_code(kActivationCodeChars);
  const auto h = sha256(code);
  auto done = store_.write([&](store::Connection& c) -> Result<void> {
    auto org = load_holding(c, who, org_id, OrgRole::admin, "issue activation codes");
    if (!org) return fail(org.error());
    auto [lo, hi] = detail::subtree_bounds(org->path);
    auto person =
        c.query("SELECT member_id FROM orgs_people WHERE id = ? AND path >= ? AND path < ?",
                {person_id, std::string_view(lo), std::string_view(hi)});
    if (!person) return fail(person.error());
    if (person->empty())
      return fail(ErrorKind::not_found, "person_not_found", "no such person on this roster");
    if (!person->is_null(0, 0))
      return conflict("already_activated", "this person has activated already");
    auto u = c.exec("UPDATE orgs_people SET activation_hash = ? WHERE id = ?",
                    {std::span<const std::uint8_t>(h), person_id});
    if (!u) return fail(u.error());
    return {};
  });
  if (!done) return fail(done.error());
  return code.substr(0, 4) + "-" + code.substr(4, 4) + "-" + code.substr(8, 4);
}

Result<Person> Orgs::activate(std::int64_t member_id, std::string_view code) {
  const std::string normal = detail::normalise_code(code);
  const auto h = sha256(normal);
  const std::int64_t now = clock_.now_us();
  auto person_id = store_.write_value<std::int64_t>([&](store::Connection& c)
                                                        -> Result<std::int64_t> {
    auto rows = c.query(
        "SELECT id, root_id, org_id, path FROM orgs_people WHERE activation_hash = ? AND "
        "member_id IS NULL",
        {std::span<const std::uint8_t>(h)});
    if (!rows) return fail(rows.error());
    if (normal.size() != kActivationCodeChars || rows->empty())
      return fail(ErrorKind::not_found, "invalid_activation_code",
                  "this activation code is not valid (mistyped, replaced or used)", "code");
    const std::int64_t id = rows->i64(0, 0), root = rows->i64(0, 1);
    std::int64_t org = rows->i64(0, 2);
    std::string path(rows->text(0, 3));
    if (c.dialect() == store::Dialect::postgres) {
      // Take turns with imports into the tree (import_people), then read the person again: a
      // re-import may have moved them to another class meanwhile.
      auto lock = c.query("SELECT id FROM orgs_orgs WHERE id = ? FOR UPDATE", {root});
      if (!lock) return fail(lock.error());
      auto now_at =
          c.query("SELECT org_id, path FROM orgs_people WHERE id = ? AND member_id IS NULL", {id});
      if (!now_at) return fail(now_at.error());
      if (now_at->empty()) return conflict("already_activated", "this code was used a moment ago");
      org = now_at->i64(0, 0);
      path = now_at->text(0, 1);
    }
    auto in_tree = c.query("SELECT 1 FROM orgs_memberships WHERE member_id = ? AND root_id = ?",
                           {member_id, root});
    if (!in_tree) return fail(in_tree.error());
    if (!in_tree->empty())
      return conflict("already_in_tree", "you belong to this organisation already");
    auto any = c.query("SELECT 1 FROM orgs_memberships WHERE member_id = ? LIMIT 1", {member_id});
    if (!any) return fail(any.error());
    auto u = c.exec(
        "UPDATE orgs_people SET member_id = ?, activated_at_us = ?, activation_hash = NULL "
        "WHERE id = ? AND member_id IS NULL",
        {member_id, now, id});
    if (!u) return fail(u.error());
    if (*u != 1) return conflict("already_activated", "this code was used a moment ago");
    auto m = c.exec(
        "INSERT INTO orgs_memberships (member_id, root_id, org_id, path, is_primary, "
        "joined_at_us, records, reduction_mg, points, last_day) VALUES (?, ?, ?, ?, ?, ?, 0, 0, "
        "0, -1)",
        {member_id, root, org, std::string_view(path), std::int64_t{any->empty() ? 1 : 0}, now});
    if (!m) return fail(m.error());
    detail::RollupDeltas d;
    d.member(path, -1, 0, 1);
    for (const std::int64_t up : detail::path_ids(path)) d.totals[up].activated += 1;
    if (auto w = d.write(c); !w) return fail(w.error());
    return id;
  });
  if (!person_id && person_id.error().code == store::kUniqueViolation)
    return conflict("already_in_tree", "you belong to this organisation already");
  if (!person_id) return fail(person_id.error());
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto rows = (*lease)->query(
      "SELECT id, org_id, member_number, name, member_id, imported_at_us, activated_at_us, path "
      "FROM orgs_people WHERE id = ?",
      {*person_id});
  if (!rows) return fail(rows.error());
  Person p;
  p.id = rows->i64(0, 0);
  p.org_id = rows->i64(0, 1);
  p.member_number = rows->text(0, 2);
  p.name = rows->text(0, 3);
  p.member_id = rows->i64(0, 4);
  p.imported_at_us = rows->i64(0, 5);
  p.activated_at_us = rows->i64(0, 6);
  auto names = detail::path_names(**lease, rows->text(0, 7));
  if (!names) return fail(names.error());
  p.org_path_names = *names;
  return p;
}

Result<std::vector<Org>> Orgs::memberships(std::int64_t member_id) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto rows = (*lease)->query("SELECT " + std::string(detail::kOrgColumns) +
                                  " FROM orgs_memberships m JOIN orgs_orgs o ON o.id = m.org_id "
                                  "JOIN orgs_orgs r ON r.id = o.root_id WHERE m.member_id = ? "
                                  "ORDER BY m.is_primary DESC, m.joined_at_us",
                              {member_id});
  if (!rows) return fail(rows.error());
  std::vector<Org> out;
  for (std::size_t i = 0; i < rows->size(); ++i) out.push_back(detail::org_from_row(*rows, i));
  return out;
}

Result<void> Orgs::set_name_hidden(std::int64_t member_id, bool hidden) {
  return store_.write([&](store::Connection& c) -> Result<void> {
    auto r = c.exec(
        "INSERT INTO orgs_member_settings (member_id, name_hidden) VALUES (?, ?) "
        "ON CONFLICT (member_id) DO UPDATE SET name_hidden = excluded.name_hidden",
        {member_id, std::int64_t{hidden ? 1 : 0}});
    if (!r) return fail(r.error());
    return {};
  });
}

Result<bool> Orgs::eligible(std::int64_t member_id, std::optional<std::int64_t> org_id,
                            const std::optional<std::string>& region) {
  auto lease = store_.acquire();
  if (!lease) return fail(lease.error());
  auto rows = (*lease)->query(
      "SELECT m.path, o.region FROM orgs_memberships m JOIN orgs_orgs o ON o.id = m.org_id "
      "WHERE m.member_id = ?",
      {member_id});
  if (!rows) return fail(rows.error());
  std::string org_path;
  if (org_id) {
    auto org = load_org(**lease, *org_id);
    if (!org)
      return org.error().kind == ErrorKind::not_found ? Result<bool>(false) : fail(org.error());
    org_path = org->path;
  }
  bool in_org = !org_id, in_region = !region;
  for (std::size_t i = 0; i < rows->size(); ++i) {
    const std::string_view path = rows->text(i, 0);
    if (org_id && path.starts_with(org_path)) in_org = true;
    if (region && !rows->is_null(i, 1)) {
      const std::string_view r = rows->text(i, 1);
      if (r.starts_with(*region) && (r.size() == region->size() || r[region->size()] == '-'))
        in_region = true;
    }
  }
  return in_org && in_region;
}

}  // namespace tanpu::orgs
