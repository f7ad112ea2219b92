//! The rule editor's form model: a [`Draft`] of a rule that keeps what the administrator typed
//! (so a wrong value is shown again, next to its error), converted to and from the posted form
//! fields and to and from the policy crate's [`Rule`].
//!
//! Field names: `name`, `description`, `enabled`, `key_search` (one keyserver a line); the
//! condition tree under `c.<path>.<field>` where the path is the node's position (`0` is the
//! rule's top group, `0.2` its third child, ...); actions under `a.<index>.<field>`. Every
//! condition subject and action the policy crate knows has a token here; an action's options
//! that have no form field are edited as JSON (`SendArchiveCopy`, or any action as `Json`), so
//! nothing in a rule is out of the editor's reach.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use signet_policy::model::{
    Action, ConditionGroup, ConditionSubject, KeySearchEntry, Modifier, Node, Rule, Statement,
};

use super::rule_choices::SUBJECTS;
#[cfg(test)]
use super::rule_choices::{ACTIONS, MODIFIERS};

/// A rule as the form holds it: text as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub conditions: DraftGroup,
    pub actions: Vec<DraftAction>,
    /// One keyserver name a line.
    pub key_search: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftGroup {
    pub statement: String,
    pub children: Vec<DraftNode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DraftNode {
    Condition(DraftCondition),
    Group(DraftGroup),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DraftCondition {
    pub subject: String,
    pub arg: String,
    pub modifier: String,
    pub value: String,
    pub negate: bool,
}

/// One action: its token and its option fields by name (checkboxes are "on" when set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftAction {
    pub kind: String,
    pub fields: BTreeMap<String, String>,
}

/// A message about one field, shown next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// What the form's button asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Save,
    /// Re-show the form (after changing an action's type without JavaScript).
    Refresh,
    AddCondition(String),
    AddGroup(String),
    RemoveNode(String),
    AddAction,
    RemoveAction(usize),
    ActionUp(usize),
    ActionDown(usize),
}

impl Op {
    pub fn parse(text: &str) -> Op {
        let (verb, arg) = text.split_once(':').unwrap_or((text, ""));
        let index = || arg.parse::<usize>().ok();
        match verb {
            "add-condition" => Op::AddCondition(arg.to_string()),
            "add-group" => Op::AddGroup(arg.to_string()),
            "remove" => Op::RemoveNode(arg.to_string()),
            "add-action" => Op::AddAction,
            "remove-action" => index().map_or(Op::Refresh, Op::RemoveAction),
            "up-action" => index().map_or(Op::Refresh, Op::ActionUp),
            "down-action" => index().map_or(Op::Refresh, Op::ActionDown),
            "save" => Op::Save,
            _ => Op::Refresh,
        }
    }
}

/// The name of a condition node's field.
pub fn cond_field(path: &str, field: &str) -> String {
    format!("c.{path}.{field}")
}

/// The name of an action's field.
pub fn action_field(index: usize, field: &str) -> String {
    format!("a.{index}.{field}")
}

fn token<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

fn from_token<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(Value::String(text.to_string())).ok()
}

/// A subject's token and text parameter.
pub fn subject_token(subject: &ConditionSubject) -> (String, String) {
    match serde_json::to_value(subject) {
        Ok(Value::String(name)) => (name, String::new()),
        Ok(Value::Object(map)) => match map.into_iter().next() {
            Some((name, Value::String(choice))) => (format!("{name}:{choice}"), String::new()),
            Some((name, Value::Object(inner))) if name == "MessageHeader" => (
                name,
                inner
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ),
            Some((name, Value::Object(inner))) => match inner.into_iter().next() {
                Some((choice, Value::String(text))) => (format!("{name}:{choice}"), text),
                _ => (name, String::new()),
            },
            _ => (String::new(), String::new()),
        },
        _ => (String::new(), String::new()),
    }
}

