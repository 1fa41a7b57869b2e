//! Bad input gets one line: the input file (never the output when the input is at fault), the
//! place in it (HAR entry, log line, file byte, JSON path), the problem in words, no Rust Debug
//! text; exit 2. One test per case the mutation probe of issue #12 found.

mod util;

use util::{ringload, write};

/// The one line of a bad-input run, checked for Debug text.
fn bad(r: &util::Run, needle: &str) -> String {
    r.assert_bad_input(needle);
    for debug in [
        " { ",
        "Utf8Error",
        "UnexpectedEnd",
        "UnexpectedVariant",
        "TooSmall",
    ] {
        assert!(!r.stderr.contains(debug), "Debug text: {}", r.stderr);
    }
    r.stderr.clone()
}

fn har(entries: &[(&str, &str)]) -> String {
    let entries: Vec<String> = entries
        .iter()
        .map(|(time, header)| {
            format!(
                r#"{{"startedDateTime":"{time}","request":{{"method":"GET","url":"http://h/x",
                   "headers":[{{"name":"x-a","value":"{header}"}}]}}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"log":{{"version":"1.2","entries":[{}]}}}}"#,
        entries.join(",")
    )
}

#[test]
fn a_har_header_with_a_line_break_names_the_har_and_its_entry() {
    let dir = tempfile::tempdir().unwrap();
    let t = "2024-01-01T00:00:00Z";
    let h = write(
        dir.path(),
        "x.har",
        har(&[(t, "1"), (t, "2"), (t, "3"), (t, "a\\nb")]),
    );
    let out = dir.path().join("o.plan");
    let r = ringload([
        "record",
        "--har",
        h.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let line = bad(
        &r,
        &format!(
            "{}: entry 3: the request header 0 (\"x-a\") has a line break",
            h.display()
        ),
    );
    assert!(!line.contains("o.plan"), "{line}");
    assert!(!out.exists());
}

#[test]
fn a_capture_spanning_more_than_a_year_names_the_input_and_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let h = write(
        dir.path(),
        "x.har",
        har(&[("2022-01-01T00:00:00Z", "1"), ("2020-01-01T00:00:00Z", "2")]),
    );
    let out = dir.path().join("o.plan");
    let r = ringload([
        "record",
        "--har",
        h.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let line = bad(
        &r,
        &format!(
            "{}: entry 0: 731.0 days after the first request of the capture; a plan spans at \
             most 366 days",
            h.display()
        ),
    );
    assert!(!line.contains("o.plan"), "{line}");
}

#[test]
fn har_syntax_errors_say_their_position_once() {
    let dir = tempfile::tempdir().unwrap();
    let h = write(
        dir.path(),
        "x.har",
        "{\"log\":\n {\"version\": \"1.2\",, }}",
    );
    let r = ringload(["record", "--har", h.to_str().unwrap(), "-o", "o.plan"]);
    let line = bad(
        &r,
        &format!(
            "{}: line 2: invalid JSON: column 20: key must be a string",
            h.display()
        ),
    );
    assert_eq!(line.matches("line").count(), 1, "{line}");
}

#[test]
fn nginx_json_with_other_field_names_points_at_log_field() {
    let dir = tempfile::tempdir().unwrap();
    let log = write(
        dir.path(),
        "j.log",
        "{\"verb\":\"GET\",\"uri\":\"/x\",\"code\":200}\n",
    );
    let r = ringload([
        "record",
        "--access-log",
        log.to_str().unwrap(),
        "--log-format",
        "nginx-json",
        "-o",
        "o.plan",
    ]);
    bad(
        &r,
        "line 1 has no field \"request_method\", \"request_uri\" or \"request\" (its fields: code, \
         uri, verb); name yours with --log-field method=FIELD --log-field path=FIELD",
    );
}

#[test]
fn bad_regular_expressions_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(dir.path(), "t.txt", "GET http://x/\n");
    let t = t.to_str().unwrap();
    bad(
        &ringload([
            "record",
            "--targets",
            t,
            "-o",
            "o.plan",
            "--label-rule",
            "(=x",
        ]),
        "--label-rule \"(\": unclosed group at character 1",
    );
    bad(
        &ringload([
            "record",
            "--targets",
            t,
            "-o",
            "o.plan",
            "--exclude",
            "ab[c",
        ]),
        "--exclude \"ab[c\": unclosed character class at character 3",
    );
}

#[test]
fn undecodable_plans_say_the_byte_and_the_problem_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let p = util::targets_plan(dir.path(), "GET http://x/abcdef");
    let mut bytes = std::fs::read(&p).unwrap();
    // Break the target's text, then make the checksum right so the payload is decoded.
    let at = bytes.windows(7).position(|w| w == b"/abcdef").unwrap();
    bytes[at + 1] = 0xff;
    let n = bytes.len();
    let crc = {
        let mut h = 0xffff_ffffu32;
        for &b in &bytes[..n - 4] {
            h ^= u32::from(b);
            for _ in 0..8 {
                h = (h >> 1) ^ (0xedb8_8320 & (h & 1).wrapping_neg());
            }
        }
        !h
    };
    bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
    let bad_plan = write(dir.path(), "bad.plan", &bytes);
    let r = ringload(["inspect", bad_plan.to_str().unwrap()]);
    let line = bad(&r, &format!("{}: byte ", bad_plan.display()));
    assert!(
        line.contains("the payload does not decode: a string is not valid UTF-8"),
        "{line}"
    );
}

/// A result as `run -o` writes it, with `edit` applied to its JSON.
fn result(dir: &std::path::Path, name: &str, edit: impl Fn(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(include_str!("../fuzz/seeds/result/demo-3s.json")).unwrap();
    edit(&mut v);
    let p = write(dir, name, serde_json::to_vec(&v).unwrap());
    p.to_str().unwrap().to_string()
}

#[test]
fn merge_blames_the_file_and_field_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = result(d, "good.json", |_| {});
    // A start at 0 (1970) is the file's fault, not the other one's.
    let zero = result(d, "zero.json", |v| {
        v["run"]["started_at_unix_ms"] = 0.into()
    });
    let line = bad(
        &ringload(["merge", &good, &zero]),
        &format!("{zero}: run.started_at_unix_ms: 0 is not a time a run took place"),
    );
    assert!(!line.contains("good.json"), "{line}");
    // A negative duration is bad input (exit 2), not "workers did not run together" (exit 4).
    let negative = result(d, "neg.json", |v| {
        v["summary"]["duration_s"] = (-3.0).into()
    });
    bad(
        &ringload(["merge", &negative, &good]),
        &format!("{negative}: summary.duration_s: -3 is not a duration"),
    );
    // Wrong types and broken histograms name their JSON path.
    let typed = result(d, "typed.json", |v| {
        v["labels"][2]["requests"] = (-1).into()
    });
    bad(
        &ringload(["merge", &good, &typed]),
        &format!("{typed}: labels[2].requests: invalid value: integer `-1`, expected u64"),
    );
    let hist = result(d, "hist.json", |v| {
        v["windows"][1]["histogram"] = "HISTFAAAACB4nJNpmSzMwMDAwwABzFCaEUzOmQVhAQBP5gMv".into()
    });
    bad(
        &ringload(["merge", &good, &hist]),
        &format!("{hist}: windows[1].histogram: the histogram is not one of ringload's"),
    );
    let syntax = write(d, "syntax.json", "{\"format\": ");
    bad(
        &ringload(["merge", &good, syntax.to_str().unwrap()]),
        "syntax.json: format: EOF while parsing a value (line 1, column 11)",
    );
}
