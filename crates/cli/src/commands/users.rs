//! `lisens user ...` and `lisens token ...`: the installation's users
//! (associates): add, list, activate and deactivate, passwords, and the CSV
//! import run as a job; and the API tokens.

use std::path::Path;

use lisens_core::codes;
use lisens_store::{NewAssociate, Store, StoreError, TokenScope};

use crate::args::{TokenCommand, UserCommand};
use crate::commands::serve::Db;
use crate::failure::{import_failure, Failure, Outcome};
use crate::files::{read_password, read_text};
use crate::output;

pub(crate) async fn user(database: &Db, cmd: UserCommand) -> Outcome {
    let store = database.open().await?;
    match cmd {
        UserCommand::Add {
            login,
            name,
            email,
            admin,
            password_stdin,
        } => {
            let password_hash = if password_stdin {
                Some(
                    lisens_server::auth::hash_password(&read_password()?)
                        .map_err(|e| Failure::new(codes::PASSWORD_HASH_FAILED, e.to_string()))?,
                )
            } else {
                None
            };
            let full_name = name.unwrap_or_else(|| login.clone());
            let id = store
                .create_associate(&NewAssociate {
                    login_name: login.clone(),
                    full_name,
                    email,
                    is_admin: admin,
                    password_hash,
                })
                .await?;
            println!("user {login} created (id {id})");
            Ok(())
        }
        UserCommand::List { json } => {
            output::users(&store.list_associates().await?, json);
            Ok(())
        }
        UserCommand::Import { file } => import_users(&store, &file).await,
        UserCommand::Deactivate { login } => {
            store.deactivate_associate(&login).await?;
            println!("user {login} deactivated");
            Ok(())
        }
        UserCommand::Activate { login } => {
            store.activate_associate(&login).await?;
            println!("user {login} activated");
            Ok(())
        }
        UserCommand::ResetPassword { login, .. } => {
            store.associate(&login).await?;
            let hash = lisens_server::session::new_password_hash(read_password()?)
                .await
                .map_err(|e| Failure::new(e.code, e.detail))?;
            store.set_password_hash(&login, &hash).await?;
            println!("password of {login} set; their sessions ended");
            Ok(())
        }
    }
}

/// Imports users as a job: its event shows progress; if this process dies
/// the next server process marks it failed.
async fn import_users(store: &Store, file: &Path) -> Outcome {
    let text = read_text(file)?;
    let rows = lisens_core::import::parse_users(&text).map_err(import_failure)?;
    // The whole file is checked against what is stored before anything is
    // written; only a plan that is full can still stop the job midway.
    let existing: std::collections::HashSet<String> = store
        .list_associates()
        .await?
        .into_iter()
        .map(|a| lisens_core::LoginName::fold(&a.login_name).into_owned())
        .collect();
    let status = store.license_status().await?;
    let modules: std::collections::HashSet<&str> = status
        .owners
        .iter()
        .flat_map(|o| &o.modules)
        .filter(|m| m.effective())
        .map(|m| m.name.as_str())
        .collect();
    for row in &rows {
        if existing.contains(&*lisens_core::LoginName::fold(row.login.as_str())) {
            return Err(Failure::new(
                codes::ALREADY_EXISTS,
                format!(
                    "{}: line {}: user {} already exists",
                    file.display(),
                    row.line,
                    row.login
                ),
            ));
        }
        if let Some(plan) = row.plan.as_ref().filter(|p| !modules.contains(p.as_str())) {
            return Err(Failure::new(
                codes::MODULE_UNKNOWN,
                format!(
                    "{}: line {}: no module {plan} in the license",
                    file.display(),
                    row.line
                ),
            ));
        }
    }
    let total = rows.len().max(1) as i64;
    let job = store
        .start_job(
            "user-import",
            &format!("importing {} users from {}", rows.len(), file.display()),
            None,
            "cli",
        )
        .await?;
    let mut done = 0i64;
    for row in &rows {
        let login = row.login.as_str();
        let step = async {
            store
                .create_associate(&NewAssociate {
                    login_name: login.to_owned(),
                    full_name: row.full_name.clone(),
                    email: row.email.clone(),
                    is_admin: false,
                    password_hash: None,
                })
                .await?;
            if let Some(plan) = &row.plan {
                store.assign(login, plan.as_str()).await?;
            }
            Ok::<(), StoreError>(())
        };
        if let Err(e) = step.await {
            let why = format!("stopped at {login} after {done} of {total}: {}: {e}", e.code());
            store.finish_job(job, false, &why).await?;
            return Err(Failure::new(e.code(), why));
        }
        done += 1;
        if done % 10 == 0 || done == total {
            store
                .job_progress(job, done * 100 / total, &format!("{done} of {total} users"))
                .await?;
        }
    }
    store
        .finish_job(job, true, &format!("{done} users imported"))
        .await?;
    println!("{done} users imported (job {job})");
    Ok(())
}

/// `lisens token ...`: create and revoke API tokens.
pub(crate) async fn token(db: &Db, cmd: TokenCommand) -> Outcome {
    match cmd {
        TokenCommand::Create { name, admin, scope } => {
            let scope = match (admin, scope.as_deref()) {
                (true, _) | (false, Some("admin")) => TokenScope::Admin,
                (false, Some(other)) => TokenScope::parse(other)?,
                (false, None) => {
                    return Err(Failure::new(
                        codes::INVALID_INPUT,
                        "give --admin or --scope SCOPE",
                    ));
                }
            };
            let store = db.open().await?;
            let mut secret = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
            let token = store.create_token(&name, scope, secret).await?;
            eprintln!(
                "token {} ({}) created; it is shown once:",
                token.id,
                scope.as_str()
            );
            println!("{}", token.secret);
            Ok(())
        }
        TokenCommand::Revoke { id } => {
            db.open().await?.revoke_token(id).await?;
            println!("token {id} revoked");
            Ok(())
        }
    }
}
