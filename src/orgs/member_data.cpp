// The organisations' part of a member's data export (members::ExportHook).
#include <array>

#include "orgs/orgs.h"
#include "store/rows_json.h"

namespace tanpu::orgs {
namespace {

using K = store::JsonColumn::Kind;

constexpr std::array<store::JsonColumn, 9> kMemberships{{{"org_id", K::integer},
                                                         {"org_name", K::text},
                                                         {"org_type", K::text},
                                                         {"root_id", K::integer},
                                                         {"primary", K::flag},
                                                         {"joined_at", K::time_us},
                                                         {"records", K::integer},
                                                         {"reduction_mg", K::integer},
                                                         {"points", K::integer}}};
constexpr std::array<store::JsonColumn, 6> kRosters{{{"org_id", K::integer},
                                                     {"org_name", K::text},
                                                     {"member_number", K::text},
                                                     {"name", K::text},
                                                     {"imported_at", K::time_us},
                                                     {"activated_at", K::time_us}}};
constexpr std::array<store::JsonColumn, 4> kSignups{{{"activity_id", K::integer},
                                                     {"activity_title", K::text},
                                                     {"signed_up_at", K::time_us},
                                                     {"checked_in_at", K::time_us}}};
constexpr std::array<store::JsonColumn, 4> kRoles{
    {{"org_id", K::integer}, {"org_name", K::text}, {"role", K::text}, {"granted_at", K::time_us}}};

constexpr std::array<store::ExportSection, 4> kSections{{
    {"organisations",
     "SELECT m.org_id, o.name, o.type, m.root_id, m.is_primary, m.joined_at_us, m.records, "
     "m.reduction_mg, m.points FROM orgs_memberships m JOIN orgs_orgs o ON o.id = m.org_id WHERE "
     "m.member_id = ? ORDER BY m.joined_at_us DESC LIMIT ?",
     kMemberships},
    // What an organisation imported about the person (its contact details stay encrypted with it).
    {"roster_entries",
     "SELECT p.org_id, o.name, p.member_number, p.name, p.imported_at_us, p.activated_at_us FROM "
     "orgs_people p JOIN orgs_orgs o ON o.id = p.org_id WHERE p.member_id = ? ORDER BY p.id "
     "LIMIT ?",
     kRosters},
    {"activity_signups",
     "SELECT s.activity_id, a.title, s.signed_up_at_us, s.checked_in_at_us FROM orgs_signups s "
     "JOIN orgs_activities a ON a.id = s.activity_id WHERE s.member_id = ? ORDER BY "
     "s.signed_up_at_us DESC LIMIT ?",
     kSignups},
    {"organisation_roles",
     "SELECT r.org_id, o.name, r.role, r.granted_at_us FROM orgs_roles r JOIN orgs_orgs o ON o.id "
     "= r.org_id WHERE r.member_id = ? ORDER BY r.granted_at_us DESC LIMIT ?",
     kRoles},
}};

}  // namespace

Result<void> export_member(store::Connection& c, std::int64_t member_id, nlohmann::json& out) {
  return store::export_sections(c, member_id, out, kSections);
}

}  // namespace tanpu::orgs
