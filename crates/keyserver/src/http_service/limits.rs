//! Per-client-address rate limits: one token bucket per address and class. Lookups by address
//! (and text searches, and WKD) are the ones that let a stranger probe which addresses have
//! keys, so they get a slower bucket than lookups by fingerprint or key ID, as Hagrid does.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use serde::Deserialize;

/// One bucket's settings: `per_second` tokens refill continuously up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

/// The rate limits of the public HTTP keyserver. A `per_second` of 0 turns that class off.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// By email address, text search and WKD.
    pub by_address: Rate,
    /// By fingerprint or key ID, and the CRL.
    pub by_fingerprint: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            by_address: Rate {
                per_second: 5.0,
                burst: 50,
            },
            by_fingerprint: Rate {
                per_second: 50.0,
                burst: 500,
            },
        }
    }
}

impl RateLimits {
    /// No limits (benchmarks, tests that measure throughput).
    pub fn unlimited() -> Self {
        let off = Rate {
            per_second: 0.0,
            burst: 0,
        };
        RateLimits {
            by_address: off,
            by_fingerprint: off,
        }
    }
}

/// Which bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    ByAddress,
    ByFingerprint,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// More addresses than this are tracked only after idle ones are dropped, so a flood from
/// many addresses cannot grow memory without bound.
const MAX_TRACKED: usize = 100_000;
/// Shards keep concurrent clients from contending on one lock.
const SHARDS: usize = 16;

pub struct RateLimiter {
    limits: RateLimits,
    shards: Vec<Mutex<HashMap<(IpAddr, Class), Bucket>>>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        RateLimiter {
            limits,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Takes one token for `client` in `class`; false means "answer 429".
    pub fn allow(&self, client: IpAddr, class: Class) -> bool {
        self.allow_at(client, class, Instant::now())
    }

    fn allow_at(&self, client: IpAddr, class: Class, now: Instant) -> bool {
        let rate = match class {
            Class::ByAddress => self.limits.by_address,
            Class::ByFingerprint => self.limits.by_fingerprint,
        };
        if rate.per_second <= 0.0 {
            return true;
        }
        let burst = f64::from(rate.burst.max(1));
        let shard = &self.shards[shard_of(client)];
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED / SHARDS && !map.contains_key(&(client, class)) {
            // Full buckets carry no information: drop them.
            map.retain(|_, b| {
                b.tokens + now.duration_since(b.last).as_secs_f64() * rate.per_second < burst
            });
            if map.len() >= MAX_TRACKED / SHARDS {
                return false;
            }
        }
        let bucket = map.entry((client, class)).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        let refill = now.duration_since(bucket.last).as_secs_f64() * rate.per_second;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn shard_of(ip: IpAddr) -> usize {
    let last = match ip {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        // The /64 network part: one host owns a whole /64 in most IPv6 networks.
        IpAddr::V6(v6) => (u128::from(v6) >> 64) as u64,
    };
    (last.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as usize % SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill_per_class() {
        let limiter = RateLimiter::new(RateLimits {
            by_address: Rate {
                per_second: 1.0,
                burst: 2,
            },
            by_fingerprint: Rate {
                per_second: 100.0,
                burst: 100,
            },
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        assert!(limiter.allow_at(ip, Class::ByAddress, t0));
        assert!(limiter.allow_at(ip, Class::ByAddress, t0));
        assert!(!limiter.allow_at(ip, Class::ByAddress, t0));
        // Another class and another client are not affected.
        assert!(limiter.allow_at(ip, Class::ByFingerprint, t0));
        assert!(limiter.allow_at(other, Class::ByAddress, t0));
        // One second later, one more.
        let t1 = t0 + Duration::from_millis(1001);
        assert!(limiter.allow_at(ip, Class::ByAddress, t1));
        assert!(!limiter.allow_at(ip, Class::ByAddress, t1));
    }

    #[test]
    fn unlimited_never_refuses() {
        let limiter = RateLimiter::new(RateLimits::unlimited());
        let ip: IpAddr = "::1".parse().unwrap();
        for _ in 0..10_000 {
            assert!(limiter.allow(ip, Class::ByAddress));
        }
    }
}
