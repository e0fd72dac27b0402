//! Crowd labelling: many labellers' answers to one labelling task merged into votes per chip,
//! a consensus, each labeller's agreement with the others and with the coordinator's reference
//! chips, and Fleiss' kappa for the agreement of the whole crowd.
//!
//! An answer is a session whose supports are the labeller's labels (one class per chip, as
//! [`Session::parse`] guarantees). Classes are matched by name, trimmed and case-insensitively,
//! so " Vacuum" in one answer and "vacuum" in another are one class.

use crate::exports::csv_field;
use crate::grid::ChipGrid;
use crate::labels::{Cell, ClassLabel, Labels, unused_colour};
use crate::session::{ReferenceChip, Session, Task};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::collections::{BTreeMap, HashMap};
use thiserror::Error;

/// What a coordinator asks of the labellers.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRequest {
    /// The task's title, as typed; trimmed into the task.
    pub title: String,
    /// What the labellers are asked to do, as typed; trimmed into the task.
    pub instructions: String,
    /// How many chips to ask for, drawn at random; 0 lets the labellers choose.
    pub asked: usize,
    /// Whether the coordinator's supports become hidden reference chips that score the
    /// labellers.
    pub reference: bool,
}

/// The labelling task `request` asks for on `session` (its supports on `grid`): title and
/// instructions trimmed, a random 16-hex-digit id, the reference chips when asked for, and
/// `asked` distinct chips drawn at random with the reference chips mixed in (see
/// [`sample_chips`]). The same `seed` makes the same task.
pub fn make_task(session: &Session, grid: &ChipGrid, request: &TaskRequest, seed: u64) -> Task {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let reference: Vec<ReferenceChip> = match request.reference {
        true => session
            .classes
            .iter()
            .flat_map(|class| {
                class.supports.iter().map(|chip| ReferenceChip {
                    chip: *chip,
                    class: class.name.clone(),
                })
            })
            .collect(),
        false => Vec::new(),
    };
    let known: Vec<Cell> = reference.iter().map(|r| r.chip).collect();
    Task {
        id: random_id(&mut rng),
        title: request.title.trim().to_string(),
        instructions: request.instructions.trim().to_string(),
        chips: sample_chips(grid, request.asked, &known, &mut rng),
        reference,
        labeller: None,
    }
}

/// `count` distinct chips of `grid` drawn at random (at most every chip), with the `known` ones
/// mixed in, in grid order (so their place does not give the reference chips away); none when
/// `count` is 0.
pub fn sample_chips(
    grid: &ChipGrid,
    count: usize,
    known: &[Cell],
    rng: &mut impl Rng,
) -> Vec<Cell> {
    if count == 0 {
        return Vec::new();
    }
    let mut cells: Vec<Cell> = (0..grid.rows())
        .flat_map(|row| (0..grid.cols()).map(move |col| [row, col]))
        .collect();
    let (total, count) = (cells.len(), count.min(cells.len()));
    for i in 0..count {
        let j = rng.random_range(i..total);
        cells.swap(i, j);
    }
    cells.truncate(count);
    let missing: Vec<Cell> = known
        .iter()
        .filter(|c| !cells.contains(c))
        .copied()
        .collect();
    cells.extend(missing);
    cells.sort_unstable();
    cells
}

/// 16 random hex digits.
fn random_id(rng: &mut impl Rng) -> String {
    (0..16)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// One labeller's returned session.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// What to call the labeller when the session's task names nobody (e.g. the file name).
    pub fallback_name: String,
    /// The session the labeller returned; its supports are their labels.
    pub session: Session,
}

impl Answer {
    /// The labeller's name from the session's task, else the fallback name.
    pub fn name(&self) -> &str {
        self.session
            .task
            .as_ref()
            .and_then(|task| task.labeller.as_deref())
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .unwrap_or(&self.fallback_name)
    }

    /// "the answer ada.json (by Ada)", for messages.
    fn describe(&self) -> String {
        match self.name() {
            name if name == self.fallback_name => format!("the answer {name}"),
            name => format!("the answer {} (by {name})", self.fallback_name),
        }
    }
}

