//! SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms, as pure code: the
//! SASL exchange that turns a client's base64 lines into [`Credentials`], and the
//! [`AuthVerifier`] a proxy asks whether they are right. The session ([`crate::session`])
//! drives the exchange; the listener ([`crate::server`]) calls the verifier. Checking
//! credentials against the organization's mail server is [`crate::mail_server_auth`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The longest user name accepted (an email address is at most 254 octets).
pub const MAX_USER: usize = 256;
/// The longest passphrase accepted.
pub const MAX_PASSPHRASE: usize = 1024;

/// A user name and passphrase. The passphrase never shows in `Debug` output, so a stray
/// `{:?}` in a log line cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    user: String,
    passphrase: String,
}

impl Credentials {
    pub fn new(user: impl Into<String>, passphrase: impl Into<String>) -> Self {
        Credentials {
            user: user.into(),
            passphrase: passphrase.into(),
        }
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn passphrase(&self) -> &str {
        &self.passphrase
    }

    /// The PLAIN initial response: base64 of `NUL user NUL passphrase` (no authorization
    /// identity, RFC 4616 §2).
    pub fn plain_response(&self) -> String {
        let mut raw = Vec::with_capacity(self.user.len() + self.passphrase.len() + 2);
        raw.push(0);
        raw.extend_from_slice(self.user.as_bytes());
        raw.push(0);
        raw.extend_from_slice(self.passphrase.as_bytes());
        STANDARD.encode(raw)
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("passphrase", &"<hidden>")
            .finish()
    }
}

/// Why credentials were not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// The user name or passphrase is wrong (535 5.7.8).
    #[error("authentication credentials invalid")]
    Invalid,
    /// They could not be checked now, e.g. the mail server is unreachable (454 4.7.0).
    #[error("credentials cannot be checked now: {0}")]
    Unavailable(String),
}

/// What a verifier's check returns.
pub type VerifyFuture<'a> = Pin<Box<dyn Future<Output = Result<(), AuthFailure>> + Send + 'a>>;

/// Decides whether credentials given with AUTH are right.
pub trait AuthVerifier: Send + Sync {
    fn verify<'a>(&'a self, credentials: &'a Credentials) -> VerifyFuture<'a>;
}

/// A proxy's AUTH settings: who checks the credentials, and whether mail may be sent without.
#[derive(Clone)]
pub struct AuthSettings {
    pub verifier: Arc<dyn AuthVerifier>,
    /// MAIL before a successful AUTH is refused (530 5.7.0).
    pub required: bool,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

/// Accepts one user with one passphrase and answers at once: for tests, fuzzing and the
/// protocol transcript.
pub struct FixedCredentials(pub Credentials);

impl AuthVerifier for FixedCredentials {
    fn verify<'a>(&'a self, credentials: &'a Credentials) -> VerifyFuture<'a> {
        let ok = *credentials == self.0;
        Box::pin(async move {
            if ok {
                Ok(())
            } else {
                Err(AuthFailure::Invalid)
            }
        })
    }
}

/// The mechanisms offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
}

impl Mechanism {
    /// From smtp-proto's mechanism bit; `None` for the mechanisms not offered.
    pub fn from_proto(bits: u64) -> Option<Self> {
        match bits {
            smtp_proto::AUTH_PLAIN => Some(Mechanism::Plain),
            smtp_proto::AUTH_LOGIN => Some(Mechanism::Login),
            _ => None,
        }
    }
}

/// An exchange waiting for the client's next line.
#[derive(Clone, PartialEq, Eq)]
pub enum Exchange {
    /// `AUTH PLAIN` came without an initial response; the response follows.
    PlainResponse,
    LoginUser,
    LoginPassphrase {
        user: String,
    },
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Exchange::PlainResponse => "PlainResponse",
            Exchange::LoginUser => "LoginUser",
            Exchange::LoginPassphrase { .. } => "LoginPassphrase",
        })
    }
}

