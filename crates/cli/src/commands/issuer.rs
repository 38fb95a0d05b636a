//! `lisens issuer ...`: the vendor's side: key generation and rotation,
//! issuing a license from a spec, the issuer's customers and their licenses
//! (counts, dates, messages, export), its admin password, and serving it.

use std::path::PathBuf;
use std::sync::Arc;

use lisens_core::codes;
use lisens_core::VerifiedLicense;

use crate::args::{CustomerCommand, IssuerCommand, IssuerDb};
use crate::failure::{Failure, Outcome};
use crate::files::{read_password, read_text, write_atomically};
use crate::{config, output};

/// `lisens issuer ...`: the vendor's keys, signing, customers and the issuer server.
pub(crate) async fn issuer(cmd: IssuerCommand, config: &config::Config) -> Outcome {
    match cmd {
        IssuerCommand::Keygen { dir } => {
            let key = lisens_issuer::keygen(&dir)?;
            println!(
                "wrote {} (secret, mode 0600) and {}\nkey id {}",
                dir.join(lisens_issuer::SECRET_FILE).display(),
                dir.join(lisens_issuer::PUBLIC_FILE).display(),
                key.public().id()
            );
            Ok(())
        }
        IssuerCommand::Serve {
            listen,
            key,
            template,
            db,
        } => {
            let issuer = open_issuer(&db, key, config).await?;
            let template = template.map(|p| read_text(&p)).transpose()?;
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .map_err(|e| Failure::new(codes::LISTEN_FAILED, format!("cannot listen on {listen}: {e}")))?;
            let addr = listener
                .local_addr()
                .map_err(|e| Failure::new(codes::LISTEN_FAILED, e.to_string()))?;
            println!("lisens issuer listening on http://{addr}/ (admin pages at /admin)");
            // The internet-facing side: the installation's limits on
            // connections, header time, requests in flight and their time.
            let limits = config.server.limits.clone();
            let app = lisens_issuer::http::app(lisens_issuer::http::IssuerState::new(issuer, template))
                .layer(limits.layer());
            let proxies = Arc::new(config.server.proxies.clone());
            lisens_server::serve_router(listener, app, &limits, proxies, lisens_server::shutdown_signal())
                .await
                .map_err(|e| Failure::new(codes::SERVER_ERROR, e.to_string()))
        }
        IssuerCommand::Customer(cmd) => customer(cmd, config).await,
        IssuerCommand::Set {
            serial,
            module,
            count,
            module_type,
            description,
            force,
            key,
            db,
        } => {
            let new = module_type
                .map(|t| -> Result<_, Failure> {
                    Ok(lisens_issuer::service::NewModule {
                        module_type: match t.as_str() {
                            "system" => lisens_core::ModuleType::System,
                            "site" => lisens_core::ModuleType::Site,
                            _ => lisens_core::ModuleType::User,
                        },
                        description,
                    })
                })
                .transpose()?;
            let c = open_issuer(&db, key, config)
                .await?
                .forcing(force)
                .set_count(&serial, &module, count, new, "cli")
                .await?;
            println!(
                "{serial}: {module} set to {count}; license v{} signed",
                c.license_version
            );
            Ok(())
        }
        IssuerCommand::Dates {
            serial,
            expiration,
            grace_to,
            maintenance_to,
            next_check_date,
            admin_warning_date,
            force,
            key,
            db,
        } => {
            let given = [
                ("expiration", expiration),
                ("grace_to", grace_to),
                ("maintenance_to", maintenance_to),
                ("next_check_date", next_check_date),
                ("admin_warning_date", admin_warning_date),
            ];
            let dates: Vec<(&str, &str)> = given
                .iter()
                .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
                .collect();
            if dates.is_empty() {
                return Err(Failure::new(codes::INVALID_INPUT, "give at least one date"));
            }
            let c = open_issuer(&db, key, config)
                .await?
                .forcing(force)
                .set_dates(&serial, &dates, "cli")
                .await?;
            println!("{serial}: dates set; license v{} signed", c.license_version);
            Ok(())
        }
        IssuerCommand::Message {
            serial,
            text,
            url,
            clear,
            db,
        } => {
            let store = lisens_store::IssuerStore::open(db.url(config)).await?;
            let text = if clear { None } else { text };
            store
                .set_message(&serial, text.as_deref(), url.as_deref(), "cli")
                .await?;
            println!(
                "{serial}: message {}",
                if text.is_some() { "set" } else { "cleared" }
            );
            Ok(())
        }
        IssuerCommand::Export { serial, out, db } => {
            let c = lisens_store::IssuerStore::open(db.url(config))
                .await?
                .customer(&serial)
                .await?;
            write_atomically(&out, &c.document)?;
            println!(
                "wrote {} (license v{} for {})",
                out.display(),
                c.license_version,
                c.company_name
            );
            Ok(())
        }
        IssuerCommand::AdminPassword { db } => {
            let password = read_password()?;
            let hash = lisens_server::auth::hash_password(&password)
                .map_err(|e| Failure::new(codes::PASSWORD_HASH_FAILED, e.to_string()))?;
            lisens_store::IssuerStore::open(db.url(config))
                .await?
                .set_admin_password_hash(&hash)
                .await?;
            println!("issuer admin password set (user: admin)");
            Ok(())
        }
        IssuerCommand::RotateKey {
            key,
            new_public_key,
            owner,
            out,
        } => {
            let key = lisens_issuer::read_signing_key(&key)?;
            let new = lisens_issuer::read_public_key(&new_public_key)?;
            let owner = lisens_core::OwnerName::parse(&owner)
                .map_err(|e| Failure::new(codes::INVALID_INPUT, e.to_string()))?;
            let text = lisens_core::statement::KeyRotation::sign(
                owner.clone(),
                &new,
                lisens_store::clock::now(),
                &key,
            );
            std::fs::write(&out, format!("{text}\n"))
                .map_err(|e| Failure::new(codes::FILE_UNWRITABLE, format!("{}: {e}", out.display())))?;
            println!(
                "wrote {}: key {} vouches for key {} for {owner}",
                out.display(),
                key.public().id(),
                new.id()
            );
            Ok(())
        }
        IssuerCommand::Issue {
            key,
            spec,
            out,
            force,
        } => {
            let key = lisens_issuer::read_signing_key(&key)?;
            let spec_text = read_text(&spec)?;
            let document = lisens_issuer::issue(&spec_text, &key, force)?;
            write_atomically(&out, &document)?;
            let license = VerifiedLicense::verify(&document, &[key.public().clone()])?;
            println!("wrote {}: {}", out.display(), output::summary(&license));
            Ok(())
        }
    }
}

