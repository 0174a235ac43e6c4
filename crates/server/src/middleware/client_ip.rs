//! The client's address behind trusted proxies.

use std::net::IpAddr;

use actix_web::dev::ServiceRequest;
use domain::ClientIp;

/// The header a trusted proxy names the client in (`server.forwarded_header`). Only that one is
/// read: a client can send either header itself, and a proxy that writes one passes the other
/// through untouched, so believing both would let the client choose its own address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (de facto; nginx, HAProxy, Caddy, Traefik, AWS).
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

impl ForwardedHeader {
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Some(ForwardedHeader::XForwardedFor),
            "forwarded" => Some(ForwardedHeader::Forwarded),
            _ => None,
        }
    }

    /// The hops the header lists, furthest first; `None` for a hop that names no readable address.
    fn hops(self, req: &ServiceRequest) -> Vec<Option<IpAddr>> {
        let values = |name: &str| {
            req.headers().get_all(name).map(|v| v.to_str().unwrap_or_default().to_owned()).collect::<Vec<_>>()
        };
        match self {
            ForwardedHeader::XForwardedFor => {
                values("x-forwarded-for").iter().flat_map(|v| v.split(',').map(parse_hop).collect::<Vec<_>>()).collect()
            }
            // RFC 7239 §4: elements separated by commas, pairs by semicolons; one `for` each.
            ForwardedHeader::Forwarded => values("forwarded")
                .iter()
                .flat_map(|v| {
                    v.split(',')
                        .map(|element| {
                            element.split(';').find_map(|pair| {
                                let (k, v) = pair.trim().split_once('=')?;
                                k.trim().eq_ignore_ascii_case("for").then(|| parse_hop(v))?
                            })
                        })
                        .collect::<Vec<_>>()
                })
                .collect(),
        }
    }
}

/// The client's address. A forwarding header is believed only from a configured trusted proxy,
/// and only the one the operator named. Walking from the nearest hop outwards, trusted proxies are
/// passed over and the first address that is not one is the client: a client can prepend anything
/// to the list, but not append. A hop that cannot be read ends the walk at the nearest trusted
/// address, since what lies beyond it was written by someone nobody vouches for.
pub fn client_ip(req: &ServiceRequest, trusted: &[ipnet::IpNet], header: ForwardedHeader) -> ClientIp {
    let peer = peer(req);
    let is_trusted = |ip: ClientIp| trusted.iter().any(|n| n.contains(&ip.ip()));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    for hop in header.hops(req).into_iter().rev() {
        let Some(ip) = hop else { break };
        client = ClientIp::new(ip);
        if !is_trusted(client) {
            break;
        }
    }
    client
}

/// The TCP peer, made canonical.
fn peer(req: &ServiceRequest) -> ClientIp {
    ClientIp::new(req.peer_addr().map(|a| a.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0])))
}

/// Whether the request came straight from one of the trusted proxies (so its other headers, such as
/// its request id, may be believed too).
pub fn from_trusted_proxy(req: &ServiceRequest, trusted: &[ipnet::IpNet]) -> bool {
    let peer = peer(req);
    trusted.iter().any(|n| n.contains(&peer.ip()))
}

