//! The daemon's side of every container process: the helper (forked before tokio) and its wire
//! protocol, the per-container monitor that outlives the daemon, exec'd commands and their waiter,
//! the monitor's stdio session with its attach frames and log file, the exit record, the
//! container's monitor lock (who may still run it), the ending of what an interrupted start left,
//! and restarts by policy (the daemon's order, the monitor's record of its runs).
//!
//! The top room of the layer: it may import every other room (`container` for what it forks,
//! `confinement`, `cgroup`, `network`, `sys`) and the layer's shared types; no other room imports
//! it.

pub mod attach;
mod exec;
pub mod exit_record;
pub mod helper;
pub mod logfile;
mod monitor;
pub mod monitor_lock;
mod protocol;
pub mod restart_policy;
pub mod run_record;
mod session;
mod start_leftovers;
