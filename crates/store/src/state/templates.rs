//! Message templates: an administrator's edited text per catalogue id (the catalogue and the
//! factory texts are in `signet_model::template`; a template with no entry here is the
//! factory text).

use signet_model::{MessageTemplate, template_spec};

use super::keys::{MESSAGE_TEMPLATE, key};
use super::{StateView, Txn};
use crate::StoreError;
use crate::command::{Command, CommandOutcome, CommandOutput, Rejection};

pub(super) fn apply(txn: &mut Txn<'_>, command: &Command) -> Result<CommandOutcome, StoreError> {
    match command {
        Command::SetMessageTemplate { template } => {
            let Some(spec) = template_spec(&template.id) else {
                return Ok(Err(Rejection::NotFound(format!(
                    "message template {}",
                    template.id
                ))));
            };
            let mut t = template.clone();
            t.id = spec.id.to_string();
            txn.put(key(MESSAGE_TEMPLATE, spec.id), &t)?;
            Ok(Ok(CommandOutput::Done))
        }
        Command::RevertMessageTemplate { id } => {
            let Some(spec) = template_spec(id) else {
                return Ok(Err(Rejection::NotFound(format!("message template {id}"))));
            };
            txn.delete(key(MESSAGE_TEMPLATE, spec.id));
            Ok(Ok(CommandOutput::Done))
        }
        _ => Ok(Err(Rejection::Conflict("not a template command".into()))),
    }
}

impl StateView {
    /// The administrator's text for a template, if it was edited.
    pub fn message_template(&self, id: &str) -> Result<Option<MessageTemplate>, StoreError> {
        self.get(MESSAGE_TEMPLATE, id)
    }

    /// The text in force for a template: the edited one, else the factory text.
    pub fn message_template_text(&self, id: &str) -> Result<Option<String>, StoreError> {
        let Some(spec) = template_spec(id) else {
            return Ok(None);
        };
        Ok(Some(match self.message_template(spec.id)? {
            Some(t) => t.text,
            None => spec.default_text.to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend, SledBackend};
    use crate::state::apply as apply_all;
    use std::sync::Arc;

    #[test]
    fn edit_and_revert() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let backend = SledBackend::open(dir.path())?;
        let tree = backend.tree("state")?;
        let view = StateView::new(Arc::clone(&tree));
        let default = view.message_template_text("delivery-failure")?;
        assert!(
            default
                .as_deref()
                .unwrap_or("")
                .contains("Message undeliverable")
        );
        let set = Command::SetMessageTemplate {
            template: MessageTemplate {
                id: "Delivery-Failure".into(),
                text: "Subject: custom\n\n$REASON\n".into(),
                updated_at: 5,
            },
        };
        let mut txn = Txn::new(tree.as_ref());
        assert_eq!(apply_all(&mut txn, &set)?, Ok(CommandOutput::Done));
        tree.apply(txn.into_batch())?;
        assert_eq!(
            view.message_template_text("delivery-failure")?.as_deref(),
            Some("Subject: custom\n\n$REASON\n")
        );
        let unknown = Command::RevertMessageTemplate { id: "nope".into() };
        let mut txn = Txn::new(tree.as_ref());
        assert!(matches!(
            apply_all(&mut txn, &unknown)?,
            Err(Rejection::NotFound(_))
        ));
        let revert = Command::RevertMessageTemplate {
            id: "delivery-failure".into(),
        };
        let mut txn = Txn::new(tree.as_ref());
        apply_all(&mut txn, &revert)?.map_err(|r| format!("{r:?}"))?;
        tree.apply(txn.into_batch())?;
        assert_eq!(view.message_template_text("delivery-failure")?, default);
        Ok(())
    }
}