/// One hop: `192.0.2.1`, `192.0.2.1:4711` (Azure writes ports), `2001:db8::1`, `"[2001:db8::1]:4711"`.
/// `unknown` and obfuscated identifiers (RFC 7239 §6.3) name no address.
fn parse_hop(v: &str) -> Option<IpAddr> {
    let v = v.trim().trim_matches('"');
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    v.parse::<IpAddr>().ok().or_else(|| v.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn nets(list: &[&str]) -> Vec<ipnet::IpNet> {
        list.iter().map(|s| crate::config::parse_net(s).unwrap()).collect()
    }

    fn ip(req: &ServiceRequest, trusted: &[&str], header: ForwardedHeader) -> String {
        client_ip(req, &nets(trusted), header).ip().to_string()
    }

    #[test]
    fn forwarded_headers_from_untrusted_peers_are_ignored() {
        let req = TestRequest::default()
            .peer_addr("203.0.113.9:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "1.2.3.4"))
            .to_srv_request();
        assert_eq!(ip(&req, &["10.0.0.0/8"], ForwardedHeader::XForwardedFor), "203.0.113.9");
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.3"))
            .to_srv_request();
        assert_eq!(ip(&req, &["10.0.0.0/8"], ForwardedHeader::XForwardedFor), "198.51.100.7");
    }

    #[test]
    fn rfc7239_forwarded_is_understood() {
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:5000".parse().unwrap())
            .insert_header(("forwarded", "for=192.0.2.60;proto=https, for=\"[2001:db8:cafe::17]:4711\""))
            .to_srv_request();
        assert_eq!(ip(&req, &["10.0.0.2"], ForwardedHeader::Forwarded), "2001:db8:cafe::17");
    }

    #[test]
    fn only_the_named_header_is_believed() {
        // The proxy appends to X-Forwarded-For; the client sent a Forwarded header of its own.
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "198.51.100.7"))
            .insert_header(("forwarded", "for=192.0.2.99"))
            .to_srv_request();
        assert_eq!(ip(&req, &["10.0.0.2"], ForwardedHeader::XForwardedFor), "198.51.100.7");
        // And the reverse: a client's X-Forwarded-For is ignored when the proxy writes Forwarded.
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "192.0.2.99"))
            .insert_header(("forwarded", "for=198.51.100.7"))
            .to_srv_request();
        assert_eq!(ip(&req, &["10.0.0.2"], ForwardedHeader::Forwarded), "198.51.100.7");
    }

    #[test]
    fn an_unreadable_hop_stops_the_walk_at_the_nearest_trusted_address() {
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "6.6.6.6, unknown, 10.0.0.3"))
            .to_srv_request();
        assert_eq!(ip(&req, &["10.0.0.0/8"], ForwardedHeader::XForwardedFor), "10.0.0.3");
    }

    #[test]
    fn mapped_and_ported_addresses_are_read_canonically() {
        let req = TestRequest::default()
            .peer_addr("[::ffff:10.0.0.2]:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "198.51.100.7:4711"))
            .to_srv_request();
        assert_eq!(ip(&req, &["10.0.0.0/8"], ForwardedHeader::XForwardedFor), "198.51.100.7");
        let req = TestRequest::default().peer_addr("[::ffff:203.0.113.9]:5000".parse().unwrap()).to_srv_request();
        assert_eq!(ip(&req, &[], ForwardedHeader::XForwardedFor), "203.0.113.9");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn forwarded_for(peer: &str, header: &str) -> String {
            let req = TestRequest::default()
                .peer_addr(format!("{peer}:5000").parse().unwrap())
                .insert_header(("x-forwarded-for", header))
                .to_srv_request();
            ip(&req, &["10.0.0.0/8"], ForwardedHeader::XForwardedFor)
        }

        proptest! {
            /// A peer that is not a trusted proxy is the client, whatever it writes.
            #[test]
            fn an_untrusted_peer_names_itself(header in "[ -~]{0,200}") {
                prop_assert_eq!(forwarded_for("203.0.113.9", &header), "203.0.113.9");
            }

            /// Behind trusted proxies that append what they saw, the client is the address the
            /// first proxy saw, whatever the client put in front (it can prepend, never append).
            #[test]
            fn a_client_cannot_choose_its_address(
                forged in proptest::collection::vec("[ -+\\--~]{0,30}", 0..5),
                client in (1u8..255, 1u8..255),
                proxies in proptest::collection::vec((1u8..255, 1u8..255), 0..4),
            ) {
                let client = format!("198.51.{}.{}", client.0, client.1);
                let mut hops = forged;
                hops.push(client.clone());
                hops.extend(proxies.iter().map(|(a, b)| format!("10.0.{a}.{b}")));
                prop_assert_eq!(forwarded_for("10.0.0.1", &hops.join(",")), client);
            }

            /// Any header value at all is read without panicking, and the answer is the peer or
            /// one of the hops it lists.
            #[test]
            fn any_header_is_read_safely(header in "[\t -~¡-ÿ]{0,300}") {
                let found = forwarded_for("10.0.0.1", &header);
                let hops: Vec<String> =
                    header.split(',').filter_map(parse_hop).map(|ip| ClientIp::new(ip).ip().to_string()).collect();
                prop_assert!(found == "10.0.0.1" || hops.contains(&found), "{} from {:?}", found, header);
            }
        }
    }
}
