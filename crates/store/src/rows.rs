//! The row codec of the signed license tables: how an owner and its module
//! rows are written to `module_owner` / `module_license` and rebuilt from
//! their columns (so every stored row's signature can be checked again over
//! the exact bytes it was made over), and the stored date format.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use lisens_core::{
    DeploymentType, ExtraFlags, ExtraInfo, KeyId, LicenseCount, ModuleLicense, ModuleName, ModuleType, Owner,
    OwnerName, OwnerRecord, SerialNumber, VerifiedLicense,
};
use sqlx::FromRow;
use time::Date;

use crate::{Store, StoreError};

#[derive(FromRow)]
pub(crate) struct OwnerRow {
    pub(crate) id: i64,
    pub(crate) owner_name: String,
    pub(crate) owner_description: String,
    pub(crate) company_name: String,
    pub(crate) serial_number: String,
    pub(crate) deployment_type: String,
    pub(crate) license_version: i64,
    pub(crate) license_url: String,
    pub(crate) issued_at: String,
    pub(crate) expiration: Option<String>,
    pub(crate) grace_to: Option<String>,
    pub(crate) maintenance_to: Option<String>,
    pub(crate) next_check_date: Option<String>,
    pub(crate) admin_warning_date: Option<String>,
    pub(crate) module_count: i64,
    pub(crate) modules_digest: String,
    pub(crate) key_id: String,
    pub(crate) signature: String,
    pub(crate) max_offline_days: Option<i64>,
    pub(crate) product: Option<String>,
}

#[derive(FromRow)]
pub(crate) struct ModuleRow {
    pub(crate) id: i64,
    pub(crate) owner_id: i64,
    pub(crate) module_name: String,
    pub(crate) module_description: String,
    pub(crate) module_version: i64,
    pub(crate) tooltip: String,
    pub(crate) module_type: i64,
    pub(crate) license_count: i64,
    pub(crate) extra_flags: i64,
    pub(crate) extra_info: String,
    pub(crate) sort_order: i64,
    pub(crate) hidden: i64,
    pub(crate) unrestricted: i64,
    pub(crate) prerequisite_module: Option<String>,
    pub(crate) signature: String,
}

pub(crate) const OWNER_COLUMNS: &str = "id, owner_name, owner_description, company_name, serial_number, \
    deployment_type, license_version, license_url, issued_at, expiration, grace_to, maintenance_to, \
    next_check_date, admin_warning_date, module_count, modules_digest, key_id, signature, max_offline_days, product";

pub(crate) const MODULE_COLUMNS: &str =
    "id, owner_id, module_name, module_description, module_version, tooltip, \
    module_type, license_count, extra_flags, extra_info, sort_order, hidden, unrestricted, \
    prerequisite_module, signature";

pub(crate) fn parse_module(r: &ModuleRow) -> Result<(ModuleLicense, Vec<u8>), String> {
    let bad = |col: &str, e: &dyn std::fmt::Display| format!("column {col} does not parse: {e}");
    let u32_col = |col: &str, v: i64| u32::try_from(v).map_err(|e| bad(col, &e));
    let bool_col = |col: &str, v: i64| match v {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(bad(col, &format!("{other} is not 0 or 1"))),
    };
    let module = ModuleLicense {
        name: ModuleName::parse(&r.module_name).map_err(|e| bad("module_name", &e))?,
        description: r.module_description.clone(),
        version: u32_col("module_version", r.module_version)?,
        tooltip: r.tooltip.clone(),
        module_type: ModuleType::from_code(r.module_type).map_err(|e| bad("module_type", &e))?,
        count: LicenseCount::new(u32_col("license_count", r.license_count)?)
            .map_err(|e| bad("license_count", &e))?,
        extra_flags: ExtraFlags::from_code(r.extra_flags).map_err(|e| bad("extra_flags", &e))?,
        extra_info: ExtraInfo::parse(&r.extra_info).map_err(|e| bad("extra_info", &e))?,
        sort_order: u32_col("sort_order", r.sort_order)?,
        hidden: bool_col("hidden", r.hidden)?,
        unrestricted: bool_col("unrestricted", r.unrestricted)?,
        prerequisite: r
            .prerequisite_module
            .as_deref()
            .map(ModuleName::parse)
            .transpose()
            .map_err(|e| bad("prerequisite_module", &e))?,
    };
    let sig = B64.decode(&r.signature).map_err(|e| bad("signature", &e))?;
    Ok((module, sig))
}

