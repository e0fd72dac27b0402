//! Chipscope's domain logic, free of any web dependency so it is tested natively and shared by
//! the browser app and the command line.
//!
//! Data flows one way through these modules:
//! [`formats`] decodes a file → [`dataset::Dataset`] → [`grid::ChipGrid`] cuts it into chips →
//! [`encoders`] embed each chip with a pretrained CNN read by [`weights`] into
//! [`embeddings::Embeddings`] (the chips × dim matrix every modality fills) → [`classify`] measures
//! each chip's distance to the prototypes of the [`labels`] (support sets), with [`atoms`]
//! adding the atom columns found in the image as a further modality, and [`fusion`] joins the
//! modalities into one segmentation → [`results`]
//! summarises the segmentation and [`exports`] writes it out. A [`session`] file records all
//! the choices so the page and the CLI reproduce each other; [`share`] packs it into a link and
//! [`crowd`] merges many labellers' answers to one labelling task. [`display`] maps raw values to
//! screen grey levels without touching the data, and [`simulate`] makes the example micrograph
//! with a known label map. [`hashing`] gives the sha256 by which sessions recognise their data
//! and weight files are checked.

pub mod atoms;
pub mod classify;
pub mod crowd;
pub mod dataset;
pub mod display;
pub mod embeddings;
pub mod encoders;
pub mod exports;
pub mod formats;
pub mod fusion;
pub mod grid;
pub mod hashing;
pub mod labels;
pub mod npy;
pub mod results;
pub mod session;
pub mod share;
pub mod simulate;
pub mod spectra;
pub mod weights;
