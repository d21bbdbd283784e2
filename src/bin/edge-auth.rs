//! `edge-auth`: the operators' command-line client for the admin API (see README, "Command-line
//! client"). A native binary only: on wasm32 it compiles to an empty stub, so the Worker build
//! never sees its dependencies.
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

#[cfg(not(target_arch = "wasm32"))]
mod edge_auth_cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    edge_auth_cli::run(std::env::args_os())
}

#[cfg(target_arch = "wasm32")]
fn main() {}
