//! The weight-shifter function.
