//! The catalog as a source of channel items: every ready fMP4 video, in upload order.
//!
//! Channels serve their `live.m3u8` from the items' existing segments with `tfdt`
//! shifted, which needs fMP4 segments; TS ladders are left out of channels.

use crate::channel::hub::{ChannelItem, ItemSource};
use crate::channel::live_playlist::ItemMedia;
use crate::hls::SegmentFormat;

use super::store::Store;
use super::Status;

impl ItemSource for Store {
    fn ready_items(&self) -> Vec<ChannelItem> {
        let mut videos = self.list();
        videos.retain(|v| v.status == Status::Ready && v.format == SegmentFormat::Fmp4 && v.duration > 0.0);
        videos.sort_by(|a, b| {
            a.created_at_ms
                .cmp(&b.created_at_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        videos
            .into_iter()
            .map(|v| ChannelItem {
                key: format!("video:{}", v.id),
                video: Some(v.id.clone()),
                library: None,
                title: v.title.clone(),
                duration: v.duration,
                url: v.links.master.clone(),
                media: ItemMedia {
                    media_id: v.id.clone(),
                    renditions: v.renditions.clone(),
                },
            })
            .collect()
    }
}
