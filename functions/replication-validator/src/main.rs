//! The replication-validator Lambda function (being wired).
fn main() {}
