//! The compliance-remediator function.
