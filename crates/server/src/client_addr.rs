//! The client's address behind reverse proxies. By default it is the TCP
//! peer, and `X-Forwarded-For` is ignored (anyone can send it). With
//! the `trusted_proxies` setting (addresses or CIDR ranges, comma-separated) a
//! request from a trusted proxy is attributed to the right-most address in
//! `X-Forwarded-For` that is not itself a trusted proxy: the one the
//! nearest trusted proxy saw. The login rate limit and the audit log use the
//! result, so behind a proxy they count clients, not the proxy.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

/// Addresses and ranges whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    ranges: Vec<(IpAddr, u8)>,
}

impl TrustedProxies {
    /// `10.0.0.1, 10.1.0.0/16, ::1`; empty for none.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (ip, bits) = match item.split_once('/') {
                Some((ip, bits)) => (ip, Some(bits)),
                None => (item, None),
            };
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| format!("{item:?} is not an address or a CIDR range"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => max,
                Some(b) => b
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("{item:?}: the prefix must be 0 to {max}"))?,
            };
            ranges.push((ip, bits));
        }
        Ok(Self { ranges })
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.ranges.iter().any(|(net, bits)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix(u32::from(*n).into(), u32::from(a).into(), *bits, 32),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix(u128::from(*n), u128::from(a), *bits, 128),
            _ => false,
        })
    }

    /// The client of a request that arrived from `peer`.
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if !self.trusts(peer.ip()) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                // Garbage a trusted proxy passed on: the last address known.
                return client;
            };
            client = SocketAddr::new(ip, 0);
            if !self.trusts(ip) {
                return client;
            }
        }
        client
    }
}

fn prefix(net: u128, addr: u128, bits: u8, width: u32) -> bool {
    let shift = width - u32::from(bits);
    bits == 0 || (net >> shift) == (addr >> shift)
}

/// `203.0.113.7`, `203.0.113.7:5123`, `2001:db8::1` or `[2001:db8::1]:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn peer(s: &str) -> SocketAddr {
        SocketAddr::new(s.parse().unwrap(), 4000)
    }

    #[test]
    fn ranges_parse_and_bad_ones_are_named() {
        let p = TrustedProxies::parse(" 10.0.0.1, 10.1.0.0/16 ,::1, fd00::/8").unwrap();
        assert!(p.trusts("10.1.200.3".parse().unwrap()));
        assert!(p.trusts("::ffff:10.0.0.1".parse().unwrap()));
        assert!(p.trusts("fd12::1".parse().unwrap()));
        assert!(!p.trusts("10.2.0.1".parse().unwrap()));
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        for bad in ["10.0.0.1/33", "proxy.example.com", "::1/129", "10.0.0.0/x"] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
        assert!(TrustedProxies::parse("0.0.0.0/0")
            .unwrap()
            .trusts("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let none = TrustedProxies::default();
        let spoofed = headers(&["203.0.113.7"]);
        assert_eq!(none.client(peer("198.51.100.1"), &spoofed), peer("198.51.100.1"));
        let p = TrustedProxies::parse("10.0.0.0/8").unwrap();
        // An untrusted peer's header is ignored.
        assert_eq!(p.client(peer("198.51.100.1"), &spoofed), peer("198.51.100.1"));
        // Through two trusted proxies: the right-most untrusted hop.
        let chain = headers(&["192.0.2.9, 203.0.113.7", "10.0.0.5"]);
        assert_eq!(p.client(peer("10.0.0.1"), &chain).ip().to_string(), "203.0.113.7");
        assert_eq!(
            p.client(peer("10.0.0.1"), &headers(&["[2001:db8::1]:443"]))
                .ip()
                .to_string(),
            "2001:db8::1"
        );
        // No header, or garbage: the last address known.
        assert_eq!(p.client(peer("10.0.0.1"), &headers(&[])), peer("10.0.0.1"));
        assert_eq!(
            p.client(peer("10.0.0.1"), &headers(&["unknown, 10.0.0.7"]))
                .ip()
                .to_string(),
            "10.0.0.7"
        );
    }
}
