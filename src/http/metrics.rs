//! `GET /metrics`: counters and gauges in the Prometheus text format (version 0.0.4).
//!
//! The HTTP front keeps its own numbers here ([`Metrics`]: uploads, bytes served, open
//! streams); job numbers come from the catalog's [`JobStats`] and the pool's queue, read
//! when the page is rendered. Everything is a relaxed atomic: counting never blocks a
//! request.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use actix_web::{web, HttpResponse};

use super::media::Area;
use super::AppState;
use crate::catalog::jobs::JobStats;

/// What the HTTP front counts.
#[derive(Debug, Default)]
pub struct Metrics {
    uploads_accepted: AtomicU64,
    uploads_rejected: AtomicU64,
    upload_bytes: AtomicU64,
    media_bytes: AtomicU64,
    library_bytes: AtomicU64,
    open_event_streams: AtomicI64,
    open_uploads: AtomicI64,
    open_session_streams: AtomicI64,
}

/// Which gauge a [`StreamGuard`] holds up.
#[derive(Debug, Clone, Copy)]
pub enum StreamKind {
    Events,
    Upload,
    /// A live session's fragmented-MP4 stream.
    Session,
}

impl Metrics {
    pub fn served(&self, area: Area, bytes: u64) {
        let counter = match area {
            Area::Media => &self.media_bytes,
            Area::Library => &self.library_bytes,
        };
        counter.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn upload_finished(&self, accepted: bool, bytes: u64) {
        let counter = if accepted {
            &self.uploads_accepted
        } else {
            &self.uploads_rejected
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.upload_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts an open stream until the guard is dropped.
    pub fn open_stream(self: &std::sync::Arc<Self>, kind: StreamKind) -> StreamGuard {
        self.gauge(kind).fetch_add(1, Ordering::Relaxed);
        StreamGuard {
            metrics: self.clone(),
            kind,
        }
    }

    fn gauge(&self, kind: StreamKind) -> &AtomicI64 {
        match kind {
            StreamKind::Events => &self.open_event_streams,
            StreamKind::Upload => &self.open_uploads,
            StreamKind::Session => &self.open_session_streams,
        }
    }
}

pub struct StreamGuard {
    metrics: std::sync::Arc<Metrics>,
    kind: StreamKind,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.metrics.gauge(self.kind).fetch_sub(1, Ordering::Relaxed);
    }
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let mut text = render(&state.metrics, state.jobs.stats(), state.jobs.queued());
    text.push_str(&render_cache(
        "file_cache",
        "blocks",
        "Blocks of served files",
        state.file_cache.stats(),
    ));
    text.push_str(&render_cache(
        "store_cache",
        "objects",
        "Objects of the bucket",
        state.media.cache_stats(),
    ));
    text.push_str(&render_outage(state.media.in_outage()));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(text)
}

fn render(m: &Metrics, jobs: &JobStats, queued: usize) -> String {
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(&str, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    family(
        "reel_uploads_total",
        "counter",
        "Uploads received, by outcome.",
        &[
            ("{outcome=\"accepted\"}", load(&m.uploads_accepted) as f64),
            ("{outcome=\"rejected\"}", load(&m.uploads_rejected) as f64),
        ],
    );
    family(
        "reel_upload_bytes_total",
        "counter",
        "Bytes of uploaded files received.",
        &[("", load(&m.upload_bytes) as f64)],
    );
    family(
        "reel_queue_depth",
        "gauge",
        "Transcode jobs waiting for a worker.",
        &[("", queued as f64)],
    );
    family(
        "reel_jobs_running",
        "gauge",
        "Transcode jobs running.",
        &[("", jobs.running.load(Ordering::Relaxed) as f64)],
    );
    family(
        "reel_jobs_total",
        "counter",
        "Transcode jobs ended, by outcome (interrupted: stopped by a shutdown, resumed at the next start).",
        &[
            ("{outcome=\"ready\"}", load(&jobs.ready) as f64),
            ("{outcome=\"failed\"}", load(&jobs.failed) as f64),
            ("{outcome=\"cancelled\"}", load(&jobs.cancelled) as f64),
            ("{outcome=\"interrupted\"}", load(&jobs.interrupted) as f64),
        ],
    );
    family(
        "reel_jobs_resumed_total",
        "counter",
        "Jobs found unfinished at start and queued again.",
        &[("", load(&jobs.resumed) as f64)],
    );
    let rungs = jobs.rung_times();
    let labels: Vec<String> = rungs.keys().map(|h| format!("{{rung=\"{h}p\"}}")).collect();
    let series = |f: &dyn Fn(&crate::catalog::jobs::RungTime) -> f64| -> Vec<(&str, f64)> {
        labels
            .iter()
            .zip(rungs.values())
            .map(|(l, t)| (l.as_str(), f(t)))
            .collect()
    };
    family(
        "reel_transcode_seconds_total",
        "counter",
        "Wall-clock seconds of finished ladders that included the rung (rungs encode in parallel).",
        &series(&|t| t.seconds),
    );
    family(
        "reel_transcode_media_seconds_total",
        "counter",
        "Seconds of media the rung has been transcoded for.",
        &series(&|t| t.media_seconds),
    );
    family(
        "reel_transcode_jobs_total",
        "counter",
        "Finished ladders that included the rung.",
        &series(&|t| t.jobs as f64),
    );
    family(
        "reel_served_bytes_total",
        "counter",
        "Bytes of file bodies served (200 and 206), by tree.",
        &[
            ("{area=\"media\"}", load(&m.media_bytes) as f64),
            ("{area=\"library\"}", load(&m.library_bytes) as f64),
        ],
    );
    family(
        "reel_open_streams",
        "gauge",
        "Long-lived requests in flight: SSE event streams, uploads being received, live session streams.",
        &[
            (
                "{kind=\"events\"}",
                m.open_event_streams.load(Ordering::Relaxed) as f64,
            ),
            ("{kind=\"upload\"}", m.open_uploads.load(Ordering::Relaxed) as f64),
            (
                "{kind=\"session\"}",
                m.open_session_streams.load(Ordering::Relaxed) as f64,
            ),
        ],
    );
    out
}

/// A memory cache's counters `(hits, misses, bytes held)` as the family `reel_{name}`:
/// `reel_{name}_{unit}_total` by result and `reel_{name}_bytes`.
fn render_cache(name: &str, unit: &str, what: &str, (hits, misses, bytes): (u64, u64, u64)) -> String {
    format!(
        "# HELP reel_{name}_{unit}_total {what} looked up in the memory cache, by result.\n\
         # TYPE reel_{name}_{unit}_total counter\n\
         reel_{name}_{unit}_total{{result=\"hit\"}} {hits}\n\
         reel_{name}_{unit}_total{{result=\"miss\"}} {misses}\n\
         # HELP reel_{name}_bytes Bytes of {unit} held in the memory cache.\n\
         # TYPE reel_{name}_bytes gauge\n\
         reel_{name}_bytes {bytes}\n"
    )
}

/// Whether a bucket's reads fail fast because it is away (0 for a folder store).
fn render_outage(outage: bool) -> String {
    format!(
        "# HELP reel_store_outage 1 while the bucket does not answer and its reads fail at once.\n\
         # TYPE reel_store_outage gauge\n\
         reel_store_outage {}\n",
        u8::from(outage)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = std::sync::Arc::new(Metrics::default());
        m.served(Area::Media, 1000);
        let _guard = m.open_stream(StreamKind::Events);
        let text = render(&m, &JobStats::default(), 3);
        assert!(text.contains("# TYPE reel_served_bytes_total counter"), "{text}");
        assert!(
            text.contains("reel_served_bytes_total{area=\"media\"} 1000\n"),
            "{text}"
        );
        assert!(text.contains("reel_queue_depth 3\n"), "{text}");
        assert!(text.contains("reel_open_streams{kind=\"events\"} 1\n"), "{text}");
    }
}
