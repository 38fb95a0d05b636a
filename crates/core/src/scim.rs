//! SCIM 2.0 requests as identity providers send them (RFC 7643, RFC 7644):
//! the user attributes lisens keeps, the `userName eq "..."` filter, PUT
//! bodies and PatchOp bodies. Interpreting a request is pure, so every
//! outside byte that reaches SCIM passes through here (and is fuzzed); the
//! server only applies the result.

use serde_json::{json, Value};

/// The schema every PatchOp body must name.
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Why a request was refused: an HTTP status, the RFC 7644 `scimType`
/// (section 3.12) and a sentence for the administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimFault {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimFault {
    fn new(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status: 400,
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    fn invalid(detail: impl Into<String>) -> Self {
        Self::new("invalidValue", detail)
    }
}

/// Administrators are managed in lisens, never by an identity provider, so
/// a SCIM token cannot lock an installation's administrators out: a change
/// that would deactivate an active administrator is refused whole (409
/// `mutability`; nothing of it is applied).
pub fn guard_change(is_admin: bool, active: bool, change: &UserFields) -> Result<(), ScimFault> {
    if is_admin && active && change.active == Some(false) {
        return Err(administrator("deactivated"));
    }
    Ok(())
}

/// Deleting an administrator over SCIM is refused (409 `mutability`).
pub fn guard_delete(is_admin: bool) -> Result<(), ScimFault> {
    if is_admin {
        return Err(administrator("deleted"));
    }
    Ok(())
}

fn administrator(what: &str) -> ScimFault {
    ScimFault {
        status: 409,
        scim_type: Some("mutability"),
        detail: format!(
            "ADMINISTRATOR_PROTECTED: an administrator is not {what} over SCIM; \
             administrators are managed in lisens itself"
        ),
    }
}

/// The parts of a SCIM user lisens keeps; `None` leaves a part as it is.
/// `entitlements` are plan names.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UserFields {
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub active: Option<bool>,
    pub entitlements: Option<Vec<String>>,
}

/// A request body: a JSON object, or `invalidSyntax`.
pub fn parse_object(body: &[u8]) -> Result<Value, ScimFault> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| ScimFault::new("invalidSyntax", e.to_string()))?;
    if !v.is_object() {
        return Err(ScimFault::new("invalidSyntax", "the body must be a JSON object"));
    }
    Ok(v)
}

/// The login of a `userName eq "value"` filter, the one identity providers
/// use to find a user before creating it. Attribute and operator are
/// case-insensitive; the value is a JSON string (RFC 7644 section 3.4.2.2).
pub fn parse_filter(filter: &str) -> Result<String, ScimFault> {
    comparison(filter, "userName").ok_or_else(|| {
        ScimFault::new(
            "invalidFilter",
            format!("unsupported filter {filter:?}: use userName eq \"...\""),
        )
    })
}

/// `attr eq "value"` with the given attribute, or nothing.
fn comparison(filter: &str, attr: &str) -> Option<String> {
    let (name, rest) = filter.trim().split_once(char::is_whitespace)?;
    let (op, value) = rest.trim_start().split_once(char::is_whitespace)?;
    if !name.eq_ignore_ascii_case(attr) || !op.eq_ignore_ascii_case("eq") {
        return None;
    }
    let value = value.trim();
    if !value.starts_with('"') {
        return None;
    }
    serde_json::from_str::<String>(value).ok()
}

/// The kept attributes of a user resource (POST, PUT, or a PATCH value
/// without a path). `displayName` wins over `name.formatted`; of several
/// e-mails the primary one is kept.
pub fn user_fields(v: &Value) -> Result<UserFields, ScimFault> {
    let mut f = UserFields::default();
    if let Some(d) = v.get("displayName") {
        f.display_name = Some(text(d, "displayName must be a string")?);
    } else if let Some(n) = v.get("name").and_then(|n| n.get("formatted")) {
        f.display_name = Some(text(n, "name.formatted must be a string")?);
    }
    if let Some(e) = v.get("emails") {
        f.email = Some(primary_email(e)?);
    }
    if let Some(a) = v.get("active") {
        f.active = Some(boolean(a)?);
    }
    if let Some(e) = v.get("entitlements") {
        f.entitlements = Some(entitlements(e)?);
    }
    Ok(f)
}

/// A SCIM boolean: `true`/`false`, or as Entra ID sends them, the strings
/// "True"/"False" (any case).
fn boolean(v: &Value) -> Result<bool, ScimFault> {
    v.as_bool()
        .or_else(|| match v.as_str() {
            Some(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Some(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        })
        .ok_or_else(|| ScimFault::invalid("active must be true or false"))
}

fn text(v: &Value, why: &str) -> Result<String, ScimFault> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| ScimFault::invalid(why))
}

