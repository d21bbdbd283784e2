//! The runtime adapter (wasm32 only): the fetch entry, bindings, and carrying out the core's
//! decision. No policy lives here: every "may this request pass" question is answered by
//! [`crate::authn::Gateway::decide`], and every refusal of the adapter's own steps by
//! [`crate::carry`]. One module per concern:
//!
//! | module | owns |
//! |---|---|
//! | `entry` | the fetch entry and `handle`: the order of the steps, carrying out the decision |
//! | `env` | bindings, the config text, the isolate's gateway, clock, CSPRNG, request ids, per-isolate memos |
//! | `glue` | the `runtime.js` imports (but the state tier's and the counter objects') |
//! | `endpoints` | the own endpoints: health, console, OpenAPI, assertion JWKS, the admin API and its replies |
//! | `forward` | header edits, the assertion key, the forward and the handler of a failed one |
//! | `log` | handing the core's log lines to the runtime |
//! | `response` | building the edge's own responses (problem+json, JSON) |
//! | `kv`, `documents`, `crypto` | the ports over Workers KV, `fetch` and WebCrypto |
//! | `state`, `limits` | the state tier's and the counter objects' storage shells and calls |
//! | `fault` | fault injection (test builds only) |

mod crypto;
mod documents;
mod endpoints;
mod entry;
mod env;
#[cfg(feature = "fault-injection")]
mod fault;
mod forward;
mod glue;
mod kv;
mod limits;
mod log;
mod response;
mod state;
