//! Pause by backpressure: a client that stops reading its response stops production
//! (no CPU, bounded bytes) and the same connection delivers again after resume.

use std::time::{Duration, Instant};

use serde_json::json;
use tempfile::tempdir;

use super::*;
use crate::judge;

/// What a paused stream may have handed over beyond what its client has read: the
/// session's channel (4 x 64 KiB) plus actix's write buffer (32 KiB, and the one chunk of
/// at most 64 KiB it polled last), plus the kernel's socket queues: the server's send
/// queue (reel fixes the send buffer at 256 KiB, which Linux doubles) and the client's
/// receive queue. The queues are also measured (`/proc/net/tcp`). The fragment the engine
/// is writing when the channel fills (at most ~1 s of media at the rung's cap) is held
/// too, but it is not handed over, so not counted here.
const CHANNEL_BYTES: u64 = 4 * 64 * 1024;
const ACTIX_BYTES: u64 = 32 * 1024 + 64 * 1024;
const SEND_QUEUE_BYTES: u64 = 2 * 256 * 1024;
/// A small receive buffer for the client (Linux doubles it).
const CLIENT_RCVBUF: usize = 16 * 1024;

#[test]
fn a_reader_that_stops_reading_pauses_production_and_the_same_connection_resumes() {
    // 640x360 at the 360p rung's bitrate: the 10 s lead is far more bytes than the bound,
    // so what stops production here is the full channel, not the pace.
    let clip = library_clip("live-pause.mp4", 640, 360, 20.0, 1);
    let server = server_with_library(&clip, &[]);
    let id = create(&server, &clip, json!({"height": 360}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut stream = StreamClient::open(
        server.addr,
        &format!("/api/sessions/{id}/stream"),
        Some(CLIENT_RCVBUF),
    );
    assert_eq!(stream.status, 200);
    // Read the first fragment, then stop reading at once: the engine, which runs faster
    // than real time, is far from the lead yet.
    assert!(stream.read_until(Duration::from_secs(20), |c| c.fragments() >= 1));

    // The client stops reading, and says so.
    let read_before = stream.body.len() as u64;
    let paused = act(&server, &id, "pause", json!({}));
    assert_eq!(paused["paused"], true);
    let frozen = position(&paused);
    let status_paused = status(&server, &id);
    assert_eq!(status_paused["paused"], true);

    // Let the channel and the socket fill, then watch for 3 s.
    std::thread::sleep(Duration::from_millis(1500));
    let a = status(&server, &id);
    let cpu_a = cpu_seconds(&server);
    let at = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let b = status(&server, &id);
    let cpu = cpu_seconds(&server) - cpu_a;
    let watched = at.elapsed().as_secs_f64();
    let queued = socket_queues(stream.local_port());
    let produced = b["stream_bytes"].as_u64().unwrap();
    assert_eq!(position(&a), frozen, "the position is frozen while paused");
    assert_eq!(position(&b), frozen, "the position is frozen while paused");
    assert_eq!(a["stream_bytes"], b["stream_bytes"], "production stopped");
    assert!(b["streaming"] == true, "the connection stays open");
    assert!(
        cpu < 0.1 * watched,
        "the server used {cpu:.2} s of CPU in {watched:.1} s of pause"
    );
    let beyond = produced - read_before;
    let bound = CHANNEL_BYTES + ACTIX_BYTES + SEND_QUEUE_BYTES + 2 * CLIENT_RCVBUF as u64;
    eprintln!(
        "paused: produced {produced} B, client had read {read_before} B: {beyond} B beyond \
         (bound {bound}: channel {CHANNEL_BYTES} + actix {ACTIX_BYTES} + send queue {SEND_QUEUE_BYTES} \
         + receive queue {}; socket queues measured {queued}); CPU {cpu:.3} s in {watched:.1} s",
        2 * CLIENT_RCVBUF
    );
    assert!(
        queued <= SEND_QUEUE_BYTES + 2 * CLIENT_RCVBUF as u64,
        "{queued} bytes queued in the sockets"
    );
    assert!(
        beyond <= bound,
        "{beyond} bytes produced beyond what was read (bound {bound})"
    );

    let dir = tempdir().unwrap();
    let before = stream.save(&dir.path().join("before.mp4"));
    let media_read = judge::video_packets(&before).last().unwrap().pts;

    // Resume: the same connection delivers again, and production goes on.
    let resumed = act(&server, &id, "resume", json!({}));
    assert_eq!(resumed["paused"], false);
    let t = Instant::now();
    assert!(
        stream.read_until(Duration::from_secs(15), |c| c.body.len() as u64
            > produced + 100_000),
        "after resume the same connection delivered {} bytes (had {produced} produced)",
        stream.body.len()
    );
    eprintln!(
        "resumed: {} B more within {:?}",
        stream.body.len() as u64 - read_before,
        t.elapsed()
    );
    let p = position(&status(&server, &id));
    assert!(
        p > frozen && p < frozen + 3.0,
        "position {p} after resume from {frozen}"
    );

    // What stopped production was the full channel, not the pace: the media handed over
    // while paused ends well before the lead (10 s past the frozen clock).
    let whole = stream.save(&dir.path().join("whole.mp4"));
    let probe = judge::ffprobe(
        &whole,
        &["-select_streams", "v:0", "-show_entries", "packet=pts_time,pos"],
    );
    let produced_until = probe["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["pos"]
                .as_str()
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|pos| pos < produced)
        })
        .filter_map(|p| p["pts_time"].as_str()?.parse::<f64>().ok())
        .fold(0.0, f64::max);
    eprintln!(
        "paused at {frozen:.2} s with media read to {media_read:.2} s; production stopped at \
         {produced_until:.2} s of media (the lead would allow {:.2} s)",
        frozen + 10.0
    );
    assert!(
        produced_until < frozen + 10.0 - 1.5,
        "production went on to {produced_until} s: the pace stopped it, not backpressure"
    );

    // One continuous stream across the pause: every frame, in order, no gap.
    let packets = judge::video_packets(&whole);
    assert!(packets[0].key);
    let mut pts: Vec<f64> = packets.iter().map(|p| p.pts).collect();
    pts.sort_by(f64::total_cmp);
    let gap = pts.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(gap < 0.05, "largest gap between frames {gap} s");
    assert!(pts.last().unwrap() > &(media_read + 1.0));
}
