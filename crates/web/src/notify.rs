//! Mail the admin side sends to administrators (the guide: a locked-out administrator "is
//! mailed if they have an address"). The web crate says what happened; the appliance turns it
//! into a message from a message template and puts it in the member's mail queue
//! (`appliance/src/notify.rs`), so the web crate stays free of SMTP.

use signet_model::UnixMillis;

/// Something an administrator is told by mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminNotice {
    /// Too many failed logins: the account refuses every login until `until` (or an unlock).
    LockedOut {
        login: String,
        email: String,
        until: UnixMillis,
    },
}

/// Sends [`AdminNotice`]s. An error is logged by the caller, never shown to the browser: a
/// login page must not tell a guesser whether a mail went out.
pub trait Notifier: Send + Sync {
    fn send(&self, notice: &AdminNotice) -> Result<(), String>;
}