/// `--key`, else the `issuer_key` setting.
fn issuer_key(flag: Option<PathBuf>, config: &config::Config) -> Result<PathBuf, Failure> {
    flag.or_else(|| config.issuer_key.clone()).ok_or_else(|| {
        Failure::new(
            codes::USAGE,
            "the issuer's key file is needed: --key FILE or the issuer_key setting (LISENS_ISSUER_KEY)",
        )
    })
}

async fn open_issuer(
    db: &IssuerDb,
    key: Option<PathBuf>,
    config: &config::Config,
) -> Result<lisens_issuer::service::Issuer, Failure> {
    let key = lisens_issuer::read_signing_key(&issuer_key(key, config)?)?;
    let store = lisens_store::IssuerStore::open(db.url(config)).await?;
    Ok(lisens_issuer::service::Issuer::new(store, key))
}

async fn customer(cmd: CustomerCommand, config: &config::Config) -> Outcome {
    match cmd {
        CustomerCommand::Add {
            serial,
            company,
            contact,
            spec,
            force,
            key,
            db,
        } => {
            let template = read_text(&spec)?;
            let issuer = open_issuer(&db, key, config).await?.forcing(force);
            let secret = issuer
                .add_customer(&serial, &company, &contact, &template, "cli")
                .await?;
            eprintln!(
                "customer {serial} ({company}) added with license v1; its installation secret, shown once:"
            );
            println!("{secret}");
            Ok(())
        }
        CustomerCommand::List { json, db } => {
            let customers = lisens_store::IssuerStore::open(db.url(config))
                .await?
                .customers()
                .await?;
            output::customers(&customers, json);
            Ok(())
        }
        CustomerCommand::Spec {
            serial,
            spec,
            yes,
            force,
            key,
            db,
        } => {
            let text = read_text(&spec)?;
            let issuer = open_issuer(&db, key, config).await?.forcing(force);
            let (current, next) = issuer.preview_spec(&serial, &text).await?;
            output::spec_change(&current, &next);
            if !yes {
                println!("nothing signed: run again with --yes to sign it");
                return Ok(());
            }
            let c = issuer.replace_spec(&serial, &text, "cli").await?;
            println!("{serial}: license v{} signed", c.license_version);
            Ok(())
        }
        CustomerCommand::ResetRegistration { serial, db } => {
            lisens_store::IssuerStore::open(db.url(config))
                .await?
                .reset_registration(&serial, "cli")
                .await?;
            println!("{serial}: the installation may register again");
            Ok(())
        }
        CustomerCommand::Show { serial, json, db } => {
            let store = lisens_store::IssuerStore::open(db.url(config)).await?;
            let c = store.customer(&serial).await?;
            let history = store.history(&serial).await?;
            output::customer(&c, &history, json);
            Ok(())
        }
    }
}
