//! `lisens demo`: one command from a fresh machine to a running installation
//! with a signed demo license and an administrator.

use std::path::PathBuf;

use clap::Args;
use lisens_core::codes;
use lisens_core::VerifiedLicense;
use lisens_store::{NewAssociate, Store};
use rand::distributions::{Alphanumeric, DistString};

use crate::commands::serve::serve_store;
use crate::failure::{Failure, Outcome};
use crate::files::write_atomically;
use crate::output;

pub const DEMO_SPEC: &str = include_str!("../../../examples/demo-license.toml");

#[derive(Args)]
pub struct DemoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Directory holding the demo's database and issuer key; reused when it exists.
    #[arg(long, default_value = "./lisens-demo")]
    dir: PathBuf,
}

pub async fn run(args: DemoArgs, config: &crate::config::Config) -> Outcome {
    let dir = &args.dir;
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::new(codes::FILE_UNWRITABLE, format!("{}: {e}", dir.display())))?;
    let key_path = dir.join(lisens_issuer::SECRET_FILE);
    let key = if key_path.exists() {
        lisens_issuer::read_signing_key(&key_path)?
    } else {
        lisens_issuer::keygen(dir)?
    };
    let url = format!("sqlite://{}", dir.join("lisens.db").display());
    let store = Store::open(&url)
        .await?
        .with_pinned_keys(vec![key.public().clone()]);

    if store.license_status().await?.owners.is_empty() {
        let document = lisens_issuer::issue(DEMO_SPEC, &key, false)?;
        write_atomically(&dir.join("demo-license.lic"), &document)?;
        let license = VerifiedLicense::verify(&document, &[key.public().clone()])?;
        store.load_license(&license, key.public()).await?;
        println!("loaded {}", output::summary(&license));
    }

    let password = if store.count_associates().await? == 0 {
        let password = Alphanumeric.sample_string(&mut rand::thread_rng(), 20);
        let hash = lisens_server::auth::hash_password(&password)
            .map_err(|e| Failure::new(codes::PASSWORD_HASH_FAILED, e.to_string()))?;
        store
            .create_associate(&NewAssociate {
                login_name: "admin".into(),
                full_name: "Demo Administrator".into(),
                email: "admin@example.com".into(),
                is_admin: true,
                password_hash: Some(hash),
            })
            .await?;
        Some(password)
    } else {
        None
    };

    let dir_shown = dir.display().to_string();
    serve_store(store, &args.listen, config, move |addr| {
        println!("lisens demo is running");
        println!("  URL:      http://{addr}/");
        println!("  Health:   http://{addr}/healthz");
        println!("  Login:    admin");
        match password {
            Some(p) => println!("  Password: {p}   (shown once; stored only as an Argon2id hash)"),
            None => println!("  Password: as printed when {dir_shown} was created"),
        }
        println!("  Data:     {dir_shown} (lisens.db, demo issuer key issuer.key, demo-license.lic)");
        println!("Stop with Ctrl-C.");
    })
    .await
}
