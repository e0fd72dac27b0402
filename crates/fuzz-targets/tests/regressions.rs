//! Replays every input the fuzzers once failed on (`fuzz/regressions/<target>/`, each file
//! named after what it found) through its target: none may panic again. An input mutated from
//! a real test file (GPL data, never committed) is kept as `NAME.delta.json`, the changes to
//! that file (scripts/fuzz_regression.py), and rebuilt here when the test data has been
//! fetched (scripts/fetch-testdata.sh).

use chipscope_core::hashing::sha256_hex;
use chipscope_fuzz_targets::TARGETS;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn regressions() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions")
}

#[test]
fn every_regression_folder_names_a_target() {
    for entry in std::fs::read_dir(regressions()).expect("fuzz/regressions is readable") {
        let name = entry.expect("a folder entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            TARGETS.iter().any(|target| target.name == name),
            "fuzz/regressions/{name} names no fuzz target"
        );
    }
}

#[test]
fn no_regression_input_panics() {
    let mut replayed = 0;
    for target in TARGETS {
        let Ok(inputs) = std::fs::read_dir(regressions().join(target.name)) else {
            continue;
        };
        for input in inputs {
            let path = input.expect("a folder entry").path();
            let bytes = std::fs::read(&path).expect("a regression input is readable");
            let bytes = match path.to_string_lossy().ends_with(".delta.json") {
                true => match rebuild(&bytes) {
                    Some(bytes) => bytes,
                    None => {
                        eprintln!("SKIPPED {}: its test data is not fetched", path.display());
                        continue;
                    }
                },
                false => bytes,
            };
            eprintln!("{}: {}", target.name, path.display());
            (target.run)(&bytes);
            replayed += 1;
        }
    }
    assert!(replayed > 0, "fuzz/regressions holds no inputs");
}

/// The input a `.delta.json` describes, rebuilt from its base files in the test data; `None`
/// when they are absent.
fn rebuild(delta: &[u8]) -> Option<Vec<u8>> {
    let delta: Value = serde_json::from_slice(delta).expect("a delta is JSON");
    let testdata = std::env::var("CHIPSCOPE_TESTDATA").ok()?;
    let mut base = Vec::new();
    for path in delta["bases"].as_array().expect("a delta lists its bases") {
        let path = Path::new(&testdata).join(path.as_str().expect("a base is a path"));
        base.extend(std::fs::read(path).ok()?);
    }
    let mut input = Vec::new();
    for piece in delta["pieces"]
        .as_array()
        .expect("a delta lists its pieces")
    {
        match (&piece["copy"], piece["bytes"].as_str()) {
            (Value::Array(span), _) => {
                let number = |value: &Value| value.as_u64().expect("a span is numbers") as usize;
                let (start, length) = (number(&span[0]), number(&span[1]));
                input.extend_from_slice(&base[start..start + length]);
            }
            (_, Some(hex)) => input.extend((0..hex.len()).step_by(2).map(|at| {
                u8::from_str_radix(&hex[at..at + 2], 16).expect("literal bytes are hex")
            })),
            _ => panic!("a delta piece is a copy or bytes: {piece}"),
        }
    }
    assert_eq!(
        Some(sha256_hex(&input).as_str()),
        delta["sha256"].as_str(),
        "a delta rebuilt another input than the one the fuzzer found (changed test data?)"
    );
    Some(input)
}

#[test]
fn pairs_split_as_the_seeds_are_made() {
    use chipscope_fuzz_targets::split_pair;
    assert_eq!(split_pair(b"\x02\0\0\0abcde"), (&b"ab"[..], &b"cde"[..]));
    assert_eq!(split_pair(b"\xff\0\0\0abc"), (&b"abc"[..], &b""[..]));
    assert_eq!(split_pair(b"ab"), (&b"ab"[..], &b""[..]));
}
