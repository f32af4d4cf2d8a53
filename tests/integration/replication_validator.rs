//! Integration tests of the replication validator (being written).
