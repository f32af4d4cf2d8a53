//! Integration tests of the template (being written).