/// The subject a token and text parameter stand for.
pub fn subject_from(token: &str, arg: &str) -> Option<ConditionSubject> {
    let takes_text = SUBJECTS.iter().find(|(t, _, _)| *t == token)?.2;
    let value = match token.split_once(':') {
        None if token == "MessageHeader" => json!({ "MessageHeader": { "name": arg.trim() } }),
        None => Value::String(token.to_string()),
        Some((name, choice)) if takes_text => json!({ name: { choice: arg.trim() } }),
        Some((name, choice)) => json!({ name: choice }),
    };
    serde_json::from_value(value).ok()
}

impl Draft {
    /// A new rule: enabled, always true, sends clear.
    pub fn new_rule() -> Draft {
        Draft::from_rule(&Rule {
            name: String::new(),
            description: String::new(),
            enabled: true,
            conditions: ConditionGroup::always(),
            actions: vec![Action::SendClear],
            key_search: Vec::new(),
        })
    }

    pub fn from_rule(rule: &Rule) -> Draft {
        Draft {
            name: rule.name.clone(),
            description: rule.description.clone(),
            enabled: rule.enabled,
            conditions: group_draft(&rule.conditions),
            actions: rule.actions.iter().map(action_draft).collect(),
            key_search: rule
                .key_search
                .iter()
                .map(|k| k.keyserver.clone())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// The form fields that post this draft back unchanged (what the editor's inputs hold).
    #[cfg(test)]
    pub fn to_fields(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("name".to_string(), self.name.clone()),
            ("description".to_string(), self.description.clone()),
            ("key_search".to_string(), self.key_search.clone()),
        ];
        if self.enabled {
            out.push(("enabled".into(), "on".into()));
        }
        group_fields(&self.conditions, "0", &mut out);
        for (i, a) in self.actions.iter().enumerate() {
            out.push((action_field(i, "kind"), a.kind.clone()));
            out.push((action_field(i, "shown"), a.kind.clone()));
            for (k, v) in &a.fields {
                out.push((action_field(i, k), v.clone()));
            }
        }
        out
    }

    /// Reads the posted fields. An action whose type was changed in its select (its `shown`
    /// type differs) gets the new type's default options; `changed_types` reports that.
    pub fn from_fields(fields: &[(String, String)]) -> (Draft, bool) {
        let mut flat: BTreeMap<&str, &str> = BTreeMap::new();
        for (k, v) in fields {
            flat.insert(k.as_str(), v.as_str());
        }
        let get = |k: &str| flat.get(k).copied().unwrap_or("").to_string();
        let conditions = match parse_group(&flat, "0") {
            Some(g) => g,
            None => DraftGroup {
                statement: "AlwaysTrue".into(),
                children: Vec::new(),
            },
        };
        let mut indexes: Vec<usize> = fields
            .iter()
            .filter_map(|(k, _)| {
                let rest = k.strip_prefix("a.")?;
                let (i, f) = rest.split_once('.')?;
                (f == "kind").then(|| i.parse().ok())?
            })
            .collect();
        indexes.sort_unstable();
        indexes.dedup();
        let mut changed = false;
        let mut actions = Vec::new();
        for i in indexes {
            let prefix = format!("a.{i}.");
            let kind = get(&action_field(i, "kind"));
            let shown = get(&action_field(i, "shown"));
            if kind != shown {
                changed = true;
                actions.push(default_action(&kind));
                continue;
            }
            let fields = flat
                .iter()
                .filter_map(|(k, v)| {
                    let f = k.strip_prefix(prefix.as_str())?;
                    (f != "kind" && f != "shown").then(|| (f.to_string(), v.to_string()))
                })
                .collect();
            actions.push(DraftAction { kind, fields });
        }
        let draft = Draft {
            name: get("name"),
            description: get("description"),
            enabled: flat.contains_key("enabled"),
            conditions,
            actions,
            key_search: get("key_search"),
        };
        (draft, changed)
    }

    /// The rule, or every field that is wrong.
    pub fn to_rule(&self) -> Result<Rule, Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() {
            errors.push(FieldError {
                field: "name".into(),
                message: "A rule needs a name.".into(),
            });
        }
        let conditions = group_rule(&self.conditions, "0", &mut errors);
        let actions: Vec<Action> = self
            .actions
            .iter()
            .enumerate()
            .filter_map(|(i, a)| action_rule(a, i, &mut errors))
            .collect();
        if self.actions.is_empty() {
            errors.push(FieldError {
                field: "actions".into(),
                message: "A rule needs at least one action.".into(),
            });
        }
        let key_search = self
            .key_search
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| KeySearchEntry {
                keyserver: l.to_string(),
            })
            .collect();
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Rule {
            name: self.name.trim().to_string(),
            description: self.description.clone(),
            enabled: self.enabled,
            conditions,
            actions,
            key_search,
        })
    }

    /// Applies an editing button (everything but Save and Refresh).
    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Save | Op::Refresh => {}
            Op::AddCondition(path) => {
                if let Some(g) = group_at(&mut self.conditions, path) {
                    if g.statement == "AlwaysTrue" {
                        g.statement = "All".into();
                    }
                    g.children.push(DraftNode::Condition(DraftCondition {
                        subject: "MessageSubject".into(),
                        modifier: "Contains".into(),
                        ..DraftCondition::default()
                    }));
                }
            }
            Op::AddGroup(path) => {
                if let Some(g) = group_at(&mut self.conditions, path) {
                    if g.statement == "AlwaysTrue" {
                        g.statement = "All".into();
                    }
                    g.children.push(DraftNode::Group(DraftGroup {
                        statement: "Any".into(),
                        children: Vec::new(),
                    }));
                }
            }
            Op::RemoveNode(path) => {
                if let Some((parent, last)) = path.rsplit_once('.')
                    && let Ok(i) = last.parse::<usize>()
                    && let Some(g) = group_at(&mut self.conditions, parent)
                    && i < g.children.len()
                {
                    g.children.remove(i);
                }
            }
            Op::AddAction => self.actions.push(default_action("SendClear")),
            Op::RemoveAction(i) => {
                if *i < self.actions.len() {
                    self.actions.remove(*i);
                }
            }
            Op::ActionUp(i) => {
                if *i > 0 && *i < self.actions.len() {
                    self.actions.swap(*i, *i - 1);
                }
            }
            Op::ActionDown(i) => {
                if *i + 1 < self.actions.len() {
                    self.actions.swap(*i, *i + 1);
                }
            }
        }
    }
}

