//! The server side of one SMTP session as a state machine, with no IO: it takes parsed
//! commands and says what to answer and what to do next. The listener ([`crate::server`])
//! owns the socket, TLS and the data phase; this file owns the protocol's rules (RFC 5321
//! §4.1, with SIZE, 8BITMIME, PIPELINING, ENHANCEDSTATUSCODES, STARTTLS and AUTH), so they
//! can be tested and fuzzed without a network. AUTH (RFC 4954) is offered only when the proxy
//! has a verifier, and only over TLS: the passphrase never crosses the wire in clear.

use smtp_proto::request::receiver::{DataReceiver, DummyDataReceiver, RequestReceiver};
use smtp_proto::{Error as ParseError, Request};

use crate::auth::{self, AuthFailure, AuthSettings, Credentials, Exchange, Mechanism, Step};
use crate::reply::Reply;

/// Failed AUTH attempts (wrong credentials or malformed exchanges) before the connection is
/// closed: guessing passphrases costs a new connection every few tries.
pub const MAX_AUTH_FAILURES: u32 = 3;

/// What the proxy's settings say about this session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The name in the greeting and in Received headers.
    pub hostname: String,
    /// The largest message accepted, in bytes (advertised as SIZE).
    pub max_message_size: usize,
    pub max_recipients: usize,
    /// STARTTLS is offered (client-side TLS mode Allow or Require, and TLS is configured).
    pub offer_starttls: bool,
    /// Client-side TLS mode Require: no mail transaction before STARTTLS.
    pub require_tls: bool,
    /// Bad commands tolerated before the session is closed (a flood of garbage ends early).
    pub max_errors: u32,
    /// SMTP AUTH: who checks credentials and whether MAIL needs them. `None`: not offered.
    pub auth: Option<AuthSettings>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            hostname: "localhost".into(),
            max_message_size: 50 * 1024 * 1024,
            max_recipients: 1000,
            offer_starttls: false,
            require_tls: false,
            max_errors: 10,
            auth: None,
        }
    }
}

/// Decisions the session needs from outside (which recipients this proxy accepts).
pub trait Gate {
    /// `Err(reply)` refuses the recipient with that reply (e.g. 550 5.7.1 relay denied).
    fn recipient(&self, address: &str) -> Result<(), Reply>;
}

/// Accepts every recipient (tests, and proxies whose gate is the IP allow list alone).
pub struct OpenGate;

impl Gate for OpenGate {
    fn recipient(&self, _: &str) -> Result<(), Reply> {
        Ok(())
    }
}

/// What the listener does after sending the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Reply(Reply),
    /// Send the 220, then start TLS on the socket and call [`Session::tls_started`].
    StartTls(Reply),
    /// Send the 354, then read the message until `<CRLF>.<CRLF>` and call
    /// [`Session::take_transaction`].
    ReadData(Reply),
    /// Send the reply and close the connection.
    Close(Reply),
    /// The AUTH exchange is complete: check the credentials with the proxy's verifier, then
    /// call [`Session::verified`] for the reply.
    Verify(Credentials),
}

/// The envelope of one mail transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Transaction {
    pub helo: String,
    pub mail_from: String,
    pub recipients: Vec<String>,
    /// The size the client declared with SIZE=, if any.
    pub declared_size: usize,
    /// The user the client authenticated as with AUTH, if it did.
    pub authenticated: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before EHLO/HELO (or after STARTTLS, which forgets everything, RFC 3207 §4.2).
    Connected,
    Greeted,
    Mail,
    Rcpt,
}

pub struct Session {
    config: SessionConfig,
    tls: bool,
    esmtp: bool,
    phase: Phase,
    helo: String,
    txn: Transaction,
    errors: u32,
    /// The user a successful AUTH established; kept for the rest of the connection.
    authenticated: Option<String>,
    auth_failures: u32,
    /// An AUTH exchange waiting for the client's next line.
    exchange: Option<Exchange>,
}

