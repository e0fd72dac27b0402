//! The fuzz targets: for each untrusted input Chipscope reads — every file format, weight files,
//! session files, share links, crowd answers, `.npy` arrays, and the class reports and frame
//! summaries the Python package passes between machines — one function that feeds raw
//! bytes to the same entry point the page and the CLI use, and then to what they do next with
//! the result.
//!
//! The libFuzzer binaries in `fuzz/` (cargo-fuzz, nightly) each call [`run`] with their name;
//! the normal test suite replays `fuzz/regressions/<target>/` through the same functions on
//! stable Rust, so every input a fuzzer once crashed on stays fixed. A target must never panic,
//! whatever the bytes: errors are the expected outcome for almost every input.

use chipscope_core::crowd::{self, Answer};
use chipscope_core::formats::series::Series;
use chipscope_core::formats::{self, Holds, Limits, READERS, ripple, tia};
use chipscope_core::report::{ClassReport, ProjectReport};
use chipscope_core::results::Summary;
use chipscope_core::series::FractionTable;
use chipscope_core::session::{Autosave, Session};
use chipscope_core::{npy, share, weights};

/// One fuzz target: its name (the binary in `fuzz/fuzz_targets/` and the folder of its
/// corpora) and what it does with an input.
#[derive(Clone, Copy)]
pub struct Target {
    /// The target's name.
    pub name: &'static str,
    /// Feeds one input to the code under test.
    pub run: fn(&[u8]),
}

/// Every fuzz target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "open",
        run: open,
    },
    Target {
        name: "png",
        run: |data| read_as("PNG", data),
    },
    Target {
        name: "jpeg",
        run: |data| read_as("JPEG", data),
    },
    Target {
        name: "tiff",
        run: |data| read_as("TIFF", data),
    },
    Target {
        name: "dm",
        run: |data| read_as("DigitalMicrograph", data),
    },
    Target {
        name: "emd_berkeley",
        run: |data| read_as("Berkeley EMD", data),
    },
    Target {
        name: "tia",
        run: |data| read_as("FEI TIA", data),
    },
    Target {
        name: "tia_emi",
        run: tia_with_emi,
    },
    Target {
        name: "jeol_img",
        run: |data| read_as("JEOL IMG", data),
    },
    Target {
        name: "mrc",
        run: |data| read_as("MRC", data),
    },
    Target {
        name: "emd_velox",
        run: |data| read_as("Velox EMD", data),
    },
    Target {
        name: "bcf",
        run: |data| read_as("Bruker BCF", data),
    },
    Target {
        name: "pts",
        run: |data| read_as("JEOL PTS", data),
    },
    Target {
        name: "msa",
        run: |data| read_as("EMSA/MSA", data),
    },
    Target {
        name: "series",
        run: series,
    },
    Target {
        name: "ripple_pair",
        run: ripple_pair,
    },
    Target {
        name: "pth",
        run: pth,
    },
    Target {
        name: "safetensors",
        run: safetensors,
    },
    Target {
        name: "npy",
        run: npy,
    },
    Target {
        name: "session",
        run: session,
    },
    Target {
        name: "autosave",
        run: autosave,
    },
    Target {
        name: "share_link",
        run: share_link,
    },
    Target {
        name: "crowd_merge",
        run: crowd_merge,
    },
    Target {
        name: "class_reports",
        run: class_reports,
    },
    Target {
        name: "fraction_frames",
        run: fraction_frames,
    },
];

/// Runs the target named `name` on `data`.
///
/// # Panics
/// When no target has that name (a typo in a fuzz binary), or when the code under test panics:
/// the bug the fuzzer is looking for.
pub fn run(name: &str, data: &[u8]) {
    let target = TARGETS.iter().find(|target| target.name == name);
    (target
        .unwrap_or_else(|| panic!("no fuzz target is named {name:?}"))
        .run)(data);
}

/// Any format, recognised by content as the page and `chipscope info` do, opened as an image
/// and for its spectra.
fn open(data: &[u8]) {
    let limits = Limits::default();
    let _ = formats::open("input", data, &limits);
    let _ = formats::decode_spectral(data, 1, &limits);
}

/// One reader, whether or not it recognises the bytes: its image, and its spectra unbinned and
/// binned, when it holds any.
fn read_as(format: &str, data: &[u8]) {
    let reader = READERS.iter().find(|reader| reader.format_name() == format);
    let reader = reader.unwrap_or_else(|| panic!("no reader is named {format:?}"));
    if reader.holds() != Holds::Spectra {
        let _ = reader.read_image(data);
    }
    if reader.holds() != Holds::Images {
        let _ = reader.read_spectra(data, 1);
        let _ = reader.read_spectra(data, 3);
    }
}

/// Any file opened as a frame series, as `chipscope segment` and the page's Frames panel do:
/// its frame count and times, and its first, second and last frames decoded.
fn series(data: &[u8]) {
    let Ok(Some(mut series)) = Series::open(data, &Limits::default()) else {
        return;
    };
    let last = series.len() - 1;
    for index in [0, 1, last, last + 1] {
        let _ = series.time_s(index);
        let _ = series.frame(index);
    }
}

