//! Keeping the catalog in step with the other instances: the changes they announce
//! (videos they accepted, their jobs' progress and endings, videos they deleted) are
//! applied to the [`Store`](crate::catalog::store::Store). Videos whose job runs here, or
//! that are being deleted here, are this instance's own business and left alone; a
//! video deleted elsewhere whose job runs here has its job stopped. When the coordination
//! forgot its jobs (Redis came back empty), the unfinished ones are requeued (requeue.rs).

use std::time::Duration;

use super::coordination::CatalogChange;
use super::Jobs;
use crate::catalog::video::Links;

impl Jobs {
    /// Waits up to `wait` for the changes other instances announced, and applies them.
    /// Blocking (the in-process coordination reads manifests): the upkeep thread calls it
    /// in a loop.
    pub fn sync_with_others(&self, wait: Duration) {
        let changes = self.inner.coordination.changes(wait);
        self.apply(changes);
        if self.inner.coordination.take_missed() {
            self.reread_catalog();
        }
        if let Some(wait) = self.inner.coordination.forgot_jobs() {
            self.requeue_forgotten(wait);
        }
    }

    /// After changes were missed (the events subscription was lost for a while): reads
    /// every manifest of the media store again and applies the difference as changes.
    fn reread_catalog(&self) {
        let store = &self.inner.store;
        let media = store.media();
        let Ok(folders) = media.folders() else {
            log::warn!("could not list the media store to catch up with the other instances");
            return;
        };
        let mut changes = Vec::new();
        let mut present = std::collections::HashSet::new();
        for id in folders {
            if !crate::catalog::layout::is_valid_id(&id) {
                continue;
            }
            match crate::catalog::video::Video::read_manifest(media, &id) {
                Ok(Some(video)) => {
                    present.insert(id.clone());
                    changes.push(CatalogChange::Changed(crate::catalog::video::Video {
                        id,
                        ..video
                    }));
                }
                Ok(None) => {}
                // Unreadable right now: not a reason to forget it.
                Err(_) => {
                    present.insert(id);
                }
            }
        }
        for id in store.ids() {
            if !present.contains(&id) && !self.inner.active.lock().contains_key(&id) {
                changes.push(CatalogChange::Deleted { id });
            }
        }
        log::info!("caught up with the other instances from the media store");
        self.apply(changes);
    }

    /// Applies changes announced by other instances to this one's catalog.
    pub fn apply(&self, changes: Vec<CatalogChange>) {
        let store = &self.inner.store;
        for change in changes {
            let id = change.id().to_string();
            if self.inner.deleting.lock().contains(&id) {
                continue;
            }
            let running_here = self.inner.active.lock().get(&id).cloned();
            match change {
                CatalogChange::Created(mut video) | CatalogChange::Changed(mut video) => {
                    if running_here.is_some() {
                        continue; // this instance writes it
                    }
                    video.links = Links::for_id(&id);
                    video.id = id.clone();
                    match store.get(&id) {
                        Some(known) if known == video => {}
                        Some(_) => {
                            store.update(&id, |v| *v = video);
                        }
                        None => store.adopt(video),
                    }
                }
                CatalogChange::Deleted { .. } => {
                    if store.remove(&id).is_none() {
                        continue;
                    }
                    match running_here {
                        Some(cell) => {
                            log::info!(
                                "video {id} was deleted through another reel process; stopping its job"
                            );
                            cell.cancel.cancel();
                        }
                        // Queued here, maybe: it ends as cancelled when claimed.
                        None => self.inner.coordination.cancel(&id),
                    }
                }
            }
        }
    }
}
