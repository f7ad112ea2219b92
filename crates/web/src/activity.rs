//! The node's activity sampler: every interval (60 s on the appliance) it records this node's
//! CPU use (from /proc/stat) and how many messages the mail path finished since the last
//! sample (from the log book's counter). The last 24 hours stay in memory for the overview's
//! graphs and `GET /api/v1/activity`. Node-local, like the reference product's graphs.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::logbook::LogBook;

/// How much history is kept.
pub const KEEP: Duration = Duration::from_secs(24 * 3600);

/// One sample.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    /// CPU use of the whole machine over the interval, 0..=100 (None when /proc/stat is absent).
    pub cpu_percent: Option<f64>,
    /// Messages the mail path finished during the interval.
    pub messages: u64,
}

/// The samples of this node.
pub struct Activity {
    samples: Mutex<VecDeque<Sample>>,
    interval: Mutex<Duration>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            samples: Mutex::new(VecDeque::new()),
            interval: Mutex::new(Duration::from_secs(60)),
        }
    }
}

impl Activity {
    /// The samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect()
    }

    /// The sampling interval.
    pub fn interval(&self) -> Duration {
        *self.interval.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a sample and forgets those older than [`KEEP`] (by count: interval-spaced).
    pub fn record(&self, sample: Sample) {
        let keep = (KEEP.as_millis() / self.interval().as_millis().max(1)) as usize;
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        samples.push_back(sample);
        while samples.len() > keep.max(1) {
            samples.pop_front();
        }
    }

    /// Starts the sampler on the current runtime; it runs until the runtime stops.
    pub fn start(
        self: &Arc<Self>,
        interval: Duration,
        book: Arc<LogBook>,
    ) -> tokio::task::JoinHandle<()> {
        let interval = interval.max(Duration::from_millis(100));
        *self.interval.lock().unwrap_or_else(|p| p.into_inner()) = interval;
        let me = self.clone();
        // The baseline is taken now, so what happens after start() counts in the first sample.
        let mut cpu = CpuTimes::read();
        let mut messages = book.messages_processed();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                let now_cpu = CpuTimes::read();
                let now_messages = book.messages_processed();
                me.record(Sample {
                    at: signet_store::now_millis(),
                    cpu_percent: match (cpu, now_cpu) {
                        (Some(a), Some(b)) => Some(b.busy_percent_since(&a)),
                        _ => None,
                    },
                    messages: now_messages.saturating_sub(messages),
                });
                cpu = now_cpu;
                messages = now_messages;
            }
        })
    }
}

/// The machine's cumulative CPU times (first line of /proc/stat), in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuTimes {
    pub busy: u64,
    pub idle: u64,
}

impl CpuTimes {
    pub fn read() -> Option<CpuTimes> {
        CpuTimes::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// Parses `cpu  user nice system idle iowait irq softirq steal ...`.
    pub fn parse(stat: &str) -> Option<CpuTimes> {
        let line = stat.lines().find(|l| l.starts_with("cpu "))?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        if v.len() < 4 {
            return None;
        }
        // idle + iowait count as idle; guest time is already inside user.
        let idle = v[3] + v.get(4).copied().unwrap_or(0);
        let busy = v.iter().take(8).sum::<u64>() - idle;
        Some(CpuTimes { busy, idle })
    }

    /// The share of time busy between `earlier` and `self`, 0..=100.
    pub fn busy_percent_since(&self, earlier: &CpuTimes) -> f64 {
        let busy = self.busy.saturating_sub(earlier.busy) as f64;
        let idle = self.idle.saturating_sub(earlier.idle) as f64;
        if busy + idle == 0.0 {
            0.0
        } else {
            (100.0 * busy / (busy + idle)).clamp(0.0, 100.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_use_from_proc_stat() {
        let a = CpuTimes::parse("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n").unwrap();
        let b = CpuTimes::parse("cpu  200 0 100 900 0 0 0 0 0 0\n").unwrap();
        assert_eq!(
            a,
            CpuTimes {
                busy: 200,
                idle: 800
            }
        );
        assert_eq!(b.busy_percent_since(&a), 50.0);
        assert!(CpuTimes::parse("intr 1 2 3\n").is_none());
    }

    #[test]
    fn keeps_a_day_of_samples() {
        let activity = Activity::default();
        *activity.interval.lock().unwrap() = Duration::from_secs(3600);
        for i in 0..30 {
            activity.record(Sample {
                at: i,
                cpu_percent: None,
                messages: i,
            });
        }
        let samples = activity.samples();
        assert_eq!(samples.len(), 24);
        assert_eq!(samples[0].at, 6);
    }

    #[tokio::test]
    async fn the_sampler_counts_messages_per_interval() {
        let book = Arc::new(LogBook::new(10));
        let activity = Arc::new(Activity::default());
        let task = activity.start(Duration::from_millis(100), book.clone());
        book.push(
            tracing::Level::INFO,
            "signet_mailpath::service",
            "SMTP-00001: message <x@y> from a@b (1 recipient)".into(),
        );
        tokio::time::sleep(Duration::from_millis(450)).await;
        task.abort();
        let samples = activity.samples();
        assert!(samples.len() >= 2, "{samples:?}");
        assert_eq!(samples.iter().map(|s| s.messages).sum::<u64>(), 1);
    }
}
