//! The one place where a session's labelled chips and an image's measured chips become a
//! segmentation; the page, the CLI and the experiments all go through [`segment`].
//!
//! The steps, for one image:
//!
//! 1. The session's [`Fusion`] says which modalities take part ([`Fusion::taking_part`]).
//! 2. Each of them measures every chip of the image into a [`ChipMeasure`]: the image by a CNN
//!    embedding ([`crate::encoders`]), the atoms by their g(r) and its quantile vector
//!    ([`crate::atoms::modality`]), the spectra by their raw or spec2vec vectors
//!    ([`crate::spectra::modality`]). This is the slow part: the page does it asynchronously
//!    (embedding in batches, spec2vec training in slices, the atom search off the main loop)
//!    and the CLI with progress on the terminal; neither decides anything else.
//! 3. Each modality learns its prototypes from the support chips of the labelled image
//!    ([`Learned`]): the supports' vectors, and for the atoms the barycenters of their g(r).
//!    The page learns on the image it shows; the CLI once on the labelled image, then applies
//!    them to every image. In a project of several images the image modality learns on each
//!    image that holds supports and the parts are joined into one support set
//!    ([`Learned::joined`]); such a project is classified by the image modality alone
//!    ([`Fusion::for_images`]).
//! 4. [`segment`] measures every chip's distance to every class in each modality (Euclidean to
//!    the supports' mean, Wasserstein to the g(r) barycenter) and fuses them
//!    ([`crate::fusion`]).
//! 5. The segmentation is summarised ([`crate::results`]) and written as the
//!    [`crate::exports::ExportFile`]s.

use crate::atoms::modality::AtomChips;
use crate::classify::{PrototypeClassifier, Segmentation, Support, prototype};
use crate::embeddings::Embeddings;
use crate::encoders::dense::FeatureMap;
use crate::fine::{CellContext, FineLabels, chip_of_cells};
use crate::fusion::{Fusion, FusionMode, Measurement, Modality, fuse, largest, spread};
use crate::grid::ChipGrid;

/// One modality's measurement of every chip of one image, in grid order.
#[derive(Clone, Copy)]
pub struct ChipMeasure<'a> {
    /// The modality that measured the chips.
    pub modality: Modality,
    /// Every chip's vector: what concatenated fusion joins, and what the image and spectral
    /// modalities compare by Euclidean distance.
    pub vectors: &'a Embeddings,
    /// The atom modality's g(r) per chip, compared by the Wasserstein distance instead.
    pub atoms: Option<&'a AtomChips>,
}

impl<'a> ChipMeasure<'a> {
    /// Vectors compared by Euclidean distance to the mean of the supports' (image, spectra).
    pub fn euclidean(modality: Modality, vectors: &'a Embeddings) -> Self {
        Self {
            modality,
            vectors,
            atoms: None,
        }
    }

    /// The atom columns' g(r), with their quantile vectors for concatenated fusion.
    pub fn atoms(chips: &'a AtomChips, quantiles: &'a Embeddings) -> Self {
        Self {
            modality: Modality::Atoms,
            vectors: quantiles,
            atoms: Some(chips),
        }
    }
}

/// What one modality learned from the labelled image's support chips.
#[derive(Clone, Debug, PartialEq)]
pub struct Learned {
    /// The modality whose measurement it learned from.
    pub modality: Modality,
    /// The support chips of each class, as indices into the grid of the image each lies on.
    pub classes: Vec<Vec<usize>>,
    /// Each support's name in the column cache, classes in order: its chip index, with its
    /// image's place in the project above bit 32.
    ids: Vec<Vec<u64>>,
    /// One row per support, classes in order.
    pub vectors: Embeddings,
    /// The atom modality's prototypes: each class's g(r) barycenter (`None` when none of its
    /// supports has atoms).
    barycenters: Option<Vec<Option<Vec<f32>>>>,
}

