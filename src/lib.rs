//! edge-auth: an authentication layer that runs in a Cloudflare Worker in front of an origin API.
//!
//! The crate is split in two:
//!
//! * a **pure core** (every module but `edge`) that compiles and is tested natively. It never names
//!   a `worker` type, never reads a clock (time is always an argument) and never does I/O: key-value
//!   reads, JWKS fetches and signature verification go through the narrow traits in [`ports`];
//! * a **thin runtime adapter** (`edge`, wasm32 only) that reads the environment, implements the
//!   ports with Workers KV, `fetch` and WebCrypto, and carries out the core's [`authn::Decision`].
//!
//! Threat model, in short: every client-supplied header is hostile; the edge fails closed (an
//! error is never a forward); credentials, their hashes and secrets never reach a log or a body.
#![cfg_attr(not(target_arch = "wasm32"), forbid(unsafe_code))]
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

pub(crate) mod assertion;
pub mod authn;
pub(crate) mod bounded;
// Used by the adapter (wasm32) and tested natively: natively only its tests call it.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) mod carry;
pub mod config;
pub mod extract;
pub(crate) mod failures;
pub mod headers;
pub mod identity;
// Used by the adapter (wasm32) and tested natively: natively only its tests call it.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) mod log;
pub mod ports;
pub mod problem;
pub mod reason;
pub mod rejection;
// Used by the adapter (wasm32) and tested natively: natively only its tests call it.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) mod request_url;
pub mod route;
pub mod time;

pub mod admin;
pub mod keys;
pub mod limits;
pub mod state;

pub mod json_path;
pub mod jwks;
pub mod jwt;

#[cfg(target_arch = "wasm32")]
mod edge;
