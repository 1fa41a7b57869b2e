//! Plan reader and writer: round trips, the golden v1 and v2 files, and every bad-input case.

use ringload_formats::{
    AuthProfile, AuthSlot, Expectation, FormatError, Metadata, Plan, PlanBuilder, Request, Session,
    StatusRule, Step, TokenLocation, TokenPlace, read_plan, write_plan,
};

/// A small plan that uses every field of format v2: `sample_v1` with the auth profile fields
/// that version 2 added.
fn sample() -> Plan {
    let mut p = sample_v1();
    let a = &mut p.auth_profiles[0];
    a.send_as = TokenPlace::Cookie("session".into());
    a.expires_at = Some("/expires_in".into());
    a.expires_in_s = Some(300);
    a.user_fields = vec!["username".into(), "password".into()];
    p
}

/// A small plan that uses every field of format v1 (what the golden v1 file holds).
fn sample_v1() -> Plan {
    let mut b = PlanBuilder::new(Metadata {
        tool_version: "0.1.0".into(),
        created_unix_ms: 1_790_000_000_000,
        source_kind: "targets".into(),
        source: "golden.txt".into(),
        scheme: Some("https".into()),
        authority: Some("shop.example:8443".into()),
        tags: vec![("mesh".into(), "istio".into())],
        notes: vec!["hand-made golden plan".into()],
        holds_secrets: true,
        redacted: false,
    });
    let products = b.label("GET /api/v1/products/:id");
    let login_l = b.label("POST /auth/login");
    let canary = b.segment("canary");
    let login = b.request(Request {
        method: "POST".into(),
        target: "/auth/login".into(),
        headers: vec![(
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: b"username=demo&password=secret".as_slice().into(),
        label: login_l,
        ..Default::default()
    });
    let profile = b.auth_profile(AuthProfile {
        name: "shopper".into(),
        login,
        token_at: TokenLocation::JsonPointer("/access_token".into()),
        send_as: TokenPlace::Header {
            name: "Authorization".into(),
            prefix: "Bearer ".into(),
        },
        expires_at: None,
        expires_in_s: None,
        user_fields: vec![],
    });
    let get = b.request(Request {
        method: "GET".into(),
        target: "/api/v1/products/SKU-100045?x=1".into(),
        headers: vec![
            ("x-user-segment".into(), "beta-testers".into()),
            ("accept".into(), "application/json".into()),
        ],
        body: Default::default(),
        label: products,
        segment: Some(canary),
        auth: Some(AuthSlot { profile }),
        expect: Some(Expectation {
            status: vec![StatusRule::Class(2), StatusRule::Exact(304)],
            headers: vec![(
                "x-upstream-version".into(),
                vec!["stable".into(), "canary-v2".into()],
            )],
        }),
        timeout_us: Some(2_500_000),
    });
    b.session(Session {
        steps: vec![
            Step {
                request: login,
                offset_us: 0,
                connection: 7,
            },
            Step {
                request: get,
                offset_us: 1500,
                connection: 7,
            },
            Step {
                request: get,
                offset_us: 1500,
                connection: 9,
            },
        ],
    });
    b.session(Session {
        steps: vec![Step {
            request: get,
            offset_us: 42,
            connection: 3,
        }],
    });
    b.finish()
}

fn encode(plan: &Plan) -> Vec<u8> {
    let mut v = Vec::new();
    write_plan(&mut v, plan).unwrap();
    v
}

const GOLDEN_V1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden-v1.plan");
const GOLDEN_V2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden-v2.plan");

/// The digest is the whole file's SHA-256 (as `sha256sum` printed it for the golden files),
/// whatever the pieces the file is read in; a file that is no plan has none.
#[test]
fn the_digest_is_the_files_sha256() {
    for (file, sum) in [
        (
            GOLDEN_V1,
            "a6a94ac0ddccb3130bce546e1aef1b6f91ffd72e4f5590c6271f1d79930e3101",
        ),
        (
            GOLDEN_V2,
            "aaa03b69b0d8d55e7d267f4c05be8566b35e983653ec28c7c901e262064ffe22",
        ),
    ] {
        let bytes = std::fs::read(file).unwrap();
        let (plan, digest) = ringload_formats::read_plan_digest(&bytes[..]).unwrap();
        assert_eq!(digest, sum, "{file}");
        assert_eq!(plan, read_plan(&bytes[..]).unwrap());
        let slow = std::io::BufReader::with_capacity(7, &bytes[..]);
        assert_eq!(ringload_formats::read_plan_digest(slow).unwrap().1, sum);
    }
    assert!(ringload_formats::read_plan_digest(&b"not a plan"[..]).is_err());
}

#[test]
fn round_trip_keeps_every_field() {
    let plan = sample();
    assert_eq!(read_plan(&encode(&plan)[..]).unwrap(), plan);
}

/// Format drift check: the committed file of the latest version must decode to the same plan
/// and re-encode to the same bytes. Regenerate only for a deliberate new version
/// (`RINGLOAD_BLESS=1`).
#[test]
fn golden_v2_file_decodes_and_reencodes_byte_for_byte() {
    let bytes = encode(&sample());
    if std::env::var_os("RINGLOAD_BLESS").is_some() {
        std::fs::write(GOLDEN_V2, &bytes).unwrap();
    }
    let golden = std::fs::read(GOLDEN_V2).expect("golden file present");
    let plan = read_plan(&golden[..]).unwrap();
    assert_eq!(plan, sample());
    assert_eq!(
        golden, bytes,
        "encoder output drifted from the golden v2 file"
    );
}

/// Older versions stay readable: the committed v1 file (written by the previous release) decodes
/// to the same plan, its auth profile's header becoming a header token place.
#[test]
fn golden_v1_file_still_decodes() {
    let golden = std::fs::read(GOLDEN_V1).expect("golden file present");
    assert_eq!(u16::from_le_bytes([golden[8], golden[9]]), 1);
    assert_eq!(read_plan(&golden[..]).unwrap(), sample_v1());
}

/// Request strings are shared in memory as in the file: a plan whose one long string is used by
/// 100 headers holds it once (the header-bomb plan of the hardening probe).
#[test]
fn shared_strings_stay_shared_after_reading() {
    let big: String = "x".repeat(1 << 20);
    let mut b = PlanBuilder::new(Metadata::default());
    let label = b.label("GET /");
    let id = b.request(Request {
        method: "GET".into(),
        target: "/".into(),
        headers: vec![(big.as_str().into(), big.as_str().into()); 100],
        label,
        ..Default::default()
    });
    b.session(Session {
        steps: vec![Step {
            request: id,
            offset_us: 0,
            connection: 0,
        }],
    });
    let bytes = encode(&b.finish());
    assert!(
        bytes.len() < (1 << 20) + 4096,
        "stored once: {}",
        bytes.len()
    );
    let plan = read_plan(&bytes[..]).unwrap();
    let h = &plan.requests[0].headers;
    assert!(
        h.iter()
            .all(|(n, v)| std::sync::Arc::ptr_eq(n, &h[0].0) && std::sync::Arc::ptr_eq(v, &h[0].0))
    );
}

fn err(bytes: &[u8]) -> FormatError {
    read_plan(bytes).expect_err("must be rejected")
}

#[test]
fn empty_and_truncated_files_are_rejected() {
    let good = encode(&sample());
    assert!(matches!(err(&[]), FormatError::Truncated(_)));
    for cut in [1, 10, 23, 24, 30, good.len() - 5, good.len() - 1] {
        let e = err(&good[..cut]);
        assert!(matches!(e, FormatError::Truncated(_)), "cut at {cut}: {e}");
    }
}

#[test]
fn wrong_magic_is_rejected() {
    let mut b = encode(&sample());
    b[0] = b'X';
    assert!(matches!(err(&b), FormatError::BadMagic { .. }));
    assert!(
        err(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .to_string()
            .contains("not a ringload plan")
    );
}

#[test]
fn future_version_is_rejected_with_upgrade_hint() {
    let mut b = encode(&sample());
    b[8] = 3;
    let e = err(&b);
    assert!(
        matches!(e, FormatError::UnknownVersion { found: 3, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("upgrade"));
}

#[test]
fn unknown_required_flag_is_rejected() {
    let mut b = encode(&sample());
    b[11] = 0x01;
    assert!(matches!(err(&b), FormatError::UnknownRequiredFlags(0x100)));
}

#[test]
fn checksum_mismatch_is_rejected() {
    let mut b = encode(&sample());
    let mid = 24 + (b.len() - 28) / 2;
    b[mid] ^= 0x40;
    assert!(matches!(err(&b), FormatError::Checksum { .. }));
}

#[test]
fn absurd_lengths_do_not_allocate() {
    let mut b = encode(&sample());
    // Payload length of 2^62: refused before reading.
    b[16..24].copy_from_slice(&(1u64 << 62).to_le_bytes());
    assert!(matches!(err(&b), FormatError::TooLarge(..)));
    // Payload length just under the cap on a short file: truncated, nothing huge allocated.
    b[16..24].copy_from_slice(&((1u64 << 30) - 1).to_le_bytes());
    assert!(matches!(err(&b), FormatError::Truncated(_)));
}

#[test]
fn absurd_length_inside_a_valid_container_is_a_decode_error() {
    // A payload claiming a 2^40-element string table, with a correct checksum.
    let mut payload = vec![0u8; 3];
    payload.push(253); // bincode varint marker for u64
    payload.extend_from_slice(&(1u64 << 40).to_le_bytes());
    let mut file = Vec::new();
    file.extend_from_slice(b"RLPLAN\r\n");
    file.extend_from_slice(&1u16.to_le_bytes());
    file.extend_from_slice(&[0; 6]);
    file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    file.extend_from_slice(&payload);
    let crc = crc32(&file);
    file.extend_from_slice(&crc.to_le_bytes());
    let e = err(&file);
    assert!(matches!(e, FormatError::Decode(_)), "{e}");
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut b = encode(&sample());
    b.push(0);
    assert!(matches!(err(&b), FormatError::TrailingBytes));
}

#[test]
fn dangling_references_are_rejected_on_write_and_read() {
    let mut plan = sample();
    plan.sessions[0].steps[0].request = 99;
    let e = write_plan(Vec::new(), &plan).expect_err("invalid plan");
    assert!(e.to_string().contains("refers to request 99"), "{e}");
}

fn crc32(b: &[u8]) -> u32 {
    // Bitwise CRC-32 (IEEE), independent of the crate under test.
    let mut c = !0u32;
    for &x in b {
        c ^= u32::from(x);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Random bytes never panic the reader.
        #[test]
        fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = read_plan(&bytes[..]);
        }

        /// Random bytes behind a valid header and checksum reach the payload decoder, which
        /// must reject or accept them without panicking or over-allocating.
        #[test]
        fn random_payload_with_valid_checksum(payload in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut file = Vec::new();
            file.extend_from_slice(b"RLPLAN\r\n");
            file.extend_from_slice(&1u16.to_le_bytes());
            file.extend_from_slice(&[0; 6]);
            file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
            file.extend_from_slice(&payload);
            let crc = crc32(&file);
            file.extend_from_slice(&crc.to_le_bytes());
            if let Ok(plan) = read_plan(&file[..]) {
                prop_assert!(plan.validate().is_ok());
            }
        }

        /// Mutations of a valid plan (with the checksum fixed up so the decoder sees them).
        #[test]
        fn mutated_plan(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
                        fix_crc in any::<bool>()) {
            let mut b = encode(&sample());
            let n = b.len() - 4;
            for (i, v) in edits {
                let at = i.index(n);
                b[at] = v;
            }
            if fix_crc {
                let crc = crc32(&b[..n]);
                b[n..].copy_from_slice(&crc.to_le_bytes());
            }
            if let Ok(plan) = read_plan(&b[..]) {
                prop_assert!(plan.validate().is_ok());
            }
        }
    }
}

#[test]
fn shared_bodies_stay_shared_and_shared_strings_are_budgeted() {
    // 200 requests sharing one 1 MiB body: stored once, decoded once (not 200 MiB).
    let body: std::sync::Arc<[u8]> = vec![b'x'; 1 << 20].into();
    let mut b = PlanBuilder::new(Metadata::default());
    let label = b.label("POST /upload/:id");
    let steps = (0..200)
        .map(|i| Step {
            request: b.request(Request {
                method: "POST".into(),
                target: format!("/upload/{i}").into(),
                body: body.clone(),
                label,
                ..Default::default()
            }),
            offset_us: 0,
            connection: 0,
        })
        .collect();
    b.session(Session { steps });
    let bytes = encode(&b.finish());
    assert!(bytes.len() < (1 << 20) + 64 * 1024);
    let plan = read_plan(&bytes[..]).unwrap();
    let first = &plan.requests[0].body;
    assert!(
        plan.requests
            .iter()
            .all(|r| std::sync::Arc::ptr_eq(&r.body, first))
    );

    // 400 requests sharing one 64 KiB header value: 25 MiB if copied into every request, one
    // 64 KiB string when shared, as the reader does.
    let big = "v".repeat(64 << 10);
    let mut b = PlanBuilder::new(Metadata::default());
    let label = b.label("GET /x/:id");
    let steps = (0..400)
        .map(|i| Step {
            request: b.request(Request {
                method: "GET".into(),
                target: format!("/x/{i}").into(),
                headers: vec![("x-big".into(), big.as_str().into())],
                label,
                ..Default::default()
            }),
            offset_us: 0,
            connection: 0,
        })
        .collect();
    b.session(Session { steps });
    let bytes = encode(&b.finish());
    let plan = read_plan(&bytes[..]).expect("shared, not a bomb");
    let first = &plan.requests[0].headers[0].1;
    assert!(
        plan.requests
            .iter()
            .all(|r| std::sync::Arc::ptr_eq(&r.headers[0].1, first))
    );
}
