//! The `chipscope` binary as a batch user runs it.

use std::path::Path;
use std::process::{Command, Output};

/// The repository's shipped weights, which an installed `chipscope` finds beside itself and a
/// test run through `CHIPSCOPE_WEIGHTS`.
const WEIGHTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../weights");

fn chipscope(args: &[&str]) -> Output {
    chipscope_with_weights(args, Some(WEIGHTS))
}

/// Runs `chipscope` with `CHIPSCOPE_WEIGHTS` set to `weights`, or unset.
fn chipscope_with_weights(args: &[&str], weights: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chipscope"));
    match weights {
        Some(dir) => command.env("CHIPSCOPE_WEIGHTS", dir),
        None => command.env_remove("CHIPSCOPE_WEIGHTS"),
    };
    command.args(args).output().expect("run chipscope")
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
fn shipped_weights_not_found_say_where_they_were_looked_for() {
    let dir = scratch("weights-missing");
    let tiff = dir.join("sim.tif");
    let tiff = tiff.to_str().unwrap();
    stdout(&chipscope(&["simulate", "--size", "64", "--out", tiff]));
    let npy = dir.join("out.npy");
    let embed = [
        "embed",
        tiff,
        "--chip",
        "32",
        "--out",
        npy.to_str().unwrap(),
    ];
    let stderr = |weights| {
        let output = chipscope_with_weights(&embed, weights);
        assert!(!output.status.success());
        String::from_utf8(output.stderr).unwrap()
    };

    let wrong = dir.join("no-weights-here");
    let message = stderr(Some(wrong.to_str().unwrap()));
    assert!(
        message.contains(&format!(
            "CHIPSCOPE_WEIGHTS is {}, which holds no manifest.json",
            wrong.display()
        )),
        "{message}"
    );

    let exe_dir = Path::new(env!("CARGO_BIN_EXE_chipscope")).parent().unwrap();
    let message = stderr(None);
    assert!(
        message.contains("cannot find the shipped encoder weights: no manifest.json in")
            && message.contains(&exe_dir.join("weights").display().to_string())
            && message.contains("share/chipscope/weights")
            && message.contains("set CHIPSCOPE_WEIGHTS"),
        "{message}"
    );
    assert!(!npy.exists());
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

#[test]
fn info_reads_a_ser_with_its_emi_and_describes_images_too_small_to_chip() {
    let Some(ser) = testdata("hyperspy/FEI_old/16x16_STEM_BF_DF_acquire_1.ser") else {
        return;
    };
    let info = stdout(&chipscope(&["info", ser.to_str().unwrap()]));
    assert!(
        info.contains("format:      FEI TIA (16-bit unsigned integer, grey)"),
        "{info}"
    );
    assert!(info.contains("calibration: 21.51 nm/px"), "{info}");
    assert!(
        info.contains("acquisition: acceleration voltage 200 kV; magnification 10000×"),
        "{info}"
    );
    assert!(
        info.contains("chip grid:   8 px chips, 2 rows × 2 columns"),
        "{info}"
    );
    let map = testdata("hyperspy/FEI_new/16x16-diffraction_imagel_5x5x256x256_EDS_1.ser").unwrap();
    let info = stdout(&chipscope(&["info", map.to_str().unwrap()]));
    assert!(info.contains("shape:       5 × 5 px"), "{info}");
    assert!(
        info.contains(
            "chip grid:   none fits: the image (5 × 5 px) is smaller than the smallest chip (8 px)"
        ),
        "{info}"
    );
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
        "--mode",
        "per-chip",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(
        printed.contains(
            "4 × 1280 embeddings of 256-px chips each resized to 224², from MobileNetV2 on Chipscope's CPU kernels"
        ),
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

/// `embed` (dense by default): MobileNetV2's recommended stage pooled per chip, the same values the core
/// gives in-process; an unknown stage is refused with the stages there are.
#[test]
fn embed_dense_pools_the_recommended_stage_per_chip() {
    use chipscope_core::display::{DisplayRange, Stretch};
    use chipscope_core::encoders::ImageEncoder;
    use chipscope_core::encoders::dense::{DenseSettings, Tiling, dense_features};
    use chipscope_core::encoders::preprocess::ScaledImage;
    use chipscope_core::grid::ChipGrid;

    let dir = scratch("embed-dense");
    let (tiff, out) = (dir.join("sim.tif"), dir.join("dense.npy"));
    stdout(&chipscope(&[
        "simulate",
        "--size",
        "256",
        "--out",
        tiff.to_str().unwrap(),
    ]));
    let args = [
        "embed",
        tiff.to_str().unwrap(),
        "--chip",
        "32",
        "--encoder",
        "mobilenet_v2",
    ];
    let printed = stdout(&chipscope(
        &[&args[..], &["--out", out.to_str().unwrap()]].concat(),
    ));
    assert!(
        printed.contains("64 × 32 embeddings of 32-px chips pooled from the features.6 map at ×2"),
        "{printed}"
    );
    let (shape, ours) = npy_rows(&out);
    assert_eq!(shape, [64, 32]);

    let bytes = std::fs::read(&tiff).unwrap();
    let image = chipscope_core::formats::decode("sim.tif", &bytes)
        .unwrap()
        .image;
    let weights = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights/mobilenet_v2.safetensors"),
    )
    .unwrap();
    let device = burn::tensor::Device::flex();
    let weights = chipscope_core::weights::read_weights(&weights).unwrap();
    // The CLI's default engine, Chipscope's kernels.
    let encoder = ImageEncoder::packed(&weights).unwrap();
    let settings = DenseSettings::recommended(&encoder);
    let scaled = ScaledImage::new(&image, DisplayRange::of(&image, Stretch::default()), 2);
    let map = dense_features(
        &encoder,
        &scaled,
        &settings,
        Tiling::default(),
        &device,
        |_, _| {},
    );
    let grid = ChipGrid::new(256, 256, 32).unwrap();
    assert_eq!(ours, map.unwrap().pool(&grid).values);

    let wrong = chipscope(
        &[
            &args[..],
            &["--mode", "dense", "--stage", "layer3", "--out", "x.npy"],
        ]
        .concat(),
    );
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains(
            "MobileNetV2 has no stage \"layer3\" to take a dense map from; it has features.0"
        ),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).ok();
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
            "--mode",
            "per-chip",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let printed = stdout(&embed(weights.to_str().unwrap()));
    assert!(
        printed
            .contains("1 × 2048 embeddings of 512-px chips each resized to 224², from ResNet-50"),
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

/// A fresh scratch folder for one test.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("chipscope-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

mod segment {
    use super::{chipscope, scratch, stdout};
    use chipscope_core::display::{DisplayRange, Stretch};
    use chipscope_core::encoders::dense::{DenseSettings, EmbeddingMode};
    use chipscope_core::fusion::{Fusion, Modality};
    use chipscope_core::labels::{ClassLabel, palette_colour};
    use chipscope_core::session::{self, DataSource, Session};
    use chipscope_core::weights::manifest;
    use std::path::{Path, PathBuf};
    use std::process::Output;

    /// Side of the simulated image: 64-px chips make a 4 × 4 grid.
    const SIZE: usize = 256;
    const CHIP: usize = 64;
    /// Supports in the simulation's known regions: vacuum on top, the square lattice on the
    /// left and the hexagonal one on the right (`simulate::region`).
    const CLASSES: [(&str, &[[usize; 2]]); 3] = [
        ("vacuum", &[[0, 0]]),
        ("square lattice", &[[1, 0], [2, 0]]),
        ("hexagonal lattice", &[[1, 3], [2, 3]]),
    ];
    /// Supports on the example (256², interface at 45 % of the width) for 32-px chips.
    pub(super) const CLASSES_32: [(&str, &[[usize; 2]]); 4] = [
        ("vacuum", &[[0, 0], [0, 5]]),
        ("square lattice", &[[3, 0], [4, 1]]),
        ("hexagonal lattice", &[[3, 7], [4, 6]]),
        ("amorphous", &[[7, 2], [7, 5]]),
    ];
    /// Writes, into `dir`, a dense session (MobileNetV2 `features.6` ×2) labelled on the example
    /// with [`CLASSES_32`], and returns its path.
    pub(super) fn dense_session_32(dir: &Path) -> PathBuf {
        let mut labelled = session(example_source());
        labelled.grid.chip_size = 32;
        labelled.classes = class_labels(&CLASSES_32);
        labelled.encoder.mode = EmbeddingMode::Dense(DenseSettings {
            stage: "features.6".into(),
            scale: 2,
        });
        let path = dir.join("session.json");
        std::fs::write(&path, labelled.to_json()).unwrap();
        path
    }

    const OUTPUTS: [&str; 5] = [
        ".csv",
        "-labels.png",
        "-overlay.png",
        "-summary.json",
        "-chart.svg",
    ];

    /// `chipscope simulate --size 256` into `dir`.
    fn simulated_tiff(dir: &Path) -> PathBuf {
        let tiff = dir.join("sim.tif");
        let size = SIZE.to_string();
        stdout(&chipscope(&[
            "simulate",
            "--size",
            &size,
            "--out",
            tiff.to_str().unwrap(),
        ]));
        tiff
    }

    fn shipped_sha256(id: &str) -> String {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights");
        let listing = std::fs::read_to_string(root.join("manifest.json")).unwrap();
        let shipped = manifest::parse(&listing).unwrap();
        shipped.into_iter().find(|e| e.id == id).unwrap().sha256
    }

    /// A session as the page saves it after the clicks of [`CLASSES`] with MobileNetV2.
    pub(super) fn session(source: DataSource) -> Session {
        let example = chipscope_core::simulate::heterostructure(SIZE, 1).dataset;
        let stretch = Stretch::default();
        let range = DisplayRange::of(&example.image, stretch);
        Session {
            format: session::FORMAT.into(),
            version: session::VERSION,
            images: Vec::new(),
            source,
            grid: session::GridSettings {
                chip_size: CHIP,
                origin: [0, 0],
            },
            encoder: session::EncoderRef {
                id: "mobilenet_v2".into(),
                name: "MobileNetV2 (ImageNet-1k supervised)".into(),
                weights_sha256: shipped_sha256("mobilenet_v2"),
                mode: EmbeddingMode::PerChip,
            },
            display: session::DisplaySettings {
                stretch,
                range: [range.low, range.high],
            },
            view: session::ViewSettings {
                overlay_opacity: 0.5,
                mode: session::ViewMode::Classes,
                unassigned_beyond: None,
            },
            classes: class_labels(&CLASSES),
            fusion: Fusion::default(),
            atoms: None,
            spectra: None,
            task: None,
            proposal: None,
        }
    }

    /// Classes named as given, in palette colours, with their supports.
    pub(super) fn class_labels(classes: &[(&str, &[[usize; 2]])]) -> Vec<ClassLabel> {
        classes
            .iter()
            .enumerate()
            .map(|(k, (name, supports))| ClassLabel {
                name: name.to_string(),
                colour: palette_colour(k),
                supports: supports.to_vec(),
                elsewhere: vec![],
            })
            .collect()
    }

    pub(super) fn example_source() -> DataSource {
        DataSource::Example {
            size: SIZE,
            seed: 1,
        }
    }

    pub(super) fn file_source(path: &Path) -> DataSource {
        let bytes = std::fs::read(path).unwrap();
        DataSource::File {
            name: path.file_name().unwrap().to_string_lossy().into_owned(),
            size: bytes.len() as u64,
            sha256: chipscope_core::hashing::sha256_hex(&bytes),
        }
    }

    fn write_session(dir: &Path, session: &Session) -> PathBuf {
        let path = dir.join("session.json");
        std::fs::write(&path, session.to_json()).unwrap();
        path
    }

    /// `chipscope segment IMAGES --session SESSION --out DIR/out EXTRA…`.
    pub(super) fn segment(images: &[&Path], session: &Path, out: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["segment"];
        args.extend(images.iter().map(|p| p.to_str().unwrap()));
        args.extend(["--session", session.to_str().unwrap()]);
        args.extend(["--out", out.to_str().unwrap()]);
        args.extend(extra);
        chipscope(&args)
    }

    /// The five files of `stem` are in `out` and agree with the supports and the grid.
    fn assert_results(out: &Path, stem: &str) {
        for suffix in OUTPUTS {
            let file = out.join(format!("{stem}{suffix}"));
            assert!(file.is_file(), "{} is missing", file.display());
        }
        let csv = std::fs::read_to_string(out.join(format!("{stem}.csv"))).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 1 + 16, "{csv}");
        assert!(lines[0].starts_with("row,col,x,y,class,confidence,distance_vacuum"));
        for (name, supports) in CLASSES {
            for [row, col] in supports {
                let line = lines
                    .iter()
                    .find(|l| l.starts_with(&format!("{row},{col},")))
                    .unwrap();
                assert_eq!(line.split(',').nth(4), Some(name), "{line}");
            }
        }
        let labels = image::open(out.join(format!("{stem}-labels.png")))
            .unwrap()
            .to_luma8();
        assert_eq!(labels.dimensions(), (SIZE as u32, SIZE as u32));
        assert!(labels.pixels().all(|p| p.0[0] <= 3));
        let summary: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(format!("{stem}-summary.json"))).unwrap(),
        )
        .unwrap();
        let chips = |share: &serde_json::Value| share["chips"].as_u64().unwrap();
        let classified: u64 = summary["classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(chips)
            .sum();
        assert_eq!(classified + chips(&summary["unassigned"]), 16, "{summary}");
    }

    #[test]
    fn an_example_session_segments_the_simulated_image() {
        let dir = scratch("segment-example");
        let tiff = simulated_tiff(&dir);
        let session = write_session(&dir, &session(example_source()));
        let out = dir.join("out");
        let printed = stdout(&segment(&[&tiff], &session, &out, &[]));
        assert!(printed.contains("sim.tif: vacuum "), "{printed}");
        assert!(printed.contains(" nm²"), "{printed}");
        assert_results(&out, "sim");
        std::fs::remove_dir_all(dir).ok();
    }

    /// A dense session (MobileNetV2 `features.6` ×2: a cell every 4 px) gives the chip files
    /// and the fine label image, which follows the true regions more closely than the chips
    /// (pixel accuracy over the three labelled regions: 0.93 against 0.74); the fine shares
    /// are in the summary.
    #[test]
    fn a_dense_session_segments_chips_and_finer_cells() {
        let dir = scratch("segment-dense");
        let (tiff, truth) = (dir.join("sim.tif"), dir.join("truth.png"));
        stdout(&chipscope(&[
            "simulate",
            "--size",
            &SIZE.to_string(),
            "--out",
            tiff.to_str().unwrap(),
            "--labels",
            truth.to_str().unwrap(),
        ]));
        let mut dense = session(example_source());
        dense.encoder.mode = EmbeddingMode::Dense(DenseSettings {
            stage: "features.6".into(),
            scale: 2,
        });
        let session = write_session(&dir, &dense);
        let out = dir.join("out");
        let printed = stdout(&segment(&[&tiff], &session, &out, &[]));
        assert!(printed.contains("fine (4-px cells): vacuum "), "{printed}");
        assert_results(&out, "sim");
        let accuracy = |labels: &str| {
            let labels = image::open(out.join(labels)).unwrap().to_luma8();
            let truth = image::open(&truth).unwrap().to_luma8();
            assert_eq!(labels.dimensions(), truth.dimensions());
            let regions: Vec<(u8, u8)> = truth
                .pixels()
                .zip(labels.pixels())
                .map(|(t, l)| (t.0[0], l.0[0]))
                .filter(|(t, _)| *t < 3) // the amorphous support is no class
                .collect();
            let right = regions.iter().filter(|(t, l)| t + 1 == *l).count();
            right as f64 / regions.len() as f64
        };
        let (chips, fine) = (accuracy("sim-labels.png"), accuracy("sim-fine-labels.png"));
        assert!(fine > chips + 0.1, "fine {fine}, chips {chips}");
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("sim-summary.json")).unwrap())
                .unwrap();
        assert_eq!(summary["fine"]["cell_px"], 4.0);
        let shares = summary["fine"]["shares"].as_array().unwrap();
        let total: f64 = shares.iter().map(|s| s["fraction"].as_f64().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-9, "{summary}");

        dense.encoder.mode = EmbeddingMode::Dense(DenseSettings {
            stage: "layer9".into(),
            scale: 2,
        });
        let wrong = write_session(&dir, &dense);
        let output = segment(&[&tiff], &wrong, &out, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("no stage \"layer9\""), "{stderr}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_file_session_finds_its_labelled_image_among_the_images_and_segments_each() {
        let dir = scratch("segment-batch");
        let tiff = simulated_tiff(&dir);
        let copy = dir.join("second image.tif");
        std::fs::copy(&tiff, &copy).unwrap();
        let session = write_session(&dir, &session(file_source(&tiff)));
        let out = dir.join("out");
        let output = segment(&[&copy, &tiff], &session, &out, &[]);
        assert!(
            !String::from_utf8_lossy(&output.stderr).contains("warning"),
            "{output:?}"
        );
        let printed = stdout(&output);
        // The two images' lines, then the pooled shares of project-report.csv.
        let (images, project) = printed.split_once("all 2 images: ").unwrap();
        assert!(project.contains("project-report.csv"), "{printed}");
        let (checks, counts): (Vec<&str>, Vec<&str>) = images
            .lines()
            .partition(|line| line.starts_with("  supports: "));
        assert_eq!(counts.len(), 2, "{printed}");
        // Both are the labelled image (the same bytes): the supports are checked in each, the
        // vacuum's one support not at all.
        assert_eq!(checks.len(), 2, "{printed}");
        assert!(checks[0].contains("/4 right by leave-one-out"), "{printed}");
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("sim-summary.json")).unwrap())
                .unwrap();
        assert_eq!(summary["supports"]["checked"], 4, "{summary}");
        assert_eq!(summary["supports"]["classes"][0], "vacuum");
        assert_results(&out, "sim");
        assert_results(&out, "second image");
        let csv = |stem: &str| std::fs::read(out.join(format!("{stem}.csv"))).unwrap();
        assert_eq!(csv("sim"), csv("second image"));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn an_unreadable_image_is_reported_and_the_others_still_segmented() {
        let dir = scratch("segment-partial");
        let tiff = simulated_tiff(&dir);
        let broken = dir.join("broken.tif");
        std::fs::write(&broken, "plain text").unwrap();
        let session = write_session(&dir, &session(example_source()));
        let out = dir.join("out");
        let output = segment(&[&broken, &tiff], &session, &out, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("broken.tif: cannot read"), "{stderr}");
        assert!(stderr.contains("1 of 2 images failed"), "{stderr}");
        assert_results(&out, "sim");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn unusable_sessions_fail_before_any_work_with_a_reason() {
        let dir = scratch("segment-errors");
        let tiff = simulated_tiff(&dir);
        let out = dir.join("out");
        let json = session(example_source()).to_json();
        let edited = |edit: &dyn Fn(&mut Session)| {
            let mut session = session(example_source());
            edit(&mut session);
            session.to_json()
        };
        let missing = edited(&|s| {
            s.source = DataSource::File {
                name: "clicked.dm4".into(),
                size: 1234,
                sha256: "ab".repeat(32),
            }
        });
        let custom = edited(&|s| {
            s.encoder.id = "custom-0123456789ab".into();
            s.encoder.name = "my-resnet18.pth".into();
        });
        let cases = [
            (
                json.replace("chipscope-session", "other"),
                vec!["cannot use session", "not a Chipscope session file"],
            ),
            (
                missing,
                vec!["clicked.dm4 (0.0 MB, sha256 abab", "--labelled PATH"],
            ),
            (custom, vec!["my-resnet18.pth", "--encoder PATH"]),
            (
                edited(&|s| s.encoder.weights_sha256 = "cd".repeat(32)),
                vec!["shipped mobilenet_v2 weights", "differ"],
            ),
            (
                edited(&|s| s.classes[1].supports.clear()),
                vec!["\"square lattice\" has no support chip"],
            ),
            (
                edited(&|s| s.classes[0].supports = vec![[9, 0]]),
                vec!["does not fit", "[9, 0] is outside"],
            ),
            (
                edited(&|s| {
                    s.fusion.weights.insert(Modality::Atoms, 1.0);
                }),
                vec!["weights the atom modality but records no atom settings"],
            ),
        ];
        for (text, reasons) in cases {
            let session = dir.join("session.json");
            std::fs::write(&session, text).unwrap();
            let output = segment(&[&tiff], &session, &out, &[]);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{stderr}");
            assert!(stderr.starts_with("error: "), "{stderr}");
            for reason in reasons {
                assert!(stderr.contains(reason), "{reason:?} not in {stderr}");
            }
            assert!(!out.exists(), "results written for a refused session");
        }
        let session = write_session(&dir, &session(example_source()));
        let same_stem = dir.join("sim.png");
        let output = segment(&[&tiff, &same_stem], &session, &out, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("would both write sim.csv"), "{stderr}");
        std::fs::remove_dir_all(dir).ok();
    }
}

mod atoms_in_segment {
    use super::segment::{file_source, segment, session};
    use super::{chipscope, scratch, stdout};
    use burn::tensor::Device;
    use chipscope_core::atoms::{AtomChips, AtomParams, find_atoms};
    use chipscope_core::display::DisplayRange;
    use chipscope_core::encoders::{ChipSource, ImageEncoder};
    use chipscope_core::exports::Results;
    use chipscope_core::formats::{self, Limits};
    use chipscope_core::fusion::{Fusion, FusionMode, Modality};
    use chipscope_core::grid::Chip;
    use chipscope_core::labels::{ClassLabel, palette_colour};
    use chipscope_core::pipeline::{self, ChipMeasure, Learned};
    use chipscope_core::session::{AtomSettings, Session};
    use chipscope_core::weights::read_weights;
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    const SIZE: usize = 256;
    const CHIP: usize = 32;

    /// Each chip's majority phase (0 or 1) and whether all its pixels are in it, from the
    /// label map `chipscope simulate --scene grains --labels` wrote.
    fn chip_phases(labels: &Path) -> Vec<(usize, bool)> {
        let map = image::open(labels).unwrap().to_luma8();
        let cols = SIZE / CHIP;
        (0..cols * cols)
            .map(|i| {
                let (row, col) = (i / cols, i % cols);
                let ones = (0..CHIP * CHIP)
                    .filter(|p| {
                        let (x, y) = (col * CHIP + p % CHIP, row * CHIP + p / CHIP);
                        map.get_pixel(x as u32, y as u32).0[0] == 1
                    })
                    .count();
                let phase = usize::from(ones * 2 > CHIP * CHIP);
                (phase, ones == 0 || ones == CHIP * CHIP)
            })
            .collect()
    }

    /// `chipscope simulate --scene grains` into `dir`: the TIFF and its label map.
    fn simulated_grains(dir: &Path) -> (PathBuf, PathBuf) {
        let (tiff, labels) = (dir.join("grains.tif"), dir.join("labels.png"));
        let size = SIZE.to_string();
        stdout(&chipscope(&[
            "simulate",
            "--scene",
            "grains",
            "--size",
            &size,
            "--out",
            tiff.to_str().unwrap(),
            "--labels",
            labels.to_str().unwrap(),
        ]));
        (tiff, labels)
    }

    /// A session on the grains image with three pure support chips per phase.
    fn grains_session(tiff: &Path, phases: &[(usize, bool)], fusion: Fusion) -> Session {
        let mut session = session(file_source(tiff));
        session.grid.chip_size = CHIP;
        let cols = SIZE / CHIP;
        session.classes = ["8.0 px", "8.4 px"]
            .iter()
            .enumerate()
            .map(|(k, name)| ClassLabel {
                name: name.to_string(),
                colour: palette_colour(k),
                supports: (0..phases.len())
                    .filter(|&i| phases[i] == (k, true))
                    .take(3)
                    .map(|i| [i / cols, i % cols])
                    .collect(),
                elsewhere: vec![],
            })
            .collect();
        session.atoms = Some(AtomSettings {
            spacing_px: 8.0,
            threshold: 0.2,
        });
        session.fusion = fusion;
        session
    }

    /// Fraction of the pure chips whose class in `csv` is their phase.
    fn accuracy(csv: &str, phases: &[(usize, bool)]) -> f64 {
        let cols = SIZE / CHIP;
        let (mut right, mut scored) = (0, 0);
        for line in csv.lines().skip(1) {
            let fields: Vec<&str> = line.split(',').collect();
            let (row, col): (usize, usize) =
                (fields[0].parse().unwrap(), fields[1].parse().unwrap());
            let (phase, pure) = phases[row * cols + col];
            if pure {
                scored += 1;
                right += usize::from(fields[4] == ["8.0 px", "8.4 px"][phase]);
            }
        }
        right as f64 / scored as f64
    }

    /// The page's computation, natively: every chip embedded one at a time (as the page does on
    /// the CPU) and its atoms measured, prototypes learned from the supports of the same image,
    /// and the core's pipeline; `chipscope segment` (which embeds 16 chips at a time) must write
    /// the same CSV, byte for byte.
    #[test]
    fn the_cli_segments_as_the_page_does() {
        let dir = scratch("segment-agreement");
        let (tiff, labels) = simulated_grains(&dir);
        let fusion = Fusion {
            mode: FusionMode::Concatenate,
            weights: BTreeMap::from([(Modality::Image, 1.0), (Modality::Atoms, 1.0)]),
        };
        let session = grains_session(&tiff, &chip_phases(&labels), fusion);
        let session_path = dir.join("session.json");
        std::fs::write(&session_path, session.to_json()).unwrap();
        stdout(&segment(&[&tiff], &session_path, &dir.join("out"), &[]));
        let by_cli = std::fs::read_to_string(dir.join("out/grains.csv")).unwrap();

        let bytes = std::fs::read(&tiff).unwrap();
        let image = formats::open("grains.tif", &bytes, &Limits::default())
            .unwrap()
            .dataset
            .image;
        let grid = session.grid_on(image.width(), image.height()).unwrap();
        let [low, high] = session.display.range;
        let source = ChipSource {
            image: &image,
            grid: &grid,
            range: DisplayRange { low, high },
        };
        let weights = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights/mobilenet_v2.safetensors"),
        )
        .unwrap();
        let device = Device::flex();
        // The CLI's default engine, Chipscope's kernels.
        let encoder = ImageEncoder::packed(&read_weights(&weights).unwrap()).unwrap();
        let chips: Vec<Chip> = grid.chips().collect();
        let embeddings = encoder
            .embed_chips(source, &chips, 1, &device, |_| {})
            .unwrap();
        let params = AtomParams::from(session.atoms.unwrap());
        let atoms = AtomChips::new(&find_atoms(&image, &params), &grid, &params);
        let quantiles = atoms.quantile_vectors();
        let plan = session.fusion.taking_part(|_| true);
        assert_eq!(plan, [Modality::Image, Modality::Atoms]);
        let measured = [
            ChipMeasure::euclidean(Modality::Image, &embeddings),
            ChipMeasure::atoms(&atoms, &quantiles),
        ];
        let classes = session.labels().support_indices(grid.cols());
        let learned: Vec<Learned> = measured
            .iter()
            .map(|m| Learned::from_chips(m, &classes))
            .collect();
        let segmentation = pipeline::segment(&session.fusion, &learned, &measured, None);
        let assignments = segmentation.assignments(session.view.unassigned_beyond);
        let results = Results {
            grid: &grid,
            classes: &session.classes,
            segmentation: &segmentation,
            assignments: &assignments,
            fine: None,
        };
        let by_page = results.csv();
        assert_eq!(by_cli, by_page);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn the_atom_modality_alone_and_fused_segments_two_phase_grains() {
        let dir = scratch("segment-atoms");
        let (tiff, labels) = simulated_grains(&dir);
        let phases = chip_phases(&labels);
        let weights = |image: f32, atoms: f32| {
            BTreeMap::from([(Modality::Image, image), (Modality::Atoms, atoms)])
        };
        let runs = [
            (
                "atoms",
                Fusion {
                    mode: FusionMode::Concatenate,
                    weights: weights(0.0, 1.0),
                },
            ),
            (
                "c1",
                Fusion {
                    mode: FusionMode::Concatenate,
                    weights: weights(1.0, 1.0),
                },
            ),
            (
                "c2",
                Fusion {
                    mode: FusionMode::Distances,
                    weights: weights(1.0, 1.0),
                },
            ),
        ];
        for (name, fusion) in runs {
            let session = dir.join(format!("{name}.json"));
            std::fs::write(&session, grains_session(&tiff, &phases, fusion).to_json()).unwrap();
            let out = dir.join(name);
            stdout(&segment(&[&tiff], &session, &out, &[]));
            let csv = std::fs::read_to_string(out.join("grains.csv")).unwrap();
            let accuracy = accuracy(&csv, &phases);
            eprintln!("{name}: accuracy {accuracy:.3} on the pure chips");
            assert!(accuracy > 0.95, "{name}: {accuracy}");
            // The report gives each class its mean column spacing, near the simulated one.
            let report = std::fs::read_to_string(out.join("grains-report.csv")).unwrap();
            let mut lines = report.lines();
            let header = lines.next().unwrap();
            assert!(
                header.ends_with(",column spacing (px),column spacing (nm)"),
                "{header}"
            );
            for (line, truth) in lines.zip(chipscope_core::simulate::GRAIN_SPACINGS_PX) {
                let spacing: f64 = line.split(',').nth_back(1).unwrap().parse().unwrap();
                assert!(
                    (spacing / truth - 1.0).abs() < 0.03,
                    "{name}: {line} ({truth} px)"
                );
            }
        }
        std::fs::remove_dir_all(dir).ok();
    }
}

mod spectra_in_segment {
    use super::segment::{class_labels, file_source, segment, session};
    use super::{scratch, stdout, testdata};
    use chipscope_core::fusion::{Fusion, FusionMode, Modality};
    use chipscope_core::session::{Session, SpectralSettings};
    use chipscope_core::spectra::modality::SpectralEncoder;
    use std::collections::BTreeMap;
    use std::path::Path;

    /// Bruker's P45 map (100 × 75 px, 22 counts per pixel) in 8-px chips: a silica matrix, an
    /// Al- and Na-rich feldspar in the lower left, and grains rich in Fe and Mg that are bright
    /// in its BSE image (element windows summed per chip with rosettasciio 0.15.0).
    const CLASSES: [(&str, &[[usize; 2]]); 3] = [
        ("silica", &[[4, 4], [4, 8], [3, 2]]),
        ("feldspar", &[[7, 0], [8, 1]]),
        ("Fe-Mg", &[[1, 6], [2, 6]]),
    ];
    /// Chips that are not supports, with the class their element counts give them.
    const EXPECTED: [([usize; 2], &str); 7] = [
        ([0, 4], "Fe-Mg"),
        ([0, 5], "Fe-Mg"),
        ([1, 10], "Fe-Mg"),
        ([6, 0], "feldspar"),
        ([7, 2], "feldspar"),
        ([5, 5], "silica"),
        ([3, 9], "silica"),
    ];

    fn p45_session(bcf: &Path, encoder: SpectralEncoder, fusion: Fusion) -> Session {
        let mut session = session(file_source(bcf));
        session.grid.chip_size = 8;
        session.classes = class_labels(&CLASSES);
        session.spectra = Some(SpectralSettings {
            source: file_source(bcf),
            encoder,
            elements: vec!["Si".into(), "Fe".into()],
        });
        session.fusion = fusion;
        session
    }

    fn spectra_only() -> Fusion {
        Fusion {
            mode: FusionMode::Distances,
            weights: BTreeMap::from([(Modality::Image, 0.0), (Modality::Spectra, 1.0)]),
        }
    }

    fn class_of(csv: &str, [row, col]: [usize; 2]) -> String {
        let line = csv
            .lines()
            .find(|l| l.starts_with(&format!("{row},{col},")))
            .unwrap();
        line.split(',').nth(4).unwrap().to_string()
    }

    /// How many of [`EXPECTED`] `csv` gets right.
    fn right(csv: &str) -> usize {
        EXPECTED
            .iter()
            .filter(|(chip, class)| class_of(csv, *chip) == *class)
            .count()
    }

    #[test]
    fn a_real_bruker_map_segments_by_its_spectra_with_either_encoder() {
        let Some(bcf) = testdata("hyperspy/bruker_data/P45_the_default_job.bcf") else {
            return;
        };
        let dir = scratch("segment-spectra");
        // spec2vec learns its words from only 108 chips of about 1 400 counts here, so it is
        // held to 5 of the 7 chips; the raw spectra get all of them.
        for (name, encoder, least) in [
            ("raw", SpectralEncoder::raw(), 7),
            ("spec2vec", SpectralEncoder::default(), 5),
        ] {
            let session = dir.join(format!("{name}.json"));
            let json = p45_session(&bcf, encoder, spectra_only()).to_json();
            std::fs::write(&session, json).unwrap();
            let out = dir.join(name);
            let printed = stdout(&segment(&[&bcf], &session, &out, &[]));
            assert!(
                printed.contains("P45_the_default_job.bcf: silica"),
                "{printed}"
            );
            let csv = std::fs::read_to_string(out.join("P45_the_default_job.csv")).unwrap();
            for (supports, class) in CLASSES
                .iter()
                .flat_map(|(c, s)| s.iter().map(move |s| (s, c)))
            {
                assert_eq!(
                    class_of(&csv, *supports),
                    *class,
                    "{name}: support {supports:?}"
                );
            }
            let right = right(&csv);
            eprintln!("{name}: {right} of {} chips right", EXPECTED.len());
            assert!(right >= least, "{name}: {right} of {}", EXPECTED.len());
            // The report's line counts per class: silica richest in Si, the Fe-Mg grains in Fe.
            let report =
                std::fs::read_to_string(out.join("P45_the_default_job-report.csv")).unwrap();
            let rows: Vec<Vec<&str>> = report.lines().map(|l| l.split(',').collect()).collect();
            let column = |name: &str| rows[0].iter().position(|h| *h == name).unwrap();
            let counts = |class: &str, line: &str| -> f64 {
                let row = rows.iter().find(|r| r[0] == class).unwrap();
                row[column(line)].parse().unwrap()
            };
            assert!(
                counts("silica", "Si Ka counts") > counts("Fe-Mg", "Si Ka counts"),
                "{report}"
            );
            assert!(
                counts("Fe-Mg", "Fe Ka counts") > counts("silica", "Fe Ka counts"),
                "{report}"
            );
        }
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn spectra_are_paired_with_images_and_missing_ones_refused() {
        let Some(bcf) = testdata("hyperspy/bruker_data/P45_the_default_job.bcf") else {
            return;
        };
        let Some(other) = testdata("hyperspy/bruker_data/test_TEM.bcf") else {
            return;
        };
        let dir = scratch("segment-spectra-refusals");
        let session = dir.join("session.json");
        let json = p45_session(&bcf, SpectralEncoder::raw(), spectra_only()).to_json();
        std::fs::write(&session, json).unwrap();
        let out = dir.join("out");
        let bcf_path = bcf.to_str().unwrap();
        let cases: [(&[&Path], Vec<&str>, &str); 2] = [
            (
                &[&bcf, &other],
                vec!["--spectra", bcf_path],
                "give one --spectra FILE per IMAGE",
            ),
            (
                &[&bcf],
                vec!["--spectra", other.to_str().unwrap()],
                "aspect ratios differ",
            ),
        ];
        for (images, extra, reason) in cases {
            let output = segment(images, &session, &out, &extra);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{stderr}");
            assert!(stderr.contains(reason), "{reason:?} not in {stderr}");
        }
        std::fs::remove_dir_all(dir).ok();
    }
}

mod merge {
    use super::segment::{example_source, session};
    use super::{chipscope, scratch, stdout};
    use chipscope_core::session::{DataSource, ReferenceChip, Session, Task};
    use std::path::{Path, PathBuf};
    use std::process::Output;

    type Cells<'a> = &'a [[usize; 2]];

    /// The example session answering task "5eed", with `labels` for vacuum, the square and the
    /// hexagonal lattice; the task itself when `labeller` is none.
    fn answer(labeller: Option<&str>, labels: [Cells; 3]) -> Session {
        let mut session = session(example_source());
        for (class, supports) in session.classes.iter_mut().zip(labels) {
            class.supports = supports.to_vec();
        }
        session.task = Some(Task {
            id: "5eed".into(),
            title: "Phases".into(),
            instructions: "Label every chip you can.".into(),
            chips: vec![],
            reference: vec![],
            labeller: labeller.map(String::from),
        });
        session
    }

    /// The task, with vacuum at [0, 0] and the square lattice at [1, 0] known, and three
    /// answers (the third names nobody, so its file names it): votes per chip (vacuum, square,
    /// hexagonal) [0, 0] 3-0-0, [0, 1] 2-1-0, [1, 0] 0-2-0, [1, 3] 0-0-3, [2, 0] 0-1-0.
    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut task = answer(None, [&[], &[], &[]]);
        task.task.as_mut().unwrap().reference = vec![
            ReferenceChip {
                chip: [0, 0],
                class: "vacuum".into(),
            },
            ReferenceChip {
                chip: [1, 0],
                class: "square lattice".into(),
            },
        ];
        let sessions = [
            ("task", task),
            (
                "ada",
                answer(Some("Ada"), [&[[0, 0], [0, 1]], &[[1, 0]], &[[1, 3]]]),
            ),
            (
                "bob",
                answer(Some("Bob"), [&[[0, 0]], &[[1, 0], [0, 1]], &[[1, 3]]]),
            ),
            (
                "cy",
                answer(Some(""), [&[[0, 0], [0, 1]], &[[2, 0]], &[[1, 3]]]),
            ),
        ];
        sessions
            .iter()
            .map(|(name, session)| {
                let path = dir.join(format!("{name}.json"));
                std::fs::write(&path, session.to_json()).unwrap();
                path
            })
            .collect()
    }

    fn merge(files: &[PathBuf], extra: &[&str]) -> Output {
        let mut args = vec!["merge"];
        args.extend(files.iter().map(|p| p.to_str().unwrap()));
        args.extend(extra);
        chipscope(&args)
    }

    #[test]
    fn three_answers_merge_into_a_report_a_consensus_session_and_votes() {
        let dir = scratch("merge");
        let (out, votes) = (dir.join("merged.json"), dir.join("votes.csv"));
        let (out_arg, votes_arg) = (out.to_str().unwrap(), votes.to_str().unwrap());
        let extra = ["--out", out_arg, "--votes", votes_arg, "--min-votes", "2"];
        let printed = stdout(&merge(&files(&dir), &extra));
        // κ = (5/6 − 43/121) / (1 − 43/121) = 347/468; per class 239/360, 167/288 and 1.
        for line in [
            "task \"Phases\" (id 5eed): 3 answers on the simulated example (256 px, seed 1), \
             64-px chips",
            "labeller  chips  agrees with the others  reference\n",
            "Ada           4  100.0 % (3 of 3)        100.0 % (2 of 2)\n",
            "Bob           4  75.0 % (3 of 4)         100.0 % (2 of 2)\n",
            "cy            4  100.0 % (2 of 2)        100.0 % (1 of 1)\n",
            "Fleiss' kappa over 4 chips labelled by 2 or more: 0.741\n",
            "  vacuum: 0.664\n  square lattice: 0.580\n  hexagonal lattice: 1.000\n",
            "consensus: 4 of 5 labelled chips (a strict majority of at least 2 votes)\n",
        ] {
            assert!(printed.contains(line), "{line:?} not in\n{printed}");
        }
        let merged = Session::parse(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let supports: Vec<_> = merged.classes.iter().map(|c| c.supports.clone()).collect();
        assert_eq!(supports, [vec![[0, 0], [0, 1]], vec![[1, 0]], vec![[1, 3]]]);
        let task = merged.task.unwrap();
        assert_eq!((task.labeller, task.reference.len()), (None, 2));
        let csv = std::fs::read_to_string(&votes).unwrap();
        assert!(
            csv.starts_with("row,col,votes_vacuum,votes_square lattice,"),
            "{csv}"
        );
        assert!(csv.contains("\n0,1,2,1,0,3,vacuum,0.667\n"), "{csv}");
        assert!(
            csv.ends_with("\n2,0,0,1,0,1,square lattice,1.000\n"),
            "{csv}"
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn answers_on_other_data_or_two_tasks_are_refused() {
        let dir = scratch("merge-errors");
        let files = files(&dir);
        let out = dir.join("merged.json");
        let mut other = Session::parse(&std::fs::read_to_string(&files[2]).unwrap()).unwrap();
        other.source = DataSource::Example { size: 256, seed: 2 };
        std::fs::write(&files[2], other.to_json()).unwrap();
        let twice = [files[0].clone(), files[1].clone(), files[0].clone()];
        let cases = [
            (
                &files[..],
                "the answer bob (by Bob) was labelled on the simulated example (256 px, seed 2), \
                 not on the simulated example (256 px, seed 1) like the task",
            ),
            (&twice[..], "task.json are both labelling tasks"),
        ];
        for (files, reason) in cases {
            let output = merge(files, &["--out", out.to_str().unwrap()]);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{stderr}");
            assert!(stderr.contains(reason), "{reason:?} not in {stderr}");
            assert!(!out.exists(), "a merge written despite the error");
        }
        std::fs::remove_dir_all(dir).ok();
    }
}

mod link {
    use super::segment::{example_source, session};
    use super::{chipscope, scratch, stdout};
    use chipscope_core::share::{self, LinkKind};

    #[test]
    fn a_session_becomes_a_link_that_commands_read_in_place_of_the_file() {
        let dir = scratch("link");
        let path = dir.join("session.json");
        let original = session(example_source());
        std::fs::write(&path, original.to_json()).unwrap();
        let printed = stdout(&chipscope(&[
            "link",
            path.to_str().unwrap(),
            "--base",
            "https://lab.example.org/chipscope/",
        ]));
        let link = printed.trim();
        assert!(link.starts_with("https://lab.example.org/chipscope/#session=1."));
        assert_eq!(
            share::from_fragment(link),
            Some((LinkKind::Session, Ok(original)))
        );
        // The link itself is read where a session file is expected.
        let again = stdout(&chipscope(&[
            "link",
            link,
            "--base",
            "https://lab.example.org/chipscope/",
        ]));
        assert_eq!(again.trim(), link);
        let no_task = chipscope(&["link", path.to_str().unwrap(), "--task"]);
        assert_eq!(no_task.status.code(), Some(1));
        let message = String::from_utf8_lossy(&no_task.stderr);
        assert!(message.contains("holds no labelling task"), "{message}");
    }
}

mod atoms {
    use super::{chipscope, scratch, stdout};

    /// The simulated example's square lattice (0.39 nm) and hexagonal lattice (0.30 nm) at
    /// 0.04 nm/px: columns found with the spacing given in nm, written as CSV; bad parameters
    /// are refused with a message.
    #[test]
    fn columns_of_the_simulated_example_are_written_as_csv() {
        let dir = scratch("atoms");
        let (tiff, csv) = (dir.join("sim.tif"), dir.join("atoms.csv"));
        let (tiff_arg, csv_arg) = (tiff.to_str().unwrap(), csv.to_str().unwrap());
        stdout(&chipscope(&[
            "simulate", "--size", "256", "--out", tiff_arg,
        ]));
        let pdf = dir.join("pdf.csv");
        let printed = stdout(&chipscope(&[
            "atoms",
            tiff_arg,
            "--spacing-nm",
            "0.3",
            "--out",
            csv_arg,
            "--chip",
            "64",
            "--pdf",
            pdf.to_str().unwrap(),
        ]));
        // 16 chips of 64 px; g(r) to r_max = min(3 × 7.5, 32) = 22.5 px in 7.5/20 px bins.
        let pdfs = std::fs::read_to_string(&pdf).unwrap();
        let header = pdfs.lines().next().unwrap();
        assert!(header.starts_with("row,col,g_0.19,g_0.56,"), "{header}");
        assert_eq!(header.split(',').count(), 2 + 60);
        assert_eq!(pdfs.lines().count(), 1 + 16);
        assert!(printed.contains("spacing 7.50 px"), "{printed}");
        let text = std::fs::read_to_string(&csv).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("x,y,amplitude,sigma_x,sigma_y,rotation,fit")
        );
        let rows: Vec<Vec<f32>> = lines
            .map(|line| {
                line.split(',')
                    .take(6)
                    .map(|v| v.parse().unwrap())
                    .collect()
            })
            .collect();
        // About a third of the 256 px field is crystal with one column per 7.5–9.75 px cell.
        assert!((150..1500).contains(&rows.len()), "{} columns", rows.len());
        assert!(
            rows.iter()
                .all(|r| (0.0..256.0).contains(&r[0]) && (0.0..256.0).contains(&r[1]))
        );

        for (flag, value, message) in [
            ("--threshold", "3", "threshold must lie in 0–1"),
            ("--spacing", "0.5", "at least 2 pixels"),
        ] {
            let output = chipscope(&["atoms", tiff_arg, flag, value, "--out", csv_arg]);
            assert_eq!(output.status.code(), Some(1));
            let error = String::from_utf8_lossy(&output.stderr);
            assert!(error.contains(message), "{error}");
        }
    }
}

mod spectra {
    use super::{chipscope, scratch, stdout, testdata};

    #[test]
    fn a_bruker_map_is_described_and_its_sum_spectrum_written() {
        let Some(bcf) = testdata("hyperspy/bruker_data/test_TEM.bcf") else {
            return;
        };
        let dir = scratch("spectra");
        let csv = dir.join("sum.csv");
        let printed = stdout(&chipscope(&[
            "spectra",
            bcf.to_str().unwrap(),
            "--bin",
            "2",
            "--sum",
            csv.to_str().unwrap(),
        ]));
        // rosettasciio 0.15.0 reads 64 × 64 × 2048 and 26 005 counts (tests/spectral_bcf.rs).
        assert!(printed.contains("format:   Bruker BCF"), "{printed}");
        assert!(printed.contains("64 × 64 px × 1024 channels"), "{printed}");
        assert!(printed.contains("26005 in total"), "{printed}");
        assert!(printed.contains("4.515 keV (Ti Ka"), "{printed}");
        assert!(printed.contains("image:    HAADF, 64 × 64 px"), "{printed}");
        let sum = std::fs::read_to_string(&csv).unwrap();
        assert_eq!(sum.lines().count(), 1 + 1024);
        let total: f64 = sum
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap().parse::<f64>().unwrap())
            .sum();
        assert_eq!(total, 26005.0);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn images_and_lone_ripple_headers_are_refused_with_a_reason() {
        let dir = scratch("spectra-errors");
        let tiff = dir.join("sim.tif");
        stdout(&chipscope(&[
            "simulate",
            "--size",
            "64",
            "--out",
            tiff.to_str().unwrap(),
        ]));
        let rpl = dir.join("map.rpl");
        std::fs::write(&rpl, "width 2\nheight 2\ndepth 4\n").unwrap();
        for (file, reason) in [
            (
                &tiff,
                "this TIFF file holds images but no spectrum image or spectrum",
            ),
            (&rpl, "its .raw data is needed"),
        ] {
            let output = chipscope(&["spectra", file.to_str().unwrap()]);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{stderr}");
            assert!(stderr.contains(reason), "{reason:?} not in {stderr}");
        }
        std::fs::remove_dir_all(dir).ok();
    }
}

mod limits {
    use chipscope_cli::files::open_file;
    use chipscope_core::formats::{DecodeError, Limits, open};
    use std::path::Path;

    /// An MRC file of `width` × `height` 4-bit pixels (mode 101), all 0: half a byte a pixel.
    fn packed_mrc(width: usize, height: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; 1024];
        for (index, word) in [width, height, 1, 101].into_iter().enumerate() {
            bytes[4 * index..4 * index + 4].copy_from_slice(&(word as i32).to_le_bytes());
        }
        bytes[208..216].copy_from_slice(b"MAP DD\0\0");
        bytes.resize(1024 + width.div_ceil(2) * height, 0);
        bytes
    }

    #[test]
    fn an_image_above_the_browser_cap_opens_natively_only() {
        // 8200 × 8200 = 67.2 megapixels, just above the page's 8192 × 8192; 34 MB on disk.
        let bytes = packed_mrc(8200, 8200);
        let refused = open("big.mrc", &bytes, &Limits::default()).unwrap_err();
        assert_eq!(
            refused,
            DecodeError::TooLarge {
                width: 8200,
                height: 8200,
                limit: Limits::BROWSER.max_pixels
            }
        );
        assert!(refused.to_string().contains("67 megapixels"), "{refused}");
        let opened = open_file(Path::new("big.mrc"), &bytes).unwrap();
        let image = &opened.dataset.image;
        assert_eq!((image.width(), image.height()), (8200, 8200));
        drop(opened);
        // Above the native cap too, the header alone is refused, naming that cap.
        let huge = &packed_mrc(40_000, 1)[..1024];
        let mut header = huge.to_vec();
        header[4..8].copy_from_slice(&40_000i32.to_le_bytes());
        let error = open_file(Path::new("huge.mrc"), &header).unwrap_err();
        assert!(
            format!("{error:#}").contains("more than the 1073 megapixels"),
            "{error:#}"
        );
    }
}

mod series {
    use super::segment::{
        CLASSES_32, class_labels, dense_session_32, example_source, segment, session,
    };
    use super::{chipscope, scratch, stdout};
    use chipscope_core::formats::tiff::write_series_grey16;
    use chipscope_core::simulate;
    use std::path::Path;
    use std::process::Command;
    use std::time::Duration;

    /// Frames of the movie: 32-px chips on 256² frames, 64 chips each.
    const SIZE: &str = "256";

    fn simulate(dir: &Path, frames: usize) -> (std::path::PathBuf, std::path::PathBuf) {
        let (movie, truth) = (
            dir.join(format!("growth{frames}.tif")),
            dir.join(format!("truth{frames}.csv")),
        );
        stdout(&chipscope(&[
            "simulate",
            "--frames",
            &frames.to_string(),
            "--size",
            SIZE,
            "--out",
            movie.to_str().unwrap(),
            "--labels",
            truth.to_str().unwrap(),
        ]));
        (movie, truth)
    }

    /// Column `name` of a CSV with a header row, as numbers (empty cells as NaN).
    fn column(csv: &str, name: &str) -> Vec<f64> {
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let index = header
            .iter()
            .position(|h| h.trim_matches('"') == name)
            .unwrap();
        lines
            .map(|line| {
                line.split(',')
                    .nth(index)
                    .unwrap()
                    .parse()
                    .unwrap_or(f64::NAN)
            })
            .collect()
    }

    /// Runs `chipscope ARGS`, its output into files in `dir`: what it printed, and the most
    /// memory it allocated (Linux's RssAnon, polled until it exits), MiB. Anonymous memory is
    /// what the process holds; the movie's mapped pages are page cache the kernel can drop.
    fn printed_and_peak_mib(dir: &Path, args: &[&str]) -> (String, f64) {
        let (out, err) = (dir.join("stdout.txt"), dir.join("stderr.txt"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_chipscope"))
            .env("CHIPSCOPE_WEIGHTS", super::WEIGHTS)
            .args(args)
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let status = format!("/proc/{}/status", child.id());
        let mut peak_kib: f64 = 0.0;
        while child.try_wait().unwrap().is_none() {
            let text = std::fs::read_to_string(&status).unwrap_or_default();
            let anon = text.lines().find_map(|l| l.strip_prefix("RssAnon:"));
            if let Some(kib) =
                anon.and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let stderr = std::fs::read_to_string(&err).unwrap();
        assert!(child.wait().unwrap().success(), "{stderr}");
        (std::fs::read_to_string(&out).unwrap(), peak_kib / 1024.0)
    }

    /// A 300-frame movie (0.5 s apart) of the square lattice growing into the hexagonal one is
    /// segmented frame by frame with a session labelled on the example; each lattice's fraction
    /// per frame follows the simulation's true fraction, and the peak memory of the whole run
    /// is that of a 20-frame run: frames are decoded one at a time.
    #[test]
    fn a_movie_segments_frame_by_frame_in_bounded_memory_and_follows_the_true_fractions() {
        let dir = scratch("series");
        let (movie, truth) = simulate(&dir, 300);
        let (short, _) = simulate(&dir, 20);
        let session_path = dense_session_32(&dir);
        let run = |movie: &Path, out: &Path| {
            let [movie, session, out] = [movie, &session_path, out].map(|p| p.to_str().unwrap());
            printed_and_peak_mib(
                &dir,
                &["segment", movie, "--session", session, "--out", out],
            )
        };
        let out = dir.join("out");
        let (_, few) = run(&short, &dir.join("few"));
        let (printed, many) = run(&movie, &out);
        println!("peak memory allocated: 20 frames {few:.0} MiB, 300 frames {many:.0} MiB");
        assert!(
            many < few * 1.1 + 8.0,
            "20 frames {few:.0} MiB, 300 frames {many:.0} MiB"
        );
        assert!(
            printed.contains("growth300.tif: 300 of 300 frames segmented; frame 1 → 300"),
            "{printed}"
        );
        let found = std::fs::read_to_string(out.join("growth300-fractions.csv")).unwrap();
        let truth = std::fs::read_to_string(truth).unwrap();
        assert_eq!(column(&found, "time_s")[299], 149.5);
        for class in ["square lattice", "hexagonal lattice"] {
            let name = format!("{class} fraction");
            let (ours, true_) = (column(&found, &name), column(&truth, &name));
            let worst = ours
                .iter()
                .zip(&true_)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            let mean = ours
                .iter()
                .zip(&true_)
                .map(|(a, b)| (a - b).abs())
                .sum::<f64>()
                / 300.0;
            println!("{class}: mean |error| {mean:.3}, worst {worst:.3}");
            assert!(
                mean < 0.03 && worst < 0.1,
                "{class}: mean {mean}, worst {worst}"
            );
        }
        assert!(
            std::fs::read_to_string(out.join("growth300-fractions.svg"))
                .unwrap()
                .contains("over 300 frames")
        );
        // No per-frame files without --each-frame.
        assert!(!out.join("growth300-frame0001.csv").exists());

        std::fs::remove_dir_all(dir).ok();
    }

    /// `--each-frame` writes every frame's files; a damaged frame is reported, the others still
    /// segmented, and the command fails.
    #[test]
    fn each_frame_writes_every_frames_files_and_a_bad_frame_does_not_stop_the_others() {
        let dir = scratch("series-frames");
        let (movie, _) = simulate(&dir, 3);
        let session_path = dir.join("session.json");
        let mut labelled = session(example_source());
        labelled.grid.chip_size = 32;
        labelled.classes = class_labels(&CLASSES_32);
        std::fs::write(&session_path, labelled.to_json()).unwrap();
        let out = dir.join("out");
        stdout(&segment(&[&movie], &session_path, &out, &["--each-frame"]));
        for frame in 1..=3 {
            assert!(
                out.join(format!("growth3-frame{frame:04}-labels.png"))
                    .is_file()
            );
        }
        // A movie whose second frame is smaller than the others.
        let frames = [256, 128, 256].map(|size| simulate::growth(size, 1, 0, 3).dataset.image);
        let odd = dir.join("odd.tif");
        let file = std::fs::File::create(&odd).unwrap();
        let calibration = simulate::growth(16, 1, 0, 3).dataset.calibration;
        write_series_grey16(file, &frames, 3, calibration.as_ref(), None).unwrap();
        let output = segment(&[&odd], &session_path, &dir.join("odd"), &[]);
        let printed = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("odd frame 2/3: this TIFF file uses something Chipscope cannot read yet: frame 2 is 128 × 128 px, not 256 × 256 px"),
            "{stderr}"
        );
        assert!(
            printed.contains("2 of 3 frames segmented, 1 failed"),
            "{printed}"
        );
        std::fs::remove_dir_all(dir).ok();
    }
}

mod magnifications {
    use super::segment::{dense_session_32, segment};
    use super::{chipscope, scratch, stdout};
    use std::collections::HashMap;
    use std::path::Path;

    /// Class per chip ("row,col") of a chip CSV.
    fn classes(path: &Path) -> HashMap<(usize, usize), String> {
        let csv = std::fs::read_to_string(path).unwrap();
        csv.lines()
            .skip(1)
            .map(|line| {
                let cells: Vec<&str> = line.split(',').collect();
                let cell = (cells[0].parse().unwrap(), cells[1].parse().unwrap());
                (cell, cells[4].to_string())
            })
            .collect()
    }

    /// The same field (20.48 nm) at 0.04 nm/px (512², seed 1) and at 0.02 nm/px (1024², seed
    /// 2), segmented with a session labelled on the example at 0.04 nm/px (32-px chips, 1.28
    /// nm): the second is resampled to 0.04 nm/px, and its 16 × 16 chips get the first's classes
    /// (measured: 252 of 256, 98 %; at least 240 asked). Chipped in pixels instead
    /// (`--chip-px`), each 32-px chip covers a quarter of the area and the lattices look twice
    /// as coarse: 294 of 1024 chips (29 %) agree. An uncalibrated image is refused.
    #[test]
    fn a_session_serves_two_magnifications_by_resampling() {
        let dir = scratch("magnifications");
        let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
        stdout(&chipscope(&[
            "simulate",
            "--size",
            "512",
            "--out",
            &path("low.tif"),
        ]));
        stdout(&chipscope(&[
            "simulate",
            "--size",
            "1024",
            "--pixel-nm",
            "0.02",
            "--seed",
            "2",
            "--out",
            &path("high.tif"),
        ]));
        let session_path = dense_session_32(&dir);
        let images = [dir.join("low.tif"), dir.join("high.tif")];
        let images: Vec<&Path> = images.iter().map(|p| p.as_path()).collect();
        let printed = stdout(&segment(&images, &session_path, &dir.join("out"), &[]));
        assert!(
            printed.contains(
                "high.tif: resampled from 0.02 nm/px (1024 × 1024 px) to 0.04 nm/px (512 × 512 px)"
            ),
            "{printed}"
        );
        let low = classes(&dir.join("out/low.csv"));
        let high = classes(&dir.join("out/high.csv"));
        assert_eq!((low.len(), high.len()), (256, 256));
        let agree = low
            .iter()
            .filter(|(cell, class)| high[*cell] == **class)
            .count();
        println!("resampled: {agree} of 256 chips agree");
        assert!(agree >= 240, "{agree} of 256 chips agree");

        let pixel_chips = dir.join("px");
        stdout(&segment(
            &images[1..],
            &session_path,
            &pixel_chips,
            &["--chip-px"],
        ));
        let high_px = classes(&pixel_chips.join("high.csv"));
        assert_eq!(high_px.len(), 32 * 32);
        let agree_px = high_px
            .iter()
            .filter(|((r, c), class)| low[&(r / 2, c / 2)] == **class)
            .count();
        println!("in pixels: {agree_px} of 1024 chips agree");
        assert!(
            (agree_px as f64 / 1024.0) < (agree as f64 / 256.0) - 0.1,
            "{agree_px} of 1024"
        );

        // An uncalibrated image: refused, with the way out.
        let png = dir.join("plain.png");
        image::GrayImage::from_pixel(256, 256, image::Luma([90]))
            .save(&png)
            .unwrap();
        let output = segment(&[&png], &session_path, &dir.join("plain"), &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("has no length calibration, and the session's chips are 1.28 nm (32 px at 0.04 nm/px)"), "{stderr}");
        assert!(stderr.contains("--chip-px"), "{stderr}");
        std::fs::remove_dir_all(dir).ok();
    }
}

mod projects {
    use super::segment::{class_labels, example_source, file_source, segment, session};
    use super::{chipscope, scratch, stdout};
    use chipscope_core::display::DisplayRange;
    use chipscope_core::encoders::dense::{DenseSettings, EmbeddingMode};
    use chipscope_core::fusion::Modality;
    use chipscope_core::labels::ImageChip;
    use chipscope_core::session::{DataSource, Session};
    use chipscope_core::simulate::CLASS_NAMES;
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};

    /// A class's supports on a project's first image and on its second.
    type Split<'a> = (&'a str, &'a [[usize; 2]], &'a [[usize; 2]]);

    /// Supports on the 16 × 16 grid of 32-px chips (1.28 nm) laid on the simulated field at
    /// 0.04 nm/px: the square lattice only on the first image, the hexagonal only on the
    /// second.
    const SUPPORTS: [Split; 4] = [
        ("vacuum", &[[0, 1]], &[[0, 10]]),
        ("square lattice", &[[6, 1], [8, 3]], &[]),
        ("hexagonal lattice", &[], &[[6, 14], [8, 12]]),
        ("amorphous", &[[15, 4]], &[[15, 10]]),
    ];

    /// `session` with `supports` split between its first image and `second`, a project image.
    fn project(mut session: Session, second: DataSource, supports: &[Split]) -> Session {
        let here: Vec<(&str, &[[usize; 2]])> = supports.iter().map(|&(n, h, _)| (n, h)).collect();
        session.classes = class_labels(&here);
        for (class, (_, _, there)) in session.classes.iter_mut().zip(supports) {
            class.elsewhere = there
                .iter()
                .map(|&chip| ImageChip {
                    image: second.identity(),
                    chip,
                })
                .collect();
        }
        session.images = vec![second];
        session
    }

    /// `chipscope simulate ARGS --out DIR/NAME.tif --labels DIR/NAME-truth.png`.
    fn simulate(dir: &Path, name: &str, args: &[&str]) -> (PathBuf, PathBuf) {
        let (tiff, truth) = (
            dir.join(format!("{name}.tif")),
            dir.join(format!("{name}-truth.png")),
        );
        let mut all = vec!["simulate"];
        all.extend(args);
        all.extend(["--out", tiff.to_str().unwrap()]);
        all.extend(["--labels", truth.to_str().unwrap()]);
        stdout(&chipscope(&all));
        (tiff, truth)
    }

    /// The region most of each chip's pixels lie in, on a `side × side` grid of the label map at
    /// `path`, by (row, col).
    fn true_regions(path: &Path, side: usize) -> HashMap<(usize, usize), &'static str> {
        let truth = image::open(path).unwrap().to_luma8();
        let chip = truth.width() as usize / side;
        let mut regions = HashMap::new();
        for (row, col) in (0..side).flat_map(|r| (0..side).map(move |c| (r, c))) {
            let mut counts = [0usize; 4];
            for y in row * chip..(row + 1) * chip {
                for x in col * chip..(col + 1) * chip {
                    counts[truth.get_pixel(x as u32, y as u32).0[0] as usize] += 1;
                }
            }
            let region = (0..4).max_by_key(|&r| counts[r]).unwrap();
            regions.insert((row, col), CLASS_NAMES[region]);
        }
        regions
    }

    /// How many chips of the chip CSV at `path` have their true region.
    fn right(path: &Path, truth: &HashMap<(usize, usize), &str>) -> usize {
        let csv = std::fs::read_to_string(path).unwrap();
        csv.lines()
            .skip(1)
            .filter(|line| {
                let cells: Vec<&str> = line.split(',').collect();
                let cell = (cells[0].parse().unwrap(), cells[1].parse().unwrap());
                truth[&cell] == cells[4]
            })
            .count()
    }

    /// Chips per row name of the lines of a project report whose image is `image`.
    fn report_chips(csv: &str, image: &str) -> HashMap<String, u64> {
        csv.lines()
            .filter_map(|line| line.strip_prefix(&format!("{image},")))
            .map(|line| {
                let cells: Vec<&str> = line.split(',').collect();
                (cells[0].to_string(), cells[1].parse().unwrap())
            })
            .collect()
    }

    /// Chips per class (and unassigned) of a summary JSON.
    fn summary_chips(path: &Path) -> HashMap<String, u64> {
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(
            summary.get("supports").is_none(),
            "no leave-one-out: {summary}"
        );
        let shares = summary["classes"].as_array().unwrap().iter();
        shares
            .chain([&summary["unassigned"]])
            .map(|s| {
                (
                    s["name"].as_str().unwrap().into(),
                    s["chips"].as_u64().unwrap(),
                )
            })
            .filter(|(name, chips)| name != "unassigned" || *chips > 0)
            .collect()
    }

    /// A project of the same field at 0.04 nm/px (512², seed 1) and 0.02 nm/px (1024², seed 2),
    /// the square lattice's supports on the first only and the hexagonal lattice's on the second
    /// only, labelled with dense MobileNetV2 `features.6` ×2 on 32-px chips. The second image is
    /// resampled to 0.04 nm/px to learn from and to segment, each image is embedded once, and
    /// most chips get their true region (the region most of their pixels lie in). Measured: 204
    /// of 256 on the first (80 %: hexagonal chips near the interface and the edges taken for
    /// the square lattice, as the resampled image's lattices are less noisy than the first's)
    /// and 245 of 256 on the second (96 %); with every class's supports on both images, 247 and
    /// 252. project-report.csv holds each image's rows and the pooled ones, their sums.
    #[test]
    fn a_two_image_project_learns_from_both_and_pools_their_reports() {
        let dir = scratch("project");
        let (low, low_truth) = simulate(&dir, "low", &["--size", "512"]);
        let (high, high_truth) = simulate(
            &dir,
            "high",
            &["--size", "1024", "--pixel-nm", "0.02", "--seed", "2"],
        );
        let mut first = session(file_source(&low));
        first.grid.chip_size = 32;
        first.encoder.mode = EmbeddingMode::Dense(DenseSettings {
            stage: "features.6".into(),
            scale: 2,
        });
        let example = chipscope_core::simulate::heterostructure(512, 1).dataset;
        let range = DisplayRange::of(&example.image, first.display.stretch);
        first.display.range = [range.low, range.high];
        let session = project(first, file_source(&high), &SUPPORTS);
        let session_path = dir.join("session.json");
        std::fs::write(&session_path, session.to_json()).unwrap();
        let out = dir.join("out");
        let output = segment(&[&low, &high], &session_path, &out, &[]);
        let printed = stdout(&output);
        let stderr = String::from_utf8_lossy(&output.stderr);
        for name in ["low.tif", "high.tif"] {
            let maps = stderr
                .lines()
                .filter(|line| line.contains(&format!("{name}: features.6 map")))
                .count();
            assert_eq!(maps, 1, "{name} embedded once: {stderr}");
        }
        assert!(
            printed.contains("high.tif: resampled from 0.02 nm/px"),
            "{printed}"
        );
        assert!(!printed.contains("supports:"), "{printed}");
        let truth = [(low_truth, "low"), (high_truth, "high")];
        let agree: Vec<usize> = truth
            .iter()
            .map(|(truth, stem)| right(&out.join(format!("{stem}.csv")), &true_regions(truth, 16)))
            .collect();
        println!("true regions: {agree:?} of 256 chips");
        assert!(
            agree[0] >= 196 && agree[1] >= 237,
            "{agree:?} of 256 chips have their true region (measured 204 and 245)"
        );

        let csv = std::fs::read_to_string(out.join("project-report.csv")).unwrap();
        assert!(
            csv.starts_with("image,class,chips,fraction,area (nm²)\n"),
            "{csv}"
        );
        let (low_chips, high_chips) = (
            summary_chips(&out.join("low-summary.json")),
            summary_chips(&out.join("high-summary.json")),
        );
        assert_eq!(report_chips(&csv, "low.tif"), low_chips, "{csv}");
        assert_eq!(report_chips(&csv, "high.tif"), high_chips, "{csv}");
        let pooled = report_chips(&csv, "all images");
        assert_eq!(pooled.values().sum::<u64>(), 512, "{csv}");
        for (name, chips) in &pooled {
            let each = low_chips.get(name).unwrap_or(&0) + high_chips.get(name).unwrap_or(&0);
            assert_eq!(*chips, each, "{name}: {csv}");
        }
        assert!(printed.contains("all 2 images: vacuum "), "{printed}");
        std::fs::remove_dir_all(dir).ok();
    }

    /// A project whose second image is the simulated example (simulated again, its support
    /// chips alone embedded) and which weights the atoms: classified by the image alone, so
    /// the atom settings it lacks are not needed, and the hexagonal lattice, supported only
    /// on the second image, is found on the first.
    #[test]
    fn a_project_image_that_is_the_example_is_simulated_again() {
        let dir = scratch("project-example");
        let tiff = dir.join("sim.tif");
        stdout(&chipscope(&[
            "simulate",
            "--size",
            "256",
            "--out",
            tiff.to_str().unwrap(),
        ]));
        let supports: [Split; 3] = [
            ("vacuum", &[[0, 0]], &[]),
            ("square lattice", &[[1, 0], [2, 0]], &[]),
            ("hexagonal lattice", &[], &[[1, 3], [2, 3]]),
        ];
        let second = DataSource::Example { size: 256, seed: 2 };
        let mut session = project(session(example_source()), second, &supports);
        session.fusion.weights.insert(Modality::Atoms, 1.0);
        let session_path = dir.join("session.json");
        std::fs::write(&session_path, session.to_json()).unwrap();
        let out = dir.join("out");
        let printed = stdout(&segment(&[&tiff], &session_path, &out, &[]));
        assert!(
            printed.contains("a project of 2 images: its chips are classified by the image alone, not by the atom modality it weights"),
            "{printed}"
        );
        let csv = std::fs::read_to_string(out.join("sim.csv")).unwrap();
        for cell in ["1,3,", "2,3,"] {
            let line = csv.lines().find(|l| l.starts_with(cell)).unwrap();
            assert_eq!(line.split(',').nth(4), Some("hexagonal lattice"), "{csv}");
        }
        assert!(
            !out.join("project-report.csv").exists(),
            "one image pools nothing"
        );
        std::fs::remove_dir_all(dir).ok();
    }

    /// A project image that is neither among the images nor next to the session is named with
    /// the way out; supports on an image the session does not list are refused when it is read.
    #[test]
    fn missing_or_unlisted_project_images_are_refused() {
        let dir = scratch("project-errors");
        let other = DataSource::File {
            name: "elsewhere.dm4".into(),
            size: 1234,
            sha256: "cd".repeat(32),
        };
        let supports: [Split; 3] = [
            ("vacuum", &[[0, 0]], &[]),
            ("square lattice", &[[1, 0]], &[[2, 0]]),
            ("hexagonal lattice", &[[1, 3]], &[]),
        ];
        let missing = project(session(example_source()), other, &supports);
        let mut unlisted = missing.clone();
        unlisted.images.clear();
        let cases = [
            (
                missing.to_json(),
                vec![
                    "project image elsewhere.dm4 (0.0 MB, sha256 cdcdcdcdcdcd…)",
                    "neither among the images nor next to",
                    "give it as one of the IMAGEs or put it next to the session file",
                ],
            ),
            (
                unlisted.to_json(),
                vec![
                    "cannot use session",
                    "a support lies on \"sha256:cdcd",
                    "which is not one of the project's other images",
                ],
            ),
        ];
        let out = dir.join("out");
        for (text, reasons) in cases {
            let session = dir.join("session.json");
            std::fs::write(&session, text).unwrap();
            let output = segment(&[&dir.join("sim.tif")], &session, &out, &[]);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{stderr}");
            for reason in reasons {
                assert!(stderr.contains(reason), "{reason:?} not in {stderr}");
            }
            assert!(!out.exists(), "results written for a refused session");
        }
        std::fs::remove_dir_all(dir).ok();
    }
}

mod watch {
    use super::segment::dense_session_32;
    use super::{chipscope, scratch, stdout};
    use std::path::Path;
    use std::process::{Child, Command};
    use std::time::{Duration, Instant};

    /// `chipscope simulate` of the example at `seed` into `path`.
    fn simulate(path: &Path, seed: &str) {
        stdout(&chipscope(&[
            "simulate",
            "--size",
            "256",
            "--seed",
            seed,
            "--out",
            path.to_str().unwrap(),
        ]));
    }

    /// Waits until `path` has `rows` rows under its header, or fails after a minute.
    fn wait_for_rows(path: &Path, rows: usize, child: &mut Child) -> String {
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.lines().count() > rows {
                return text;
            }
            let exited = child.try_wait().unwrap();
            if exited.is_some() || started.elapsed() > Duration::from_secs(60) {
                child.kill().ok();
                panic!("no {rows} rows in {} ({exited:?}): {text}", path.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A file in the folder at the start and one written later are segmented, each once,
    /// into their own files and a row of watch-fractions.csv; other files are left alone.
    #[test]
    fn a_watched_folder_is_segmented_as_files_arrive() {
        let dir = scratch("watch");
        let folder = dir.join("microscope");
        std::fs::create_dir_all(&folder).unwrap();
        simulate(&folder.join("first.tif"), "3");
        std::fs::write(folder.join("notes.txt"), "not an image").unwrap();
        let session = dense_session_32(&dir);
        let out = dir.join("out");
        let mut child = Command::new(env!("CARGO_BIN_EXE_chipscope"))
            .env("CHIPSCOPE_WEIGHTS", super::WEIGHTS)
            .args(["segment", "--session", session.to_str().unwrap()])
            .args(["--out", out.to_str().unwrap(), "--interval", "0.2"])
            .args(["--watch", folder.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let table = out.join("watch-fractions.csv");
        let first = wait_for_rows(&table, 1, &mut child);
        // Written elsewhere, then moved in complete, as acquisition software often does.
        simulate(&dir.join("second.tif"), "4");
        std::fs::rename(dir.join("second.tif"), folder.join("second.tif")).unwrap();
        let both = wait_for_rows(&table, 2, &mut child);
        std::thread::sleep(Duration::from_millis(600));
        let after = std::fs::read_to_string(&table).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            first.starts_with("frame,time_s,file,vacuum fraction,"),
            "{first}"
        );
        let files: Vec<&str> = both
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(2).unwrap())
            .collect();
        assert_eq!(files, ["first.tif", "second.tif"]);
        assert_eq!(after, both, "each file is taken once");
        for stem in ["first", "second"] {
            assert!(out.join(format!("{stem}.csv")).is_file(), "{stem}.csv");
        }
        assert!(out.join("watch-fractions.svg").is_file());
        assert!(!out.join("notes.csv").exists());
        // Each row's square-lattice fraction is the one the file's own summary gives.
        let report = std::fs::read_to_string(out.join("second-report.csv")).unwrap();
        let square = report
            .lines()
            .find(|l| l.starts_with("square lattice,"))
            .unwrap();
        let fraction = square.split(',').nth(2).unwrap();
        let row = both.lines().nth(2).unwrap();
        assert_eq!(row.split(',').nth(4).unwrap(), fraction, "{both}");
        std::fs::remove_dir_all(dir).ok();
    }
}