impl Session {
    pub fn new(config: SessionConfig, tls: bool) -> Self {
        Session {
            config,
            tls,
            esmtp: false,
            phase: Phase::Connected,
            helo: String::new(),
            txn: Transaction::default(),
            errors: 0,
            authenticated: None,
            auth_failures: 0,
            exchange: None,
        }
    }

    pub fn greeting(&self) -> Reply {
        Reply::plain(220, format!("{} ESMTP Signet", self.config.hostname))
    }

    pub fn is_tls(&self) -> bool {
        self.tls
    }

    pub fn helo(&self) -> &str {
        &self.helo
    }

    pub fn uses_esmtp(&self) -> bool {
        self.esmtp
    }

    pub fn max_message_size(&self) -> usize {
        self.config.max_message_size
    }

    /// The user the client authenticated as, if it did.
    pub fn authenticated(&self) -> Option<&str> {
        self.authenticated.as_deref()
    }

    /// True while an AUTH exchange waits for a response line: the next line is base64 for
    /// [`Session::auth_response`], not a command.
    pub fn awaits_auth_response(&self) -> bool {
        self.exchange.is_some()
    }

    /// The client's line in an AUTH exchange (without CRLF), or the framer's complaint.
    pub fn auth_response(&mut self, line: Result<Vec<u8>, ParseError>) -> Next {
        let Some(exchange) = self.exchange.take() else {
            return self.error(Reply::new(503, (5, 5, 1), "No AUTH exchange in progress"));
        };
        match line {
            Ok(line) => self.auth_step(auth::answer(exchange, &line)),
            Err(e) => self.auth_failed(parse_error_reply(&e)),
        }
    }

    /// The verifier's answer for the credentials of [`Next::Verify`].
    pub fn verified(&mut self, credentials: &Credentials, result: Result<(), AuthFailure>) -> Next {
        match result {
            Ok(()) => {
                self.authenticated = Some(credentials.user().to_string());
                Next::Reply(Reply::new(235, (2, 7, 0), "Authentication successful"))
            }
            Err(AuthFailure::Invalid) => self.auth_failed(Reply::new(
                535,
                (5, 7, 8),
                "Authentication credentials invalid",
            )),
            Err(AuthFailure::Unavailable(_)) => Next::Reply(Reply::new(
                454,
                (4, 7, 0),
                "Temporary authentication failure",
            )),
        }
    }

