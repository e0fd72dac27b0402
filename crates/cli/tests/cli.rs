//! The `chipscope` binary as a batch user runs it.

use std::path::Path;
use std::process::{Command, Output};

fn chipscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chipscope"))
        .args(args)
        .output()
        .expect("run chipscope")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn simulate_then_info_reports_shape_calibration_and_grid() {
    let dir = std::env::temp_dir().join(format!("chipscope-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tiff = dir.join("sim.tif");
    let labels = dir.join("labels.png");
    let tiff_arg = tiff.to_str().unwrap();
    stdout(&chipscope(&[
        "simulate",
        "--size",
        "200",
        "--out",
        tiff_arg,
        "--labels",
        labels.to_str().unwrap(),
    ]));
    assert!(Path::new(&labels).exists());

    let info = stdout(&chipscope(&["info", tiff_arg, "--chip", "48"]));
    assert!(
        info.contains("format:      TIFF (16-bit unsigned integer, grey)"),
        "{info}"
    );
    assert!(info.contains("shape:       200 × 200 px"), "{info}");
    assert!(
        info.contains("calibration: 0.04 nm/px; field of view 8 × 8 nm"),
        "{info}"
    );
    assert!(
        info.contains(
            "chip grid:   48 px chips, 4 rows × 4 columns = 16 chips; 3136 px cropped (7.8 %)"
        ),
        "{info}"
    );

    let default_grid = stdout(&chipscope(&["info", tiff_arg]));
    assert!(
        default_grid.contains("chip grid:   16 px chips, 12 rows × 12 columns = 144 chips"),
        "{default_grid}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_input_fails_with_a_message_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("chipscope-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("notes.tif");
    std::fs::write(&text, "plain text").unwrap();
    let cases = [
        (
            vec!["info", text.to_str().unwrap()],
            "this is not a file Chipscope can read",
        ),
        (
            vec!["info", "/nonexistent/image.tif"],
            "cannot open /nonexistent/image.tif",
        ),
    ];
    for (args, message) in cases {
        let output = chipscope(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(message),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let sim = dir.join("sim.tif");
    stdout(&chipscope(&[
        "simulate",
        "--size",
        "64",
        "--out",
        sim.to_str().unwrap(),
    ]));
    let output = chipscope(&["info", sim.to_str().unwrap(), "--chip", "65"]);
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("chip size 65 px is outside the allowed 8–64 px")
    );
    std::fs::remove_dir_all(dir).ok();
}
