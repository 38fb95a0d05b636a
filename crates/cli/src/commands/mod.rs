//! The commands `run` dispatches to, one module per group: the installation's
//! licenses (`license`), the vendor's side (`issuer`), users and API tokens
//! (`users`), metered services (`metering`), system events (`events`), sites
//! (`sites`), the server and the database handle every command opens
//! (`serve`), and the operator's commands: config check, backup, restore,
//! the audit log and the CLI's own audit records (`ops`).

pub(crate) mod events;
pub(crate) mod issuer;
pub(crate) mod license;
pub(crate) mod metering;
pub(crate) mod ops;
pub(crate) mod serve;
pub(crate) mod sites;
pub(crate) mod users;