fn group_at<'a>(root: &'a mut DraftGroup, path: &str) -> Option<&'a mut DraftGroup> {
    let mut parts = path.split('.');
    if parts.next() != Some("0") {
        return None;
    }
    let mut g = root;
    for p in parts {
        let i: usize = p.parse().ok()?;
        g = match g.children.get_mut(i)? {
            DraftNode::Group(inner) => inner,
            DraftNode::Condition(_) => return None,
        };
    }
    Some(g)
}

fn group_draft(g: &ConditionGroup) -> DraftGroup {
    DraftGroup {
        statement: token(&g.statement),
        children: g
            .children
            .iter()
            .map(|n| match n {
                Node::Group(inner) => DraftNode::Group(group_draft(inner)),
                Node::Condition(c) => {
                    let (subject, arg) = subject_token(&c.subject);
                    DraftNode::Condition(DraftCondition {
                        subject,
                        arg,
                        modifier: token(&c.modifier),
                        value: c.value.clone(),
                        negate: c.negate,
                    })
                }
            })
            .collect(),
    }
}

#[cfg(test)]
fn group_fields(g: &DraftGroup, path: &str, out: &mut Vec<(String, String)>) {
    out.push((cond_field(path, "type"), "group".into()));
    out.push((cond_field(path, "statement"), g.statement.clone()));
    for (i, child) in g.children.iter().enumerate() {
        let p = format!("{path}.{i}");
        match child {
            DraftNode::Group(inner) => group_fields(inner, &p, out),
            DraftNode::Condition(c) => {
                out.push((cond_field(&p, "type"), "condition".into()));
                out.push((cond_field(&p, "subject"), c.subject.clone()));
                out.push((cond_field(&p, "arg"), c.arg.clone()));
                out.push((cond_field(&p, "modifier"), c.modifier.clone()));
                out.push((cond_field(&p, "value"), c.value.clone()));
                if c.negate {
                    out.push((cond_field(&p, "negate"), "on".into()));
                }
            }
        }
    }
}

