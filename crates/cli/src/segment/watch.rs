//! `chipscope segment --watch DIR`: segmenting as the microscope writes. The folder is listed
//! every `--interval` seconds; each image file in it (those there at the start as well) is taken
//! once its size and modification time are the same in two listings — a file still being written
//! waits — and segmented like an IMAGE, its files written to `--out`, and a row added to
//! `watch-fractions.csv` and `.svg`: each class's fraction against the time the file was written,
//! seconds after the first. It runs until interrupted.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, ensure};
use chipscope_core::formats::is_image_name;
use chipscope_core::series::FractionTable;

use super::{Outcome, Segmenter};
use crate::files::file_name;

/// The table of the watched files, in `--out`.
const TABLE: &str = "watch-fractions";

/// A file's size and modification time: a file is complete once they stop changing.
type Stamp = (u64, SystemTime);

/// Watches `folder` until interrupted; `stems` are the output names already written (the
/// IMAGEs'), which a watched file may not take again.
pub(super) fn watch(
    segmenter: &Segmenter,
    folder: &Path,
    interval_s: f64,
    mut stems: HashSet<String>,
) -> Result<()> {
    ensure!(
        interval_s.is_finite() && interval_s > 0.0,
        "--interval must be a positive number of seconds"
    );
    let interval = Duration::from_secs_f64(interval_s);
    let mut settling: HashMap<PathBuf, Stamp> = HashMap::new();
    let mut done: HashSet<PathBuf> = HashSet::new();
    let mut table: Option<FractionTable> = None;
    let mut first_written: Option<SystemTime> = None;
    println!("watching {} (Ctrl-C stops)", folder.display());
    loop {
        for (path, stamp) in listing(folder)? {
            if done.contains(&path) {
                continue;
            }
            if settling.get(&path) != Some(&stamp) {
                settling.insert(path, stamp);
                continue;
            }
            settling.remove(&path);
            done.insert(path.clone());
            let Some(stem) = free_stem(&path, &mut stems) else {
                continue;
            };
            if let Outcome::Image(summary, _) = segmenter.report(&path, &stem, None) {
                let written = *first_written.get_or_insert(stamp.1);
                let table = table.get_or_insert_with(|| FractionTable::new(&summary));
                let row = table.rows().len();
                let seconds = seconds_between(written, stamp.1);
                table.push_file(row, Some(seconds), Some(file_name(&path)), &summary);
                save_table(segmenter, table)?;
            }
        }
        std::thread::sleep(interval);
    }
}

/// The image files of `folder` with their stamps, by name.
fn listing(folder: &Path) -> Result<Vec<(PathBuf, Stamp)>> {
    let entries = std::fs::read_dir(folder)
        .with_context(|| format!("cannot list the watched folder {}", folder.display()))?;
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let image = path
            .file_name()
            .is_some_and(|n| is_image_name(&n.to_string_lossy()));
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        if image && metadata.is_file() {
            let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            files.push((path, (metadata.len(), modified)));
        }
    }
    files.sort();
    Ok(files)
}

/// `path`'s output stem, unless an earlier file wrote under it (then said so).
fn free_stem(path: &Path, stems: &mut HashSet<String>) -> Option<String> {
    let stem = path.file_stem()?.to_string_lossy().into_owned();
    if stems.insert(stem.clone()) {
        return Some(stem);
    }
    eprintln!(
        "error: {}: another file already wrote {stem}.csv and the other results; skipped",
        path.display()
    );
    None
}

/// Seconds from `first` to `then` (negative when `then` is earlier).
fn seconds_between(first: SystemTime, then: SystemTime) -> f64 {
    match then.duration_since(first) {
        Ok(after) => after.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

/// Writes the table and its chart, each through a temporary file renamed over the old one, so an
/// interrupted run leaves the last complete table.
fn save_table(segmenter: &Segmenter, table: &FractionTable) -> Result<()> {
    for (suffix, text) in [("csv", table.to_csv()), ("svg", table.chart_svg())] {
        let name = format!("{TABLE}.{suffix}");
        let partial = format!(".{name}.partial");
        segmenter.save(&partial, text)?;
        let out = segmenter.out_path(&name);
        std::fs::rename(segmenter.out_path(&partial), &out)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    Ok(())
}
