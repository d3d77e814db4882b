//! [`Store`]: every video the server knows, in memory, persisted as `manifest.json`.
//!
//! The map is the truth for the API; each video's `manifest.json` (written atomically)
//! is the truth across restarts, and [`Store::load`] rebuilds the map from them. Each
//! video sits in a `tokio::sync::watch` channel so that SSE streams wake on every change
//! without polling; removing a video drops its sender, which ends those streams.
//!
//! Readers never see a video that is not in the map: `/media/{id}/...` only serves ids the
//! store holds, so a directory being deleted or half-made is invisible.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use parking_lot::RwLock;
use tokio::sync::watch;

use super::layout::{self, Layout};
use super::video::{Links, Status, Video, MANIFEST};
use crate::storage::MediaStore;

pub struct Store {
    layout: Layout,
    media: MediaStore,
    videos: RwLock<HashMap<String, Arc<watch::Sender<Video>>>>,
}

impl Store {
    /// Reads every `{id}/manifest.json` of the media store. Folders without a readable
    /// manifest are left alone (and not served); the id is the folder's name, whatever the
    /// manifest says, so a tree made by `reel transcode --out` can be dropped in.
    pub fn load(layout: Layout, media: MediaStore) -> std::io::Result<Store> {
        let mut videos = HashMap::new();
        for name in media.folders()? {
            if !layout::is_valid_id(&name) {
                continue;
            }
            match Video::read_manifest(&media, &name) {
                Ok(Some(mut video)) => {
                    if let Some(root) = media.folder_root() {
                        layout::remove_temp_files(&root.join(&name));
                    }
                    // The folder's name is the id; links follow this run's settings.
                    video.id = name.clone();
                    video.links = Links::for_id(&name);
                    videos.insert(name, Arc::new(watch::Sender::new(video)));
                }
                Ok(None) => {}
                Err(e) => log::warn!("skipping video folder {name:?}: unreadable manifest.json: {e}"),
            }
        }
        Ok(Store {
            layout,
            media,
            videos: RwLock::new(videos),
        })
    }

