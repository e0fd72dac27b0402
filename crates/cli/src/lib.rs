//! The library behind the `chipscope` command line: reading input files ([`files`]) and loading
//! and running the encoders ([`encode`]). The `chipscope` binary is built on it, and so are the
//! benchmarks (`chipscope-bench`, in `crates/bench`), which live outside the product.

pub mod encode;
pub mod files;

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
