//! How good the supports are: each support classified by the prototypes of the others
//! (leave-one-out), the accuracy of that and the confusion between classes, and the supports
//! that land in another class — likely wrong clicks.
//!
//! No reclassification is needed. Leaving support s out of its class k of n supports moves the
//! prototype p (the mean) to p′ = (n p − s) / (n − 1), so s − p′ = n / (n − 1) · (s − p): its
//! distance to its own prototype grows by n / (n − 1) and its distances to the other classes
//! stay. That is exact for Euclidean distances to the mean — the image and spectral modalities
//! and their concatenation (whose scaling does not depend on the supports) — and for the W1
//! distance to a barycentre of 1-D distributions made by averaging quantiles, as the atom
//! modality's is; for averaged distances (c2) it leaves out the change of each table's largest
//! entry, a small approximation. A class with a single support cannot be checked this way.

use serde::Serialize;

use crate::classify::Segmentation;

/// One support checked against the others.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SupportCheck {
    /// The chip's index in grid order.
    pub chip: usize,
    /// The class it supports.
    pub class: usize,
    /// The class the other supports' prototypes give it; `None` when it is its class's only
    /// support or the chip is not measured.
    pub held_out: Option<usize>,
}

impl SupportCheck {
    /// Whether the others put it in another class (a likely wrong click).
    pub fn is_flagged(&self) -> bool {
        self.held_out.is_some_and(|class| class != self.class)
    }
}

/// The leave-one-out check of every support.
#[derive(Clone, Debug, PartialEq)]
pub struct SupportQuality {
    /// Every support, classes in order.
    pub checks: Vec<SupportCheck>,
    /// `confusion[true][held_out]`: supports of each class by the class the others give them.
    pub confusion: Vec<Vec<usize>>,
}

impl SupportQuality {
    /// Checks the supports `classes[k]` (chip indices) of `segmentation`, the distances of every
    /// chip to the prototypes those supports make.
    ///
    /// # Panics
    /// If a support is not a chip of the segmentation or the class counts differ.
    pub fn leave_one_out(segmentation: &Segmentation, classes: &[Vec<usize>]) -> Self {
        assert_eq!(
            segmentation.class_count(),
            classes.len(),
            "one class per prototype"
        );
        let mut confusion = vec![vec![0; classes.len()]; classes.len()];
        let mut checks = Vec::new();
        for (class, supports) in classes.iter().enumerate() {
            for &chip in supports {
                let held_out = held_out_class(segmentation, chip, class, supports.len());
                if let Some(given) = held_out {
                    confusion[class][given] += 1;
                }
                checks.push(SupportCheck {
                    chip,
                    class,
                    held_out,
                });
            }
        }
        Self { checks, confusion }
    }

    /// Supports checked (those of classes with two supports or more, measured).
    pub fn checked(&self) -> usize {
        self.checks.iter().filter(|c| c.held_out.is_some()).count()
    }

    /// Checked supports the others put in their own class.
    pub fn correct(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.held_out == Some(c.class))
            .count()
    }

    /// The leave-one-out accuracy, 0–1; `None` when no support could be checked.
    pub fn accuracy(&self) -> Option<f64> {
        let checked = self.checked();
        (checked > 0).then(|| self.correct() as f64 / checked as f64)
    }

    /// The supports the others put in another class.
    pub fn flagged(&self) -> impl Iterator<Item = &SupportCheck> {
        self.checks.iter().filter(|c| c.is_flagged())
    }

    /// The check as a summary records it, with class names and each chip's [row, col] on a grid
    /// of `cols` columns.
    pub fn report(&self, names: &[String], cols: usize) -> SupportReport {
        SupportReport {
            checked: self.checked(),
            correct: self.correct(),
            accuracy: self.accuracy(),
            classes: names.to_vec(),
            confusion: self.confusion.clone(),
            flagged: self
                .flagged()
                .map(|check| FlaggedSupport {
                    cell: [check.chip / cols, check.chip % cols],
                    class: names[check.class].clone(),
                    closer_to: names[check.held_out.expect("flagged")].clone(),
                })
                .collect(),
        }
    }
}

/// Class `class`'s support `chip` (one of `supports` supports) classified by the prototypes of
/// the others: its own-class distance scaled by n / (n − 1), then the nearest class.
fn held_out_class(
    segmentation: &Segmentation,
    chip: usize,
    class: usize,
    supports: usize,
) -> Option<usize> {
    if supports < 2 || !segmentation.is_measured(chip) {
        return None;
    }
    let scale = supports as f32 / (supports - 1) as f32;
    let distances = segmentation.distances(chip);
    let held_out = |k: usize| match k == class {
        true => distances[k] * scale,
        false => distances[k],
    };
    (0..distances.len()).min_by(|&a, &b| held_out(a).total_cmp(&held_out(b)).then(a.cmp(&b)))
}