fn parse_group(flat: &BTreeMap<&str, &str>, path: &str) -> Option<DraftGroup> {
    if flat.get(cond_field(path, "type").as_str()) != Some(&"group") {
        return None;
    }
    let get = |p: &str, f: &str| {
        flat.get(cond_field(p, f).as_str())
            .copied()
            .unwrap_or("")
            .to_string()
    };
    // Children are the paths one level below that have a type, in numeric order.
    let prefix = format!("c.{path}.");
    let mut indexes: Vec<usize> = flat
        .keys()
        .filter_map(|k| {
            let rest = k.strip_prefix(prefix.as_str())?;
            let (i, f) = rest.split_once('.')?;
            (f == "type").then(|| i.parse().ok())?
        })
        .collect();
    indexes.sort_unstable();
    indexes.dedup();
    let children = indexes
        .into_iter()
        .filter_map(|i| {
            let p = format!("{path}.{i}");
            match flat.get(cond_field(&p, "type").as_str()).copied() {
                Some("group") => parse_group(flat, &p).map(DraftNode::Group),
                Some("condition") => Some(DraftNode::Condition(DraftCondition {
                    subject: get(&p, "subject"),
                    arg: get(&p, "arg"),
                    modifier: get(&p, "modifier"),
                    value: get(&p, "value"),
                    negate: flat.contains_key(cond_field(&p, "negate").as_str()),
                })),
                _ => None,
            }
        })
        .collect();
    Some(DraftGroup {
        statement: get(path, "statement"),
        children,
    })
}

fn group_rule(g: &DraftGroup, path: &str, errors: &mut Vec<FieldError>) -> ConditionGroup {
    let statement = from_token::<Statement>(&g.statement).unwrap_or_else(|| {
        errors.push(FieldError {
            field: cond_field(path, "statement"),
            message: format!("{:?} is not a condition statement.", g.statement),
        });
        Statement::All
    });
    let mut children = Vec::new();
    for (i, child) in g.children.iter().enumerate() {
        let p = format!("{path}.{i}");
        match child {
            DraftNode::Group(inner) => children.push(Node::Group(group_rule(inner, &p, errors))),
            DraftNode::Condition(c) => {
                let subject = subject_from(&c.subject, &c.arg);
                let modifier = from_token::<Modifier>(&c.modifier);
                let takes_text = SUBJECTS.iter().any(|(t, _, text)| *t == c.subject && *text);
                if takes_text && c.arg.trim().is_empty() {
                    errors.push(FieldError {
                        field: cond_field(&p, "arg"),
                        message: "This condition needs a name or key ID in the box.".into(),
                    });
                }
                match (subject, modifier) {
                    (Some(subject), Some(modifier)) => {
                        children.push(Node::Condition(signet_policy::model::Condition {
                            subject,
                            modifier,
                            value: c.value.clone(),
                            negate: c.negate,
                        }))
                    }
                    (None, _) => errors.push(FieldError {
                        field: cond_field(&p, "subject"),
                        message: format!("{:?} is not a condition.", c.subject),
                    }),
                    (_, None) => errors.push(FieldError {
                        field: cond_field(&p, "modifier"),
                        message: format!("{:?} is not a modifier.", c.modifier),
                    }),
                }
            }
        }
    }
    ConditionGroup {
        statement,
        children,
    }
}

#[path = "rule_form_actions.rs"]
mod actions;
pub use actions::default_action;
use actions::{action_draft, action_rule};

#[cfg(test)]
#[path = "rule_form_tests.rs"]
mod tests;
