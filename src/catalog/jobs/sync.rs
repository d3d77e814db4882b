//! Keeping the catalog in step with the other instances: the changes they announce
//! (videos they accepted, their jobs' progress and endings, videos they deleted) are
//! applied to the [`Store`](crate::catalog::store::Store). Videos whose job runs here, or
//! that are being deleted here, are this instance's own business and left alone; a
//! video deleted elsewhere whose job runs here has its job stopped.

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
