//! The replication-validator function.
