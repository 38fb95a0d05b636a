use lisens_store::{LicenseStatus, ModuleStatus, Store};

use crate::{backends, key, public, signed, DEMO_SPEC};

fn module<'a>(s: &'a LicenseStatus, name: &str) -> &'a ModuleStatus {
    s.owners[0]
        .modules
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("module {name}"))
}

const ADDON_SPEC: &str = r#"
[owner]
name = "Addon Vendor"
company_name = "Nordlys Demo AS"
serial = "ADD-9"
license_version = 1

[[module]]
name = "addon-cal"
type = "user"
count = 4
"#;

#[tokio::test]
async fn a_loaded_license_shows_what_is_licensed_in_use_and_available() {
    for db in backends().await {
        let k = key(1);
        let lic = signed(DEMO_SPEC, &k);
        db.store.load_license(&lic, &public(&k)).await.unwrap();
        let s = db.store.license_status().await.unwrap();
        assert_eq!(s.owners.len(), 1, "{}", db.name);
        let o = &s.owners[0];
        assert!(o.valid, "{}: {:?}", db.name, o.problem);
        assert_eq!(
            (o.company_name.as_str(), o.serial.as_str()),
            ("Nordlys Demo AS", "7210-DEMO-0001")
        );
        assert_eq!(o.deployment_type, "central");
        assert_eq!(o.expiration.as_deref(), Some("2027-12-31"));
        assert_eq!(o.modules.len(), lic.modules().len());
        assert!(o.modules.iter().all(|m| m.valid), "{}", db.name);
        let plan = module(&s, "sales-essentials");
        assert_eq!(
            (plan.module_type.as_str(), plan.plan, plan.hidden),
            ("user", true, false)
        );
        assert_eq!((plan.total, plan.in_use, plan.available), (20, 0, 20));
        assert!(module(&s, "web").hidden);
        assert_eq!(module(&s, "server").total, 1);

        // One assignment made by hand shows as in use.
        db.exec("INSERT INTO associate (login_name, full_name, email, created_at, updated_at) VALUES ('anna', 'Anna', 'a@x', 'now', 'now')").await;
        db.exec("INSERT INTO license_assoc_link (module_license_id, assoc_id, created_at) SELECT m.id, a.id, 'now' FROM module_license m, associate a WHERE m.module_name = 'sales-essentials'").await;
        let s = db.store.license_status().await.unwrap();
        let plan = module(&s, "sales-essentials");
        assert_eq!(
            (plan.total, plan.in_use, plan.available),
            (20, 1, 19),
            "{}",
            db.name
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn a_hand_edited_row_is_invalid_and_counts_as_absent() {
    let edits = [
        ("license_count = license_count + 100", "sales-essentials"),
        ("module_type = 1", "sales-essentials"),
        ("hidden = 0", "web"),
        ("extra_info = 'set=user,web'", "sales-essentials"),
        ("prerequisite_module = NULL", "web"),
        ("license_count = 0", "user"),
        ("module_description = 'Free'", "server"),
    ];
    for db in backends().await {
        let k = key(1);
        db.store
            .load_license(&signed(DEMO_SPEC, &k), &public(&k))
            .await
            .unwrap();
        for (set, name) in edits {
            db.exec(&format!(
                "UPDATE module_license SET {set} WHERE module_name = '{name}'"
            ))
            .await;
            let s = db.store.license_status().await.unwrap();
            let m = module(&s, name);
            assert!(!m.valid, "{}: {set} on {name} must be detected", db.name);
            assert_eq!((m.total, m.available), (0, 0), "{}: {set}", db.name);
            assert!(m.problem.is_some());
            assert!(
                s.owners[0].valid,
                "{}: an edited row does not change the row set",
                db.name
            );
            assert!(module(&s, "satellite").valid, "other rows stay valid");
            assert_eq!(module(&s, "satellite").total, 2);
        }
        db.finish().await;
    }
}

#[tokio::test]
async fn a_row_inserted_or_deleted_by_hand_invalidates_the_owner() {
    for db in backends().await {
        let k = key(1);
        db.store
            .load_license(&signed(DEMO_SPEC, &k), &public(&k))
            .await
            .unwrap();
        // A copy of a valid row under another version: its signature does
        // not match, and the owner's row set is no longer the signed one.
        db.exec("INSERT INTO module_license (owner_id, module_name, module_description, module_version, tooltip, module_type, license_count, extra_flags, extra_info, sort_order, hidden, unrestricted, prerequisite_module, signature) SELECT owner_id, module_name, module_description, 2, tooltip, module_type, license_count, extra_flags, extra_info, 99999, hidden, unrestricted, prerequisite_module, signature FROM module_license WHERE module_name = 'sales-premium'").await;
        let s = db.store.license_status().await.unwrap();
        assert!(!s.owners[0].valid, "{}: inserted row", db.name);
        assert!(
            s.owners[0].modules.iter().all(|m| m.total == 0),
            "nothing counts under an invalid owner"
        );
        db.exec("DELETE FROM module_license WHERE module_version = 2")
            .await;
        assert!(
            db.store.license_status().await.unwrap().owners[0].valid,
            "{}: restored",
            db.name
        );
        db.exec("DELETE FROM module_license WHERE module_name = 'marketing-premium'")
            .await;
        let s = db.store.license_status().await.unwrap();
        assert!(!s.owners[0].valid, "{}: deleted row", db.name);
        assert!(s.owners[0]
            .problem
            .as_deref()
            .unwrap()
            .contains("added, removed or reordered"));
        db.finish().await;
    }
}

#[tokio::test]
async fn owner_row_edits_and_foreign_keys_are_detected() {
    for db in backends().await {
        let k = key(1);
        db.store
            .load_license(&signed(DEMO_SPEC, &k), &public(&k))
            .await
            .unwrap();
        db.exec("UPDATE module_owner SET expiration = '2099-12-31'").await;
        let s = db.store.license_status().await.unwrap();
        assert!(!s.owners[0].valid, "{}: extended expiry", db.name);
        db.exec("UPDATE module_owner SET expiration = '2027-12-31'").await;
        assert!(db.store.license_status().await.unwrap().owners[0].valid);

        // A trusted-key row whose key does not match its id is refused.
        // (A whole license re-signed with another key is what pinning
        // catches; see pinned_keys_reject_owners_signed_by_other_keys.)
        let evil = key(66);
        db.exec(&format!(
            "UPDATE trusted_key SET public_key = '{}'",
            evil.public().to_text().trim()
        ))
        .await;
        assert!(
            !db.store.license_status().await.unwrap().owners[0].valid,
            "{}: swapped key",
            db.name
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn a_second_owner_loads_beside_with_its_own_key_once_an_administrator_trusts_it() {
    for db in backends().await {
        let (vendor, addon) = (key(1), key(2));
        db.store
            .load_license(&signed(DEMO_SPEC, &vendor), &public(&vendor))
            .await
            .unwrap();
        // Keys are pinned by default: the first key was pinned, another
        // is refused until an administrator trusts it.
        let before = db.store.license_status().await.unwrap();
        let err = db
            .store
            .load_license(&signed(ADDON_SPEC, &addon), &public(&addon))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "LICENSE_KEY_NOT_TRUSTED", "{}", db.name);
        assert_eq!(db.store.license_status().await.unwrap(), before, "{}", db.name);
        db.store.trust_key("Addon Vendor", &public(&addon)).await.unwrap();
        db.store
            .load_license(&signed(ADDON_SPEC, &addon), &public(&addon))
            .await
            .unwrap();
        let s = db.store.license_status().await.unwrap();
        let names: Vec<_> = s.owners.iter().map(|o| o.owner_name.as_str()).collect();
        assert_eq!(names, ["SuperOffice", "Addon Vendor"], "vendor tab first");
        assert!(s.owners.iter().all(|o| o.valid), "{}", db.name);

        let err = db
            .store
            .load_license(&signed(DEMO_SPEC, &vendor), &public(&vendor))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "LICENSE_OWNER_EXISTS");
        let other = key(3);
        let err = db
            .store
            .load_license(&signed(ADDON_SPEC, &other), &public(&other))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "LICENSE_OWNER_KEY_MISMATCH");
        assert_eq!(
            db.store.license_status().await.unwrap(),
            s,
            "refused loads change nothing"
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn pinned_keys_reject_owners_signed_by_other_keys() {
    for db in backends().await {
        let k = key(1);
        db.store
            .load_license(&signed(DEMO_SPEC, &k), &public(&k))
            .await
            .unwrap();
        let pinned_right = Store::open(&db.url)
            .await
            .unwrap()
            .with_pinned_keys(vec![public(&k)]);
        assert!(pinned_right.license_status().await.unwrap().owners[0].valid);
        let pinned_other = Store::open(&db.url)
            .await
            .unwrap()
            .with_pinned_keys(vec![public(&key(9))]);
        let s = pinned_other.license_status().await.unwrap();
        assert!(!s.owners[0].valid, "{}", db.name);
        assert!(s.owners[0].modules.iter().all(|m| m.total == 0));
        pinned_right.close().await;
        pinned_other.close().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn reading_status_again_does_not_verify_unchanged_rows() {
    for db in backends().await {
        let k = key(1);
        let lic = signed(DEMO_SPEC, &k);
        db.store.load_license(&lic, &public(&k)).await.unwrap();
        let rows = lic.modules().len() as u64;
        db.store.license_status().await.unwrap();
        assert_eq!(
            db.store.signature_checks(),
            rows + 1,
            "{}: every row and the owner once",
            db.name
        );
        db.store.license_status().await.unwrap();
        assert_eq!(
            db.store.signature_checks(),
            rows + 1,
            "{}: nothing changed, nothing checked",
            db.name
        );
        db.exec("UPDATE module_license SET license_count = 7 WHERE module_name = 'user'")
            .await;
        db.store.license_status().await.unwrap();
        assert_eq!(
            db.store.signature_checks(),
            rows + 2,
            "{}: only the edited row",
            db.name
        );
        db.finish().await;
    }
}

/// The product section is signed with the owner record: dropping it (to
/// fall back to another product's rules) or editing its login licenses
/// makes the owner invalid, on both backends; put back, it verifies again.
#[tokio::test]
async fn the_product_column_cannot_be_edited_or_dropped() {
    const ACME: &str = include_str!("../../../../examples/acme-books.toml");
    for db in backends().await {
        let k = key(1);
        db.store
            .load_license(&signed(ACME, &k), &public(&k))
            .await
            .unwrap();
        let s = db.store.license_status().await.unwrap();
        assert!(s.owners[0].valid && s.owners[0].product_name == "Acme Books");
        assert_eq!(s.users.licensed_logins, 20, "{}: books-user's count", db.name);
        db.exec("CREATE TABLE saved AS SELECT product FROM module_owner")
            .await;
        for edit in [
            "UPDATE module_owner SET product = NULL",
            "UPDATE module_owner SET product = REPLACE(product, '\"login\":[\"books-user\"]', '\"login\":[\"ledger\"]')",
        ] {
            db.exec(edit).await;
            let s = db.store.license_status().await.unwrap();
            assert!(!s.owners[0].valid, "{}: {edit}", db.name);
            assert_eq!(s.users.licensed_logins, 0, "{}: {edit}", db.name);
            db.exec("UPDATE module_owner SET product = (SELECT product FROM saved)").await;
            assert!(db.store.license_status().await.unwrap().owners[0].valid, "{}", db.name);
        }
        db.finish().await;
    }
}
