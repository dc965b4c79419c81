//! (H1: to be written)