/// Why answers cannot be merged; each names the answer at fault.
#[derive(Debug, Error, PartialEq)]
pub enum MergeError {
    /// The list of answers is empty.
    #[error("there are no answers to merge")]
    NoAnswers,
    /// An answer was labelled on other data than the base.
    #[error("{answer} was labelled on {found}, not on {expected} like {base}")]
    OtherData {
        /// The answer at fault, for people ("the answer ada.json (by Ada)").
        answer: String,
        /// The answer's data, as [`crate::session::DataSource::describe`] puts it.
        found: String,
        /// The base's data, described the same way.
        expected: String,
        /// The base: "the task" or the first answer.
        base: String,
    },
    /// An answer's chips are of another size than the base's.
    #[error("{answer} has {found}-px chips, not {expected}-px chips like {base}")]
    OtherChipSize {
        /// The answer at fault, for people.
        answer: String,
        /// The answer's chip side, pixels.
        found: usize,
        /// The base's chip side, pixels.
        expected: usize,
        /// The base: "the task" or the first answer.
        base: String,
    },
    /// An answer carries another task id than the base.
    #[error("{answer} answers another task (id {found}) than {base} (id {expected})")]
    OtherTask {
        /// The answer at fault, for people.
        answer: String,
        /// The answer's task id.
        found: String,
        /// The base's task id.
        expected: String,
        /// The base: "the task" or the first answer.
        base: String,
    },
}

/// The answers merged: votes per chip, agreement per labeller and for the crowd.
#[derive(Clone, Debug, PartialEq)]
pub struct Merge {
    /// Every class of the task and the answers, matched by name (trimmed, case-insensitive):
    /// the base session's first, then new ones in order of appearance. Name and colour come
    /// from the first session that has the class, except that a colour already taken by an
    /// earlier class is replaced by the first free palette colour. No supports.
    pub classes: Vec<ClassLabel>,
    /// The side of the chips every answer shares, pixels.
    pub chip_size: usize,
    /// One per answer, in order; a name used twice becomes "Ada (2)".
    pub labellers: Vec<LabellerAgreement>,
    /// Every chip with at least one vote, by `[row, col]`.
    pub chips: Vec<ChipVotes>,
    /// Fleiss' kappa over the chips with two votes or more (see [`fleiss`]); none when there
    /// is no such chip or it is undefined.
    pub kappa: Option<f64>,
    /// Fleiss' kappa per class, in the order of `classes`.
    pub class_kappa: Vec<Option<f64>>,
}

/// The votes on one chip.
#[derive(Clone, Debug, PartialEq)]
pub struct ChipVotes {
    /// The chip, `[row, col]`.
    pub chip: Cell,
    /// Votes per class, in the order of [`Merge::classes`].
    pub votes: Vec<u32>,
    /// The class with strictly more votes than any other; none on a tie.
    pub majority: Option<usize>,
}

impl ChipVotes {
    /// Votes on the chip: how many labellers labelled it.
    pub fn total(&self) -> u32 {
        self.votes.iter().sum()
    }

    /// The majority's share of the votes; none on a tie.
    pub fn agreement(&self) -> Option<f64> {
        self.majority
            .map(|k| self.votes[k] as f64 / self.total() as f64)
    }
}

/// How one labeller agrees with the others and with the reference.
#[derive(Clone, Debug, PartialEq)]
pub struct LabellerAgreement {
    /// The labeller's name, made distinct from the others' ("Ada (2)").
    pub name: String,
    /// Chips they labelled.
    pub chips: usize,
    /// Leave-one-out: chips they labelled where the other labellers' votes have a strict
    /// majority…
    pub compared: usize,
    /// …and of those, the chips where they chose that majority.
    pub agreed: usize,
    /// (correct, total) over the task's reference chips they labelled; none when the task
    /// has no reference chips.
    pub reference: Option<(usize, usize)>,
}

impl LabellerAgreement {
    /// The share of compared chips where they agree with the others; none when no chip
    /// could be compared.
    pub fn agreement(&self) -> Option<f64> {
        (self.compared > 0).then(|| self.agreed as f64 / self.compared as f64)
    }

    fn score(
        name: String,
        ballot: &[(Cell, usize)],
        chips: &[ChipVotes],
        reference: Option<&HashMap<Cell, usize>>,
    ) -> Self {
        let others: Vec<bool> = ballot
            .iter()
            .filter_map(|&(cell, class)| {
                let mut votes = chip_votes(chips, cell).votes.clone();
                votes[class] -= 1;
                strict_majority(&votes).map(|majority| majority == class)
            })
            .collect();
        let reference = reference.map(|known| {
            let scored: Vec<bool> = ballot
                .iter()
                .filter_map(|(cell, class)| known.get(cell).map(|k| k == class))
                .collect();
            (count_true(&scored), scored.len())
        });
        Self {
            name,
            chips: ballot.len(),
            compared: others.len(),
            agreed: count_true(&others),
            reference,
        }
    }
}

