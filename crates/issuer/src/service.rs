//! The issuer's license service: customers and their licenses, re-signed on
//! every change with a higher license version, and the answers installations
//! get when they ask for their license.

use lisens_core::{SigningKey, VerifiedLicense};
use lisens_store::{Customer, IssuerStore, StoreError};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::IssuerError;

pub struct Issuer {
    pub db: IssuerStore,
    key: SigningKey,
    /// Sign also what [`lisens_core::spec::issue_warnings`] warns about.
    force: bool,
}

/// A module the vendor adds to a customer's license with `issuer set`.
#[derive(Debug, Clone)]
pub struct NewModule {
    pub module_type: lisens_core::ModuleType,
    pub description: String,
}

/// What an installation sends when it asks for its license.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchRequest {
    pub serial: String,
    pub secret: String,
    /// The license version the installation has active (0 when none).
    pub license_version: i64,
    /// The company name the installation shows.
    pub company_name: Option<String>,
}

/// The vendor's status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FetchStatus {
    Ok,
    NewLicenseAvailable,
    NewCompanyNameAvailable,
    NewSerialAvailable,
    Message,
    ProblemWithLicense,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FetchAnswer {
    pub status: FetchStatus,
    pub license_version: i64,
    pub message: Option<String>,
    pub url: Option<String>,
    /// The signed license when it is newer than the installation's.
    pub license: Option<String>,
    /// The issuer's signed statement: the current version for the serial at
    /// the issuer's time (`lisens_core::statement`).
    pub statement: Option<String>,
}

impl FetchAnswer {
    /// The answer's entity tag: the same for as long as the issuer has
    /// nothing new to say (status, version, message, link, license), so an
    /// installation that asks with it in `If-None-Match` gets an empty 304.
    /// The statement, signed afresh on every answer, is not part of it.
    pub fn etag(&self) -> String {
        use sha2::Digest as _;
        let what = serde_json::to_vec(&(
            self.status,
            self.license_version,
            &self.message,
            &self.url,
            &self.license,
        ))
        .expect("an answer serialises");
        let digest = sha2::Sha256::digest(&what);
        let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        format!("\"{}-{hex}\"", self.license_version)
    }
}

/// Registration of a demo installation with the serial and owner (company)
/// name the vendor gave on purchase.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub serial: String,
    pub company_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterAnswer {
    /// The installation's secret for later fetches.
    pub secret: String,
    pub license: String,
    /// As in [`FetchAnswer`].
    pub statement: Option<String>,
}

fn new_secret() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn spec_table(spec: &str) -> Result<toml::Table, IssuerError> {
    spec.parse::<toml::Table>()
        .map_err(|e| lisens_core::LicenseError::InvalidSpec(e.message().to_owned()).into())
}

fn owner_table(t: &mut toml::Table) -> Result<&mut toml::Table, IssuerError> {
    t.get_mut("owner")
        .and_then(toml::Value::as_table_mut)
        .ok_or_else(|| lisens_core::LicenseError::InvalidSpec("the spec has no [owner]".into()).into())
}

/// Puts the spec `new` in place of `t`, keeping the customer's serial and
/// company name.
fn keep_customer(t: &mut toml::Table, mut new: toml::Table) -> Result<(), IssuerError> {
    let old_owner = owner_table(t)?.clone();
    let owner = owner_table(&mut new)?;
    for keep in ["serial", "company_name"] {
        if let Some(v) = old_owner.get(keep) {
            owner.insert(keep.into(), v.clone());
        }
    }
    *t = new;
    Ok(())
}

impl Issuer {
    pub fn new(db: IssuerStore, key: SigningKey) -> Self {
        Self {
            db,
            key,
            force: false,
        }
    }