fn primary_email(v: &Value) -> Result<String, ScimFault> {
    let list = v
        .as_array()
        .ok_or_else(|| ScimFault::invalid("emails must be a list"))?;
    let pick = list
        .iter()
        .find(|e| e.get("primary") == Some(&json!(true)))
        .or(list.first());
    match pick.and_then(|e| e.get("value")) {
        None => Ok(String::new()),
        Some(v) => text(v, "an e-mail value must be a string"),
    }
}

/// Entitlements as a list of `{"value": plan}`.
pub fn entitlements(v: &Value) -> Result<Vec<String>, ScimFault> {
    v.as_array()
        .ok_or_else(|| ScimFault::invalid("entitlements must be a list"))?
        .iter()
        .map(|e| {
            e.get("value")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| ScimFault::invalid("an entitlement needs a value"))
        })
        .collect()
}

/// The `userName` of a POST or PUT body.
pub fn user_name(v: &Value) -> Result<&str, ScimFault> {
    v.get("userName")
        .and_then(Value::as_str)
        .ok_or_else(|| ScimFault::invalid("userName is required"))
}

/// A PUT body for the user `login`: the whole resource, with `active`
/// defaulting to true. `userName` cannot change. Plans change only when
/// the body says `entitlements` (an empty list takes them all away): Okta
/// and Entra ID PUT users without them by default, and that must not take
/// away the plans an administrator gave in lisens.
pub fn replacement(v: &Value, login: &str) -> Result<UserFields, ScimFault> {
    if user_name(v)? != login {
        return Err(ScimFault::new("mutability", "userName cannot be changed"));
    }
    let mut f = user_fields(v)?;
    f.active.get_or_insert(true);
    Ok(f)
}