impl Learned {
    /// Learns from every chip of the labelled image; `classes[k]` are the support chips of
    /// class k.
    pub fn from_chips(measure: &ChipMeasure, classes: &[Vec<usize>]) -> Self {
        Self {
            modality: measure.modality,
            classes: classes.to_vec(),
            ids: chip_ids(classes),
            vectors: measure.vectors.gather(classes.iter().flatten().copied()),
            barycenters: measure.atoms.map(|atoms| atoms.prototypes(classes)),
        }
    }

    /// A Euclidean modality learned from the supports' vectors alone (one row per support,
    /// classes in order), when only the support chips were measured.
    ///
    /// # Panics
    /// If the rows do not match the supports.
    pub fn from_supports(
        modality: Modality,
        classes: Vec<Vec<usize>>,
        vectors: Embeddings,
    ) -> Self {
        let supports: usize = classes.iter().map(Vec::len).sum();
        assert_eq!(vectors.count(), supports, "one vector per support");
        Self {
            modality,
            ids: chip_ids(&classes),
            classes,
            vectors,
            barycenters: None,
        }
    }

    /// The same, learned on the project's image number `image` (0 for the first): its supports
    /// are named by that image as well as their chip, so supports of two images never share a
    /// cached distance column.
    pub fn on_image(mut self, image: u32) -> Self {
        let tag = u64::from(image) << 32;
        self.ids = chip_ids(&self.classes)
            .into_iter()
            .map(|class| class.into_iter().map(|id| id | tag).collect())
            .collect();
        self
    }

    /// One support set from what a Euclidean modality learned on several images of a project
    /// (each [`Self::on_image`]): every class's supports from each part, in the parts' order.
    ///
    /// # Panics
    /// If `parts` is empty, or its modalities or class counts differ, or one is the atoms'.
    pub fn joined(parts: &[Learned]) -> Learned {
        let first = &parts[0];
        let classes = first.classes.len();
        assert!(
            parts
                .iter()
                .all(|p| p.modality == first.modality && p.classes.len() == classes),
            "parts of one modality and one set of classes"
        );
        assert!(
            parts.iter().all(|p| p.barycenters.is_none()),
            "the atoms learn on one image"
        );
        let mut joined = Learned {
            modality: first.modality,
            classes: vec![Vec::new(); classes],
            ids: vec![Vec::new(); classes],
            vectors: Embeddings {
                dim: first.vectors.dim,
                values: Vec::new(),
            },
            barycenters: None,
        };
        for k in 0..classes {
            for part in parts {
                let start: usize = part.classes[..k].iter().map(Vec::len).sum();
                let rows = part.vectors.gather(start..start + part.classes[k].len());
                joined.vectors.values.extend(rows.values);
                joined.classes[k].extend(&part.classes[k]);
                joined.ids[k].extend(&part.ids[k]);
            }
        }
        joined
    }