    /// Signs also an expired license or plans beyond their modules' counts
    /// (`--force`).
    pub fn forcing(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Signs a spec text; returns (document, version).
    fn sign(&self, spec: &str) -> Result<(String, i64), IssuerError> {
        let content = crate::content(spec, self.force)?;
        let version = i64::from(content.owner().license_version);
        Ok((content.sign(&self.key), version))
    }

    /// Adds a customer: the template spec with this serial and company,
    /// signed as license version 1. Returns the installation secret (shown once).
    pub async fn add_customer(
        &self,
        serial: &str,
        company: &str,
        contact: &str,
        template: &str,
        actor: &str,
    ) -> Result<String, IssuerError> {
        lisens_core::SerialNumber::parse(serial).map_err(lisens_core::LicenseError::from)?;
        let mut t = spec_table(template)?;
        let owner = owner_table(&mut t)?;
        owner.insert("serial".into(), serial.into());
        owner.insert("company_name".into(), company.into());
        owner.insert("license_version".into(), 1.into());
        let spec = toml::to_string(&t).map_err(|e| lisens_core::LicenseError::InvalidSpec(e.to_string()))?;
        let (document, license_version) = self.sign(&spec)?;
        let now = String::new();
        let customer = Customer {
            serial_number: serial.to_owned(),
            company_name: company.to_owned(),
            contact: contact.to_owned(),
            spec,
            license_version,
            document,
            message: None,
            message_url: None,
            created_at: now.clone(),
            updated_at: now,
        };
        let secret = new_secret();
        self.db.add_customer(&customer, &secret, actor).await?;
        Ok(secret)
    }

    /// Re-signs a customer's license after `change` edits its spec, with the
    /// next license version.
    async fn reissue(
        &self,
        serial: &str,
        actor: &str,
        what: &str,
        change: impl FnOnce(&mut toml::Table) -> Result<(), IssuerError>,
    ) -> Result<Customer, IssuerError> {
        let customer = self.db.customer(serial).await?;
        let mut t = spec_table(&customer.spec)?;
        change(&mut t)?;
        let next = customer.license_version + 1;
        let owner = owner_table(&mut t)?;
        owner.insert("license_version".into(), next.into());
        let company = owner
            .get("company_name")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let spec = toml::to_string(&t).map_err(|e| lisens_core::LicenseError::InvalidSpec(e.to_string()))?;
        let (document, version) = self.sign(&spec)?;
        let new = lisens_store::Reissued {
            spec,
            license_version: version,
            document,
            company_name: company,
        };
        self.db
            .update_license(serial, customer.license_version, &new, actor, what)
            .await?;
        Ok(self.db.customer(serial).await?)
    }

    /// Sets a module's count; 0 removes the module from the license. A
    /// module the license does not hold yet is added when `new` says what
    /// it is (its type and description).
    pub async fn set_count(
        &self,
        serial: &str,
        module: &str,
        count: u32,
        new: Option<NewModule>,
        actor: &str,
    ) -> Result<Customer, IssuerError> {
        let what = format!("{module} count set to {count}");
        self.reissue(serial, actor, &what, |t| {
            let modules = t
                .get_mut("module")
                .and_then(toml::Value::as_array_mut)
                .ok_or_else(|| lisens_core::LicenseError::InvalidSpec("the spec has no [[module]]".into()))?;
            let found = modules
                .iter()
                .position(|m| m.get("name").and_then(|n| n.as_str()) == Some(module));
            let pos = match (found, new) {
                (Some(pos), _) => pos,
                (None, _) if count == 0 => {
                    return Err(lisens_core::LicenseError::InvalidSpec(format!(
                        "no module {module} in the license to remove"
                    ))
                    .into())
                }
                (None, None) => {
                    return Err(lisens_core::LicenseError::InvalidSpec(format!(
                        "no module {module} in the license: to add it, give its --type (system, site or user)"
                    ))
                    .into())
                }
                (None, Some(new)) => {
                    let mut m = toml::Table::new();
                    m.insert("name".into(), module.into());
                    m.insert("description".into(), new.description.into());
                    m.insert("type".into(), new.module_type.as_str().into());
                    // After the last row's sort order, whether the spec
                    // gives them or leaves them to their defaults.
                    let last = modules
                        .iter()
                        .filter_map(|m| m.get("sort_order").and_then(toml::Value::as_integer))
                        .max();
                    if let Some(last) = last {
                        m.insert("sort_order".into(), (last + 10).into());
                    }
                    modules.push(toml::Value::Table(m));
                    modules.len() - 1
                }
            };
            if count == 0 {
                modules.remove(pos);
            } else if let Some(m) = modules[pos].as_table_mut() {
                m.insert("count".into(), i64::from(count).into());
            }
            Ok(())
        })
        .await
    }

    /// Sets owner dates (YYYY-MM-DD); an empty value removes the date.
    pub async fn set_dates(
        &self,
        serial: &str,
        dates: &[(&str, &str)],
        actor: &str,
    ) -> Result<Customer, IssuerError> {
        let what = dates
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        self.reissue(serial, actor, &format!("dates: {what}"), |t| {
            let owner = owner_table(t)?;
            for (field, value) in dates {
                if !matches!(
                    *field,
                    "expiration" | "grace_to" | "maintenance_to" | "next_check_date" | "admin_warning_date"
                ) {
                    return Err(
                        lisens_core::LicenseError::InvalidSpec(format!("unknown date {field}")).into(),
                    );
                }
                if value.is_empty() {
                    owner.remove(*field);
                } else {
                    let date: toml::value::Datetime = value.parse().map_err(|_| {
                        lisens_core::LicenseError::InvalidSpec(format!("{field}: {value:?} is not a date"))
                    })?;
                    owner.insert((*field).to_owned(), toml::Value::Datetime(date));
                }
            }
            Ok(())
        })
        .await
    }

    /// Replaces a customer's spec (keeping serial and company), re-signed.
    pub async fn replace_spec(&self, serial: &str, spec: &str, actor: &str) -> Result<Customer, IssuerError> {
        let new = spec_table(spec)?;
        self.reissue(serial, actor, "spec replaced", |t| keep_customer(t, new))
            .await
    }

    /// What [`Issuer::replace_spec`] would sign, checked but not signed:
    /// the customer's current license and the new one.
    pub async fn preview_spec(
        &self,
        serial: &str,
        spec: &str,
    ) -> Result<(VerifiedLicense, lisens_core::LicenseContent), IssuerError> {
        let customer = self.db.customer(serial).await?;
        let current = self.verify(&customer.document)?;
        let mut t = spec_table(&customer.spec)?;
        keep_customer(&mut t, spec_table(spec)?)?;
        owner_table(&mut t)?.insert("license_version".into(), (customer.license_version + 1).into());
        let text = toml::to_string(&t).map_err(|e| lisens_core::LicenseError::InvalidSpec(e.to_string()))?;
        Ok((current, crate::content(&text, self.force)?))
    }

    pub async fn set_company(
        &self,
        serial: &str,
        company: &str,
        actor: &str,
    ) -> Result<Customer, IssuerError> {
        self.reissue(serial, actor, &format!("company name set to {company:?}"), |t| {
            owner_table(t)?.insert("company_name".into(), company.into());
            Ok(())
        })
        .await
    }

    /// The answer to an installation asking for its license.
    pub async fn fetch(&self, req: &FetchRequest) -> Result<Option<FetchAnswer>, IssuerError> {
        let Some(c) = self.db.authenticate(&req.serial, &req.secret).await? else {
            return Ok(None);
        };
        let newer = c.license_version > req.license_version;
        let status = if c.message.is_some() {
            FetchStatus::Message
        } else if req.company_name.as_deref().is_some_and(|n| n != c.company_name) && newer {
            FetchStatus::NewCompanyNameAvailable
        } else if newer {
            FetchStatus::NewLicenseAvailable
        } else if req.license_version > c.license_version {
            FetchStatus::ProblemWithLicense
        } else {
            FetchStatus::Ok
        };
        Ok(Some(FetchAnswer {
            status,
            license_version: c.license_version,
            message: match status {
                FetchStatus::ProblemWithLicense => {
                    Some("the installation has a newer license than the issuer: contact the vendor".into())
                }
                _ => c.message.clone(),
            },
            url: c.message_url.clone(),
            license: newer.then(|| c.document.clone()),
            statement: self.statement(&c.document),
        }))
    }

    /// Signs a statement of the customer's current license at the issuer's
    /// time (None only if the stored document does not parse).
    fn statement(&self, document: &str) -> Option<String> {
        let current = lisens_core::UnverifiedLicense::parse(document).ok()?;
        let o = current.record.owner;
        Some(lisens_core::statement::Statement::sign(
            o.name,
            o.serial,
            o.license_version,
            lisens_store::clock::now(),
            &self.key,
        ))
    }

    /// Registers an installation by serial and company name, once: a new
    /// secret is issued. Registering again needs the vendor to reset it.
    pub async fn register(&self, req: &RegisterRequest) -> Result<Option<RegisterAnswer>, IssuerError> {
        let Ok(c) = self.db.customer(&req.serial).await else {
            return Ok(None);
        };
        if !c
            .company_name
            .trim()
            .eq_ignore_ascii_case(req.company_name.trim())
        {
            return Ok(None);
        }
        let secret = new_secret();
        if !self.db.register(&req.serial, &secret).await? {
            return Ok(None);
        }
        Ok(Some(RegisterAnswer {
            secret,
            statement: self.statement(&c.document),
            license: c.document,
        }))
    }

    /// Verifies that a stored document is what this issuer signs (sanity for exports).
    pub fn verify(&self, document: &str) -> Result<VerifiedLicense, IssuerError> {
        Ok(VerifiedLicense::verify(document, &[self.key.public().clone()])?)
    }

    pub fn public_key(&self) -> &lisens_core::PublicKey {
        self.key.public()
    }
}

impl From<StoreError> for IssuerError {
    fn from(e: StoreError) -> Self {
        IssuerError::Store(e)
    }
}