pub(crate) fn parse_owner(o: &OwnerRow) -> Result<OwnerRecord, String> {
    let bad = |col: &str, e: &dyn std::fmt::Display| format!("owner column {col} does not parse: {e}");
    let date = |col: &str, v: &Option<String>| -> Result<Option<Date>, String> {
        v.as_deref()
            .map(|s| parse_date(s).map_err(|e| bad(col, &e)))
            .transpose()
    };
    let owner = Owner {
        name: OwnerName::parse(&o.owner_name).map_err(|e| bad("owner_name", &e))?,
        description: o.owner_description.clone(),
        company_name: o.company_name.clone(),
        serial: SerialNumber::parse(&o.serial_number).map_err(|e| bad("serial_number", &e))?,
        deployment_type: DeploymentType::parse(&o.deployment_type).map_err(|e| bad("deployment_type", &e))?,
        license_version: u32::try_from(o.license_version).map_err(|e| bad("license_version", &e))?,
        license_url: o.license_url.clone(),
        issued_at: crate::stamp::decode("issued_at", &o.issued_at).map_err(|e| bad("issued_at", &e))?,
        expiration: date("expiration", &o.expiration)?,
        grace_to: date("grace_to", &o.grace_to)?,
        maintenance_to: date("maintenance_to", &o.maintenance_to)?,
        next_check_date: date("next_check_date", &o.next_check_date)?,
        admin_warning_date: date("admin_warning_date", &o.admin_warning_date)?,
        max_offline_days: o
            .max_offline_days
            .map(u32::try_from)
            .transpose()
            .map_err(|e| bad("max_offline_days", &e))?,
        product: o
            .product
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| bad("product", &e))?,
    };
    Ok(OwnerRecord {
        key_id: KeyId::parse(&o.key_id).map_err(|e| bad("key_id", &e))?,
        module_count: u32::try_from(o.module_count).map_err(|e| bad("module_count", &e))?,
        modules_digest: o.modules_digest.clone(),
        owner,
    })
}

/// Inserts a verified module row, or (with `existing`) overwrites that row in
/// place so its assignments stay attached to it.
pub(crate) async fn write_module_row(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    owner_id: i64,
    existing: Option<i64>,
    vm: &lisens_core::VerifiedModule,
) -> Result<(), StoreError> {
    let m = &vm.module;
    let sql = match existing {
        None => "INSERT INTO module_license (owner_id, module_name, module_description, module_version, tooltip, \
                 module_type, license_count, extra_flags, extra_info, sort_order, hidden, unrestricted, \
                 prerequisite_module, signature) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        Some(_) => "UPDATE module_license SET owner_id = $1, module_name = $2, module_description = $3, \
                    module_version = $4, tooltip = $5, module_type = $6, license_count = $7, extra_flags = $8, \
                    extra_info = $9, sort_order = $10, hidden = $11, unrestricted = $12, \
                    prerequisite_module = $13, signature = $14 WHERE id = $15",
    };
    let query = sqlx::query(sql)
        .bind(owner_id)
        .bind(m.name.as_str())
        .bind(&m.description)
        .bind(i64::from(m.version))
        .bind(&m.tooltip)
        .bind(m.module_type.code())
        .bind(i64::from(m.count.get()))
        .bind(m.extra_flags.code())
        .bind(m.extra_info.to_string())
        .bind(i64::from(m.sort_order))
        .bind(i64::from(m.hidden))
        .bind(i64::from(m.unrestricted))
        .bind(m.prerequisite.as_ref().map(ModuleName::as_str))
        .bind(B64.encode(vm.signature));
    let query = match existing {
        Some(id) => query.bind(id),
        None => query,
    };
    query.execute(&mut **tx).await?;
    Ok(())
}