fn count_true(flags: &[bool]) -> usize {
    flags.iter().filter(|&&flag| flag).count()
}

/// Merges labellers' answers. They must be on the same data (by [`DataSource::identity`]),
/// with the same chip size, and answer the same task (when both sessions have one) as the
/// base: the coordinator's `task` session if given, else the first answer. The task's
/// reference chips, if any, score each labeller.
///
/// [`DataSource::identity`]: crate::session::DataSource::identity
pub fn merge(answers: &[Answer], task: Option<&Session>) -> Result<Merge, MergeError> {
    let first = answers.first().ok_or(MergeError::NoAnswers)?;
    let (base, base_name) = match task {
        Some(session) => (session, "the task".to_string()),
        None => (&first.session, first.describe()),
    };
    for answer in answers {
        check_compatible(answer, base, &base_name)?;
    }
    let classes = merged_classes(base, answers);
    let ballots: Vec<_> = answers.iter().map(|a| ballot(a, &classes)).collect();
    let chips = tally(&ballots, classes.len());
    let reference = task.and_then(|session| reference_classes(session, &classes));
    let labellers = unique_names(answers)
        .into_iter()
        .zip(&ballots)
        .map(|(name, ballot)| LabellerAgreement::score(name, ballot, &chips, reference.as_ref()))
        .collect();
    let counts: Vec<Vec<u32>> = chips.iter().map(|chip| chip.votes.clone()).collect();
    let (kappa, mut class_kappa) = fleiss(&counts);
    class_kappa.resize(classes.len(), None); // no chip at all: no columns
    Ok(Merge {
        classes,
        chip_size: base.grid.chip_size,
        labellers,
        chips,
        kappa,
        class_kappa,
    })
}

fn check_compatible(answer: &Answer, base: &Session, base_name: &str) -> Result<(), MergeError> {
    let session = &answer.session;
    if session.source.identity() != base.source.identity() {
        return Err(MergeError::OtherData {
            answer: answer.describe(),
            found: session.source.describe(),
            expected: base.source.describe(),
            base: base_name.into(),
        });
    }
    if session.grid.chip_size != base.grid.chip_size {
        return Err(MergeError::OtherChipSize {
            answer: answer.describe(),
            found: session.grid.chip_size,
            expected: base.grid.chip_size,
            base: base_name.into(),
        });
    }
    match (&session.task, &base.task) {
        (Some(found), Some(expected)) if found.id != expected.id => Err(MergeError::OtherTask {
            answer: answer.describe(),
            found: found.id.clone(),
            expected: expected.id.clone(),
            base: base_name.into(),
        }),
        _ => Ok(()),
    }
}

/// The key classes are matched by.
fn class_key(name: &str) -> String {
    name.trim().to_lowercase()
}

fn class_index(classes: &[ClassLabel], name: &str) -> Option<usize> {
    let key = class_key(name);
    classes
        .iter()
        .position(|class| class_key(&class.name) == key)
}

fn merged_classes(base: &Session, answers: &[Answer]) -> Vec<ClassLabel> {
    let sessions = std::iter::once(base).chain(answers.iter().map(|a| &a.session));
    let mut classes: Vec<ClassLabel> = Vec::new();
    for class in sessions.flat_map(|session| &session.classes) {
        if class_index(&classes, &class.name).is_some() {
            continue;
        }
        let colour = match classes.iter().any(|c| c.colour == class.colour) {
            true => unused_colour(&classes),
            false => class.colour,
        };
        classes.push(ClassLabel {
            name: class.name.clone(),
            colour,
            supports: Vec::new(),
            elsewhere: Vec::new(),
        });
    }
    classes
}

/// An answer's labels: (chip, index into the merged `classes`).
fn ballot(answer: &Answer, classes: &[ClassLabel]) -> Vec<(Cell, usize)> {
    answer
        .session
        .classes
        .iter()
        .flat_map(|class| {
            let k = class_index(classes, &class.name).expect("every answer's class is merged");
            class.supports.iter().map(move |&cell| (cell, k))
        })
        .collect()
}

fn tally(ballots: &[Vec<(Cell, usize)>], classes: usize) -> Vec<ChipVotes> {
    let mut votes: BTreeMap<Cell, Vec<u32>> = BTreeMap::new();
    for &(cell, k) in ballots.iter().flatten() {
        votes.entry(cell).or_insert_with(|| vec![0; classes])[k] += 1;
    }
    votes
        .into_iter()
        .map(|(chip, votes)| ChipVotes {
            chip,
            majority: strict_majority(&votes),
            votes,
        })
        .collect()
}

