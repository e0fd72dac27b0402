//! Chipscope's domain logic, free of any web dependency so it is tested natively and shared by
//! the browser app and the command line.
//!
//! Data flows one way through these modules:
//! [`formats`] decodes a file → [`dataset::Dataset`] → [`grid::ChipGrid`] cuts it into chips →
//! [`encoders`] embed each chip with a pretrained CNN read by [`weights`] → (distances, fusion
//! and segmentation in later stages) → views. [`display`] maps raw values to screen grey levels
//! without touching the data, and [`simulate`] makes the example micrograph with a known label
//! map.

pub mod dataset;
pub mod display;
pub mod encoders;
pub mod formats;
pub mod grid;
pub mod npy;
pub mod simulate;
pub mod weights;
