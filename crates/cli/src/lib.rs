//! The library behind the `chipscope` command line: reading input files ([`files`]), loading
//! and running the encoders ([`encode`]) and applying a session to files ([`segment`]). The
//! `chipscope` binary is built on it, and so are the Python package (`crates/python`) and the
//! benchmarks (`chipscope-bench`, in `crates/bench`), which live outside the product.

pub mod encode;
pub mod files;
pub mod segment;

use std::process::ExitCode;

/// The exit status of a command's `result`, printing its error (with the chain of causes) to
/// stderr: what both binaries' `main` return.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
