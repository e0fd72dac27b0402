//! Replays every input the fuzzers once failed on (`fuzz/regressions/<target>/`, each file
//! named after what it found) through its target: none may panic again.

use chipscope_fuzz_targets::TARGETS;
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
            eprintln!("{}: {}", target.name, path.display());
            (target.run)(&bytes);
            replayed += 1;
        }
    }
    assert!(replayed > 0, "fuzz/regressions holds no inputs");
}

#[test]
fn pairs_split_as_the_seeds_are_made() {
    use chipscope_fuzz_targets::split_pair;
    assert_eq!(split_pair(b"\x02\0\0\0abcde"), (&b"ab"[..], &b"cde"[..]));
    assert_eq!(split_pair(b"\xff\0\0\0abc"), (&b"abc"[..], &b""[..]));
    assert_eq!(split_pair(b"ab"), (&b"ab"[..], &b""[..]));
}
