//! Integration tests: the client and the emulator over real HTTP on loopback.
//!
//! One test binary with a module per crate, to keep link times down.

#![allow(missing_docs, unreachable_pub, clippy::too_many_lines)]

mod common;
#[path = "../support/s3_server.rs"]
mod s3_server;

mod client;
mod cluster;
mod emulator;
mod flight;
mod labeling;
mod remote;
mod shell;
mod sink;
mod sql;
