//! `strata-executor`: the command executor as a binary of its own.
//!
//! The same executor as `strata executor command` (the
//! `strata-executors-command` crate), linked without the master, agent and
//! frameworks, so that starting one per task is cheap in time and memory. The
//! agent runs it from beside its own binary (or `--launcher_dir`), with the
//! `MESOS_*` environment of the v1 executor API.
//!
//! Logging goes to stderr (the sandbox's `stderr` file) at `info`, or at the
//! level `RUST_LOG` names (a plain level only: `debug`, `warn`, ...). A full
//! `RUST_LOG` filter would pull a regular-expression engine into every
//! executor's memory.

use tracing_subscriber::filter::LevelFilter;

fn main() {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .init();
    std::process::exit(strata_executors_command::main_entry());
}
