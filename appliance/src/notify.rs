//! Mail to administrators ([`signet_web::notify`]): a notice becomes a message from its message
//! template and goes into this member's mail queue, like the Verified Directory's mail.

use std::collections::BTreeMap;
use std::sync::Arc;

use signet_mailpath::templates::{TemplateName, notification_message};
use signet_smtp::reply::rfc5322_date;
use signet_smtp::spool::now_millis;
use signet_store::Node;
use signet_web::notify::{AdminNotice, Notifier};

use crate::vd::OutboxHandle;

/// Sends administrator notices through whatever mail queue this member runs now.
pub struct AdminMail {
    pub node: Arc<Node>,
    pub outbox: OutboxHandle,
}

impl Notifier for AdminMail {
    fn send(&self, notice: &AdminNotice) -> Result<(), String> {
        let outbox = self
            .outbox
            .current()
            .ok_or_else(|| "no mail queue runs on this member".to_string())?;
        let AdminNotice::LockedOut {
            login,
            email,
            until,
        } = notice;
        let template = TemplateName::AdministratorLockout;
        let view = self.node.local();
        let text = view
            .message_template_text(template.id())
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no message template {}", template.id()))?;
        let mut values = BTreeMap::new();
        values.insert("FROM", crate::vd::postmaster(&self.node, &outbox.hostname));
        values.insert("RECIPIENT", email.clone());
        values.insert("LOGIN", login.clone());
        values.insert("UNTIL", rfc5322_date(*until));
        values.insert("HOSTNAME", outbox.hostname.clone());
        values.insert("DATE", rfc5322_date(now_millis()));
        let message =
            notification_message(&text, &values, &outbox.hostname).map_err(|e| e.to_string())?;
        let queue_id = outbox.queue_notification(&self.node, email, &message)?;
        outbox.queue.wake();
        tracing::info!(queue_id = %queue_id, login = %login, "administrator lockout notice queued");
        Ok(())
    }
}