fn chip_votes(chips: &[ChipVotes], cell: Cell) -> &ChipVotes {
    let index = chips.binary_search_by_key(&cell, |chip| chip.chip);
    &chips[index.expect("every labelled chip is tallied")]
}

/// The class with strictly more votes than any other, if it has any.
fn strict_majority(votes: &[u32]) -> Option<usize> {
    let most = *votes.iter().max()?;
    let mut leaders = votes.iter().enumerate().filter(|&(_, &v)| v == most);
    match (leaders.next(), leaders.next()) {
        (Some((k, _)), None) if most > 0 => Some(k),
        _ => None,
    }
}

/// The task's reference chips with their merged class index; none without reference chips.
fn reference_classes(task: &Session, classes: &[ClassLabel]) -> Option<HashMap<Cell, usize>> {
    let reference = &task.task.as_ref()?.reference;
    let known = reference
        .iter()
        .filter_map(|r| class_index(classes, &r.class).map(|k| (r.chip, k)));
    (!reference.is_empty()).then(|| known.collect())
}

/// Distinct display names: a name already used gets " (2)", " (3)"… appended.
fn unique_names(answers: &[Answer]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for answer in answers {
        let name = answer.name();
        let unique = std::iter::once(name.to_string())
            .chain((2..).map(|n| format!("{name} ({n})")))
            .find(|candidate| !names.contains(candidate))
            .expect("numbers are endless");
        names.push(unique);
    }
    names
}

/// Fleiss' kappa of `counts[i][j]`, the number of raters who put subject `i` in category `j`,
/// with any number of raters per subject; subjects with fewer than two ratings are left out.
/// Over the N subjects left, with n_i = Σ_j n_ij ratings each:
///
/// - agreement on subject i: P_i = (Σ_j n_ij² − n_i) / (n_i (n_i − 1)), and P̄ = mean P_i;
/// - category shares p_j = Σ_i n_ij / Σ_i n_i, chance agreement P_e = Σ_j p_j²;
/// - κ = (P̄ − P_e) / (1 − P_e), none when N = 0 or P_e = 1 (all ratings in one category);
/// - per category κ_j = 1 − [Σ_i n_ij (n_i − n_ij) / (n_i (n_i − 1))] / (N p_j (1 − p_j)),
///   none when p_j is 0 or 1.
///
/// With the same number of raters for every subject these are Fleiss (1971), Psychological
/// Bulletin 76(5), 378–382. Returns κ and the κ_j, one per column of `counts`.
pub fn fleiss(counts: &[Vec<u32>]) -> (Option<f64>, Vec<Option<f64>>) {
    let categories = counts.first().map_or(0, Vec::len);
    let rows: Vec<&[u32]> = counts
        .iter()
        .map(Vec::as_slice)
        .filter(|row| ratings(row) >= 2.0)
        .collect();
    if rows.is_empty() {
        return (None, vec![None; categories]);
    }
    let all: f64 = rows.iter().map(|row| ratings(row)).sum();
    let shares: Vec<f64> = (0..categories)
        .map(|j| rows.iter().map(|row| row[j] as f64).sum::<f64>() / all)
        .collect();
    let per_class = shares
        .iter()
        .enumerate()
        .map(|(j, &share)| class_kappa(&rows, j, share))
        .collect();
    (overall_kappa(&rows, &shares), per_class)
}

fn ratings(row: &[u32]) -> f64 {
    row.iter().map(|&n| n as f64).sum()
}

/// n_i (n_i − 1): the ordered pairs of ratings of a subject.
fn rating_pairs(row: &[u32]) -> f64 {
    ratings(row) * (ratings(row) - 1.0)
}

fn overall_kappa(rows: &[&[u32]], shares: &[f64]) -> Option<f64> {
    let agreement = |row: &[u32]| {
        let squares: f64 = row.iter().map(|&n| (n as f64).powi(2)).sum();
        (squares - ratings(row)) / rating_pairs(row)
    };
    let observed = rows.iter().map(|row| agreement(row)).sum::<f64>() / rows.len() as f64;
    let chance: f64 = shares.iter().map(|p| p * p).sum();
    (chance < 1.0).then(|| (observed - chance) / (1.0 - chance))
}