    /// STARTTLS succeeded: the session starts over, as RFC 3207 requires.
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.phase = Phase::Connected;
        self.helo.clear();
        self.txn = Transaction::default();
        self.exchange = None;
    }

    /// The data phase ended: hand over the transaction and get ready for the next one.
    pub fn take_transaction(&mut self) -> Transaction {
        self.phase = Phase::Greeted;
        let mut txn = std::mem::take(&mut self.txn);
        txn.helo = self.helo.clone();
        txn.authenticated = self.authenticated.clone();
        txn
    }

    /// One command, or the parser's complaint about one line.
    pub fn handle(
        &mut self,
        request: Result<Request<String>, ParseError>,
        gate: &dyn Gate,
    ) -> Next {
        let request = match request {
            Ok(r) => r,
            Err(e) => return self.error(parse_error_reply(&e)),
        };
        match request {
            Request::Ehlo { host } => {
                self.greet(host, true);
                Next::Reply(self.ehlo_reply())
            }
            Request::Helo { host } => {
                self.greet(host, false);
                Next::Reply(Reply::new(250, (2, 0, 0), self.config.hostname.clone()))
            }
            Request::Lhlo { .. } => self.error(Reply::new(500, (5, 5, 1), "LHLO is for LMTP")),
            Request::StartTls => self.starttls(),
            Request::Mail { from } => self.mail(from.address, from.size),
            Request::Rcpt { to } => self.rcpt(to.address, gate),
            Request::Data => self.data(),
            Request::Rset => {
                self.reset();
                Next::Reply(Reply::new(250, (2, 0, 0), "Reset"))
            }
            Request::Noop { .. } => Next::Reply(Reply::new(250, (2, 0, 0), "OK")),
            Request::Quit => Next::Close(Reply::new(221, (2, 0, 0), "Bye")),
            Request::Vrfy { .. } => Next::Reply(Reply::new(
                252,
                (2, 5, 2),
                "Cannot VRFY; send mail and it will be delivered if possible",
            )),
            Request::Help { .. } => Next::Reply(Reply::new(
                214,
                (2, 0, 0),
                "See RFC 5321; commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT STARTTLS",
            )),
            // BDAT is not advertised (no CHUNKING): its chunk would follow on the wire and the
            // stream cannot be resynchronised, so the session ends.
            Request::Bdat { .. } => Next::Close(Reply::new(
                503,
                (5, 5, 1),
                "BDAT without CHUNKING; closing the connection",
            )),
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, &initial_response),
            Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => {
                self.error(Reply::new(502, (5, 5, 1), "Command not implemented"))
            }
        }
    }

    /// Counts a bad command; too many close the session.
    fn error(&mut self, reply: Reply) -> Next {
        self.errors += 1;
        if self.errors >= self.config.max_errors {
            return Next::Close(Reply::new(
                421,
                (4, 7, 0),
                "Too many errors; closing the connection",
            ));
        }
        Next::Reply(reply)
    }

    fn greet(&mut self, host: String, esmtp: bool) {
        self.helo = host;
        self.esmtp = esmtp;
        self.phase = Phase::Greeted;
        self.txn = Transaction::default();
    }

    fn ehlo_reply(&self) -> Reply {
        let mut lines = vec![
            self.config.hostname.clone(),
            format!("SIZE {}", self.config.max_message_size),
            "8BITMIME".to_string(),
            "PIPELINING".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
        ];
        if self.config.offer_starttls && !self.tls {
            lines.push("STARTTLS".to_string());
        }
        if self.config.auth.is_some() && self.tls {
            lines.push("AUTH PLAIN LOGIN".to_string());
        }
        Reply {
            code: 250,
            status: None,
            lines,
        }
    }

    fn reset(&mut self) {
        if self.phase != Phase::Connected {
            self.phase = Phase::Greeted;
        }
        self.txn = Transaction::default();
    }

    fn starttls(&mut self) -> Next {
        if self.tls {
            return self.error(Reply::new(503, (5, 5, 1), "TLS is already active"));
        }
        if !self.config.offer_starttls {
            return self.error(Reply::new(502, (5, 5, 1), "STARTTLS is not offered"));
        }
        Next::StartTls(Reply::new(220, (2, 0, 0), "Ready to start TLS"))
    }

    fn mail(&mut self, from: String, size: usize) -> Next {
        match self.phase {
            Phase::Connected => {
                return self.error(Reply::new(503, (5, 5, 1), "Send EHLO or HELO first"));
            }
            Phase::Mail | Phase::Rcpt => {
                return self.error(Reply::new(503, (5, 5, 1), "Nested MAIL command"));
            }
            Phase::Greeted => {}
        }
        if self.config.require_tls && !self.tls {
            return self.error(Reply::new(
                530,
                (5, 7, 0),
                "Must issue a STARTTLS command first",
            ));
        }
        let auth_required = self.config.auth.as_ref().is_some_and(|a| a.required);
        if auth_required && self.authenticated.is_none() {
            return self.error(Reply::new(530, (5, 7, 0), "Authentication required"));
        }
        if size > self.config.max_message_size {
            return self.error(Reply::new(
                552,
                (5, 3, 4),
                format!(
                    "Message size exceeds the limit of {} bytes",
                    self.config.max_message_size
                ),
            ));
        }
        self.txn = Transaction {
            helo: String::new(),
            mail_from: from,
            recipients: Vec::new(),
            declared_size: size,
            authenticated: None,
        };
        self.phase = Phase::Mail;
        Next::Reply(Reply::new(250, (2, 1, 0), "Sender OK"))
    }

    fn auth(&mut self, mechanism: u64, initial_response: &str) -> Next {
        if self.config.auth.is_none() {
            return self.error(Reply::new(503, (5, 5, 1), "AUTH is not offered here"));
        }
        if self.phase == Phase::Connected {
            return self.error(Reply::new(503, (5, 5, 1), "Send EHLO first"));
        }
        if !self.tls {
            return self.error(Reply::new(
                538,
                (5, 7, 11),
                "Encryption required for requested authentication mechanism",
            ));
        }
        if self.authenticated.is_some() {
            return self.error(Reply::new(503, (5, 5, 1), "Already authenticated"));
        }
        if self.phase != Phase::Greeted {
            return self.error(Reply::new(
                503,
                (5, 5, 1),
                "AUTH is not allowed during a mail transaction",
            ));
        }
        let Some(mechanism) = Mechanism::from_proto(mechanism) else {
            return self.error(Reply::new(
                504,
                (5, 5, 4),
                "Unrecognized authentication mechanism",
            ));
        };
        self.auth_step(auth::start(mechanism, initial_response))
    }

    fn auth_step(&mut self, step: Step) -> Next {
        match step {
            Step::Challenge(exchange, challenge) => {
                self.exchange = Some(exchange);
                Next::Reply(Reply::plain(334, challenge))
            }
            Step::Done(credentials) => Next::Verify(credentials),
            Step::Cancelled => self.error(Reply::new(501, (5, 0, 0), "Authentication cancelled")),
            Step::Malformed(why) => self.auth_failed(Reply::new(501, (5, 5, 2), why)),
        }
    }

    /// Counts a failed AUTH; the last one allowed closes the connection.
    fn auth_failed(&mut self, reply: Reply) -> Next {
        self.auth_failures += 1;
        if self.auth_failures >= MAX_AUTH_FAILURES {
            return Next::Close(Reply::new(
                421,
                (4, 7, 0),
                "Too many failed authentication attempts; closing the connection",
            ));
        }
        self.error(reply)
    }

    fn rcpt(&mut self, to: String, gate: &dyn Gate) -> Next {
        if !matches!(self.phase, Phase::Mail | Phase::Rcpt) {
            return self.error(Reply::new(503, (5, 5, 1), "Send MAIL first"));
        }
        if self.txn.recipients.len() >= self.config.max_recipients {
            return Next::Reply(Reply::new(452, (4, 5, 3), "Too many recipients"));
        }
        if to.is_empty() || !to.contains('@') && !to.eq_ignore_ascii_case("postmaster") {
            return self.error(Reply::new(501, (5, 1, 3), "Bad recipient address syntax"));
        }
        if let Err(reply) = gate.recipient(&to) {
            return Next::Reply(reply);
        }
        self.txn.recipients.push(to);
        self.phase = Phase::Rcpt;
        Next::Reply(Reply::new(250, (2, 1, 5), "Recipient OK"))
    }

    fn data(&mut self) -> Next {
        match self.phase {
            Phase::Rcpt => Next::ReadData(Reply::plain(354, "End data with <CR><LF>.<CR><LF>")),
            Phase::Mail => self.error(Reply::new(554, (5, 5, 1), "No valid recipients")),
            _ => self.error(Reply::new(503, (5, 5, 1), "Send MAIL and RCPT first")),
        }
    }
}

