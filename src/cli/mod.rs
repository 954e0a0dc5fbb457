//! The parts of the `plain` command line that are more than argument handling.

pub mod breaker;
pub mod lines;
pub mod outputs;
pub mod records;
pub mod sync;
pub mod text;
