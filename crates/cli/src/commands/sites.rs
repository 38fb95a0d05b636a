//! `lisens site ...`: the central site and its satellites, and which
//! site-counted features each one uses.

use crate::args::SiteCommand;
use crate::commands::serve::Db;
use crate::failure::Outcome;
use crate::output;

pub(crate) async fn site(database: &Db, cmd: SiteCommand) -> Outcome {
    let store = database.open().await?;
    match cmd {
        SiteCommand::Add { name, satellite } => {
            store.add_site(&name, satellite).await?;
            println!(
                "{} site {name} added",
                if satellite { "satellite" } else { "central" }
            );
        }
        SiteCommand::List { json } => output::sites(&store.list_sites().await?, json),
        SiteCommand::Remove { name } => {
            store.remove_site(&name).await?;
            println!("site {name} removed");
        }
        SiteCommand::Enable { site, module } => {
            store.enable_site_module(&site, &module).await?;
            println!("{module} enabled on {site}");
        }
        SiteCommand::Disable { site, module } => {
            store.disable_site_module(&site, &module).await?;
            println!("{module} disabled on {site}");
        }
    }
    Ok(())
}