fn parse_error_reply(e: &ParseError) -> Reply {
    match e {
        ParseError::UnknownCommand => Reply::new(500, (5, 5, 1), "Unknown command"),
        ParseError::InvalidSenderAddress => Reply::new(501, (5, 1, 7), "Bad sender address syntax"),
        ParseError::InvalidRecipientAddress => {
            Reply::new(501, (5, 1, 3), "Bad recipient address syntax")
        }
        ParseError::SyntaxError { syntax } => {
            Reply::new(501, (5, 5, 2), format!("Syntax error, expected: {syntax}"))
        }
        ParseError::InvalidParameter { param } => {
            Reply::new(501, (5, 5, 4), format!("Invalid parameter {param}"))
        }
        ParseError::UnsupportedParameter { param } => Reply::new(
            504,
            (5, 5, 4),
            format!(
                "Unsupported parameter {}",
                param.chars().take(64).collect::<String>()
            ),
        ),
        ParseError::ResponseTooLong => Reply::new(500, (5, 5, 6), "Line too long"),
        ParseError::NeedsMoreData { .. } | ParseError::InvalidResponse { .. } => {
            Reply::new(500, (5, 5, 2), "Syntax error")
        }
    }
}

/// The longest command line accepted (RFC 5321 §4.5.3.1.4 asks for at least 512; extensions
/// make real lines longer).
pub const MAX_COMMAND_LINE: usize = 4096;

