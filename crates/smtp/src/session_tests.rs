use smtp_proto::request::receiver::RequestReceiver;

use super::*;

/// Parses one command line the way the listener does and hands it to the session.
fn say(s: &mut Session, line: &str) -> Next {
    let mut rx = RequestReceiver::default();
    let bytes = format!("{line}\r\n");
    let mut it = bytes.as_bytes().iter();
    let parsed = rx.ingest(&mut it).map(|r| r.into_owned());
    s.handle(parsed, &RelayDenied)
}

/// Refuses recipients outside example.com, as an Inbound proxy does for unmanaged domains.
struct RelayDenied;

impl Gate for RelayDenied {
    fn recipient(&self, address: &str) -> Result<(), Reply> {
        if address.ends_with("@example.com") {
            Ok(())
        } else {
            Err(Reply::new(550, (5, 7, 1), "Relaying denied"))
        }
    }
}

fn code(n: &Next) -> u16 {
    match n {
        Next::Reply(r) | Next::StartTls(r) | Next::ReadData(r) | Next::Close(r) => r.code,
        Next::Verify(_) => 0,
    }
}

#[test]
fn a_whole_transaction() {
    let mut s = Session::new(SessionConfig::default(), false);
    assert_eq!(s.greeting().code, 220);
    let ehlo = say(&mut s, "EHLO client.example.net");
    let Next::Reply(r) = &ehlo else {
        panic!("{ehlo:?}")
    };
    let wire = r.to_wire();
    for ext in [
        "SIZE 52428800",
        "8BITMIME",
        "PIPELINING",
        "ENHANCEDSTATUSCODES",
    ] {
        assert!(wire.contains(ext), "{wire}");
    }
    assert!(
        !wire.contains("STARTTLS"),
        "not offered without TLS: {wire}"
    );
    assert_eq!(
        code(&say(
            &mut s,
            "MAIL FROM:<a@example.net> BODY=8BITMIME SIZE=100"
        )),
        250
    );
    assert_eq!(code(&say(&mut s, "RCPT TO:<bob@example.com>")), 250);
    assert_eq!(code(&say(&mut s, "RCPT TO:<eve@elsewhere.test>")), 550);
    assert!(matches!(say(&mut s, "DATA"), Next::ReadData(_)));
    let t = s.take_transaction();
    assert_eq!(t.mail_from, "a@example.net");
    assert_eq!(t.recipients, vec!["bob@example.com".to_string()]);
    assert_eq!(t.helo, "client.example.net");
    assert_eq!(t.declared_size, 100);
    // The next transaction starts clean.
    assert_eq!(code(&say(&mut s, "RCPT TO:<bob@example.com>")), 503);
    assert_eq!(code(&say(&mut s, "MAIL FROM:<>")), 250);
    assert!(matches!(say(&mut s, "QUIT"), Next::Close(r) if r.code == 221));
}

#[test]
fn order_of_commands_is_enforced() {
    let mut s = Session::new(SessionConfig::default(), false);
    assert_eq!(code(&say(&mut s, "MAIL FROM:<a@example.net>")), 503);
    assert_eq!(code(&say(&mut s, "HELO x")), 250);
    assert_eq!(code(&say(&mut s, "DATA")), 503);
    assert_eq!(code(&say(&mut s, "MAIL FROM:<a@example.net>")), 250);
    assert_eq!(code(&say(&mut s, "MAIL FROM:<a@example.net>")), 503);
    assert_eq!(code(&say(&mut s, "DATA")), 554);
    assert_eq!(code(&say(&mut s, "RSET")), 250);
    assert_eq!(code(&say(&mut s, "RCPT TO:<bob@example.com>")), 503);
}

#[test]
fn size_limit_and_recipient_limit() {
    let mut s = Session::new(
        SessionConfig {
            max_message_size: 1000,
            max_recipients: 2,
            ..SessionConfig::default()
        },
        false,
    );
    say(&mut s, "EHLO x");
    assert_eq!(code(&say(&mut s, "MAIL FROM:<a@b.c> SIZE=1001")), 552);
    assert_eq!(code(&say(&mut s, "MAIL FROM:<a@b.c> SIZE=1000")), 250);
    assert_eq!(code(&say(&mut s, "RCPT TO:<1@example.com>")), 250);
    assert_eq!(code(&say(&mut s, "RCPT TO:<2@example.com>")), 250);
    assert_eq!(code(&say(&mut s, "RCPT TO:<3@example.com>")), 452);
}

