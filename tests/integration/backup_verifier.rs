//! Integration tests of the backup verifier (being written).
