//! API keys and PATs: opaque bearer tokens whose records live in KV (issue #13), pure policy
//! over ports. This module never reads a clock (`now` is an argument), never does I/O itself
//! (records come through [`crate::ports::KeyStore`] and, with the state tier,
//! [`crate::ports::Authority`]) and never keeps, logs or stores a token (only its SHA-256).
//!
//! A presented key moves through three steps, each refused with a static reason code:
//!
//! 1. **[`format`](mod@format)**: prefix, length, alphabet and checksum ([`KeyFormatError`]), so
//!    a mistyped or forged key is refused before any KV read;
//! 2. **lookup** by [`TokenDigest`] ([`digest`]): the per-isolate [`KeyCache`] ([`cache`]), then
//!    KV, or the authority for a key the revocation view lists as just created or changed, all
//!    under the names [`repository`] owns (the one place the KV schema is built and parsed);
//! 3. **[`record`] check**: kind, issuer, revocation and expiry at `now` ([`RecordRejection`]).
//!    Only then is an [`Identity`](crate::identity::Identity) built.
//!
//! [`KeyAuthenticator`] ([`authenticator`]) drives the three steps with its [`KeySettings`]
//! ([`settings`]) and cache, as [`crate::jwt::JwtAuthenticator`] does for JWTs; the admin API
//! ([`crate::admin`]) writes and reads records through the same [`repository`].

pub(crate) mod authenticator;
pub(crate) mod cache;
pub(crate) mod digest;
pub mod format;
pub(crate) mod record;
pub mod repository;
pub(crate) mod settings;

pub use authenticator::{touch, KeyAuthFailure, KeyAuthenticator, KeySuccess, Recent, Touch};
pub use cache::KeyCache;
pub use digest::TokenDigest;
pub use format::{KeyFormat, KeyFormatError, KeyKind};
pub use record::{pat_issuer, IdRecord, KeyRecord, KeyStatus, RecordRejection};
pub use repository::{KeyRepository, Listing, MAX_SUBJECT_BYTES};
pub use settings::{KeySettings, RawKeySettings};