fn class_kappa(rows: &[&[u32]], j: usize, share: f64) -> Option<f64> {
    let disagreement: f64 = rows
        .iter()
        .map(|row| {
            let n = row[j] as f64;
            n * (ratings(row) - n) / rating_pairs(row)
        })
        .sum();
    let expected = rows.len() as f64 * share * (1.0 - share);
    (share > 0.0 && share < 1.0).then(|| 1.0 - disagreement / expected)
}

impl Merge {
    /// Consensus labels: each chip whose strict-majority class has at least `min_votes`
    /// votes, as a support of that class.
    pub fn consensus(&self, min_votes: u32) -> Labels {
        let mut classes = self.classes.clone();
        for chip in &self.chips {
            if let Some(k) = chip.majority
                && chip.votes[k] >= min_votes
            {
                classes[k].supports.push(chip.chip);
            }
        }
        Labels {
            chip_size: self.chip_size,
            classes,
        }
    }

    /// The merged result as a session: `base` (the task session, else the first answer) with
    /// the merged classes and the consensus as supports; its task is kept without a labeller.
    pub fn to_session(&self, base: &Session, min_votes: u32) -> Session {
        Session {
            classes: self.consensus(min_votes).classes,
            task: base.task.clone().map(|task| Task {
                labeller: None,
                ..task
            }),
            ..base.clone()
        }
    }

    /// Chips labelled by two labellers or more: those the kappas are computed over.
    pub fn shared_chips(&self) -> usize {
        self.chips.iter().filter(|chip| chip.total() >= 2).count()
    }