/// A PatchOp body applied to a user who holds `plans`: the fields to change.
/// `entitlements` is the user's whole new set of plans (sorted, without
/// repeats) when any operation touched them, `None` otherwise.
pub fn patch(v: &Value, plans: &[String]) -> Result<UserFields, ScimFault> {
    if !v
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|x| x == PATCH_SCHEMA))
    {
        return Err(ScimFault::new("invalidSyntax", "a PatchOp request is expected"));
    }
    let ops = v
        .get("Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimFault::new("invalidSyntax", "Operations is required"))?;
    let mut f = UserFields::default();
    let mut plans = plans.to_vec();
    let mut plans_touched = false;
    for op in ops {
        let kind = op
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase();
        let path = match op.get("path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(p.as_str()),
            Some(_) => return Err(ScimFault::new("invalidPath", "path must be a string")),
        };
        let value = op.get("value").unwrap_or(&Value::Null);
        let mut set_plans = |e: Vec<String>| {
            plans_touched = true;
            if kind == "add" {
                plans.extend(e)
            } else {
                plans = e
            }
        };
        match (kind.as_str(), path) {
            ("add" | "replace", None) => {
                if !value.is_object() {
                    return Err(ScimFault::invalid(
                        "an operation without a path needs an object value",
                    ));
                }
                let more = user_fields(value)?;
                f.display_name = more.display_name.or(f.display_name);
                f.email = more.email.or(f.email);
                f.active = more.active.or(f.active);
                if let Some(e) = more.entitlements {
                    set_plans(e);
                }
            }
            ("add" | "replace", Some(p)) => match p {
                "active" => f.active = Some(boolean(value)?),
                "displayName" | "name.formatted" => f.display_name = Some(text(value, "a name is a string")?),
                "emails" => f.email = Some(primary_email(value)?),
                "entitlements" => set_plans(entitlements(value)?),
                other => {
                    return Err(ScimFault::new(
                        "invalidPath",
                        format!("unsupported path {other:?}"),
                    ))
                }
            },
            ("remove", Some("entitlements")) => {
                plans_touched = true;
                plans.clear();
            }
            ("remove", Some(p)) if p.starts_with("entitlements[") => {
                let inner = p
                    .strip_prefix("entitlements[")
                    .and_then(|p| p.strip_suffix(']'))
                    .and_then(|f| comparison(f, "value"))
                    .ok_or_else(|| {
                        ScimFault::new(
                            "invalidPath",
                            format!("unsupported path {p:?}: use entitlements[value eq \"...\"]"),
                        )
                    })?;
                plans_touched = true;
                plans.retain(|x| *x != inner);
            }
            ("remove", Some("emails")) => f.email = Some(String::new()),
            ("remove", Some(other)) => {
                return Err(ScimFault::new("invalidPath", format!("cannot remove {other:?}")))
            }
            _ => {
                return Err(ScimFault::new(
                    "invalidSyntax",
                    format!("unsupported operation {kind:?}"),
                ))
            }
        }
    }
    if plans_touched {
        plans.sort();
        plans.dedup();
        f.entitlements = Some(plans);
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch_of(ops: Value, plans: &[&str]) -> Result<UserFields, ScimFault> {
        let plans: Vec<String> = plans.iter().map(|p| p.to_string()).collect();
        patch(&json!({"schemas": [PATCH_SCHEMA], "Operations": ops}), &plans)
    }

    #[test]
    fn an_active_administrator_is_never_deactivated_or_deleted() {
        let off = UserFields {
            active: Some(false),
            ..UserFields::default()
        };
        let e = guard_change(true, true, &off).unwrap_err();
        assert_eq!((e.status, e.scim_type), (409, Some("mutability")));
        assert!(
            guard_change(true, false, &off).is_ok(),
            "already inactive: nothing changes"
        );
        assert!(guard_change(false, true, &off).is_ok());
        assert!(guard_change(true, true, &UserFields::default()).is_ok());
        assert_eq!(guard_delete(true).unwrap_err().status, 409);
        assert!(guard_delete(false).is_ok());
    }

    #[test]
    fn filters_take_a_json_string_value() {
        assert_eq!(parse_filter(r#"userName eq "alice""#).unwrap(), "alice");
        assert_eq!(parse_filter(r#"  USERNAME  Eq  "a\"b\\c" "#).unwrap(), r#"a"b\c"#);
        assert_eq!(parse_filter(r#"userName eq "\u00e5sa""#).unwrap(), "åsa");
        for bad in [
            "",
            "userName",
            r#"userName eq"#,
            r#"userName ne "a""#,
            r#"email eq "a""#,
            r#"userName eq alice"#,
            r#"userName eq "a" and active eq true"#,
            r#"userName eq "unterminated"#,
        ] {
            let e = parse_filter(bad).unwrap_err();
            assert_eq!(e.scim_type, Some("invalidFilter"), "{bad:?}");
        }
    }

    #[test]
    fn a_patch_that_does_not_touch_plans_leaves_them_alone() {
        let f = patch_of(
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
            &["crm"],
        )
        .unwrap();
        assert_eq!(f.active, Some(false));
        assert_eq!(f.entitlements, None);
        // Entra ID's path-less form, with its string boolean.
        let f = patch_of(json!([{"op": "Replace", "value": {"active": "False"}}]), &["crm"]).unwrap();
        assert_eq!((f.active, f.entitlements), (Some(false), None));
        assert!(patch_of(json!([{"op": "Replace", "value": {"active": "nope"}}]), &["crm"]).is_err());
    }

    #[test]
    fn plans_are_added_replaced_and_removed_by_value() {
        let f = patch_of(
            json!([{"op": "add", "path": "entitlements", "value": [{"value": "b"}, {"value": "a"}]}]),
            &["a", "c"],
        )
        .unwrap();
        assert_eq!(f.entitlements.unwrap(), ["a", "b", "c"]);
        let f = patch_of(
            json!([{"op": "remove", "path": "entitlements[value eq \"c\"]"}]),
            &["a", "c"],
        )
        .unwrap();
        assert_eq!(f.entitlements.unwrap(), ["a"]);
        let f = patch_of(
            json!([{"op": "replace", "value": {"entitlements": [{"value": "z"}], "displayName": "Z"}}]),
            &["a"],
        )
        .unwrap();
        assert_eq!(f.entitlements.unwrap(), ["z"]);
        assert_eq!(f.display_name.as_deref(), Some("Z"));
    }

    #[test]
    fn malformed_patches_are_refused_with_a_scim_type() {
        for (ops, scim_type) in [
            (
                json!([{"op": "remove", "path": "entitlements[value eq c]"}]),
                "invalidPath",
            ),
            (json!([{"op": "remove", "path": "userName"}]), "invalidPath"),
            (json!([{"op": "add", "path": 7, "value": 1}]), "invalidPath"),
            (
                json!([{"op": "replace", "path": "active", "value": "maybe"}]),
                "invalidValue",
            ),
            (json!([{"op": "replace", "value": 42}]), "invalidValue"),
            (json!([{"op": "move", "path": "active"}]), "invalidSyntax"),
        ] {
            assert_eq!(
                patch_of(ops.clone(), &[]).unwrap_err().scim_type,
                Some(scim_type),
                "{ops}"
            );
        }
        let no_schema = patch(&json!({"Operations": []}), &[]).unwrap_err();
        assert_eq!(no_schema.scim_type, Some("invalidSyntax"));
    }

    #[test]
    fn a_replacement_keeps_plans_unless_it_names_them() {
        let f = replacement(&json!({"userName": "alice"}), "alice").unwrap();
        assert_eq!(f.entitlements, None, "no entitlements: the plans stay");
        assert_eq!(f.active, Some(true));
        let f = replacement(&json!({"userName": "alice", "entitlements": []}), "alice").unwrap();
        assert_eq!(f.entitlements, Some(vec![]), "an empty list takes them away");
        let e = replacement(&json!({"userName": "bob"}), "alice").unwrap_err();
        assert_eq!(e.scim_type, Some("mutability"));
        assert!(replacement(&json!({}), "alice").is_err());
    }
}
