//! `chipscope merge`: labellers' answers to a crowd-labelling task merged by majority vote with
//! the core calls the page makes — a report of each labeller's agreement and of Fleiss' kappa,
//! the consensus as a session file and the votes per chip as CSV.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use chipscope_core::crowd::{self, Answer, LabellerAgreement, Merge};
use chipscope_core::session::Session;
use clap::Args;

use crate::write_text;
use chipscope_cli::files::read_session;

/// `chipscope merge`'s arguments.
#[derive(Args)]
pub struct MergeArgs {
    /// Session files: the labellers' answers and, optionally, the coordinator's task (the file
    /// whose task names no labeller), whose reference chips score the labellers.
    #[arg(required = true, value_name = "FILE.json")]
    files: Vec<PathBuf>,
    /// The merged session to write: the task (else the first answer) with the consensus as
    /// supports.
    #[arg(long, value_name = "FILE.json")]
    out: PathBuf,
    /// Also write the votes per chip as CSV.
    #[arg(long, value_name = "FILE.csv")]
    votes: Option<PathBuf>,
    /// Votes a chip's majority class needs for the chip to join the consensus.
    #[arg(long, value_name = "N", default_value_t = 1)]
    min_votes: u32,
}

/// Merges the answers, prints the report and writes the merged session (and the votes).
pub fn merge(args: &MergeArgs) -> Result<()> {
    let (task, answers) = read_task_and_answers(&args.files)?;
    let merged = crowd::merge(&answers, task.as_ref())?;
    let base = task.as_ref().unwrap_or(&answers[0].session);
    report(&merged, base, args.min_votes);
    write_text(
        &args.out,
        &merged.to_session(base, args.min_votes).to_json(),
    )?;
    if let Some(path) = &args.votes {
        write_text(path, &merged.votes_csv())?;
    }
    Ok(())
}

/// The coordinator's task (at most one file whose task names no labeller) and the answers,
/// each named after its file when it names no labeller.
fn read_task_and_answers(files: &[PathBuf]) -> Result<(Option<Session>, Vec<Answer>)> {
    let mut task: Option<(&Path, Session)> = None;
    let mut answers = Vec::new();
    for path in files {
        let session = read_session(path)?;
        let is_task = session.task.as_ref().is_some_and(|t| t.labeller.is_none());
        match (is_task, &task) {
            (false, _) => {
                let fallback_name = path.file_stem().unwrap_or(path.as_os_str());
                answers.push(Answer {
                    fallback_name: fallback_name.to_string_lossy().into_owned(),
                    session,
                });
            }
            (true, Some((first, _))) => bail!(
                "{} and {} are both labelling tasks (their task names no labeller); give one \
                 task and the answers to it",
                first.display(),
                path.display()
            ),
            (true, None) => task = Some((path, session)),
        }
    }
    Ok((task.map(|(_, session)| session), answers))
}

fn report(merged: &Merge, base: &Session, min_votes: u32) {
    let task = base
        .task
        .as_ref()
        .map(|t| format!("task {:?} (id {}): ", t.title, t.id));
    println!(
        "{}{} on {}, {}-px chips",
        task.unwrap_or_default(),
        count(merged.labellers.len(), "answer"),
        base.source.describe(),
        merged.chip_size
    );
    print_labellers(&merged.labellers);
    println!(
        "Fleiss' kappa over {} labelled by 2 or more: {}",
        count(merged.shared_chips(), "chip"),
        kappa(merged.kappa)
    );
    for (class, class_kappa) in merged.classes.iter().zip(&merged.class_kappa) {
        println!("  {}: {}", class.name, kappa(*class_kappa));
    }
    println!(
        "consensus: {} of {} labelled chips (a strict majority of at least {})",
        merged.consensus(min_votes).support_count(),
        merged.chips.len(),
        count(min_votes as usize, "vote")
    );
}

/// The labellers as a table: chips labelled, agreement with the others' majority and, when
/// the task has reference chips, with those.
fn print_labellers(labellers: &[LabellerAgreement]) {
    let width = labellers
        .iter()
        .map(|l| l.name.chars().count())
        .fold("labeller".len(), usize::max);
    let scored = labellers.iter().any(|l| l.reference.is_some());
    let line = |name: &str, chips: &str, agreement: &str, reference: &str| {
        let reference = if scored { reference } else { "" };
        let text = format!("{name:<width$}  {chips:>5}  {agreement:<24}{reference}");
        println!("{}", text.trim_end());
    };
    line("labeller", "chips", "agrees with the others", "reference");
    for labeller in labellers {
        let reference = labeller
            .reference
            .map_or(String::new(), |(c, t)| share(c, t));
        let agreement = share(labeller.agreed, labeller.compared);
        line(
            &labeller.name,
            &labeller.chips.to_string(),
            &agreement,
            &reference,
        );
    }
    println!("agrees with the others: on the chips where the other labellers' votes have a");
    println!("  strict majority, the share where they chose it");
}

/// "50.0 % (2 of 4)", or "—" of nothing.
fn share(part: usize, whole: usize) -> String {
    match whole {
        0 => "—".to_string(),
        _ => format!(
            "{:.1} % ({part} of {whole})",
            100.0 * part as f64 / whole as f64
        ),
    }
}

fn kappa(value: Option<f64>) -> String {
    value.map_or("undefined".to_string(), |k| format!("{k:.3}"))
}

/// "1 chip", "2 chips".
fn count(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        _ => format!("{n} {noun}s"),
    }
}
