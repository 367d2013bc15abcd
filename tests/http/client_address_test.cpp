// The client's address behind trusted reverse proxies (http/client_address.h).
#include "http/client_address.h"

#include <gtest/gtest.h>

#include <string>

namespace tanpu::http {
namespace {

std::vector<TrustedNetwork> nets(std::string_view list) {
  auto n = parse_trusted_networks(list);
  EXPECT_TRUE(n.has_value()) << (n ? "" : n.error().message);
  return n ? *n : std::vector<TrustedNetwork>{};
}

TEST(TrustedNetworks, ParsesAddressesAndNetworks) {
  EXPECT_TRUE(nets("").empty());
  EXPECT_EQ(nets(" 10.0.0.0/8, 127.0.0.1 ,fd00::/8,::1,").size(), 4U);
  const auto n = nets("10.0.0.0/8, 192.168.1.5, fd00::/8, ::1");
  EXPECT_TRUE(is_trusted("10.200.3.4", n));
  EXPECT_TRUE(is_trusted("192.168.1.5", n));
  EXPECT_FALSE(is_trusted("192.168.1.6", n));
  EXPECT_TRUE(is_trusted("fd12:3456::1", n));
  EXPECT_TRUE(is_trusted("::1", n));
  EXPECT_FALSE(is_trusted("2001:db8::1", n));
  EXPECT_FALSE(is_trusted("11.0.0.1", n));
  EXPECT_FALSE(is_trusted("not-an-ip", n));
  // Host bits in a network are tolerated (10.1.2.3/8 is 10.0.0.0/8).
  EXPECT_TRUE(is_trusted("10.9.9.9", nets("10.1.2.3/8")));
}

TEST(TrustedNetworks, RefusesWhatIsNotANetwork) {
  for (const char* bad : {"10.0.0.0/33", "proxy.example", "10.0.0", "fd00::/129", "1.2.3.4/x"}) {
    auto r = parse_trusted_networks(std::string("127.0.0.1,") + bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, "invalid_trusted_proxies");
    EXPECT_EQ(r.error().field, "trusted_proxies");
    EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
  }
  std::string many;
  for (int i = 0; i < 65; ++i) many += "10.0.0." + std::to_string(i) + ",";
  EXPECT_FALSE(parse_trusted_networks(many).has_value());
}

TEST(ClientAddress, HostOfAPeer) {
  EXPECT_EQ(host_of("10.0.0.1:5000"), "10.0.0.1");
  EXPECT_EQ(host_of("[2001:db8::1]:443"), "2001:db8::1");
  EXPECT_EQ(host_of("unknown"), "unknown");
}

TEST(ClientAddress, BelievesForwardedForOnlyFromTrustedPeers) {
  const auto n = nets("10.0.0.0/8");
  // No trusted proxies, or a peer that is not one: the peer, whatever the header says.
  EXPECT_EQ(client_address("10.0.0.1:5000", "203.0.113.7", {}), "10.0.0.1:5000");
  EXPECT_EQ(client_address("198.51.100.9:5000", "203.0.113.7", n), "198.51.100.9:5000");
  // A trusted peer without the header: the peer.
  EXPECT_EQ(client_address("10.0.0.1:5000", "", n), "10.0.0.1:5000");
  // A trusted peer: the right-most address that is not a trusted proxy.
  EXPECT_EQ(client_address("10.0.0.1:5000", "203.0.113.7", n), "203.0.113.7:0");
  EXPECT_EQ(client_address("10.0.0.1:5000", "1.1.1.1, 203.0.113.7, 10.0.0.2", n),
            "203.0.113.7:0");  // the left-most could be forged by the client
  EXPECT_EQ(client_address("10.0.0.1:5000", "2001:db8::7", n), "[2001:db8::7]:0");
  // Only proxies in the header, or an entry that is not an address: the peer.
  EXPECT_EQ(client_address("10.0.0.1:5000", "10.0.0.3, 10.0.0.2", n), "10.0.0.1:5000");
  EXPECT_EQ(client_address("10.0.0.1:5000", "203.0.113.7, unknown", n), "10.0.0.1:5000");
  // An IPv6 peer in brackets.
  EXPECT_EQ(client_address("[fd00::1]:443", "203.0.113.8", nets("fd00::/8")), "203.0.113.8:0");
  // A dual-stack socket's IPv4 peer, and an IPv4-mapped entry: their IPv4 addresses.
  EXPECT_TRUE(is_trusted("::ffff:10.0.0.1", n));
  EXPECT_EQ(client_address("[::ffff:10.0.0.1]:5000", "203.0.113.7", n), "203.0.113.7:0");
  EXPECT_EQ(client_address("10.0.0.1:5000", "::ffff:203.0.113.7, ::ffff:10.0.0.2", n),
            "203.0.113.7:0");
}

}  // namespace
}  // namespace tanpu::http
