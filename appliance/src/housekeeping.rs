//! Work a member does on its own, on a timer: keeping the on-disk copy of the data key in line
//! with the cluster's Ignition Keys (another member may add or remove one), scheduled backups,
//! renewing the Organization Key before it expires, purging expired keys from the key cache, and
//! the Verified Directory's renewals and expired links (`vd.rs`).

use std::sync::Arc;
use std::time::Duration;

use signet_store::Node;

/// Runs until the task is aborted.
pub async fn run(node: Arc<Node>, verified_directory: Arc<crate::vd::NodeBackend>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_backup_slot: Option<u64> = None;
    let mut seconds: u64 = 0;
    loop {
        tick.tick().await;
        seconds += 1;
        if seconds % 600 == 30 {
            renew_organization_key(&node).await;
        }
        if seconds % 600 == 45 {
            purge_expired_cached_keys(&node).await;
        }
        if seconds % 60 == 50 {
            crate::vd::housekeeping(&verified_directory).await;
        }
        if let Err(e) = node.reconcile_data_key_custody() {
            tracing::warn!(error = %e, "cannot reconcile the data key's custody");
        }
        if let Some(slot) = due_backup_slot(&node)
            && last_backup_slot != Some(slot)
        {
            last_backup_slot = Some(slot);
            scheduled_backup(&node).await;
        }
    }
}

/// One member (the leader) renews the Organization Key when it is about to expire.
async fn renew_organization_key(node: &Arc<Node>) {
    if node.is_locked() || node.status().diagnostics.role != "leader" {
        return;
    }
    if let Err(e) = signet_web::keyring::renew_organization_key_if_due(node).await {
        tracing::warn!(error = %e, "cannot renew the Organization Key");
    }
}

/// One member (the leader) purges keys whose cache time is over (the key cache's timeout for
/// keyserver keys, six months for keys harvested from mail).
async fn purge_expired_cached_keys(node: &Arc<Node>) {
    if node.status().diagnostics.role != "leader" {
        return;
    }
    let command = signet_store::Command::PurgeExpiredCachedKeys {
        now: signet_store::now_millis(),
    };
    if let Err(e) = node.execute(command).await {
        tracing::warn!(error = %e, "cannot purge expired keys from the key cache");
    }
}

/// The minute (since the epoch) of a scheduled backup that is due now, if any.
fn due_backup_slot(node: &Node) -> Option<u64> {
    let schedule = node.local().backup_schedule().ok()?;
    if !schedule.enabled {
        return None;
    }
    let now = signet_store::now_millis() / 1000;
    let minute_of_day = (now % 86_400) / 60;
    // 1970-01-01 was a Thursday: Monday = 0.
    let weekday = ((now / 86_400) + 3) % 7;
    (minute_of_day == u64::from(schedule.at_minute) && schedule.weekdays & (1 << weekday) != 0)
        .then_some(now / 60)
}

async fn scheduled_backup(node: &Arc<Node>) {
    let keep = node.local().backup_schedule().map(|s| s.keep).ok();
    match signet_web::backup::create(node, Some("scheduled"), keep).await {
        Ok(summary) => {
            tracing::info!(file = %summary.file, bytes = summary.bytes, "scheduled backup written")
        }
        Err(e) => tracing::error!(error = %e, "scheduled backup failed"),
    }
}
