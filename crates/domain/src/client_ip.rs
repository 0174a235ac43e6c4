//! The client's IP address, one canonical form.

/// The client's IP address as established by the trusted-proxy rules of the server. Always
/// canonical: an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, as a dual-stack socket reports an
/// IPv4 peer) is the IPv4 address it maps (RFC 4291 §2.5.5.2), so limits, blocks and the sign-in
/// history never see one client under two names. This constructor is the one place that rule lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(std::net::IpAddr);

impl ClientIp {
    pub fn new(ip: std::net::IpAddr) -> Self {
        Self(ip.to_canonical())
    }

    pub fn ip(self) -> std::net::IpAddr {
        self.0
    }

    /// What per-IP limits and blocks count under: an IPv4 address itself, or the /64 network of an
    /// IPv6 address. One subscriber is usually given a whole /64 or more (RFC 6177, RFC 7934 §6), so
    /// counting single IPv6 addresses would let one client rotate through 2^64 of them.
    pub fn limit_key(self) -> String {
        match self.0 {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => {
                let s = v6.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        }
    }
}

impl std::fmt::Display for ClientIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses_are_canonical_and_ipv6_counts_by_its_slash_64() {
        let ip = |s: &str| ClientIp::new(s.parse().unwrap());
        assert_eq!(ip("::ffff:192.0.2.1"), ip("192.0.2.1"));
        assert_eq!(ip("::ffff:192.0.2.1").limit_key(), "192.0.2.1");
        assert_eq!(ip("2001:db8:1:2:aaaa::1").limit_key(), "2001:db8:1:2::/64");
        assert_eq!(ip("2001:db8:1:2:ffff:ffff:ffff:ffff").limit_key(), ip("2001:db8:1:2::9").limit_key());
        assert_ne!(ip("2001:db8:1:3::1").limit_key(), ip("2001:db8:1:2::1").limit_key());
    }
}
