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

/// A file of HyperSpy's test data or of the fetched weights (see `scripts/fetch-testdata.sh`).
fn testdata(path: &str) -> Option<std::path::PathBuf> {
    let root = std::env::var_os("CHIPSCOPE_TESTDATA")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| std::path::PathBuf::from(h).join(".cache/chipscope/testdata"))
        })?;
    let file = root.join(path);
    if !file.exists() {
        eprintln!(
            "SKIPPED: {} not found; run scripts/fetch-testdata.sh",
            file.display()
        );
        return None;
    }
    Some(file)
}

fn npy_rows(path: &Path) -> (Vec<usize>, Vec<f32>) {
    chipscope_core::npy::read_f32(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn embed_writes_pytorch_equal_embeddings_in_grid_order() {
    let Some(image) = testdata("hyperspy/dm3_2D_data/multi_signal.dm3") else {
        return;
    };
    let out = std::env::temp_dir().join(format!("chipscope-embed-{}.npy", std::process::id()));
    let printed = stdout(&chipscope(&[
        "embed",
        image.to_str().unwrap(),
        "--chip",
        "256",
        "--encoder",
        "mobilenet_v2",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(
        printed.contains("4 × 1280 embeddings of 256-px chips from MobileNetV2 on flex"),
        "{printed}"
    );
    let (shape, ours) = npy_rows(&out);
    assert_eq!(shape, [4, 1280]);
    // tests/fixtures/encoders: the reference's last case is chip 3 of the 256-px grid.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/encoders/mobilenet_v2.npy");
    let (_, reference) = npy_rows(&fixture);
    let (got, want) = (&ours[3 * 1280..], &reference[3 * 1280..]);
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = got
        .iter()
        .zip(want)
        .fold(0f32, |m, (g, w)| m.max((g - w).abs()));
    assert!(worst / scale < 1e-4, "relative error {}", worst / scale);
    std::fs::remove_file(out).ok();
}

#[test]
fn embed_accepts_a_users_torchvision_pth_and_refuses_a_non_weight_file() {
    let (Some(image), Some(weights)) = (
        testdata("hyperspy/dm3_2D_data/multi_signal.dm3"),
        testdata("weights/imgsim-resnet50.pth"),
    ) else {
        return;
    };
    let out = std::env::temp_dir().join(format!("chipscope-embed-pth-{}.npy", std::process::id()));
    let image = image.to_str().unwrap();
    let embed = |encoder: &str| {
        chipscope(&[
            "embed",
            image,
            "--chip",
            "512",
            "--encoder",
            encoder,
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let printed = stdout(&embed(weights.to_str().unwrap()));
    assert!(
        printed.contains("1 × 2048 embeddings of 512-px chips from ResNet-50"),
        "{printed}"
    );
    assert_eq!(npy_rows(&out).0, [1, 2048]);

    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let refused = embed(readme.to_str().unwrap());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not a weight file"), "{stderr}");
    let unknown = embed("resnet9000");
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("no weight file resnet9000; use one of resnet50, mobilenet_v2")
    );
    std::fs::remove_file(out).ok();
}
