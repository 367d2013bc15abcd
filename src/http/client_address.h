// Who the client is when tanpu runs behind reverse proxies: the peer of the connection, unless that
// peer is a trusted proxy, in which case the address the proxies recorded in X-Forwarded-For.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include "core/result.h"

namespace tanpu::http {

// One trusted network: "10.0.0.0/8", "127.0.0.1" (a /32), "fd00::/8", "::1".
struct TrustedNetwork {
  bool v6 = false;
  boost::asio::ip::network_v4 net4;
  boost::asio::ip::network_v6 net6;
};

// A comma-separated list of networks (spaces allowed; empty: none). At most 64.
// Errors: invalid_trusted_proxies (naming the entry).
Result<std::vector<TrustedNetwork>> parse_trusted_networks(std::string_view list);

// The host of "host:port" or "[v6]:port" (brackets removed); the text itself if it has no port.
std::string_view host_of(std::string_view peer);

// Whether `ip` (an address without port or brackets) is in one of the networks. An IPv4-mapped
// IPv6 address ("::ffff:10.0.0.1", a dual-stack socket's IPv4 peer) counts as its IPv4 address.
bool is_trusted(std::string_view ip, std::span<const TrustedNetwork> networks);

// The client address as "host:port" (IPv6 in brackets), the form Request::remote_addr has.
// `peer` is the connection's peer in that form. If its host is trusted and x_forwarded_for is not
// empty, the answer is the right-most address of X-Forwarded-For that is not trusted (proxies
// append, so addresses to its left could be forged by the client), with port 0; an entry that is
// not an IP address stops the walk there and the peer is kept. x_forwarded_for is every
// X-Forwarded-For line of the request joined with commas, in order (one list, RFC 9110 §5.3): a
// proxy that adds its own line after the client's must still be read from the right.
std::string client_address(std::string_view peer, std::string_view x_forwarded_for,
                           std::span<const TrustedNetwork> networks);

}  // namespace tanpu::http
