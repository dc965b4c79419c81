//! contid: the Conti container engine daemon.
//!
//! Three layers, arrows pointing one way: [`api`] (HTTP, wire types, error mapping) →
//! [`engine`] (container model, state, lifecycle rules) → [`runtime`] (the Linux layer). Beside
//! the engine, driven by it: [`dns`], the embedded resolver of container networks (async, on
//! sockets from the runtime).
//!
//! Around them, for `main`: [`config`], the settings from the flags and the configuration file;
//! [`systemd`], what the service manager hands the daemon (the listening socket, the
//! notification socket, the watchdog) and what the daemon tells it.

pub mod api;
pub mod config;
pub mod dns;
pub mod engine;
pub mod images;
pub mod registry;
pub mod runtime;
pub mod systemd;
