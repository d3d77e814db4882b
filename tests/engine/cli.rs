//! The `reel` binary's offline commands: sample, probe, transcode.

use std::process::Command;

use tempfile::tempdir;

fn reel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_reel"))
}

#[test]
fn sample_probe_transcode_write_the_upload_tree() {
    let dir = tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    let st = reel()
        .args(["sample"])
        .arg(&clip)
        .args(["--size", "320x180", "--seconds", "2", "--audio-tracks", "2"])
        .status()
        .unwrap();
    assert!(st.success());

    let out = reel().arg("probe").arg(&clip).output().unwrap();
    assert!(out.status.success());
    let probe: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(probe["video"]["width"], 320);
    assert_eq!(probe["audio_tracks"].as_array().unwrap().len(), 2);

    let tree = dir.path().join("tree");
    let st = reel()
        .arg("transcode")
        .arg(&clip)
        .arg("--out")
        .arg(&tree)
        .args(["--heights", "180,1080", "--segment-seconds", "1"])
        .status()
        .unwrap();
    assert!(st.success());
    let manifest: reel::catalog::Video =
        serde_json::from_slice(&std::fs::read(tree.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest.status, reel::catalog::Status::Ready);
    assert_eq!(manifest.title, "clip");
    assert_eq!(manifest.skipped_heights, vec![1080]);
    assert_eq!(manifest.renditions.len(), 1);
    assert_eq!(manifest.renditions[0].segments.len(), 2);
    assert_eq!(manifest.links.master, "/media/tree/master.m3u8");
    crate::judge::check_ladder(&tree, &clip, 1.0);
}

#[test]
fn failures_exit_non_zero_with_a_sentence() {
    let dir = tempdir().unwrap();
    let junk = dir.path().join("junk.mkv");
    std::fs::write(&junk, b"definitely not a video").unwrap();
    let out = reel().arg("probe").arg(&junk).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a video file"));
    let out = reel()
        .arg("transcode")
        .arg(&junk)
        .arg("--out")
        .arg(dir.path().join("o"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir.path().join("o").exists());
}
