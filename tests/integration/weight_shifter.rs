//! Integration tests of the weight shifter (being written).