/// Frames command lines out of whatever the socket delivers, so that a line over the limit is
/// refused whole (500 5.5.6) however it arrives, and then skipped to its end.
#[derive(Default)]
pub struct CommandLines {
    line: Vec<u8>,
    overflow: bool,
}

impl CommandLines {
    /// The next command, or `None` when `bytes` ran out before the end of a line (what was
    /// read is kept for the next call).
    pub fn next(
        &mut self,
        bytes: &mut std::slice::Iter<'_, u8>,
    ) -> Option<Result<Request<String>, ParseError>> {
        if let Err(e) = self.frame(bytes)? {
            return Some(Err(e));
        }
        let mut it = self.line.iter();
        let parsed = match RequestReceiver::default().ingest(&mut it) {
            Ok(r) => Ok(r.into_owned()),
            Err(ParseError::NeedsMoreData { .. }) => Err(ParseError::SyntaxError {
                syntax: "a command line",
            }),
            Err(e) => Err(e),
        };
        self.line.clear();
        Some(parsed)
    }

    /// The next line as it came, without its CRLF: an AUTH response, which is not a command.
    pub fn next_raw(
        &mut self,
        bytes: &mut std::slice::Iter<'_, u8>,
    ) -> Option<Result<Vec<u8>, ParseError>> {
        if let Err(e) = self.frame(bytes)? {
            return Some(Err(e));
        }
        let mut line = std::mem::take(&mut self.line);
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        Some(Ok(line))
    }

    /// Collects bytes up to the end of a line into `self.line`; `None` when more are needed.
    fn frame(&mut self, bytes: &mut std::slice::Iter<'_, u8>) -> Option<Result<(), ParseError>> {
        let rest = bytes.as_slice();
        let Some(end) = rest.iter().position(|b| *b == b'\n') else {
            if self.line.len() + rest.len() > MAX_COMMAND_LINE {
                self.overflow = true;
                self.line.clear();
            } else if !self.overflow {
                self.line.extend_from_slice(rest);
            }
            *bytes = [].iter();
            return None;
        };
        let (head, tail) = rest.split_at(end + 1);
        *bytes = tail.iter();
        if self.overflow || self.line.len() + head.len() > MAX_COMMAND_LINE {
            self.overflow = false;
            self.line.clear();
            return Some(Err(ParseError::ResponseTooLong));
        }
        self.line.extend_from_slice(head);
        Some(Ok(()))
    }
}

/// The data phase: the message so far, or `None` once it grew past the limit (the rest is
/// read and discarded so that the session stays in step, then 552 is answered).
pub struct DataPhase {
    receiver: DataReceiver,
    discard: Option<DummyDataReceiver>,
    message: Option<Vec<u8>>,
}

impl Default for DataPhase {
    fn default() -> Self {
        Self::new()
    }
}

impl DataPhase {
    pub fn new() -> Self {
        DataPhase {
            receiver: DataReceiver::new(),
            discard: None,
            message: Some(Vec::with_capacity(16 * 1024)),
        }
    }

