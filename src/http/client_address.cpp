#include "http/client_address.h"

#include <optional>

#include <boost/asio/ip/address.hpp>

namespace tanpu::http {
namespace {

constexpr std::size_t kTrustedNetworksMax = 64;
constexpr std::size_t kForwardedEntriesMax = 32;

// An IPv4 peer of a dual-stack socket reads "::ffff:a.b.c.d": it is the IPv4 address.
boost::asio::ip::address unmapped(const boost::asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  }
  return a;
}

std::optional<boost::asio::ip::address> parse_address(std::string_view text) {
  boost::system::error_code ec;
  const auto a = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return unmapped(a);
}

bool trusted(const boost::asio::ip::address& a, std::span<const TrustedNetwork> networks) {
  for (const TrustedNetwork& n : networks) {
    if (a.is_v4() && !n.v6) {
      const boost::asio::ip::network_v4 host(a.to_v4(), 32);
      if (host == n.net4 || host.is_subnet_of(n.net4)) return true;
    } else if (a.is_v6() && n.v6) {
      const boost::asio::ip::network_v6 host(a.to_v6(), 128);
      if (host == n.net6 || host.is_subnet_of(n.net6)) return true;
    }
  }
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view host_of(std::string_view peer) {
  if (peer.starts_with('[')) {
    const std::size_t close = peer.find(']');
    return close == std::string_view::npos ? peer : peer.substr(1, close - 1);
  }
  const std::size_t colon = peer.rfind(':');
  return colon == std::string_view::npos ? peer : peer.substr(0, colon);
}

Result<std::vector<TrustedNetwork>> parse_trusted_networks(std::string_view list) {
  std::vector<TrustedNetwork> out;
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view entry = trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    if (entry.empty()) continue;
    if (out.size() == kTrustedNetworksMax) {
      return fail(ErrorKind::invalid, "invalid_trusted_proxies",
                  "at most 64 trusted proxy networks", "trusted_proxies");
    }
    std::string text(entry);
    boost::system::error_code ec;
    TrustedNetwork n;
    if (text.find('/') == std::string::npos) {
      const auto a = boost::asio::ip::make_address(text, ec);
      if (!ec) text += a.is_v6() ? "/128" : "/32";
    }
    n.net4 = boost::asio::ip::make_network_v4(text, ec);
    if (ec) {
      ec.clear();
      n.net6 = boost::asio::ip::make_network_v6(text, ec);
      n.v6 = true;
    }
    if (ec) {
      return fail(ErrorKind::invalid, "invalid_trusted_proxies",
                  "not an address or network: " + std::string(entry), "trusted_proxies");
    }
    if (n.v6) {
      n.net6 = n.net6.canonical();
    } else {
      n.net4 = n.net4.canonical();
    }
    out.push_back(n);
  }
  return out;
}

bool is_trusted(std::string_view ip, std::span<const TrustedNetwork> networks) {
  const auto a = parse_address(ip);
  return a && trusted(*a, networks);
}

std::string client_address(std::string_view peer, std::string_view x_forwarded_for,
                           std::span<const TrustedNetwork> networks) {
  if (networks.empty() || x_forwarded_for.empty() || !is_trusted(host_of(peer), networks)) {
    return std::string(peer);
  }
  // From the right: each trusted hop vouches for the one before it.
  std::string_view rest = x_forwarded_for;
  for (std::size_t seen = 0; !rest.empty() && seen < kForwardedEntriesMax; ++seen) {
    const std::size_t comma = rest.rfind(',');
    const std::string_view entry =
        trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
    const auto a = parse_address(entry);
    if (!a) return std::string(peer);
    if (trusted(*a, networks)) continue;
    const std::string host = a->to_string();
    return a->is_v6() ? "[" + host + "]:0" : host + ":0";
  }
  return std::string(peer);
}

}  // namespace tanpu::http