#[test]
fn starttls_offered_required_and_reset() {
    let config = SessionConfig {
        offer_starttls: true,
        require_tls: true,
        ..SessionConfig::default()
    };
    let mut s = Session::new(config, false);
    let Next::Reply(r) = say(&mut s, "EHLO x") else {
        panic!()
    };
    assert!(r.to_wire().contains("STARTTLS"));
    assert_eq!(code(&say(&mut s, "MAIL FROM:<a@b.c>")), 530);
    assert!(matches!(say(&mut s, "STARTTLS"), Next::StartTls(_)));
    s.tls_started();
    // RFC 3207: after TLS the client must greet again.
    assert_eq!(code(&say(&mut s, "MAIL FROM:<a@b.c>")), 503);
    let Next::Reply(r) = say(&mut s, "EHLO x") else {
        panic!()
    };
    assert!(!r.to_wire().contains("STARTTLS"));
    assert_eq!(code(&say(&mut s, "STARTTLS")), 503);
    assert_eq!(code(&say(&mut s, "MAIL FROM:<a@b.c>")), 250);
}

#[test]
fn garbage_gets_errors_then_the_session_closes() {
    let mut s = Session::new(SessionConfig::default(), false);
    let mut closed = false;
    for i in 0..20 {
        match say(&mut s, &format!("XYZZY {i}")) {
            Next::Close(r) => {
                assert_eq!(r.code, 421);
                closed = true;
                break;
            }
            Next::Reply(r) => assert_eq!(r.code, 500),
            other => panic!("{other:?}"),
        }
    }
    assert!(closed);
    assert!(matches!(
        say(
            &mut Session::new(SessionConfig::default(), false),
            "BDAT 10 LAST"
        ),
        Next::Close(_)
    ));
}

#[test]
fn transcripts_pipelining_long_lines_and_data() {
    let config = SessionConfig {
        max_message_size: 100,
        ..SessionConfig::default()
    };
    let pipelined = "EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nSubject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n";
    let t = transcript(config.clone(), pipelined.as_bytes());
    let codes: Vec<&str> = t.lines().map(|l| &l[..3]).collect();
    assert_eq!(
        codes.iter().filter(|c| **c == "250").count(),
        5 + 1 + 1 + 1,
        "EHLO (5 lines), MAIL, RCPT, queued: {t}"
    );
    assert!(
        t.contains("354 ") && t.contains("250 2.0.0 Queued") && t.ends_with("221 2.0.0 Bye\r\n"),
        "{t}"
    );

    let long = format!("NOOP {}\r\nNOOP\r\n", "x".repeat(MAX_COMMAND_LINE));
    let t = transcript(config.clone(), long.as_bytes());
    assert!(
        t.contains("500 5.5.6 Line too long") && t.ends_with("250 2.0.0 OK\r\n"),
        "{t}"
    );

    let big = format!(
        "HELO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n{}\r\n.\r\nNOOP\r\n",
        "y".repeat(500)
    );
    let t = transcript(config, big.as_bytes());
    assert!(
        t.contains("552 5.3.4") && t.ends_with("250 2.0.0 OK\r\n"),
        "in step after 552: {t}"
    );
}

#[test]
fn a_long_line_split_across_reads_is_refused_whole() {
    let mut lines = CommandLines::default();
    let first = vec![b'x'; MAX_COMMAND_LINE];
    assert!(lines.next(&mut first.iter()).is_none());
    let second = b"more\r\nNOOP\r\n";
    let mut it = second.iter();
    assert!(matches!(
        lines.next(&mut it),
        Some(Err(ParseError::ResponseTooLong))
    ));
    assert!(matches!(
        lines.next(&mut it),
        Some(Ok(Request::Noop { .. }))
    ));
}

mod auth {
    use std::sync::Arc;

    use super::*;
    use crate::auth::{AuthSettings, Credentials, FixedCredentials};

    fn config(required: bool) -> SessionConfig {
        SessionConfig {
            offer_starttls: true,
            auth: Some(AuthSettings {
                verifier: Arc::new(FixedCredentials(Credentials::new("alice", "secret"))),
                required,
            }),
            ..SessionConfig::default()
        }
    }

    fn plain(user: &str, pass: &str) -> String {
        Credentials::new(user, pass).plain_response()
    }

    fn lines(t: &str) -> Vec<&str> {
        t.split("\r\n").filter(|l| !l.is_empty()).collect()
    }

    #[test]
    fn offered_only_over_tls() {
        let mut s = Session::new(config(true), false);
        let Next::Reply(r) = say(&mut s, "EHLO x") else {
            panic!()
        };
        assert!(!r.to_wire().contains("AUTH"), "{r}");
        let Next::Reply(r) = say(&mut s, &format!("AUTH PLAIN {}", plain("alice", "secret")))
        else {
            panic!()
        };
        assert_eq!(
            r.to_wire(),
            "538 5.7.11 Encryption required for requested authentication mechanism\r\n"
        );
        let Next::Reply(r) = say(&mut s, "MAIL FROM:<a@example.com>") else {
            panic!()
        };
        assert_eq!(r.to_wire(), "530 5.7.0 Authentication required\r\n");
        assert!(matches!(say(&mut s, "STARTTLS"), Next::StartTls(_)));
        s.tls_started();
        let Next::Reply(r) = say(&mut s, "EHLO x") else {
            panic!()
        };
        assert!(r.to_wire().contains("250 AUTH PLAIN LOGIN\r\n"), "{r}");
        // Without an authenticator nothing is offered, even over TLS.
        let mut s = Session::new(SessionConfig::default(), true);
        let Next::Reply(r) = say(&mut s, "EHLO x") else {
            panic!()
        };
        assert!(!r.to_wire().contains("AUTH"));
        assert_eq!(code(&say(&mut s, "AUTH PLAIN")), 503);
    }