/// The support check in a summary file (`chipscope segment`'s JSON, the page's summary export).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SupportReport {
    /// Supports checked: those of classes with two supports or more.
    pub checked: usize,
    /// Checked supports the others put in their own class.
    pub correct: usize,
    /// `correct / checked`, when any was checked.
    pub accuracy: Option<f64>,
    /// The class names, the order of the confusion matrix.
    pub classes: Vec<String>,
    /// `confusion[true][given]`: checked supports of each class by the class the others give.
    pub confusion: Vec<Vec<usize>>,
    /// Supports the others put in another class: likely wrong clicks.
    pub flagged: Vec<FlaggedSupport>,
}

/// A support that sits closer to another class's prototype.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlaggedSupport {
    /// The chip, [row, col].
    pub cell: [usize; 2],
    /// The class it was clicked as.
    pub class: String,
    /// The class the other supports give it.
    pub closer_to: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{PrototypeClassifier, supports_of};
    use crate::embeddings::Embeddings;

    /// 1-D chips: class 0 supports at 0, 1 and 8 (the 8 a wrong click), class 1 supports at
    /// 10 and 11, and a lone chip at 5.
    fn chips() -> (Embeddings, Vec<Vec<usize>>) {
        let rows: Vec<[f32; 1]> = [0.0, 1.0, 8.0, 10.0, 11.0, 5.0].map(|x| [x]).to_vec();
        let refs: Vec<&[f32]> = rows.iter().map(|r| &r[..]).collect();
        (
            Embeddings::from_rows(&refs),
            vec![vec![0, 1, 2], vec![3, 4]],
        )
    }

    /// By hand: the prototypes are 3 (class 0) and 10.5 (class 1). Left out, the 0 is 4.5 from
    /// class 0's (|0 − 3| · 3/2) and 10.5 from class 1's: right; the 1, 3 against 9.5: right;
    /// the 8, 7.5 against 2.5: class 1, flagged; the 10, 1 (|10 − 10.5| · 2) against 7: right;
    /// the 11, 1 against 8: right. Four of five.
    #[test]
    fn leave_one_out_matches_the_hand_worked_case() {
        let (embeddings, classes) = chips();
        let segmentation = PrototypeClassifier::new(&embeddings)
            .classify(&embeddings, &supports_of(&embeddings, &classes));
        let quality = SupportQuality::leave_one_out(&segmentation, &classes);
        assert_eq!(quality.checked(), 5);
        assert_eq!(quality.correct(), 4);
        assert_eq!(quality.accuracy(), Some(0.8));
        assert_eq!(quality.confusion, [[2, 1], [0, 2]]);
        let flagged: Vec<usize> = quality.flagged().map(|c| c.chip).collect();
        assert_eq!(flagged, [2]);
        let names = ["film".to_string(), "vacuum".to_string()];
        let report = quality.report(&names, 3);
        assert_eq!(report.flagged[0].cell, [0, 2]);
        assert_eq!(report.flagged[0].closer_to, "vacuum");
    }

    /// The shortcut agrees with classifying each support by prototypes rebuilt without it.
    #[test]
    fn the_shortcut_agrees_with_reclassifying_without_each_support() {
        let (embeddings, classes) = chips();
        let all = supports_of(&embeddings, &classes);
        let segmentation = PrototypeClassifier::new(&embeddings).classify(&embeddings, &all);
        let quality = SupportQuality::leave_one_out(&segmentation, &classes);
        for check in &quality.checks {
            let mut without = classes.clone();
            without[check.class].retain(|&c| c != check.chip);
            let rebuilt = PrototypeClassifier::new(&embeddings)
                .classify(&embeddings, &supports_of(&embeddings, &without));
            let own = rebuilt.distances(check.chip)[check.class];
            let full = segmentation.distances(check.chip)[check.class];
            let n = classes[check.class].len() as f32;
            assert!((own - full * n / (n - 1.0)).abs() < 1e-4, "{check:?}");
            assert_eq!(check.held_out, Some(rebuilt.nearest(check.chip)));
        }
    }

    #[test]
    fn a_class_with_one_support_is_not_checked() {
        let (embeddings, _) = chips();
        let classes = vec![vec![0, 1], vec![3]];
        let segmentation = PrototypeClassifier::new(&embeddings)
            .classify(&embeddings, &supports_of(&embeddings, &classes));
        let quality = SupportQuality::leave_one_out(&segmentation, &classes);
        assert_eq!(quality.checked(), 2);
        assert_eq!(quality.checks[2].held_out, None);
        assert!(!quality.checks[2].is_flagged());
    }
}
