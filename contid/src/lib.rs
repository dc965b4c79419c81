//! contid: the Conti container engine daemon.
//!
//! Three layers, arrows pointing one way: [`api`] (HTTP, wire types, error mapping) →
//! [`engine`] (container model, state, lifecycle rules) → [`runtime`] (the Linux layer).

pub mod api;
pub mod engine;
pub mod runtime;
