//! The catalog: the video records (`manifest.json`) the CLI and the server share, and the
//! server's side of them.
//!
//! * [`video::Video`]: the API's video object, stored as `manifest.json`;
//! * [`layout::Layout`]: where videos, job sources and uploads live under the media root;
//! * [`store::Store`]: every video in memory, persisted, rebuilt at start;
//! * [`jobs::Jobs`]: accepting uploads, running their transcodes, resuming after restarts;
//! * [`library`]: HLS renditions of `--library` files, prepared in the background;
//! * [`upkeep`]: the thread that keeps both in step with the disk;
//! * [`demo`]: the clip an empty server makes for itself.

pub mod channel_items;
pub mod demo;
pub mod jobs;
pub mod layout;
pub mod library;
pub mod store;
pub mod upkeep;
pub mod video;

pub use video::{LibrarySource, Links, Status, Video};
