//! `lisens events ...`: system events (No Login, No Freetext, No Travel, the
//! message of the day, custom ones): add, list and end them.

use lisens_core::codes;

use crate::args::EventsCommand;
use crate::commands::serve::Db;
use crate::failure::{Failure, Outcome};
use crate::output;

pub(crate) async fn events(database: &Db, cmd: EventsCommand) -> Outcome {
    use lisens_core::events::{EventKey, EventScope, EventStatus};
    let store = database.open().await?;
    let bad = |e: lisens_core::ParseError| Failure::new(codes::INVALID_INPUT, e.to_string());
    match cmd {
        EventsCommand::Add {
            key,
            message,
            scope,
            target,
            description,
            eta,
            by,
        } => {
            let event = lisens_store::NewEvent {
                key: EventKey::parse_admin(&key).map_err(bad)?,
                scope: EventScope::parse(&scope).map_err(bad)?,
                target,
                message,
                description,
                eta,
                activated_by: by,
            };
            let id = store.add_event(&event).await?;
            println!("event {id} ({key}) added");
        }
        EventsCommand::List { status, limit, json } => {
            let filter = lisens_store::EventFilter {
                status: status
                    .as_deref()
                    .map(EventStatus::parse)
                    .transpose()
                    .map_err(bad)?,
                ..Default::default()
            };
            output::events(&store.events(&filter, 0, limit).await?, json);
        }
        EventsCommand::End { id } => {
            store.end_event_by_hand(id, EventStatus::Finished).await?;
            println!("event {id} ended");
        }
    }
    Ok(())
}