    #[test]
    fn plain_with_initial_response_then_mail() {
        let input = format!(
            "EHLO x\r\nMAIL FROM:<a@example.com>\r\nAUTH PLAIN {}\r\nAUTH PLAIN {}\r\n\
             MAIL FROM:<a@example.com>\r\nAUTH PLAIN\r\nRCPT TO:<b@example.com>\r\n",
            plain("alice", "secret"),
            plain("alice", "secret")
        );
        let t = transcript_over_tls(config(true), input.as_bytes());
        let l = lines(&t);
        assert!(l.contains(&"250 AUTH PLAIN LOGIN"), "{t}");
        let tail: Vec<&str> = l.iter().rev().take(6).rev().copied().collect();
        assert_eq!(
            tail,
            vec![
                "530 5.7.0 Authentication required",
                "235 2.7.0 Authentication successful",
                "503 5.5.1 Already authenticated",
                "250 2.1.0 Sender OK",
                "503 5.5.1 Already authenticated",
                "250 2.1.5 Recipient OK",
            ],
            "{t}"
        );
    }

    #[test]
    fn plain_without_initial_response_and_login() {
        let input = format!("EHLO x\r\nAUTH PLAIN\r\n{}\r\n", plain("alice", "secret"));
        let t = transcript_over_tls(config(true), input.as_bytes());
        assert!(
            t.ends_with("334 \r\n235 2.7.0 Authentication successful\r\n"),
            "{t}"
        );
        let t = transcript_over_tls(
            config(true),
            b"EHLO x\r\nAUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\nMAIL FROM:<a@example.com>\r\n",
        );
        assert!(
            t.ends_with(
                "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0 Authentication successful\r\n\
                 250 2.1.0 Sender OK\r\n"
            ),
            "{t}"
        );
        let t = transcript_over_tls(
            config(true),
            b"EHLO x\r\nAUTH LOGIN YWxpY2U=\r\nc2VjcmV0\r\n",
        );
        assert!(
            t.ends_with("334 UGFzc3dvcmQ6\r\n235 2.7.0 Authentication successful\r\n"),
            "{t}"
        );
    }

    #[test]
    fn cancel_bad_base64_wrong_credentials_and_the_limit() {
        let t = transcript_over_tls(
            config(true),
            b"EHLO x\r\nAUTH LOGIN\r\n*\r\nAUTH PLAIN\r\n!!notbase64\r\nAUTH CRAM-MD5\r\n",
        );
        assert!(
            t.ends_with(
                "334 VXNlcm5hbWU6\r\n501 5.0.0 Authentication cancelled\r\n334 \r\n\
                 501 5.5.2 Invalid base64 data\r\n504 5.5.4 Unrecognized authentication mechanism\r\n"
            ),
            "{t}"
        );
        let wrong = plain("alice", "guess");
        let input = format!(
            "EHLO x\r\nAUTH PLAIN {wrong}\r\nAUTH PLAIN {wrong}\r\nAUTH PLAIN {wrong}\r\nNOOP\r\n"
        );
        let t = transcript_over_tls(config(true), input.as_bytes());
        assert!(
            t.ends_with(
                "535 5.7.8 Authentication credentials invalid\r\n\
                 535 5.7.8 Authentication credentials invalid\r\n\
                 421 4.7.0 Too many failed authentication attempts; closing the connection\r\n"
            ),
            "{t}"
        );
    }

    #[test]
    fn not_during_a_transaction_nor_before_ehlo_and_long_lines() {
        let input = format!(
            "AUTH PLAIN\r\nEHLO x\r\nMAIL FROM:<a@example.com>\r\nAUTH PLAIN {}\r\n",
            plain("alice", "secret")
        );
        let t = transcript_over_tls(config(false), input.as_bytes());
        let l = lines(&t);
        assert_eq!(l[1], "503 5.5.1 Send EHLO first", "{t}");
        assert_eq!(
            l.last(),
            Some(&"503 5.5.1 AUTH is not allowed during a mail transaction"),
            "{t}"
        );
        // Not required: mail without AUTH is fine.
        assert!(l.contains(&"250 2.1.0 Sender OK"), "{t}");
        let long = "A".repeat(MAX_COMMAND_LINE + 10);
        let input = format!("EHLO x\r\nAUTH PLAIN\r\n{long}\r\nNOOP\r\n");
        let t = transcript_over_tls(config(false), input.as_bytes());
        assert!(
            t.ends_with("334 \r\n500 5.5.6 Line too long\r\n250 2.0.0 OK\r\n"),
            "{t}"
        );
    }
}
