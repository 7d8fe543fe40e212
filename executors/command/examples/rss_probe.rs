//! Temporary: runs the executor as a process, to measure its memory.
fn main() {
    std::process::exit(strata_executors_command::main_entry());
}