    /// Where every video's objects live.
    pub fn media(&self) -> &MediaStore {
        &self.media
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn get(&self, id: &str) -> Option<Video> {
        self.videos.read().get(id).map(|tx| tx.borrow().clone())
    }

    pub fn contains(&self, id: &str) -> bool {
        self.videos.read().contains_key(id)
    }

    /// The status of a video, without cloning it (the media handler asks on every request).
    pub fn status(&self, id: &str) -> Option<Status> {
        self.videos.read().get(id).map(|tx| tx.borrow().status)
    }

    pub fn is_empty(&self) -> bool {
        self.videos.read().is_empty()
    }

    /// Every video, newest first.
    pub fn list(&self) -> Vec<Video> {
        let mut all: Vec<Video> = self
            .videos
            .read()
            .values()
            .map(|tx| tx.borrow().clone())
            .collect();
        all.sort_by(|a, b| {
            b.created_at_ms
                .cmp(&a.created_at_ms)
                .then_with(|| b.id.cmp(&a.id))
        });
        all
    }

    /// A receiver that sees every later change of the video; `None` for an unknown id.
    pub fn subscribe(&self, id: &str) -> Option<watch::Receiver<Video>> {
        self.videos.read().get(id).map(|tx| tx.subscribe())
    }

    /// Adds a video, then runs `commit` under the same write lock; if `commit` fails the
    /// video is taken out again before anyone can have seen it.
    pub fn insert_with<E>(&self, video: Video, commit: impl FnOnce() -> Result<(), E>) -> Result<(), E> {
        let mut map = self.videos.write();
        let id = video.id.clone();
        map.insert(id.clone(), Arc::new(watch::Sender::new(video)));
        if let Err(e) = commit() {
            map.remove(&id);
            return Err(e);
        }
        Ok(())
    }

    /// Adds a video another process made (its manifest is already on disk); keeps the
    /// entry already there, if any.
    pub fn adopt(&self, video: Video) {
        self.videos
            .write()
            .entry(video.id.clone())
            .or_insert_with(|| Arc::new(watch::Sender::new(video)));
    }

    /// How many videos `keep` says yes to (without cloning them).
    pub fn count(&self, keep: impl Fn(&Video) -> bool) -> usize {
        self.videos
            .read()
            .values()
            .filter(|tx| keep(&tx.borrow()))
            .count()
    }

    /// Every video's id.
    pub fn ids(&self) -> Vec<String> {
        self.videos.read().keys().cloned().collect()
    }

    /// Changes a video in memory and wakes its subscribers; returns the new value, or
    /// `None` when the video is gone (deleted meanwhile).
    pub fn update(&self, id: &str, change: impl FnOnce(&mut Video)) -> Option<Video> {
        let tx = self.videos.read().get(id).cloned()?;
        let mut out = None;
        tx.send_modify(|v| {
            change(v);
            out = Some(v.clone());
        });
        out
    }

    /// Like [`update`](Self::update), but writes the manifest before anyone can see the
    /// change: whatever the API has shown (ready, failed) survives a crash right after.
    pub fn update_and_persist(&self, id: &str, change: impl FnOnce(&mut Video)) -> Option<Video> {
        let tx = self.videos.read().get(id).cloned()?;
        let mut video = tx.borrow().clone();
        change(&mut video);
        self.persist(&video);
        tx.send_replace(video.clone());
        Some(video)
    }

    /// Stores a video's `manifest.json` (after a failed job, the only object left: it
    /// says why).
    pub fn persist(&self, video: &Video) {
        if let Err(e) = video.write_manifest(&self.media, &video.id) {
            log::error!("video {}: storing manifest.json failed: {e}", video.id);
        }
    }

    /// Forgets a video; its SSE streams end. Files are the caller's business.
    pub fn remove(&self, id: &str) -> Option<Video> {
        self.videos.write().remove(id).map(|tx| tx.borrow().clone())
    }

    /// Ids of the videos whose status is one of `statuses`.
    pub fn ids_with_status(&self, statuses: &[Status]) -> Vec<String> {
        self.videos
            .read()
            .iter()
            .filter(|(_, tx)| statuses.contains(&tx.borrow().status))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Removes every object of a video.
    pub fn remove_files(&self, id: &str) {
        if let Err(e) = self.media.delete_dir(id) {
            log::error!("video {id}: removing its objects failed: {e}");
        }
    }

    /// Removes a video's objects but its manifest (an interrupted job's output).
    pub fn reset_files(&self, id: &str) {
        let manifest = format!("{id}/{MANIFEST}");
        if let Err(e) = self.media.delete_dir_except(id, |k| k == manifest) {
            log::warn!("video {id}: could not clear an interrupted job's output: {e}");
        }
    }
}

/// `remove_dir_all` that treats "already gone" as success and logs anything else.
pub fn remove_dir_if_present(dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log::error!("could not remove a directory under the media root: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls::SegmentFormat;

    fn video(id: &str, at: u64) -> Video {
        Video::new(id, id, at, 4.0, SegmentFormat::Fmp4)
    }

    #[test]
    fn rebuilds_from_manifests_newest_first() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::create(tmp.path()).unwrap();
        let media = MediaStore::folder(tmp.path()).unwrap();
        for (id, at) in [("old", 1), ("new", 3), ("mid", 2)] {
            video(id, at).write_manifest(&media, id).unwrap();
        }
        // A tree copied in under another name takes the directory's name as its id.
        video("original", 0).write_manifest(&media, "renamed").unwrap();
        std::fs::create_dir_all(layout.video_dir("no-manifest")).unwrap();

        let store = Store::load(layout, media).unwrap();
        let ids: Vec<String> = store.list().into_iter().map(|v| v.id).collect();
        assert_eq!(ids, ["new", "mid", "old", "renamed"]);
        assert_eq!(
            store.get("renamed").unwrap().links.master,
            "/media/renamed/master.m3u8"
        );
        assert!(!store.contains("no-manifest") && !store.contains(".jobs"));
    }

    #[test]
    fn a_failed_commit_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::load(
            Layout::create(tmp.path()).unwrap(),
            MediaStore::folder(tmp.path()).unwrap(),
        )
        .unwrap();
        let r: Result<(), &str> = store.insert_with(video("a", 1), || Err("full"));
        assert!(r.is_err());
        assert!(store.is_empty());
    }

    #[test]
    fn subscribers_see_changes_and_removal() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::load(
            Layout::create(tmp.path()).unwrap(),
            MediaStore::folder(tmp.path()).unwrap(),
        )
        .unwrap();
        store.insert_with(video("a", 1), || Ok::<(), ()>(())).unwrap();
        let mut rx = store.subscribe("a").unwrap();
        store.update("a", |v| v.progress = 0.5);
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.borrow_and_update().progress, 0.5);
        store.remove("a");
        assert!(rx.has_changed().is_err(), "the sender is gone");
        assert!(store.update("a", |_| {}).is_none());
    }
}
