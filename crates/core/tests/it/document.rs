use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use lisens_core::{LicenseError, VerifiedLicense};

use crate::{demo_content, key, small_content};

fn body_range(doc: &str) -> std::ops::Range<usize> {
    let start = doc.find('\n').unwrap() + 1;
    let end = doc.find("-----END").unwrap();
    start..end
}

fn decode(doc: &str) -> String {
    let b64: String = doc[body_range(doc)].split('\n').collect();
    String::from_utf8(B64.decode(b64).unwrap()).unwrap()
}

fn encode(body: &str) -> String {
    let b64 = B64.encode(body);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN LISENS LICENSE-----\n{}\n-----END LISENS LICENSE-----\n",
        lines.join("\n")
    )
}

#[test]
fn a_signed_license_verifies_and_round_trips() {
    let k = key(1);
    let content = demo_content();
    let doc = content.sign(&k);
    assert!(doc.starts_with("-----BEGIN LISENS LICENSE-----\n"));
    assert!(doc.lines().all(|l| l.len() <= 64), "mailable: short lines");
    let v = VerifiedLicense::verify(&doc, &[key(9).public().clone(), k.public().clone()]).unwrap();
    assert_eq!(*v, content);
    assert_eq!(v.key_id(), k.public().id());
    assert_eq!(v.verified_modules().len(), content.modules().len());
}

#[test]
fn flipping_any_byte_of_the_body_fails() {
    let k = key(1);
    let trusted = [k.public().clone()];
    let doc = small_content().sign(&k);
    let range = body_range(&doc);
    let mut positions = 0;
    for pos in range {
        for replacement in [b'A', b'z', b'+', b'\n', b' '] {
            let mut bytes = doc.clone().into_bytes();
            if bytes[pos] == replacement {
                continue;
            }
            bytes[pos] = replacement;
            let tampered = String::from_utf8(bytes).unwrap();
            let err = VerifiedLicense::verify(&tampered, &trusted)
                .expect_err(&format!("flip at {pos} to {:?} must fail", replacement as char));
            assert!(matches!(
                err.code(),
                "LICENSE_MALFORMED" | "LICENSE_SIGNATURE_INVALID"
            ));
            positions += 1;
        }
    }
    assert!(positions > 1000, "tested {positions} flips");
}

#[test]
fn flipping_bytes_across_a_large_license_fails() {
    let k = key(1);
    let trusted = [k.public().clone()];
    let doc = demo_content().sign(&k);
    for pos in body_range(&doc).step_by(37) {
        let mut bytes = doc.clone().into_bytes();
        bytes[pos] = if bytes[pos] == b'Q' { b'R' } else { b'Q' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(
            VerifiedLicense::verify(&tampered, &trusted).is_err(),
            "flip at {pos}"
        );
    }
}

#[test]
fn a_license_signed_by_another_key_fails() {
    let doc = demo_content().sign(&key(2));
    let err = VerifiedLicense::verify(&doc, &[key(1).public().clone()]).unwrap_err();
    assert_eq!(err.code(), "LICENSE_SIGNATURE_INVALID", "{err}");
}

#[test]
fn another_key_claiming_the_trusted_key_id_fails() {
    let trusted = key(1);
    let doc = small_content().sign(&key(2));
    let body = decode(&doc).replace(key(2).public().id().as_str(), trusted.public().id().as_str());
    let err = VerifiedLicense::verify(&encode(&body), &[trusted.public().clone()]).unwrap_err();
    assert_eq!(err.code(), "LICENSE_SIGNATURE_INVALID", "{err}");
}

#[test]
fn dropping_duplicating_or_reordering_rows_fails() {
    let k = key(1);
    let body = decode(&small_content().sign(&k));
    let lines: Vec<&str> = body.lines().collect();
    // header, owner, owner-sig, then (module, module-sig) x 3
    let rows: Vec<[&str; 2]> = lines[3..].chunks(2).map(|c| [c[0], c[1]]).collect();
    let rebuild = |rows: &[[&str; 2]]| {
        let mut s = format!("{}\n{}\n{}\n", lines[0], lines[1], lines[2]);
        for r in rows {
            s.push_str(&format!("{}\n{}\n", r[0], r[1]));
        }
        encode(&s)
    };
    assert!(VerifiedLicense::verify(&rebuild(&rows), &[k.public().clone()]).is_ok());
    let dropped = [rows[0], rows[1]];
    let duplicated = [rows[0], rows[1], rows[2], rows[2]];
    let reordered = [rows[1], rows[0], rows[2]];
    for (what, set) in [
        ("dropped", &dropped[..]),
        ("duplicated", &duplicated[..]),
        ("reordered", &reordered[..]),
    ] {
        let err = VerifiedLicense::verify(&rebuild(set), &[k.public().clone()]).expect_err(what);
        assert_eq!(err.code(), "LICENSE_SIGNATURE_INVALID", "{what}: {err}");
    }
}

#[test]
fn junk_is_malformed_not_a_panic() {
    let k = key(1);
    for junk in [
        "",
        "hello",
        "-----BEGIN LISENS LICENSE-----\n",
        "-----BEGIN LISENS LICENSE-----\n!!!!\n-----END LISENS LICENSE-----\n",
        &encode("lisens-license 1\n"),
        &encode("lisens-license 2\nowner {}\n"),
    ] {
        let err = VerifiedLicense::verify(junk, &[k.public().clone()]).unwrap_err();
        assert_eq!(err.code(), "LICENSE_MALFORMED", "{junk:?}: {err}");
    }
}

#[test]
fn mail_quoting_around_the_block_and_crlf_are_tolerated() {
    let k = key(1);
    let doc = small_content().sign(&k);
    let mailed = format!(
        "Hi, your license:\r\n\r\n{}\r\nRegards\r\n",
        doc.replace('\n', "\r\n")
    );
    assert!(VerifiedLicense::verify(&mailed, &[k.public().clone()]).is_ok());
}

#[test]
fn non_canonical_json_with_a_valid_signature_is_refused() {
    // Even the key holder cannot produce a row the store could not re-check
    // from its columns: a payload must be in canonical form.
    use ed25519_dalek::Signer;
    use sha2::{Digest, Sha256};
    let k = key(1);
    let dalek = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let body = decode(&small_content().sign(&k));
    let mut lines: Vec<String> = body.lines().map(str::to_owned).collect();
    lines[3] = lines[3].replacen("\":", "\": ", 1);
    let sign = |tag: &[u8], payload: &str| {
        let mut m = tag.to_vec();
        m.extend_from_slice(payload.as_bytes());
        dalek.sign(&m).to_bytes()
    };
    let sig = sign(
        b"lisens-license-v1/module\0",
        lines[3].strip_prefix("module ").unwrap(),
    );
    lines[4] = format!("module-sig {}", B64.encode(sig));
    let mut h = Sha256::new();
    for l in lines.iter().filter(|l| l.starts_with("module-sig ")) {
        h.update(B64.decode(l.strip_prefix("module-sig ").unwrap()).unwrap());
    }
    let digest: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let start = lines[1].find("\"modules_digest\":\"").unwrap() + 18;
    lines[1].replace_range(start..start + 64, &digest);
    let osig = sign(
        b"lisens-license-v1/owner\0",
        lines[1].strip_prefix("owner ").unwrap(),
    );
    lines[2] = format!("owner-sig {}", B64.encode(osig));
    let err =
        VerifiedLicense::verify(&encode(&(lines.join("\n") + "\n")), &[k.public().clone()]).unwrap_err();
    assert_eq!(
        err,
        LicenseError::Malformed("module record is not in canonical form".into())
    );
}
