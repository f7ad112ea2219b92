//! Who may connect to a proxy: the IP allow and block lists (addresses and CIDR ranges), and
//! the connection-rate limit (guide default 200 connections per second).

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Instant;

/// One address or range, e.g. `10.0.0.0/8`, `192.0.2.7`, `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for IpRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR range"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(IpRange { network, prefix })
    }
}

impl std::fmt::Display for IpRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl IpRange {
    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 client may appear as an IPv4-mapped IPv6 address on a dual-stack socket.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                prefix_eq(u32::from(n).into(), u32::from(a).into(), self.prefix, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                prefix_eq(u128::from(n), u128::from(a), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8, bits: u32) -> bool {
    if prefix == 0 {
        return true;
    }
    let shift = bits - u32::from(prefix);
    (a >> shift) == (b >> shift)
}

/// A proxy's IP lists. The block list wins; an empty allow list allows everyone.
#[derive(Debug, Clone, Default)]
pub struct AccessLists {
    pub allow: Vec<IpRange>,
    pub block: Vec<IpRange>,
}

impl AccessLists {
    pub fn permits(&self, ip: IpAddr) -> bool {
        !self.block.iter().any(|r| r.contains(ip))
            && (self.allow.is_empty() || self.allow.iter().any(|r| r.contains(ip)))
    }
}

/// A token bucket: `per_second` connections a second on average, bursts up to the same number.
#[derive(Debug)]
pub struct RateLimit {
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    pub fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second.max(1));
        RateLimit {
            per_second,
            state: Mutex::new((per_second, Instant::now())),
        }
    }

    /// Takes one token; false when the limit is reached.
    pub fn admit(&self) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return true;
        };
        let now = Instant::now();
        let refill = now.duration_since(s.1).as_secs_f64() * self.per_second;
        s.0 = (s.0 + refill).min(self.per_second);
        s.1 = now;
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn ranges() -> Result<(), String> {
        let r: IpRange = "10.1.0.0/16".parse()?;
        assert!(r.contains(ip("10.1.200.3")));
        assert!(!r.contains(ip("10.2.0.1")));
        assert!(r.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped");
        let one: IpRange = "192.0.2.7".parse()?;
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6: IpRange = "2001:db8::/32".parse()?;
        assert!(v6.contains(ip("2001:db8:1::1")) && !v6.contains(ip("2001:db9::1")));
        let all: IpRange = "0.0.0.0/0".parse()?;
        assert!(all.contains(ip("203.0.113.1")));
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<IpRange>().is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn block_wins_and_empty_allow_allows_all() -> Result<(), String> {
        let lists = AccessLists {
            allow: vec!["127.0.0.0/8".parse()?],
            block: vec!["127.0.0.2".parse()?],
        };
        assert!(lists.permits(ip("127.0.0.1")));
        assert!(!lists.permits(ip("127.0.0.2")));
        assert!(!lists.permits(ip("192.0.2.1")));
        assert!(AccessLists::default().permits(ip("192.0.2.1")));
        Ok(())
    }

    #[test]
    fn rate_limit_refuses_a_burst_beyond_the_rate() {
        let limit = RateLimit::new(5);
        let admitted = (0..20).filter(|_| limit.admit()).count();
        assert!((5..=6).contains(&admitted), "{admitted}");
    }
}
