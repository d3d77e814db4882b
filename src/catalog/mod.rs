//! The catalog record of a video: the "video object" of the API, stored as each video's
//! `manifest.json`. The CLI (`reel transcode`) and the server write the same record, so a
//! directory made by either can be served by the other.

pub mod video;

pub use video::{Links, Status, Video};
