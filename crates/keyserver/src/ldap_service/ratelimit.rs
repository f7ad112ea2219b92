//! Per-client-address token buckets. Lookups by fingerprint or key ID cost one token, by email
//! address more (they enumerate who has a key, as Hagrid's limits reflect), unindexed scans
//! the most.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use super::filter::Cost;

/// Buckets refill at `per_second` tokens a second up to `burst`; `per_second == 0` disables.
pub struct RateLimiter {
    per_second: u32,
    burst: u32,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

/// Past this many tracked addresses, idle full buckets are forgotten.
const MAX_TRACKED: usize = 100_000;

impl RateLimiter {
    pub fn new(per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            per_second,
            burst: burst.max(per_second),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn tokens(cost: Cost) -> f64 {
        match cost {
            Cost::Fingerprint => 1.0,
            Cost::Email => 4.0,
            Cost::Scan => 20.0,
        }
    }

    /// Takes the cost from the address's bucket; false when it has not enough.
    pub fn allow(&self, ip: IpAddr, cost: Cost) -> bool {
        if self.per_second == 0 {
            return true;
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > MAX_TRACKED {
            let (rate, burst) = (f64::from(self.per_second), f64::from(self.burst));
            buckets.retain(|_, (t, at)| *t + now.duration_since(*at).as_secs_f64() * rate < burst);
        }
        let burst = f64::from(self.burst);
        let (tokens, at) = buckets.entry(ip).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * f64::from(self.per_second))
            .min(burst);
        *at = now;
        let need = Self::tokens(cost);
        if *tokens >= need {
            *tokens -= need;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_lookups_run_out_first() {
        let r = RateLimiter::new(1, 8);
        let ip: IpAddr = [10, 0, 0, 1].into();
        assert!(r.allow(ip, Cost::Email));
        assert!(r.allow(ip, Cost::Email));
        assert!(!r.allow(ip, Cost::Email));
        assert!(!r.allow([10, 0, 0, 1].into(), Cost::Scan));
        assert!(r.allow([10, 0, 0, 2].into(), Cost::Fingerprint));
        assert!(RateLimiter::new(0, 0).allow(ip, Cost::Scan));
    }
}
