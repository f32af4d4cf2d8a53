//! The backup-verifier function.
