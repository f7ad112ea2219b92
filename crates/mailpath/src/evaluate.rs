//! Policy for every recipient of one message, with mailing lists expanded: a recipient whose
//! plan says "Expand mailing list" is replaced by the list's members, and each member is
//! evaluated from the Default chain (guide §14.8). Lists inside lists are expanded too, up to
//! [`MAX_LIST_DEPTH`] levels; an address is evaluated at most once per message.
//!
//! Each decision gets a log line as the reference product writes it (`SMTP-00012: recipient
//! 1/2 (bob@ext.test): ...`); in Learn Mode the line says what policy would have done.

use std::collections::HashSet;

use signet_policy::eval::{Disposition, Input};
use signet_policy::facts::{MemoryDictionaries, SessionFacts, SimpleMessage};
use signet_policy::model::DEFAULT_CHAIN;
use signet_policy::prepared::PreparedPolicy;
use signet_store::StateView;
use signet_store::policy_facts::{directory, mailing_list_members};

use crate::error::MailError;
use crate::keys::MailKeys;
use crate::plan::{Decision, KeyFacts, Treatment, decide};

/// Lists nested deeper than this are delivered as addressed.
pub const MAX_LIST_DEPTH: usize = 3;

/// Everything evaluation reads for one message.
pub struct Context<'a> {
    pub view: &'a StateView,
    pub keys: &'a MailKeys<'a>,
    pub facts: &'a SimpleMessage,
    pub session: SessionFacts,
    /// Prepared against `dictionaries`.
    pub policy: &'a PreparedPolicy,
    pub dictionaries: &'a MemoryDictionaries,
    pub learn_mode: bool,
    pub sender: &'a str,
    /// `SMTP-00012`, for the log lines.
    pub conn: &'a str,
}

impl Context<'_> {
    fn key_facts(&self, address: &str) -> KeyFacts {
        match self.keys.recipient(address) {
            Ok(Some(k)) => KeyFacts {
                openpgp: k.cert.as_ref().map(|_| k.mode),
                smime: k.smime.is_some(),
                openpgp_verified: k.cert.is_some() && k.verified,
                smime_verified: k.smime.is_some() && k.smime_verified,
            },
            _ => KeyFacts::default(),
        }
    }
}

/// What policy decided for one message: one decision per final recipient (list members
/// instead of lists), and the log lines that say so. The caller writes the lines once the
/// decisions are final (a keyserver search may make it decide again).
pub struct Decisions {
    pub decisions: Vec<Decision>,
    pub log: Vec<String>,
}

pub fn decide_recipients(ctx: &Context<'_>, recipients: &[String]) -> Result<Decisions, MailError> {
    let mut seen: HashSet<String> = recipients.iter().map(|r| r.to_lowercase()).collect();
    let mut out = Decisions {
        decisions: Vec::new(),
        log: Vec::new(),
    };
    decide_level(ctx, recipients, 0, &mut seen, &mut out)?;
    Ok(out)
}

fn decide_level(
    ctx: &Context<'_>,
    recipients: &[String],
    depth: usize,
    seen: &mut HashSet<String>,
    out: &mut Decisions,
) -> Result<(), MailError> {
    let mut asked: Vec<&str> = recipients.iter().map(String::as_str).collect();
    asked.push(ctx.sender);
    let dir = directory(ctx.view, &asked)?;
    let (plan, trace) = ctx.policy.evaluate(&Input {
        message: ctx.facts,
        session: &ctx.session,
        directory: &dir,
        dictionaries: ctx.dictionaries,
        recipients,
        start_chain: DEFAULT_CHAIN,
        learn_mode: ctx.learn_mode,
        trace: signet_policy::eval::TraceDetail::Fired,
    });
    let n = recipients.len();
    let conn = ctx.conn;
    let key_facts = |a: &str| ctx.key_facts(a);
    for (i, rp) in plan.recipients.iter().enumerate() {
        let place = format!("{conn}: recipient {}/{n} ({})", i + 1, rp.recipient);
        let fired = trace
            .recipients
            .get(i)
            .map(|t| {
                t.fired()
                    .iter()
                    .map(|(c, r)| format!("{c} / {r}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        if let Disposition::ExpandMailingList(_) = rp.disposition
            && depth < MAX_LIST_DEPTH
            && let Some(members) = mailing_list_members(ctx.view, &rp.recipient)?
        {
            let fresh: Vec<String> = members
                .into_iter()
                .filter(|m| seen.insert(m.to_lowercase()))
                .collect();
            out.log.push(format!(
                "{place}: mailing list expanded to {} member(s) (rules fired: {fired})",
                fresh.len()
            ));
            // The continuing actions before the expansion still happen for the list address.
            let list = decide(rp, ctx.sender, key_facts);
            log_entries(&place, &list, &mut out.log);
            if !fresh.is_empty() {
                decide_level(ctx, &fresh, depth + 1, seen, out)?;
            }
            continue;
        }
        let d = decide(rp, ctx.sender, key_facts);
        if ctx.learn_mode {
            let would = trace
                .recipients
                .get(i)
                .map(|t| describe(&decide(&t.outcome, ctx.sender, key_facts)))
                .unwrap_or_default();
            out.log.push(format!(
                "{place}: Learn Mode: delivered unchanged; policy would have: {would} (rules fired: {fired})"
            ));
        } else {
            out.log
                .push(format!("{place}: {} (rules fired: {fired})", describe(&d)));
        }
        log_entries(&place, &d, &mut out.log);
        out.decisions.push(d);
    }
    Ok(())
}

fn log_entries(place: &str, d: &Decision, log: &mut Vec<String>) {
    for entry in &d.log_entries {
        log.push(format!("{place}: policy log entry: {entry}"));
    }
}

/// A decision in the log's words.
pub fn describe(d: &Decision) -> String {
    let by = d
        .decided_by
        .as_deref()
        .map(|b| format!(" by {b}"))
        .unwrap_or_default();
    match &d.treatment {
        Treatment::Unchanged if d.decided_by.is_none() => "passing through unmodified".into(),
        Treatment::Unchanged => format!("sent unchanged{by}"),
        Treatment::Encrypt {
            format, sign: true, ..
        } => format!("encrypted and signed ({format:?}){by}"),
        Treatment::Encrypt { format, .. } => format!("encrypted ({format:?}){by}"),
        Treatment::Sign { format } => format!("signed, not encrypted ({format:?}){by}"),
        Treatment::Decrypt { .. } => format!("decrypted and verified{by}"),
        Treatment::Bounce { reason } => format!("bounced: {reason}{by}"),
        Treatment::Drop => format!("dropped{by}"),
    }
}