/// Splits an input in two: a little-endian `u32` length, that many bytes (fewer when the input
/// is shorter), and the rest. Seeds of the two-file targets are made this way.
pub fn split_pair(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((length, rest)) = data.split_first_chunk::<4>() else {
        return (data, &[]);
    };
    let length = (u32::from_le_bytes(*length) as usize).min(rest.len());
    rest.split_at(length)
}

/// A TIA `.ser` (first) with its `.emi` (second), as image and as spectra.
fn tia_with_emi(data: &[u8]) {
    let (ser, emi) = split_pair(data);
    let limits = Limits::default();
    let _ = tia::read_image_with_emi("input_1.ser", ser, emi, &limits);
    let _ = tia::read_spectra_with_emi("input_1.ser", ser, emi, 1, &limits);
}

/// A ripple header (first) with its raw data (second).
fn ripple_pair(data: &[u8]) {
    let (rpl, raw) = split_pair(data);
    let _ = ripple::read_pair(rpl, raw, 1, &Limits::default());
}

/// A PyTorch checkpoint (zip, or the legacy pickles).
fn pth(data: &[u8]) {
    let _ = weights::read_pth(data);
}

/// A safetensors file.
fn safetensors(data: &[u8]) {
    let _ = weights::read_safetensors(data);
}

/// An `.npy` array of `f32`.
fn npy(data: &[u8]) {
    let _ = npy::read_f32(data);
}

/// A session file, then what opening it does: its labels, its grid on its own image, and the
/// link that shares it. A session that parses must write JSON that parses again.
fn session(data: &[u8]) {
    let Some(session) = text(data).and_then(|text| Session::parse(text).ok()) else {
        return;
    };
    use_session(&session);
    let again = Session::parse(&session.to_json());
    assert!(
        again.is_ok(),
        "a parsed session wrote JSON it cannot read: {again:?}"
    );
}

/// An autosave entry of the page's local storage.
fn autosave(data: &[u8]) {
    if let Some(saved) = text(data).and_then(|text| Autosave::parse(text).ok()) {
        use_session(&saved.session);
    }
}

/// A share link, `#session=` or `#task=`, or any address holding one.
fn share_link(data: &[u8]) {
    let link = String::from_utf8_lossy(data);
    if let Some((_, Ok(session))) = share::from_fragment(&link) {
        use_session(&session);
    }
}

/// Crowd answers separated by NUL bytes; the first is the coordinator's task when its task
/// names no labeller, as `chipscope merge` sorts them. Merged, then turned into the consensus
/// session and the votes table.
fn crowd_merge(data: &[u8]) {
    let mut sessions = data
        .split(|&byte| byte == 0)
        .filter_map(|part| Session::parse(text(part)?).ok());
    let Some(first) = sessions.next() else {
        return;
    };
    let is_task = first
        .task
        .as_ref()
        .is_some_and(|task| task.labeller.is_none());
    let (task, answers): (Option<Session>, Vec<Session>) = match is_task {
        true => (Some(first), sessions.collect()),
        false => (None, std::iter::once(first).chain(sessions).collect()),
    };
    let answers: Vec<Answer> = answers
        .into_iter()
        .enumerate()
        .map(|(index, session)| Answer {
            fallback_name: format!("answer{index}"),
            session,
        })
        .collect();
    if let Ok(merged) = crowd::merge(&answers, task.as_ref()) {
        let base = task.as_ref().unwrap_or(&answers[0].session);
        for min_votes in [1, 2] {
            use_session(&merged.to_session(base, min_votes));
        }
        let _ = merged.votes_csv();
    }
}

/// Class reports of images segmented apart (NUL-separated JSON, as the Python package's
/// `segment_file` returns them), pooled into a project report as `chipscope.project_report`
/// does, then written as CSV.
fn class_reports(data: &[u8]) {
    let reports: Option<Vec<(String, ClassReport)>> = data
        .split(|&byte| byte == 0)
        .enumerate()
        .map(|(index, part)| {
            Some((
                format!("image{index}"),
                ClassReport::from_json(text(part)?).ok()?,
            ))
        })
        .collect();
    if let Some(Ok(project)) = reports.map(ProjectReport::pool) {
        let _ = project.to_csv();
    }
}

/// The summaries of a series' frames segmented apart (NUL-separated JSON, frame after frame,
/// as `chipscope.write_fractions` takes them), made into the fractions table and chart.
fn fraction_frames(data: &[u8]) {
    let frames: Option<Vec<(usize, Option<f64>, Summary)>> = data
        .split(|&byte| byte == 0)
        .enumerate()
        .map(|(index, part)| {
            let summary = serde_json::from_str(text(part)?).ok()?;
            Some((index, Some(index as f64 * 0.5), summary))
        })
        .collect();
    if let Some(Ok(table)) = frames.as_deref().map(FractionTable::of_frames) {
        let _ = (table.to_csv(), table.chart_svg());
    }
}

/// What the page and the CLI do with a session they read: its labels, and its grid laid on
/// images of a few sizes.
fn use_session(session: &Session) {
    let _ = session.labels();
    for (width, height) in [(512, 512), (2048, 1536), (1, 1)] {
        let _ = session.grid_on(width, height);
    }
    let _ = share::encode(session);
    let _ = session.for_labellers();
}

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}
