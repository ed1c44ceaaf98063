//! `refuel-sql` as a library: the SQL shell over Refuel datasets and labels (as
//! `datafusion-cli` is one), so its parts (the command line, the session set-up, the
//! backslash commands, the printers) can be reused and tested.
//!
//! Without an API key the shell runs the Refuel emulator in-process on a local data
//! directory and, the first time, fills it with a demo project. With `--api-key` /
//! `REFUEL_API_KEY` it talks to the Refuel cloud (or to `--endpoint`).

pub mod catalog;
pub mod cli;
pub mod command;
pub mod connect;
pub mod context;
pub mod demo;
pub mod error;
pub mod exec;
pub mod helper;
pub mod print_format;
pub mod print_options;
pub mod progress;
pub mod scan_progress;
pub mod statement;
pub mod subcommands;
