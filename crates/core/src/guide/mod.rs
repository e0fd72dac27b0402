//! Labelling that guides itself, from what the pipeline already computed — the chips' vectors
//! and their segmentation — so each costs milliseconds after a click:
//!
//! - [`suggest`]: which unlabelled chips to label next (active learning);
//! - [`proposals`]: classes proposed before any label, by clustering the chips;
//! - [`quality`]: how good the supports are (leave-one-out accuracy, confusion, likely wrong
//!   clicks).
//!
//! The chips' vectors are those [`crate::fusion::joined_vectors`] makes of the modalities taking
//! part, so that several modalities are compared as concatenated fusion compares them.

pub mod proposals;
pub mod quality;
pub mod suggest;

/// ‖a − b‖², summed in a fixed order so every platform gets the same bits (clusterings and
/// suggestions must not differ between the page and the CLI).
fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}
