//! `lisens license ...`: the installation's licenses: register with the
//! issuer, trust and retire vendor keys, verify, inspect and load license
//! files, pending licenses and their activation, assignments, the run-time
//! check and the status.

use std::sync::Arc;

use lisens_core::access::Decision;
use lisens_core::codes;
use lisens_core::{ModuleName, UnverifiedLicense, VerifiedLicense};
use lisens_store::{AccessView, Actor};

use crate::args::LicenseCommand;
use crate::commands::serve::Db;
use crate::failure::{Failure, Outcome};
use crate::files::read_text;
use crate::output;

pub(crate) async fn license(database: &Db, cmd: LicenseCommand) -> Outcome {
    match cmd {
        LicenseCommand::Verify { file, public_key } => {
            let key = lisens_issuer::read_public_key(&public_key)?;
            let license = VerifiedLicense::verify(&read_text(&file)?, &[key])?;
            println!("OK {}", output::summary(&license));
            Ok(())
        }
        LicenseCommand::Inspect {
            file,
            public_key,
            json,
        } => {
            let text = read_text(&file)?;
            let unverified = UnverifiedLicense::parse(&text)?;
            let verified = match public_key {
                None => None,
                Some(path) => {
                    let key = lisens_issuer::read_public_key(&path)?;
                    Some(VerifiedLicense::verify(&text, &[key]).map_err(|e| e.code()))
                }
            };
            output::inspect(
                &unverified,
                verified.as_ref().map(|r| r.as_ref().map(|_| ()).map_err(|c| *c)),
                json,
            );
            match verified {
                Some(Err(_)) => Err(Failure::new(
                    codes::LICENSE_SIGNATURE_INVALID,
                    "the license does not verify",
                )),
                _ => Ok(()),
            }
        }
        LicenseCommand::Load {
            file,
            public_key,
            actor,
        } => {
            let key = lisens_issuer::read_public_key(&public_key)?;
            let text = read_text(&file)?;
            let license = VerifiedLicense::verify(&text, std::slice::from_ref(&key))?;
            let store = database.open().await?;
            let actor = Actor {
                name: &actor,
                automatic: false,
            };
            let received = store
                .receive_license(&license, &key, &text, "file", actor)
                .await?;
            output::received(&received, &license);
            Ok(())
        }
        LicenseCommand::Register {
            issuer,
            serial,
            owner,
            public_key,
        } => {
            let key = lisens_issuer::read_public_key(&public_key)?;
            let store = database.open().await?;
            let received = lisens_server::issuer_client::register(
                &store,
                &issuer,
                &serial,
                &owner,
                std::slice::from_ref(&key),
                "cli",
            )
            .await
            .map_err(|e| Failure::new(e.code(), e.to_string()))?;
            println!("registered serial {serial} with {issuer}");
            output::taken(&received);
            Ok(())
        }
        LicenseCommand::TrustKey {
            owner,
            public_key,
            statement,
        } => {
            let store = database.open().await?;
            let (owner, key) = match (owner, public_key, statement) {
                (_, _, Some(file)) => store.trust_key_by_rotation(read_text(&file)?.trim()).await?,
                (Some(owner), Some(file), None) => {
                    let key = lisens_issuer::read_public_key(&file)?;
                    store.trust_key(&owner, &key).await?;
                    (owner, key)
                }
                _ => {
                    return Err(Failure::new(
                        codes::INVALID_INPUT,
                        "give --owner and --public-key, or --statement",
                    ))
                }
            };
            println!("{owner} now also trusts key {}", key.id());
            Ok(())
        }
        LicenseCommand::RetireKey { owner, key_id } => {
            database.open().await?.retire_key(&owner, &key_id).await?;
            println!("{owner} no longer trusts key {key_id}");
            Ok(())
        }
        LicenseCommand::CheckNow { json } => {
            let store = database.open().await?;
            let outcome = lisens_server::issuer_client::check_now(&store)
                .await
                .map_err(|e| Failure::new(e.code(), e.to_string()))?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&outcome).expect("outcome serialises")
                );
            } else {
                output::check_outcome(&outcome);
            }
            Ok(())
        }
        LicenseCommand::Checks { limit, json } => {
            let store = database.open().await?;
            output::issuer_checks(&store.issuer_checks(limit).await?, json);
            Ok(())
        }
        LicenseCommand::Pending { json } => {
            let store = database.open().await?;
            let mut pending = Vec::new();
            for owner in store.pending_owners().await? {
                pending.extend(store.pending_license(&owner).await?);
            }
            output::pending(&pending, json);
            Ok(())
        }
        LicenseCommand::Activate { owner, actor } => {
            let store = database.open().await?;
            let owner = match owner {
                Some(o) => o,
                None => {
                    let owners = store.pending_owners().await?;
                    match owners.as_slice() {
                        [one] => one.clone(),
                        [] => return Err(Failure::new(codes::LICENSE_NOT_PENDING, "no license is pending")),
                        _ => {
                            return Err(Failure::new(
                                codes::INVALID_INPUT,
                                "several owners have a pending license: give --owner",
                            ))
                        }
                    }
                }
            };
            let diff = store
                .activate_pending(
                    &owner,
                    Actor {
                        name: &actor,
                        automatic: false,
                    },
                )
                .await?;
            println!("New license activated for {owner}");
            output::diff(&diff);
            Ok(())
        }
        LicenseCommand::RemoveExcess {
            module,
            logins,
            actor,
        } => {
            let store = database.open().await?;
            store
                .remove_excess(
                    &module,
                    &logins,
                    Actor {
                        name: &actor,
                        automatic: false,
                    },
                )
                .await?;
            println!("{module} removed from {}", logins.join(", "));
            Ok(())
        }
        LicenseCommand::Holders {
            module,
            offset,
            limit,
            json,
        } => {
            let holders = database
                .open()
                .await?
                .module_holders(&module, offset, limit)
                .await?;
            output::holders(&holders, json);
            Ok(())
        }
        LicenseCommand::History { limit, json } => {
            let events = database.open().await?.license_events(limit).await?;
            output::history(&events, json);
            Ok(())
        }
        LicenseCommand::Assign {
            login,
            module,
            valid_from,
            valid_to,
        } => {
            let window = lisens_store::Window { valid_from, valid_to };
            database
                .open()
                .await?
                .assign_during(&login, &module, &window)
                .await?;
            println!("{module} assigned to {login}");
            Ok(())
        }
        LicenseCommand::Unassign { login, module } => {
            database.open().await?.unassign(&login, &module).await?;
            println!("{module} unassigned from {login}");
            Ok(())
        }
        LicenseCommand::Check {
            login,
            module,
            system,
            owner,
        } => {
            let store = Arc::new(database.open().await?);
            let view = AccessView::new(store).await?;
            let access = &view.get().access;
            let now = lisens_store::clock::now();
            let parse =
                |m: &str| ModuleName::parse(m).map_err(|e| Failure::new(codes::INVALID_INPUT, e.to_string()));
            let owner = owner.as_deref();
            let decision = match (login, module, system) {
                (None, None, Some(s)) => access.has_system_of(owner, &parse(&s)?, now),
                (Some(l), None, None) if owner.is_none() => access.can_login(&l, now),
                (Some(l), Some(m), None) => access.has_module_of(owner, &l, &parse(&m)?, now),
                _ => {
                    return Err(Failure::new(
                        codes::INVALID_INPUT,
                        "give LOGIN [MODULE], or --system MODULE (--owner goes with a module)",
                    ))
                }
            };
            match decision {
                Decision::Granted { warning } => {
                    println!(
                        "granted{}",
                        warning.map(|w| format!(" ({})", w.code())).unwrap_or_default()
                    );
                    Ok(())
                }
                Decision::Denied(d) => {
                    println!("denied {} ({})", d.code(), output::denial(&d));
                    Err(Failure::silent())
                }
            }
        }
        LicenseCommand::Status { json, public_keys } => {
            let status = database
                .pinning(&public_keys)?
                .open()
                .await?
                .license_report()
                .await?;
            output::status(&status, json);
            Ok(())
        }
    }
}