    /// One line per voted chip: `row,col,votes_<class>…,total,majority,agreement`, majority
    /// the class's name and agreement its share of the votes (3 decimals), both empty on a tie.
    pub fn votes_csv(&self) -> String {
        let mut header = vec!["row".to_string(), "col".to_string()];
        header.extend(
            self.classes
                .iter()
                .map(|class| csv_field(&format!("votes_{}", class.name))),
        );
        header.extend(["total", "majority", "agreement"].map(String::from));
        let mut text = header.join(",") + "\n";
        for chip in &self.chips {
            let [row, col] = chip.chip;
            let votes: Vec<String> = chip.votes.iter().map(u32::to_string).collect();
            let majority = chip.majority.map(|k| csv_field(&self.classes[k].name));
            let agreement = chip.agreement().map(|share| format!("{share:.3}"));
            text += &format!(
                "{row},{col},{},{},{},{}\n",
                votes.join(","),
                chip.total(),
                majority.unwrap_or_default(),
                agreement.unwrap_or_default()
            );
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::palette_colour;
    use crate::session::{DataSource, sample};

    fn request(asked: usize, reference: bool) -> TaskRequest {
        TaskRequest {
            title: "  Label the phases ".into(),
            instructions: "Click every chip you are sure of.\n".into(),
            asked,
            reference,
        }
    }

    #[test]
    fn tasks_are_drawn_from_the_seed() {
        // The sample session's supports are [0, 0] and [1, 3] on a 4-column grid.
        let (session, grid) = (sample(), ChipGrid::new(256, 192, 64).unwrap());
        let task = make_task(&session, &grid, &request(5, true), 7);
        assert_eq!(task, make_task(&session, &grid, &request(5, true), 7));
        assert_ne!(task.id, make_task(&session, &grid, &request(5, true), 8).id);
        assert_eq!(task.id.len(), 16);
        assert!(task.id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            (task.title.as_str(), task.instructions.as_str()),
            ("Label the phases", "Click every chip you are sure of.")
        );
        let names: Vec<_> = task
            .reference
            .iter()
            .map(|r| (r.chip, r.class.as_str()))
            .collect();
        assert_eq!(names, [([0, 0], "vacuum, top"), ([1, 3], "vacuum, top")]);
        // Five drawn chips, distinct, on the grid, in grid order, with both reference chips.
        assert!(
            task.chips.len() >= 5 && task.chips.len() <= 7,
            "{:?}",
            task.chips
        );
        assert!(task.chips.windows(2).all(|w| w[0] < w[1]));
        assert!(task.chips.iter().all(|&[r, c]| r < 3 && c < 4));
        assert!(task.chips.contains(&[0, 0]) && task.chips.contains(&[1, 3]));
        // Other seeds draw other chips.
        let drawn: std::collections::HashSet<Vec<Cell>> = (0..20)
            .map(|seed| make_task(&session, &grid, &request(5, false), seed).chips)
            .collect();
        assert!(drawn.len() > 10);
        // The resulting session is one the page and the CLI accept.
        let mut with_task = session.clone();
        with_task.task = Some(task);
        Session::parse(&with_task.for_labellers().to_json()).unwrap();
    }

    #[test]
    fn sampling_covers_none_some_and_all_chips() {
        let (session, grid) = (sample(), ChipGrid::new(256, 192, 64).unwrap());
        let none = make_task(&session, &grid, &request(0, true), 1);
        assert!(none.chips.is_empty());
        assert_eq!(none.reference.len(), 2);
        let unreferenced = make_task(&session, &grid, &request(3, false), 1);
        assert_eq!(unreferenced.chips.len(), 3);
        assert!(unreferenced.reference.is_empty());
        let every: Vec<Cell> = (0..3).flat_map(|r| (0..4).map(move |c| [r, c])).collect();
        for asked in [12, 500] {
            assert_eq!(
                make_task(&session, &grid, &request(asked, true), 3).chips,
                every
            );
        }
        // Every chip is drawn, over seeds, about equally often.
        let mut counts = [0usize; 12];
        for seed in 0..1200 {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            for [r, c] in sample_chips(&grid, 1, &[], &mut rng) {
                counts[r * 4 + c] += 1;
            }
        }
        assert!(
            counts.iter().all(|&n| (60..=140).contains(&n)),
            "{counts:?}"
        );
    }

    const VACUUM: &str = "vacuum";
    const LATTICE: &str = "lattice, square";

    fn close(found: Option<f64>, expected: f64) -> bool {
        found.is_some_and(|found| (found - expected).abs() < 1e-12)
    }

    /// Fleiss (1971) as Wikipedia gives it: 10 subjects, 14 raters, 5 categories. Reference
    /// values from statsmodels 0.15.0 and numpy 2.4.6:
    ///
    /// ```python
    /// import numpy as np
    /// from statsmodels.stats.inter_rater import fleiss_kappa
    /// t = np.array(COUNTS)
    /// fleiss_kappa(t, method="fleiss")  # 0.20993070442195522
    /// n = t.sum(1, keepdims=True); p = t.sum(0) / t.sum()
    /// 1 - (t * (n - t) / (n * (n - 1))).sum(0) / (len(t) * p * (1 - p))  # per category
    /// ```
    #[test]
    fn fleiss_kappa_matches_statsmodels_on_fleiss_example() {
        const COUNTS: [[u32; 5]; 10] = [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ];
        let counts: Vec<Vec<u32>> = COUNTS.iter().map(|row| row.to_vec()).collect();
        let (kappa, per_class) = fleiss(&counts);
        assert!(close(kappa, 0.20993070442195522), "{kappa:?}");
        let expected = [
            0.20128205128205123,
            0.07967032967032983,
            0.17159763313609466,
            0.030381383322559685,
            0.5076566951566952,
        ];
        for (found, expected) in per_class.iter().zip(expected) {
            assert!(close(*found, expected), "{found:?} ≠ {expected}");
        }
    }

    /// Three, two or one raters per subject, worked by hand (and checked with Python's
    /// fractions): the single rating is left out; P_i = 1, 1/3, 1/3, 1, 0 so P̄ = 8/15;
    /// p = 7/13, 5/13, 1/13 so P_e = 75/169; κ = (8/15 − 75/169) / (94/169) = 227/1410.
    /// Category 0: Σ n_ij(n_i − n_ij)/(n_i(n_i − 1)) = 2/6 + 2/6 + 1/2 = 7/6 over
    /// N p q = 5 · 7/13 · 6/13 = 210/169, κ_0 = 1 − 1183/1260 = 11/180; likewise
    /// κ_1 = 1 − (5/6)/(200/169) = 71/240 and κ_2 = 1 − (1/3)/(60/169) = 11/180.
    #[test]
    fn fleiss_kappa_with_varying_raters_by_hand() {
        let counts = vec![
            vec![3, 0, 0],
            vec![1, 2, 0],
            vec![2, 0, 1],
            vec![0, 2, 0],
            vec![0, 0, 1],
            vec![1, 1, 0],
        ];
        let (kappa, per_class) = fleiss(&counts);
        assert!(close(kappa, 227.0 / 1410.0), "{kappa:?}");
        let expected = [11.0 / 180.0, 71.0 / 240.0, 11.0 / 180.0];
        for (found, expected) in per_class.iter().zip(expected) {
            assert!(close(*found, expected), "{found:?} ≠ {expected}");
        }
        assert_eq!(fleiss(&[vec![2, 0], vec![3, 0]]), (None, vec![None, None]));
        assert_eq!(fleiss(&[vec![1, 0], vec![0, 1]]), (None, vec![None, None]));
        assert_eq!(fleiss(&[]), (None, vec![]));
    }

    /// The sample session with `classes` (name, supports) in palette colours, as an answer of
    /// `labeller` to task "t1" (or the task itself without one).
    fn labelled(classes: &[(&str, &[Cell])], labeller: Option<&str>) -> Session {
        let mut session = sample();
        session.classes = classes
            .iter()
            .enumerate()
            .map(|(i, (name, supports))| ClassLabel {
                name: name.to_string(),
                colour: palette_colour(i),
                supports: supports.to_vec(),
                elsewhere: vec![],
            })
            .collect();
        session.task = Some(Task {
            id: "t1".into(),
            title: "Phases".into(),
            instructions: "Label every chip.".into(),
            chips: vec![],
            reference: vec![],
            labeller: labeller.map(String::from),
        });
        session
    }

    /// The coordinator's task: two classes, vacuum at [0, 0] and lattice at [0, 1] known.
    fn task() -> Session {
        let mut session = labelled(&[(VACUUM, &[]), (LATTICE, &[])], None);
        let reference = |chip, class: &str| ReferenceChip {
            chip,
            class: class.into(),
        };
        session.task.as_mut().unwrap().reference =
            vec![reference([0, 0], VACUUM), reference([0, 1], LATTICE)];
        session
    }

    /// Ada, Bob (who adds "pore", in a colour vacuum has) and a second Ada, naming classes
    /// with other spaces and cases.
    fn answers() -> Vec<Answer> {
        let answer = |file: &str, name, classes: &[(&str, &[Cell])]| Answer {
            fallback_name: file.into(),
            session: labelled(classes, Some(name)),
        };
        let mut bob = answer(
            "bob.json",
            "Bob",
            &[
                (VACUUM, &[[0, 0], [0, 2]]),
                (LATTICE, &[[0, 1], [1, 0], [1, 2]]),
                ("pore", &[[1, 1]]),
            ],
        );
        bob.session.classes[2].colour = palette_colour(0);
        vec![
            answer(
                "ada.json",
                "Ada",
                &[
                    (" Vacuum", &[[0, 0], [0, 1], [0, 2], [1, 2]]),
                    (LATTICE, &[[1, 0]]),
                ],
            ),
            bob,
            answer(
                "ada2.json",
                " Ada ",
                &[
                    (VACUUM, &[[0, 0]]),
                    ("Lattice, Square", &[[0, 1]]),
                    ("PORE", &[[0, 2]]),
                ],
            ),
        ]
    }

    fn agreement(name: &str, chips: usize, compared: usize, agreed: usize) -> LabellerAgreement {
        LabellerAgreement {
            name: name.into(),
            chips,
            compared,
            agreed,
            reference: None,
        }
    }

    #[test]
    fn three_answers_merge_into_votes_agreement_and_kappa() {
        let merged = merge(&answers(), Some(&task())).unwrap();
        let names: Vec<&str> = merged.classes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, [VACUUM, LATTICE, "pore"]);
        let colours: Vec<_> = merged.classes.iter().map(|c| c.colour).collect();
        assert_eq!(colours, (0..3).map(palette_colour).collect::<Vec<_>>());
        assert!(merged.classes.iter().all(|c| c.supports.is_empty()));
        let votes: Vec<_> = merged
            .chips
            .iter()
            .map(|c| (c.chip, c.votes.clone(), c.majority))
            .collect();
        assert_eq!(
            votes,
            [
                ([0, 0], vec![3, 0, 0], Some(0)),
                ([0, 1], vec![1, 2, 0], Some(1)),
                ([0, 2], vec![2, 0, 1], Some(0)),
                ([1, 0], vec![0, 2, 0], Some(1)),
                ([1, 1], vec![0, 0, 1], Some(2)),
                ([1, 2], vec![1, 1, 0], None),
            ]
        );
        // Ada: [0, 1] and [1, 2] against the others' lattice, [0, 2] a tie among them.
        let expected = [
            (agreement("Ada", 5, 4, 2), (1, 2)),
            (agreement("Bob", 6, 3, 2), (2, 2)),
            (agreement("Ada (2)", 3, 2, 1), (2, 2)),
        ];
        for (found, (mut expected, reference)) in merged.labellers.iter().zip(expected) {
            expected.reference = Some(reference);
            assert_eq!(*found, expected);
        }
        assert_eq!(merged.labellers[0].agreement(), Some(0.5));
        assert_eq!(merged.shared_chips(), 5);
        assert!(close(merged.kappa, 227.0 / 1410.0));
        assert!(close(merged.class_kappa[1], 71.0 / 240.0));
        assert_eq!(merged.class_kappa.len(), 3);
    }

    #[test]
    fn without_a_task_the_first_answer_is_the_base_and_nobody_is_scored() {
        let merged = merge(&answers(), None).unwrap();
        assert_eq!(merged.classes[0].name, " Vacuum");
        assert_eq!(merged.chips.len(), 6);
        assert!(merged.labellers.iter().all(|l| l.reference.is_none()));
        let no_reference = labelled(&[(VACUUM, &[])], None);
        let merged = merge(&answers(), Some(&no_reference)).unwrap();
        assert!(merged.labellers.iter().all(|l| l.reference.is_none()));
        let unlabelled = merge(&answers()[..1], None).unwrap();
        assert_eq!(unlabelled.labellers[0].agreement(), None);
        assert_eq!(unlabelled.kappa, None);
    }

    #[test]
    fn answers_on_other_data_chips_or_tasks_are_refused_by_name() {
        let edited = |index: usize, edit: fn(&mut Session)| {
            let mut answers = answers();
            edit(&mut answers[index].session);
            answers
        };
        let url = edited(1, |s| {
            s.source = DataSource::Url {
                url: "https://example.org/copy.dm3".into(),
                name: "copy.dm3".into(),
                size: 1234,
                sha256: "ab".repeat(32),
            }
        });
        assert!(merge(&url, Some(&task())).is_ok());
        let cases = [
            (
                merge(&[], None),
                "there are no answers to merge".to_string(),
            ),
            (
                merge(
                    &edited(1, |s| s.source = DataSource::Example { size: 256, seed: 1 }),
                    Some(&task()),
                ),
                format!(
                    "the answer bob.json (by Bob) was labelled on the simulated example (256 px, \
                     seed 1), not on {} like the task",
                    sample().source.describe()
                ),
            ),
            (
                merge(&edited(2, |s| s.grid.chip_size = 32), None),
                "the answer ada2.json (by Ada) has 32-px chips, not 64-px chips like the answer \
                 ada.json (by Ada)"
                    .to_string(),
            ),
            (
                merge(
                    &edited(0, |s| s.task.as_mut().unwrap().id = "t2".into()),
                    Some(&task()),
                ),
                "the answer ada.json (by Ada) answers another task (id t2) than the task (id t1)"
                    .to_string(),
            ),
        ];
        for (result, message) in cases {
            assert_eq!(result.unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn the_consensus_needs_a_strict_majority_of_min_votes_and_round_trips() {
        let merged = merge(&answers(), Some(&task())).unwrap();
        let supports = |min_votes| -> Vec<Vec<Cell>> {
            let labels = merged.consensus(min_votes);
            assert_eq!(labels.chip_size, 64);
            labels.classes.into_iter().map(|c| c.supports).collect()
        };
        assert_eq!(
            supports(1),
            [vec![[0, 0], [0, 2]], vec![[0, 1], [1, 0]], vec![[1, 1]]]
        );
        assert_eq!(supports(2)[2], Vec::<Cell>::new());
        assert_eq!(supports(3), [vec![[0, 0]], vec![], vec![]]);

        let session = merged.to_session(&task(), 2);
        assert_eq!(Session::parse(&session.to_json()), Ok(session.clone()));
        assert_eq!(session.classes[1].supports, [[0, 1], [1, 0]]);
        assert_eq!(session.task, task().task);
        let from_answer = merged.to_session(&answers()[0].session, 1);
        assert_eq!(from_answer.task.unwrap().labeller, None);
        assert_eq!(from_answer.classes.len(), 3);
    }

    #[test]
    fn the_votes_csv_has_a_line_per_voted_chip() {
        let merged = merge(&answers(), Some(&task())).unwrap();
        assert_eq!(
            merged.votes_csv(),
            "row,col,votes_vacuum,\"votes_lattice, square\",votes_pore,total,majority,agreement\n\
             0,0,3,0,0,3,vacuum,1.000\n\
             0,1,1,2,0,3,\"lattice, square\",0.667\n\
             0,2,2,0,1,3,vacuum,0.667\n\
             1,0,0,2,0,2,\"lattice, square\",1.000\n\
             1,1,0,0,1,1,pore,1.000\n\
             1,2,1,1,0,2,,\n"
        );
    }
}
