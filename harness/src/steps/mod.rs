//! Step definitions. `common` holds the vocabulary every feature shares (tokens, requests,
//! rejections); each other module mirrors one feature file.

mod audience;
mod common;
mod connections;
mod discovery;
mod expiry;
mod key_rotation;
mod passthrough;
mod revocation;
mod scope;
mod session;
