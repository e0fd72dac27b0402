//! Chipscope's domain logic, free of any web dependency so it is tested natively and shared by
//! the browser app and the command line. The page and the CLI decide *when* and *from which
//! files*; everything that decides *what* the segmentation is lives here.
//!
//! The modules, in the order data flows through them:
//!
//! - [`formats`] reads a file (one module per format, one registry, one [`formats::Limits`])
//!   into a [`dataset::Dataset`] (the image with its calibration and metadata) and, for EDS
//!   maps, a spectrum image ([`spectra`]).
//! - [`grid`] cuts the image into square chips; [`display`] maps raw values to grey levels.
//! - Each modality measures every chip into an [`embeddings::Embeddings`] matrix: [`encoders`]
//!   embed chips with a pretrained CNN whose weights [`weights`] reads; [`atoms`] finds the
//!   atom columns and gives every chip its g(r); [`spectra`] turns the chip spectra into raw or
//!   spec2vec vectors.
//! - [`labels`] holds the classes and their support chips; [`pipeline`] is the one place a
//!   session's modalities, supports and measurements become a segmentation: it learns each
//!   modality's prototypes, measures the distances ([`classify`]) and fuses them ([`fusion`],
//!   which also says which modalities take part).
//! - [`guide`] helps the labelling: suggested next chips, classes proposed by clustering, and
//!   the supports' leave-one-out check.
//! - [`results`] summarises a segmentation (shares, areas, chart) and [`exports`] writes the
//!   result files; [`series`] tabulates and plots the shares of every frame of a frame series
//!   ([`formats::series`]); [`npy`] writes embeddings.
//! - [`report`] tabulates each class: its shares, mean X-ray line counts and column spacing.
//! - [`session`] records every choice so the page and the CLI reproduce each other; [`share`]
//!   packs a session into a link; [`crowd`] merges many labellers' answers to one task.
//! - Shared helpers: [`hashing`] (the sha256 that identifies data and weight files),
//!   [`smoothing`] (Gaussian filters used by the atom search and element maps), [`simulate`]
//!   (the example micrograph and test scenes with known labels).

pub mod atoms;
pub mod classify;
pub mod crowd;
pub mod dataset;
pub mod display;
pub mod embeddings;
pub mod encoders;
pub mod exports;
pub mod fine;
pub mod formats;
pub mod fusion;
pub mod grid;
pub mod guide;
pub mod hashing;
pub mod labels;
pub mod npy;
pub mod pipeline;
pub mod report;
pub mod results;
pub mod series;
pub mod session;
pub mod share;
pub mod simulate;
pub mod smoothing;
pub mod spectra;
pub mod weights;
