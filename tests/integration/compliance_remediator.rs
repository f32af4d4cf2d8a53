//! Integration tests of the compliance remediator (being written).