    /// True when the end of data (`<CRLF>.<CRLF>`) was reached.
    pub fn ingest(&mut self, bytes: &mut std::slice::Iter<'_, u8>, max: usize) -> bool {
        if let Some(d) = self.discard.as_mut() {
            return d.ingest(bytes);
        }
        let Some(message) = self.message.as_mut() else {
            return true;
        };
        let done = self.receiver.ingest(bytes, message);
        if !done && message.len() > max {
            self.message = None;
            let mut d = DummyDataReceiver::new_data(&self.receiver);
            let finished = d.ingest(bytes);
            self.discard = Some(d);
            return finished;
        }
        if done && message.len() > max {
            self.message = None;
        }
        done
    }

    /// The message (dot-stuffing undone), or `None` if it was too large.
    pub fn into_message(self) -> Option<Vec<u8>> {
        self.message
    }
}

/// Runs a whole client transcript through the protocol code the listener uses (framing,
/// session, AUTH exchanges, data phase) without a socket, and returns the server's side of
/// the dialogue. Each completed message is "queued" without being stored. For tests and
/// fuzzing.
pub fn transcript(config: SessionConfig, input: &[u8]) -> String {
    run_transcript(config, input, false)
}

/// [`transcript`] for a session that is already encrypted (an SSL connector, or after
/// STARTTLS), where AUTH is offered. The verifier must answer without waiting (e.g.
/// [`crate::auth::FixedCredentials`]); one that would wait counts as unavailable.
pub fn transcript_over_tls(config: SessionConfig, input: &[u8]) -> String {
    run_transcript(config, input, true)
}

fn run_transcript(config: SessionConfig, input: &[u8], tls: bool) -> String {
    let verifier = config.auth.as_ref().map(|a| a.verifier.clone());
    let mut session = Session::new(config, tls);
    let mut out = session.greeting().to_wire();
    let mut lines = CommandLines::default();
    let mut data: Option<DataPhase> = None;
    let mut bytes = input.iter();
    loop {
        if let Some(phase) = data.as_mut() {
            if !phase.ingest(&mut bytes, session.max_message_size()) {
                return out;
            }
            let phase = data.take().unwrap_or_default();
            let _ = session.take_transaction();
            let reply = match phase.into_message() {
                Some(_) => Reply::new(250, (2, 0, 0), "Queued"),
                None => Reply::new(552, (5, 3, 4), "Message size exceeds the limit"),
            };
            out.push_str(&reply.to_wire());
            continue;
        }
        let next = if session.awaits_auth_response() {
            let Some(line) = lines.next_raw(&mut bytes) else {
                return out;
            };
            session.auth_response(line)
        } else {
            let Some(parsed) = lines.next(&mut bytes) else {
                return out;
            };
            session.handle(parsed, &OpenGate)
        };
        let next = match next {
            Next::Verify(credentials) => {
                let result = match verifier.as_ref() {
                    Some(v) => verify_now(v.as_ref(), &credentials),
                    None => Err(AuthFailure::Unavailable("no verifier".into())),
                };
                session.verified(&credentials, result)
            }
            other => other,
        };
        match next {
            Next::Verify(_) => return out,
            Next::Reply(r) => out.push_str(&r.to_wire()),
            Next::ReadData(r) => {
                out.push_str(&r.to_wire());
                data = Some(DataPhase::new());
            }
            // No TLS here: the transcript ends where the socket would be upgraded.
            Next::StartTls(r) | Next::Close(r) => {
                out.push_str(&r.to_wire());
                return out;
            }
        }
    }
}

/// Polls a verification once: enough for verifiers that answer without waiting.
fn verify_now(
    verifier: &dyn auth::AuthVerifier,
    credentials: &Credentials,
) -> Result<(), AuthFailure> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match verifier.verify(credentials).as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => r,
        std::task::Poll::Pending => Err(AuthFailure::Unavailable("verifier would wait".into())),
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