/// The owner record's columns after the first (`$2` to `$20`, in the order
/// of [`OWNER_RECORD_COLUMNS`]), bound to a query whose `$1` is already
/// bound: one writer for the insert and the update.
fn bind_owner_record<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    license: &'q VerifiedLicense,
    now: String,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let owner = license.owner();
    let record = license.record();
    query
        .bind(&owner.description)
        .bind(&owner.company_name)
        .bind(owner.serial.as_str())
        .bind(owner.deployment_type.as_str())
        .bind(i64::from(owner.license_version))
        .bind(&owner.license_url)
        .bind(crate::stamp::encode(owner.issued_at))
        .bind(owner.expiration.map(format_date))
        .bind(owner.grace_to.map(format_date))
        .bind(owner.maintenance_to.map(format_date))
        .bind(owner.next_check_date.map(format_date))
        .bind(owner.admin_warning_date.map(format_date))
        .bind(i64::from(record.module_count))
        .bind(&record.modules_digest)
        .bind(record.key_id.as_str())
        .bind(B64.encode(license.owner_signature()))
        .bind(now)
        .bind(owner.max_offline_days.map(i64::from))
        .bind(owner.product.as_ref().map(|p| {
            // The exact bytes signed in the owner record.
            serde_json::to_string(p).expect("a product serialises")
        }))
}

/// The owner record's columns after `owner_name`, as `bind_owner_record`
/// binds them.
const OWNER_RECORD_COLUMNS: [&str; 19] = [
    "owner_description",
    "company_name",
    "serial_number",
    "deployment_type",
    "license_version",
    "license_url",
    "issued_at",
    "expiration",
    "grace_to",
    "maintenance_to",
    "next_check_date",
    "admin_warning_date",
    "module_count",
    "modules_digest",
    "key_id",
    "signature",
    "loaded_at",
    "max_offline_days",
    "product",
];

/// Stores a newly loaded license's owner record; its id.
pub(crate) async fn insert_owner_row(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    license: &VerifiedLicense,
    now: &str,
) -> Result<i64, StoreError> {
    use sqlx::Row;
    let places: Vec<String> = (2..=OWNER_RECORD_COLUMNS.len() + 1)
        .map(|n| format!("${n}"))
        .collect();
    let sql = format!(
        "INSERT INTO module_owner (owner_name, {}) VALUES ($1, {}) RETURNING id",
        OWNER_RECORD_COLUMNS.join(", "),
        places.join(", ")
    );
    let query = sqlx::query(&sql).bind(license.owner().name.as_str());
    let row = bind_owner_record(query, license, now.to_owned())
        .fetch_one(&mut **tx)
        .await?;
    Ok(row.try_get::<i64, _>(0)?)
}

/// Overwrites an owner row with a newly verified license's owner record.
pub(crate) async fn update_owner_row(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    owner_id: i64,
    license: &VerifiedLicense,
) -> Result<(), StoreError> {
    let sets: Vec<String> = OWNER_RECORD_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 2))
        .collect();
    let sql = format!("UPDATE module_owner SET {} WHERE id = $1", sets.join(", "));
    bind_owner_record(sqlx::query(&sql).bind(owner_id), license, crate::stamp::now())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The owner record a stored owner row claims (whether or not it verifies).
pub(crate) async fn stored_owner(
    store: &Store,
    owner_name: &str,
) -> Result<Option<(i64, Option<OwnerRecord>)>, StoreError> {
    let row: Option<OwnerRow> = sqlx::query_as(&format!(
        "SELECT {OWNER_COLUMNS} FROM module_owner WHERE owner_name = $1"
    ))
    .bind(owner_name)
    .fetch_optional(&store.pool)
    .await?;
    Ok(row.map(|r| (r.id, parse_owner(&r).ok())))
}

pub(crate) const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

pub(crate) fn format_date(d: Date) -> String {
    d.format(DATE_FORMAT).expect("dates format")
}

pub(crate) fn parse_date(s: &str) -> Result<Date, time::error::Parse> {
    Date::parse(s, DATE_FORMAT)
}
