//! `StateView::consumers_page`: filters by kind and by part of the address or name, counts
//! every match, and pages in address order over a few thousand records.

use signet_model::{Consumer, ConsumerKind, EmailAddress};

use super::fixture::Fixture;
use crate::command::Command;

fn consumer(email: &str, kind: ConsumerKind, name: Option<&str>) -> Consumer {
    Consumer {
        email: EmailAddress::parse(email).expect("test address"),
        kind,
        display_name: name.map(str::to_string),
        keys: Vec::new(),
        created_at: 1,
    }
}

#[test]
fn pages_count_and_search_consumers() -> Result<(), Box<dyn std::error::Error>> {
    let f = Fixture::new()?;
    f.ok(Command::AddManagedDomain {
        name: "inside.test".into(),
        at: 1,
    })?;
    // A few thousand users, so the page sits deep in the table.
    let n = 4200;
    for i in 0..n {
        let name = (i == 4150).then_some("Zoë Ärger");
        let c = consumer(
            &format!("u{i:05}@inside.test"),
            ConsumerKind::Internal,
            name,
        );
        f.ok(Command::AddConsumer { consumer: c })?;
    }
    for i in 0..3 {
        let c = consumer(&format!("x{i}@outside.test"), ConsumerKind::External, None);
        f.ok(Command::AddConsumer { consumer: c })?;
    }
    let view = f.view();

    let all = view.consumers_page(None, "", 0, 10)?;
    assert_eq!(all.total, n + 3);
    let internal = view.consumers_page(Some(ConsumerKind::Internal), "", 4090, 50)?;
    assert_eq!(internal.total, n);
    let emails: Vec<String> = internal.items.iter().map(|c| c.email.to_string()).collect();
    assert_eq!(emails.len(), 50);
    assert_eq!(emails[0], "u04090@inside.test");
    assert_eq!(emails[49], "u04139@inside.test");

    let external = view.consumers_page(Some(ConsumerKind::External), "", 0, 50)?;
    assert_eq!(external.total, 3);
    assert_eq!(external.items[0].email.to_string(), "x0@outside.test");

    // Part of the address, any case; part of a display name, any case (also non-ASCII).
    let hit = view.consumers_page(Some(ConsumerKind::Internal), "U0412", 0, 50)?;
    assert_eq!(hit.total, 10);
    let by_name = view.consumers_page(None, "ärger", 0, 50)?;
    assert_eq!(by_name.total, 1);
    assert_eq!(by_name.items[0].email.to_string(), "u04150@inside.test");
    let past_end = view.consumers_page(None, "", n + 10, 50)?;
    assert_eq!((past_end.total, past_end.items.len()), (n + 3, 0));
    Ok(())
}