    /// The supports' vectors per class, each named by its chip index.
    fn supports(&self) -> Vec<Vec<Support<'_>>> {
        let mut row = 0;
        self.ids
            .iter()
            .map(|class| {
                class
                    .iter()
                    .map(|&id| {
                        row += 1;
                        Support {
                            id,
                            vector: self.vectors.row(row - 1),
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Every chip's distance to each class: W1 to the g(r) barycenters for the atoms,
    /// Euclidean to the mean of `supports` (this modality's, from [`Self::supports`])
    /// otherwise, through `classifier` when given, which must have been made for `measure`'s
    /// vectors.
    fn distances(
        &self,
        measure: &ChipMeasure,
        supports: &[Vec<Support>],
        classifier: Option<&mut PrototypeClassifier>,
    ) -> Segmentation {
        if let (Some(atoms), Some(barycenters)) = (measure.atoms, &self.barycenters) {
            return atoms.distances(barycenters);
        }
        match classifier {
            Some(classifier) => classifier.classify(measure.vectors, supports),
            None => PrototypeClassifier::new(measure.vectors).classify(measure.vectors, supports),
        }
    }
}

/// Each support's chip index as its name in the column cache.
fn chip_ids(classes: &[Vec<usize>]) -> Vec<Vec<u64>> {
    classes
        .iter()
        .map(|class| class.iter().map(|&chip| chip as u64).collect())
        .collect()
}

/// Classifies every chip of one image: each modality's distances to the prototypes it
/// learned, fused as `fusion` says. `measured` and `learned` hold the modalities that take part
/// ([`Fusion::taking_part`]), in the same order. `image_classifier`, when given, is a
/// classifier prepared for the image modality's vectors and kept between calls, so that a
/// click in the page costs one distance column.
///
/// # Panics
/// If `measured` is empty or its modalities differ from `learned`'s.
pub fn segment(
    fusion: &Fusion,
    learned: &[Learned],
    measured: &[ChipMeasure],
    mut image_classifier: Option<&mut PrototypeClassifier>,
) -> Segmentation {
    assert!(!measured.is_empty(), "no modality measured");
    assert!(
        learned
            .iter()
            .map(|l| l.modality)
            .eq(measured.iter().map(|m| m.modality)),
        "the learned and measured modalities differ"
    );
    let supports: Vec<Vec<Vec<Support>>> = learned.iter().map(Learned::supports).collect();
    let distances: Vec<Segmentation> = learned
        .iter()
        .zip(measured)
        .zip(&supports)
        .map(|((learned, measure), supports)| {
            let cache = match measure.modality {
                Modality::Image => image_classifier.as_deref_mut(),
                _ => None,
            };
            learned.distances(measure, supports, cache)
        })
        .collect();
    let measurements: Vec<Measurement> = supports
        .into_iter()
        .zip(measured)
        .zip(&distances)
        .map(|((supports, measure), distances)| Measurement {
            weight: fusion.weight(measure.modality),
            chips: measure.vectors,
            supports,
            distances,
        })
        .collect();
    fuse(fusion.mode, &measurements)
}

/// Classifies every cell of `map` — the dense feature map the image modality's chips (on
/// `grid`) were pooled from, each cell averaged over its neighbourhood in `context` — against
/// the same prototypes as [`segment`], fused with the same constants, as [`crate::fine`]
/// describes.
///
/// # Panics
/// As [`segment`]; and if `map` has not as many channels as the image modality's vectors.
pub fn segment_cells(
    fusion: &Fusion,
    learned: &[Learned],
    measured: &[ChipMeasure],
    grid: &ChipGrid,
    map: &FeatureMap,
    context: &CellContext,
) -> FineLabels {
    let chip_of = chip_of_cells(grid, map.cols, map.rows, map.cell_px);
    let mut used: Vec<usize> = (0..measured.len())
        .filter(|&m| fusion.weighs(measured[m].modality))
        .collect();
    if used.is_empty() {
        used = (0..measured.len()).collect();
    }
    let total: f32 = used
        .iter()
        .map(|&m| fusion.weight(measured[m].modality))
        .sum();
    let parts: Vec<CellPart> = used
        .iter()
        .map(|&m| {
            let cells = (map, context);
            CellPart::new(
                fusion,
                &learned[m],
                &measured[m],
                cells,
                (used.len(), total),
            )
        })
        .collect();
    let classes = learned[0].classes.len();
    let mut values = Vec::with_capacity(chip_of.len() * classes);
    for (cell, chip) in chip_of.iter().enumerate() {
        let Some(chip) = *chip else {
            values.extend(std::iter::repeat_n(f32::NAN, classes));
            continue;
        };
        let rows: Vec<(&CellPart, &[f32])> = parts
            .iter()
            .map(|part| (part, part.row(cell, chip)))
            .collect();
        values.extend((0..classes).map(|k| fused(fusion.mode, &rows, k)));
    }
    FineLabels {
        cols: map.cols,
        rows: map.rows,
        cell_px: map.cell_px,
        segmentation: Segmentation::from_distances(classes, values),
    }
}

/// One modality's part in a cell's fused distance: its distance table (the cells' own for the
/// image, the chips' otherwise) and the factor fusion gives it.
struct CellPart {
    /// Per cell for the image modality, per chip otherwise.
    table: Segmentation,
    per_cell: bool,
    /// Concatenating several modalities: `weight / Σ weights / spread²`, which multiplies the
    /// squared distance; 1 otherwise.
    factor: f32,
    /// Averaging several modalities' distances: the largest entry of the chips' table, which
    /// divides the distances; 1 otherwise.
    largest: f32,
    /// The modality's fusion weight.
    weight: f32,
}

impl CellPart {
    fn new(
        fusion: &Fusion,
        learned: &Learned,
        measure: &ChipMeasure,
        (map, context): (&FeatureMap, &CellContext),
        (modalities, total): (usize, f32),
    ) -> Self {
        let supports = learned.supports();
        let per_cell = measure.modality == Modality::Image;
        let weight = fusion.weight(measure.modality);
        let fused = modalities > 1;
        // The chips' table: this modality's part of a concatenation (Euclidean on its vectors)
        // or its own distances; the image's is only needed for its largest entry.
        let chip_table = || match (fusion.mode, fused) {
            (FusionMode::Concatenate, true) => {
                PrototypeClassifier::new(measure.vectors).classify(measure.vectors, &supports)
            }
            _ => learned.distances(measure, &supports, None),
        };
        let (table, largest) = match (per_cell, fusion.mode, fused) {
            (true, FusionMode::Distances, true) => (
                cell_distances(map, context, &supports),
                largest(&chip_table()),
            ),
            (true, _, _) => (cell_distances(map, context, &supports), 1.0),
            (false, _, _) => {
                let table = chip_table();
                let largest = largest(&table);
                (table, largest)
            }
        };
        let factor = match (fusion.mode, fused) {
            (FusionMode::Concatenate, true) => weight / total / spread(measure.vectors).powi(2),
            _ => 1.0,
        };
        Self {
            table,
            per_cell,
            factor,
            largest,
            weight,
        }
    }

    fn row(&self, cell: usize, chip: usize) -> &[f32] {
        self.table
            .distances(if self.per_cell { cell } else { chip })
    }
}

/// Class `k`'s fused distance of one cell from its modalities' rows: the one modality's own,
/// or as [`crate::fusion`] fuses chips.
fn fused(mode: FusionMode, rows: &[(&CellPart, &[f32])], k: usize) -> f32 {
    if let [(_, row)] = rows {
        return row[k];
    }
    match mode {
        FusionMode::Concatenate => rows
            .iter()
            .map(|(part, row)| part.factor * row[k] * row[k])
            .sum::<f32>()
            .sqrt(),
        FusionMode::Distances => {
            let measured = rows
                .iter()
                .filter(|(_, row)| row.iter().any(|d| d.is_finite()));
            let (sum, weight) = measured.fold((0.0, 0.0), |(sum, weight), (part, row)| {
                (
                    sum + part.weight * row[k] / part.largest,
                    weight + part.weight,
                )
            });
            if weight > 0.0 { sum / weight } else { f32::NAN }
        }
    }
}

/// Every cell's Euclidean distance, averaged over its neighbourhood, to each class's prototype,
/// the mean of its supports.
fn cell_distances(
    map: &FeatureMap,
    context: &CellContext,
    supports: &[Vec<Support>],
) -> Segmentation {
    let prototypes: Vec<Vec<f32>> = supports.iter().map(|class| prototype(class)).collect();
    assert_eq!(
        prototypes[0].len(),
        map.channels,
        "the map is not the one the chips were pooled from"
    );
    let columns: Vec<Vec<f32>> = prototypes
        .iter()
        .map(|p| context.distances(map, p))
        .collect();
    let values = (0..map.cols * map.rows)
        .flat_map(|cell| columns.iter().map(move |column| column[cell]))
        .collect();
    Segmentation::from_distances(prototypes.len(), values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chips() -> Embeddings {
        Embeddings::from_rows(&[&[0.0, 0.0], &[1.0, 0.0], &[9.0, 9.0], &[10.0, 9.0]])
    }

    #[test]
    fn supports_learned_from_all_chips_or_from_their_rows_agree() {
        let chips = chips();
        let measure = ChipMeasure::euclidean(Modality::Image, &chips);
        let classes = vec![vec![0], vec![3, 2]];
        let from_chips = Learned::from_chips(&measure, &classes);
        let rows = Embeddings::from_rows(&[&[0.0, 0.0], &[10.0, 9.0], &[9.0, 9.0]]);
        assert_eq!(
            from_chips,
            Learned::from_supports(Modality::Image, classes, rows)
        );
    }

    /// One modality: the Euclidean distances to the supports' means, (0, 0) and (9.5, 9).
    #[test]
    fn one_modality_gives_its_distances_to_the_supports_mean() {
        let chips = chips();
        let measure = ChipMeasure::euclidean(Modality::Image, &chips);
        let learned = Learned::from_chips(&measure, &[vec![0], vec![2, 3]]);
        let fusion = Fusion::default();
        let plain = segment(&fusion, std::slice::from_ref(&learned), &[measure], None);
        assert_eq!(plain.distances(0)[0], 0.0);
        assert!((plain.distances(1)[1] - (8.5f32.powi(2) + 81.0).sqrt()).abs() < 1e-4);
        let mut cached = PrototypeClassifier::new(&chips);
        let again = segment(&fusion, &[learned], &[measure], Some(&mut cached));
        assert_eq!(again, plain, "the kept classifier gives the same distances");
    }

    /// Supports on two images join into one set: the same chip index on each is another
    /// support, also for a classifier kept between calls.
    #[test]
    fn supports_on_two_images_form_one_set() {
        let here = chips();
        let there = Embeddings::from_rows(&[&[20.0, 0.0], &[9.0, 9.0]]);
        let measure_here = ChipMeasure::euclidean(Modality::Image, &here);
        let measure_there = ChipMeasure::euclidean(Modality::Image, &there);
        let on_here = Learned::from_chips(&measure_here, &[vec![0], vec![2]]).on_image(0);
        let on_there = Learned::from_chips(&measure_there, &[vec![0], vec![]]).on_image(1);
        let joined = Learned::joined(&[on_here, on_there]);
        assert_eq!(joined.classes, [vec![0, 0], vec![2]]);
        // Class 0's prototype is the mean of (0, 0) here and (20, 0) there: (10, 0).
        let fusion = Fusion::default();
        let mut kept = PrototypeClassifier::new(&here);
        let first_alone = Learned::from_chips(&measure_here, &[vec![0], vec![2]]);
        segment(&fusion, &[first_alone], &[measure_here], Some(&mut kept));
        let joint = segment(
            &fusion,
            std::slice::from_ref(&joined),
            &[measure_here],
            Some(&mut kept),
        );
        assert!(
            (joint.distances(0)[0] - 10.0).abs() < 1e-5,
            "{:?}",
            joint.distances(0)
        );
        assert_eq!(joint, segment(&fusion, &[joined], &[measure_here], None));
    }

    #[test]
    #[should_panic(expected = "modalities differ")]
    fn learned_and_measured_modalities_must_match() {
        let chips = chips();
        let image = ChipMeasure::euclidean(Modality::Image, &chips);
        let spectra = ChipMeasure::euclidean(Modality::Spectra, &chips);
        let learned = Learned::from_chips(&spectra, &[vec![0], vec![2]]);
        let fusion = Fusion {
            mode: FusionMode::Distances,
            weights: [(Modality::Image, 1.0)].into(),
        };
        segment(&fusion, &[learned], &[image], None);
    }

    /// A 32² image of 16-px chips (2 × 2) under a map of 8-px cells (4 × 4), each chip's four
    /// cells holding the same vector as the chip's pooled one.
    fn constant_cells() -> (ChipGrid, FeatureMap) {
        let chip_vectors = [[0.0, 0.0], [1.0, 0.5], [8.0, 9.0], [10.0, 9.0]];
        let values = (0..16)
            .flat_map(|cell| chip_vectors[(cell / 8) * 2 + (cell % 4) / 2])
            .collect();
        let map = FeatureMap {
            channels: 2,
            cols: 4,
            rows: 4,
            cell_px: 8.0,
            values,
        };
        (ChipGrid::new(32, 32, 16).unwrap(), map)
    }

    /// Cells equal to their chip get the chip's fused distances, alone and fused with a
    /// modality measured per chip, in both fusion modes.
    #[test]
    fn cells_like_their_chip_classify_like_it() {
        let (grid, map) = constant_cells();
        let image = map.pool(&grid);
        let spectra = Embeddings::from_rows(&[&[5.0], &[1.0], &[0.0], &[3.0]]);
        let classes = vec![vec![0, 1], vec![3]];
        let measures = [
            ChipMeasure::euclidean(Modality::Image, &image),
            ChipMeasure::euclidean(Modality::Spectra, &spectra),
        ];
        let learned: Vec<Learned> = measures
            .iter()
            .map(|m| Learned::from_chips(m, &classes))
            .collect();
        for (mode, modalities) in [
            (FusionMode::Concatenate, 1),
            (FusionMode::Concatenate, 2),
            (FusionMode::Distances, 2),
        ] {
            let fusion = Fusion {
                mode,
                weights: [(Modality::Image, 1.0), (Modality::Spectra, 0.5)].into(),
            };
            let (learned, measured) = (&learned[..modalities], &measures[..modalities]);
            let chips = segment(&fusion, learned, measured, None);
            let alone = CellContext::with_sigma(&map, 0.0);
            let cells = segment_cells(&fusion, learned, measured, &grid, &map, &alone);
            for cell in 0..16 {
                let chip = (cell / 8) * 2 + (cell % 4) / 2;
                let (ours, theirs) = (cells.segmentation.distances(cell), chips.distances(chip));
                let close = ours.iter().zip(theirs).all(|(a, b)| (a - b).abs() < 1e-4);
                assert!(
                    close,
                    "{mode:?} ×{modalities}: cell {cell} {ours:?}, chip {theirs:?}"
                );
            }
        }
    }

    /// A cell unlike its chip is classified by its own vector; cells outside the grid are not.
    #[test]
    fn cells_are_classified_by_their_own_vectors() {
        let (_, mut map) = constant_cells();
        let grid = ChipGrid::new(32, 32, 16).unwrap();
        let image = map.pool(&grid);
        map.values[2..4].copy_from_slice(&[9.0, 9.0]); // cell 1 lies in chip 0
        let measure = ChipMeasure::euclidean(Modality::Image, &image);
        let learned = Learned::from_chips(&measure, &[vec![0], vec![3]]);
        let fusion = Fusion::default();
        let alone = CellContext::with_sigma(&map, 0.0);
        let cells = segment_cells(&fusion, &[learned], &[measure], &grid, &map, &alone);
        let assignments = cells.assignments(None);
        assert_eq!(assignments[..4], [Some(0), Some(1), Some(0), Some(0)]);
        let small = ChipGrid::new(32, 32, 12).unwrap(); // 2 × 2 chips cover 24²: cell 3 is out
        let image = map.pool(&small);
        let measure = ChipMeasure::euclidean(Modality::Image, &image);
        let learned = Learned::from_chips(&measure, &[vec![0], vec![3]]);
        let cells = segment_cells(&fusion, &[learned], &[measure], &small, &map, &alone);
        assert_eq!(cells.assignments(None)[3], None);
    }
}
