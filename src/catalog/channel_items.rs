//! The catalog as a source of channel items: every ready fMP4 upload in upload order,
//! then every ready library rendition by path.
//!
//! Channels serve their `live.m3u8` from the items' existing segments with `tfdt`
//! shifted, which needs fMP4 segments; TS ladders are left out of channels.

use crate::channel::hub::{ChannelItem, ItemSource};
use crate::channel::live_playlist::ItemMedia;
use crate::hls::SegmentFormat;

use super::store::Store;
use super::{Status, Video};

impl ItemSource for Store {
    fn ready_items(&self) -> Vec<ChannelItem> {
        let mut videos = self.list();
        videos.retain(|v| v.status == Status::Ready && v.format == SegmentFormat::Fmp4 && v.duration > 0.0);
        let (mut library, mut uploads): (Vec<Video>, Vec<Video>) =
            videos.into_iter().partition(|v| v.library.is_some());
        uploads.sort_by(|a, b| {
            a.created_at_ms
                .cmp(&b.created_at_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        library.sort_by(|a, b| {
            a.library
                .as_ref()
                .map(|l| &l.path)
                .cmp(&b.library.as_ref().map(|l| &l.path))
        });
        uploads.into_iter().chain(library).map(item).collect()
    }
}

fn item(v: Video) -> ChannelItem {
    let (key, video, library) = match &v.library {
        Some(source) => (
            format!("library:{}", source.path),
            None,
            Some(source.path.clone()),
        ),
        None => (format!("video:{}", v.id), Some(v.id.clone()), None),
    };
    ChannelItem {
        key,
        video,
        library,
        title: v.title,
        duration: v.duration,
        url: v.links.master,
        media: ItemMedia {
            media_id: v.id,
            renditions: v.renditions,
            // The first stereo rendition (AAC, what MPEG-TS channels mux); never a
            // surround (AC-3) one.
            audio: v
                .audio
                .into_iter()
                .find(|a| a.playlist.is_some() && !a.is_surround()),
        },
    }
}
