//! Page components: each holds view state only and calls `chipscope-core`.

pub mod app;
pub mod atoms_panel;
pub mod backend_badge;
pub mod classes_panel;
pub mod contrast;
pub mod crowd_panel;
pub mod dataset_info;
pub mod encoder_panel;
pub mod frames_panel;
pub mod grid_panel;
pub mod guidance;
pub mod import;
pub mod pending_banner;
pub mod project_panel;
pub mod results_panel;
pub mod spectra_panel;
pub mod task_panel;
pub mod viewer;
pub mod viewport;
