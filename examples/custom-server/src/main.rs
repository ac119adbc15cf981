//! A Flovyn server of one's own. Every plugin crate among this package's dependencies is
//! linked and must register at start-up; nothing here names one.

flovyn_server::main!();