/// What the exchange does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send `334 <challenge>` and wait for a line ([`Exchange`] says what it means).
    Challenge(Exchange, &'static str),
    /// The credentials are complete: verify them.
    Done(Credentials),
    /// The client sent `*` (501, RFC 4954 §4).
    Cancelled,
    /// Not base64, or not what the mechanism expects (501 5.5.2).
    Malformed(&'static str),
}

/// LOGIN's challenges (base64 of "Username:" and "Password:"), as every client expects.
pub const LOGIN_USER_CHALLENGE: &str = "VXNlcm5hbWU6";
pub const LOGIN_PASSPHRASE_CHALLENGE: &str = "UGFzc3dvcmQ6";

/// The `AUTH <mechanism> [initial-response]` command. An initial response of `=` is an
/// empty one (RFC 4954 §4).
pub fn start(mechanism: Mechanism, initial_response: &str) -> Step {
    let initial = initial_response.trim();
    match (mechanism, initial) {
        (Mechanism::Plain, "") => Step::Challenge(Exchange::PlainResponse, ""),
        (Mechanism::Login, "") => Step::Challenge(Exchange::LoginUser, LOGIN_USER_CHALLENGE),
        (_, "*") => Step::Cancelled,
        (m, ir) => answer(
            match m {
                Mechanism::Plain => Exchange::PlainResponse,
                Mechanism::Login => Exchange::LoginUser,
            },
            ir.as_bytes(),
        ),
    }
}

/// The client's line (without CRLF) in answer to a challenge.
pub fn answer(exchange: Exchange, line: &[u8]) -> Step {
    let line = line.trim_ascii();
    if line == b"*" {
        return Step::Cancelled;
    }
    let decoded = if line == b"=" {
        Vec::new()
    } else {
        match STANDARD.decode(line) {
            Ok(d) => d,
            Err(_) => return Step::Malformed("Invalid base64 data"),
        }
    };
    match exchange {
        Exchange::PlainResponse => match decode_plain(&decoded) {
            Ok(c) => Step::Done(c),
            Err(why) => Step::Malformed(why),
        },
        Exchange::LoginUser => match text(&decoded, MAX_USER) {
            Some(user) if !user.is_empty() => Step::Challenge(
                Exchange::LoginPassphrase { user },
                LOGIN_PASSPHRASE_CHALLENGE,
            ),
            _ => Step::Malformed("Invalid user name"),
        },
        Exchange::LoginPassphrase { user } => match text(&decoded, MAX_PASSPHRASE) {
            Some(passphrase) if !passphrase.is_empty() => {
                Step::Done(Credentials { user, passphrase })
            }
            _ => Step::Malformed("Invalid passphrase"),
        },
    }
}

/// PLAIN's message: `[authzid] NUL authcid NUL passwd`. Acting for someone else (an
/// authorization identity other than the user's own) is not offered.
fn decode_plain(raw: &[u8]) -> Result<Credentials, &'static str> {
    let mut parts = raw.split(|b| *b == 0);
    let (Some(authzid), Some(user), Some(passphrase), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("Invalid PLAIN response");
    };
    let user = text(user, MAX_USER)
        .filter(|u| !u.is_empty())
        .ok_or("Invalid user name")?;
    let passphrase = text(passphrase, MAX_PASSPHRASE)
        .filter(|p| !p.is_empty())
        .ok_or("Invalid passphrase")?;
    if !authzid.is_empty() && authzid != user.as_bytes() {
        return Err("Authorization identity must be empty or the user name");
    }
    Ok(Credentials { user, passphrase })
}

/// UTF-8 without control characters, at most `max` bytes.
fn text(bytes: &[u8], max: usize) -> Option<String> {
    if bytes.len() > max {
        return None;
    }
    let s = std::str::from_utf8(bytes).ok()?;
    if s.chars().any(char::is_control) {
        return None;
    }
    Some(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> String {
        STANDARD.encode(s)
    }

    #[test]
    fn plain_with_and_without_initial_response() {
        let c = Credentials::new("alice@example.com", "pässphrase");
        assert_eq!(
            start(Mechanism::Plain, &c.plain_response()),
            Step::Done(c.clone())
        );
        let Step::Challenge(e, "") = start(Mechanism::Plain, "") else {
            panic!()
        };
        assert_eq!(
            answer(e, c.plain_response().as_bytes()),
            Step::Done(c.clone())
        );
        // The authorization identity may repeat the user's own name, nothing else.
        let own = b64(b"alice@example.com\0alice@example.com\0p");
        assert!(matches!(start(Mechanism::Plain, &own), Step::Done(_)));
        let other = b64(b"bob@example.com\0alice@example.com\0p");
        assert!(matches!(
            start(Mechanism::Plain, &other),
            Step::Malformed(_)
        ));
    }

    #[test]
    fn login_asks_user_then_passphrase() {
        let Step::Challenge(e, LOGIN_USER_CHALLENGE) = start(Mechanism::Login, "") else {
            panic!()
        };
        let Step::Challenge(e, LOGIN_PASSPHRASE_CHALLENGE) = answer(e, b64(b"alice").as_bytes())
        else {
            panic!()
        };
        assert_eq!(
            answer(e, b64(b"secret").as_bytes()),
            Step::Done(Credentials::new("alice", "secret"))
        );
        // With the user name as initial response, the passphrase is asked at once.
        assert!(matches!(
            start(Mechanism::Login, &b64(b"alice")),
            Step::Challenge(Exchange::LoginPassphrase { .. }, _)
        ));
    }

    #[test]
    fn cancel_garbage_and_limits() {
        assert_eq!(start(Mechanism::Plain, "*"), Step::Cancelled);
        assert_eq!(answer(Exchange::LoginUser, b"*"), Step::Cancelled);
        assert!(matches!(
            answer(Exchange::PlainResponse, b"not base64!"),
            Step::Malformed("Invalid base64 data")
        ));
        assert!(matches!(start(Mechanism::Plain, "="), Step::Malformed(_)));
        assert!(matches!(
            start(Mechanism::Plain, &b64(b"\0user\0")),
            Step::Malformed(_)
        ));
        assert!(matches!(
            start(Mechanism::Plain, &b64(b"\0us\x01er\0p")),
            Step::Malformed(_)
        ));
        let long = vec![b'a'; MAX_USER + 1];
        assert!(matches!(
            answer(Exchange::LoginUser, b64(&long).as_bytes()),
            Step::Malformed(_)
        ));
        assert!(matches!(
            answer(Exchange::LoginUser, &[0xff, 0xfe]),
            Step::Malformed(_)
        ));
    }

    #[test]
    fn debug_output_hides_the_passphrase() {
        let c = Credentials::new("alice", "hunter2");
        let shown = format!(
            "{c:?} {:?}",
            Exchange::LoginPassphrase {
                user: "alice".into()
            }
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("alice"));
    }
}
