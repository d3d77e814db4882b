//! The HTTP front, end to end: each test starts its own `reel serve` on an ephemeral port
//! over a temp media root, with clips generated in the test.

mod api;
mod auth;
mod bad_input;
mod library;
mod limits;
mod media;
mod progressive;
mod restart;
mod s3;
mod traversal;
mod upload;
