//! The vendor's product, described once in the signed owner record: which
//! user licenses a person needs to log in, which site license counts
//! satellite sites, which services are metered (and in what unit), and what
//! each module is called in each language. Every rule that once named a CRM
//! module reads it from here.
//!
//! A license without a product section is of the first format and means the
//! CRM's rules: [`Product::crm`], written down as data in `crm-product.toml`
//! like any vendor's product.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;
use crate::model::{ModuleLicense, ModuleType};
use crate::names::ModuleName;

/// A language of display texts: `en`, `sv`, `da`, `nb` (any 2 or 3 lowercase
/// letters are kept; the admin screens speak those four).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Lang(String);

impl Lang {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if (2..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase()) {
            Ok(Lang(s.to_owned()))
        } else {
            Err(ParseError::new(
                "language",
                format!("{s:?}: use a code like en, sv, da or nb"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Lang {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}

impl From<Lang> for String {
    fn from(l: Lang) -> String {
        l.0
    }
}

/// A metered service's key as applications report it (`invoices_sent`):
/// `a-z 0-9 _`, starting with a letter, at most 40 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServiceKey(String);

impl ServiceKey {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let ok = (1..=40).contains(&s.len())
            && s.as_bytes()[0].is_ascii_lowercase()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(ServiceKey(s.to_owned()))
        } else {
            Err(ParseError::new(
                "service",
                format!("{s:?}: use a-z, 0-9 and _, starting with a letter, at most 40 characters"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The license row that carries this service's policy for one customer:
    /// `metered-` and the key with `-` for `_` (`metered-invoices-sent`).
    pub fn module_name(&self) -> String {
        format!("{}{}", METERED_PREFIX, self.0.replace('_', "-"))
    }
}

impl std::fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ServiceKey {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}

impl From<ServiceKey> for String {
    fn from(k: ServiceKey) -> String {
        k.0
    }
}

/// Module names starting with this are metering policy rows.
pub const METERED_PREFIX: &str = "metered-";

/// What a service counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Things (mails, logins, invoices).
    #[default]
    Count,
    /// Bytes, shown in GB.
    Bytes,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One metered service of the product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDef {
    pub key: ServiceKey,
    #[serde(default)]
    pub unit: Unit,
    /// A gauge keeps a month's highest reading (storage in use); otherwise
    /// the month's readings add up.
    #[serde(default, skip_serializing_if = "is_false")]
    pub gauge: bool,
    /// The service's name per language; `en` is required.
    pub names: BTreeMap<Lang, String>,
}

/// A module's texts in one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tooltip: String,
}

/// The product's rules and words. Serialised with serde_json in this field
/// order, it is part of the signed owner record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// The product's name (`Acme Books`).
    pub name: String,
    /// The user licenses a person must hold, all of them, to log in.
    pub login: Vec<ModuleName>,
    /// The site license whose count bounds the satellite sites, when the
    /// product has sites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sites: Option<ModuleName>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceDef>,
    /// Per language, per module: the name, description and tooltip shown
    /// instead of the row's own (English) ones.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub texts: BTreeMap<Lang, BTreeMap<ModuleName, Text>>,
}

static CRM: LazyLock<Product> = LazyLock::new(|| {
    #[derive(Deserialize)]
    struct File {
        product: Product,
    }
    let file: File = toml::from_str(include_str!("crm-product.toml")).expect("crm-product.toml parses");
    file.product
});

impl Product {
    /// The rules of the CRM lisens was modelled on; what a license of the
    /// first format (no product section) means.
    pub fn crm() -> &'static Product {
        &CRM
    }

    /// The product an owner's license describes, or the CRM's.
    pub fn of(product: Option<&Product>) -> &Product {
        product.unwrap_or_else(|| Product::crm())
    }

    pub fn service(&self, key: &str) -> Option<&ServiceDef> {
        self.services.iter().find(|s| s.key.as_str() == key)
    }

    /// A service's name in `lang`, else in English.
    pub fn service_name<'a>(&'a self, def: &'a ServiceDef, lang: &str) -> &'a str {
        def.names
            .iter()
            .find(|(l, _)| l.as_str() == lang)
            .or_else(|| def.names.iter().find(|(l, _)| l.as_str() == "en"))
            .map_or(def.key.as_str(), |(_, n)| n.as_str())
    }

    /// A module's texts in `lang`, when the product gives them.
    pub fn text(&self, lang: &str, module: &str) -> Option<&Text> {
        self.texts
            .iter()
            .find(|(l, _)| l.as_str() == lang)
            .and_then(|(_, m)| m.iter().find(|(n, _)| n.as_str() == module))
            .map(|(_, t)| t)
    }

    /// The rules a product section must keep, checked with the license's
    /// rows when the license is made and again when it is verified: at least
    /// one login license, each a user license of the license that is not a
    /// plan; the site license, when the license holds it, a site license;
    /// service keys unique, each with an English name; every `metered-` row
    /// a service of the product; languages and texts well formed.
    pub fn check(&self, modules: &[ModuleLicense]) -> Result<(), String> {
        if self.name.trim().is_empty() || self.name.len() > 100 {
            return Err("product name must be 1 to 100 characters".into());
        }
        if self.login.is_empty() {
            return Err("product login must name at least one user license".into());
        }
        let find = |n: &ModuleName| modules.iter().find(|m| &m.name == n);
        for (i, l) in self.login.iter().enumerate() {
            if self.login[..i].contains(l) {
                return Err(format!("product login lists {l} twice"));
            }
            match find(l) {
                None => return Err(format!("product login names {l}, which is not in the license")),
                Some(m) if m.module_type != ModuleType::User || m.is_plan() => {
                    return Err(format!("product login names {l}, which is not a user license"))
                }
                Some(_) => {}
            }
        }
        if let Some(s) = &self.sites {
            if find(s).is_some_and(|m| m.module_type != ModuleType::Site) {
                return Err(format!("product sites names {s}, which is not a site license"));
            }
        }
        for (i, s) in self.services.iter().enumerate() {
            if self.services[..i].iter().any(|o| o.key == s.key) {
                return Err(format!("service {} is listed twice", s.key));
            }
            if !s.names.keys().any(|l| l.as_str() == "en") {
                return Err(format!("service {} needs a name in English (en)", s.key));
            }
            if s.names.values().any(|n| n.trim().is_empty() || n.len() > 200) {
                return Err(format!("service {}: names are 1 to 200 characters", s.key));
            }
        }
        for m in modules {
            if m.name.as_str().starts_with(METERED_PREFIX)
                && !self
                    .services
                    .iter()
                    .any(|s| s.key.module_name() == m.name.as_str())
            {
                return Err(format!(
                    "{} is a metering row, but the product has no service {}",
                    m.name,
                    m.name.as_str()[METERED_PREFIX.len()..].replace('-', "_")
                ));
            }
        }
        for texts in self.texts.values() {
            for (module, t) in texts {
                if t.name.trim().is_empty() || t.name.len() > 200 {
                    return Err(format!("the name of {module} must be 1 to 200 characters"));
                }
                if [&t.name, &t.description, &t.tooltip]
                    .iter()
                    .any(|s| s.chars().any(char::is_control))
                {
                    return Err(format!("the texts of {module} hold a control character"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crm_product_is_data_and_keeps_its_rules() {
        let crm = Product::crm();
        let names: Vec<&str> = crm.login.iter().map(ModuleName::as_str).collect();
        assert_eq!(names, ["user", "web"]);
        assert_eq!(crm.sites.as_ref().map(ModuleName::as_str), Some("satellite"));
        let keys: Vec<&str> = crm.services.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "storage",
                "mailing_emails",
                "customer_centre_logins",
                "chat_sessions",
                "form_submissions"
            ]
        );
        let storage = crm.service("storage").unwrap();
        assert!(storage.gauge && storage.unit == Unit::Bytes);
        assert_eq!(crm.service_name(storage, "sv"), "Använt förvaringsutrymme");
        assert_eq!(
            crm.service_name(storage, "de"),
            "Storage used",
            "English when a language is missing"
        );
        assert_eq!(storage.key.module_name(), "metered-storage");
        // The help pages' description of each license, per language.
        assert_eq!(
            crm.text("sv", "server").unwrap().description,
            "Krävs för att använda SuperOffice CRM."
        );
        assert_eq!(
            crm.text("da", "quote-management").unwrap().name,
            "Håndtering af salgstilbud"
        );
        assert_eq!(
            crm.text("sv", "system").unwrap().description,
            "Anger vilka system du har åtkomst till.",
            "the help pages' System row"
        );
        assert!(crm.text("en", "server").is_none(), "English is the rows' own");
        // The CRM's rules hold for the CRM's demo license, as a vendor's must.
        let demo = crate::spec::parse_spec(
            include_str!("../../../examples/demo-license.toml"),
            time::OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap();
        crm.check(demo.modules()).unwrap();
        assert_eq!(
            ServiceKey::parse("mailing_emails").unwrap().module_name(),
            "metered-mailing-emails"
        );
    }

    #[test]
    fn keys_and_languages_are_checked() {
        for bad in ["", "Invoices", "1x", "a-b", &"x".repeat(41)] {
            assert!(ServiceKey::parse(bad).is_err(), "{bad}");
        }
        for bad in ["", "e", "EN", "engl", "e1"] {
            assert!(Lang::parse(bad).is_err(), "{bad}");
        }
        assert!(Lang::parse("nb").is_ok() && ServiceKey::parse("invoices_sent").is_ok());
    }
}

#[cfg(test)]
mod rules {
    use crate::spec::parse_spec;

    const ACME: &str = include_str!("../../../examples/acme-books.toml");

    fn issue(spec: &str) -> Result<crate::LicenseContent, String> {
        parse_spec(spec, time::OffsetDateTime::UNIX_EPOCH).map_err(|e| e.to_string())
    }

    #[test]
    fn the_acme_product_is_signed_and_read_back() {
        let content = issue(ACME).unwrap();
        let p = content.owner().product.as_ref().unwrap();
        assert_eq!(p.name, "Acme Books");
        assert_eq!(p.login[0].as_str(), "books-user");
        assert_eq!(p.text("sv", "api-access").unwrap().name, "API-åtkomst");
        let key = crate::SigningKey::from_seed([3; 32]);
        let verified = crate::VerifiedLicense::verify(&content.sign(&key), &[key.public().clone()]).unwrap();
        assert_eq!(verified.owner().product(), p);
    }

    #[test]
    fn a_product_that_breaks_its_rules_is_not_signed() {
        for (from, to, why) in [
            ("login = [\"books-user\"]", "login = []", "at least one"),
            (
                "login = [\"books-user\"]",
                "login = [\"inventory\"]",
                "not in the license",
            ),
            (
                "login = [\"books-user\"]",
                "login = [\"books-pro\"]",
                "not a user license",
            ),
            (
                "login = [\"books-user\"]",
                "login = [\"api-access\"]",
                "not a user license",
            ),
            (
                "sites = \"branch-office\"",
                "sites = \"books-user\"",
                "not a site license",
            ),
            (
                "key = \"invoices_sent\"",
                "key = \"invoices\"",
                "no service invoices_sent",
            ),
            ("names = { en = \"Invoices sent\", ", "names = { ", "English"),
            ("base=500;", "", "lacks base="),
            ("name = \"Acme Books\"", "name = \"\"", "product name"),
            ("unit = \"count\"", "unit = \"pieces\"", "unknown variant"),
        ] {
            let spec = ACME.replacen(from, to, 1);
            assert_ne!(spec, ACME, "{from}");
            let err = issue(&spec).unwrap_err();
            assert!(err.contains(why), "{to}: {err}");
        }
    }

    #[test]
    fn a_new_license_of_the_first_format_meters_only_what_the_crm_meters() {
        let spec = "[owner]\nname = \"V\"\ncompany_name = \"C\"\nserial = \"S-1\"\nlicense_version = 1\n\n\
                    [[module]]\nname = \"user\"\ntype = \"user\"\ncount = 1\n\n\
                    [[module]]\nname = \"metered-invoices-sent\"\ntype = \"system\"\nextra_info = \"base=1\"\n";
        let err = issue(spec).unwrap_err();
        assert!(err.contains("no service invoices_sent"), "{err}");
        assert!(issue(&spec.replace("invoices-sent", "chat-sessions")).is_ok());
    }
}
