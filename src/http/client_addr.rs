//! The address of the client behind a request, for the vote limit and the access log.
//!
//! Behind a load balancer or reverse proxy every request comes from the proxy's address,
//! so a per-address limit would be one limit for everybody. `--trusted-proxy` names the
//! proxies (addresses or CIDR ranges); a request whose peer is one of them is taken to
//! come from the address it forwarded in `X-Forwarded-For`, read from the right and
//! skipping trusted hops, as nginx's `real_ip_recursive on` does. The header of an
//! untrusted peer is ignored: anybody can write one.

use std::net::IpAddr;

use actix_web::http::header::HeaderMap;
use ipnet::IpNet;

/// `--trusted-proxy`: the proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// A comma-separated list of addresses (`10.0.0.7`, `::1`) and ranges (`10.0.0.0/8`).
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{s:?} is neither an IP address nor a CIDR range"))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client's address: `peer`, or what a trusted `peer` forwarded.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        // Several headers are one list, in order.
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Ok(addr) = hop.parse::<IpAddr>() else {
                break; // garbage (or a port, or "unknown"): the last good hop stands
            };
            client = addr.to_canonical();
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(
                HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_a_trusted_peer_is_believed() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 192.168.1.5").unwrap();
        let forwarded = headers(&["203.0.113.9"]);
        assert_eq!(trusted.client(ip("10.1.2.3"), &forwarded), ip("203.0.113.9"));
        assert_eq!(trusted.client(ip("192.168.1.5"), &forwarded), ip("203.0.113.9"));
        assert_eq!(
            trusted.client(ip("198.51.100.1"), &forwarded),
            ip("198.51.100.1"),
            "an untrusted peer's header is anybody's"
        );
        assert_eq!(
            TrustedProxies::default().client(ip("10.1.2.3"), &forwarded),
            ip("10.1.2.3"),
            "nobody is trusted by default"
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        // The client wrote a fake first hop; the CDN and the load balancer appended theirs.
        let forwarded = headers(&["1.2.3.4, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &forwarded), ip("203.0.113.9"));
        // Only trusted hops: the leftmost of them.
        assert_eq!(
            trusted.client(ip("10.0.0.1"), &headers(&["10.0.0.3, 10.0.0.2"])),
            ip("10.0.0.3")
        );
        // Garbage stops the walk at the last good hop.
        assert_eq!(
            trusted.client(ip("10.0.0.1"), &headers(&["203.0.113.9, unknown"])),
            ip("10.0.0.1")
        );
        // IPv4 seen through an IPv6 socket is the same address.
        assert_eq!(
            trusted.client(ip("::ffff:10.0.0.1"), &headers(&["::ffff:203.0.113.9"])),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn bad_lists_are_refused() {
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
        assert_eq!(TrustedProxies::parse("").unwrap(), TrustedProxies::default());
        assert_eq!(TrustedProxies::parse("::1").unwrap().0.len(), 1);
    }
}
