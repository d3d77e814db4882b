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

/// Peak resident memory (KiB) of `reel transcode` on `clip` (144p only: the encoders stay
/// small), read from the kernel's accounting of the child (`VmHWM` as the child ends is
/// not observable from here; `getrusage(RUSAGE_CHILDREN)` is, but only as a maximum over
/// all children, so the peak is sampled from `/proc` while it runs).
fn transcode_peak_rss_kib(clip: &std::path::Path, out: &std::path::Path) -> u64 {
    let mut child = reel()
        .arg("transcode")
        .arg(clip)
        .arg("--out")
        .arg(out)
        .args(["--heights", "144"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status) {
            if let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kib);
            }
        }
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success(), "reel transcode failed on {}", clip.display());
            return peak;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Regression: the decode loop reused one `Packet` for every `av_read_frame`, which does
/// not unref the packet it fills, so every compressed packet but the last stayed in
/// memory: a transcode grew by its whole input (1.8 GB for a 2.2 GB upload). Two sources
/// of the same bitrate, 8 s and 48 s: the longer one must not cost its extra ~60 MB.
#[test]
fn a_transcode_does_not_keep_its_input_in_memory() {
    if !crate::util::clips::have("ffmpeg") {
        assert!(std::env::var_os("CI").is_none(), "the ffmpeg CLI is missing");
        eprintln!("skipping: no ffmpeg CLI to make a high-bitrate source");
        return;
    }
    let dir = tempdir().unwrap();
    let make = |name: &str, seconds: u32| {
        // Lossless x264 of a noisy testsrc2: ~15 Mb/s at 320x180, quick to make.
        let path = dir.path().join(name);
        let st = Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x180:rate=30,noise=alls=30:allf=t",
            ])
            .args([
                "-t",
                &seconds.to_string(),
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-qp",
                "0",
            ])
            .arg(&path)
            .status()
            .unwrap();
        assert!(st.success());
        path
    };
    let (short, long) = (make("short.mp4", 8), make("long.mp4", 48));
    let extra_input_kib =
        (std::fs::metadata(&long).unwrap().len() - std::fs::metadata(&short).unwrap().len()) / 1024;
    assert!(
        extra_input_kib > 40 * 1024,
        "the long source is only {extra_input_kib} KiB larger"
    );
    let short_peak = transcode_peak_rss_kib(&short, &dir.path().join("a"));
    let long_peak = transcode_peak_rss_kib(&long, &dir.path().join("b"));
    assert!(
        long_peak < short_peak + extra_input_kib / 3,
        "peak RSS {short_peak} KiB for 8 s, {long_peak} KiB for 48 s: it grows with the input \
         ({extra_input_kib} KiB more)"
    );
}

/// `reel transcode --subtitles` adds subtitle renditions as an upload's `subtitles` fields
/// do: the language from the name (`film.fr.srt`) or after a colon (`notes.srt:pt-BR`);
/// a missing file is refused before anything is written.
#[test]
fn transcode_takes_subtitle_files() {
    let dir = tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    let st = reel()
        .args(["sample"])
        .arg(&clip)
        .args(["--size", "320x180", "--seconds", "3"])
        .status()
        .unwrap();
    assert!(st.success());
    let srt = "1\n00:00:00,500 --> 00:00:02,000\nBonjour\n\n";
    std::fs::write(dir.path().join("film.fr.srt"), srt).unwrap();
    std::fs::write(dir.path().join("notes.srt"), srt.replace("Bonjour", "Olá")).unwrap();

    let tree = dir.path().join("tree");
    let out = reel()
        .arg("transcode")
        .arg(&clip)
        .arg("--out")
        .arg(&tree)
        .args(["--heights", "180", "--segment-seconds", "1", "--subtitles"])
        .arg(dir.path().join("film.fr.srt"))
        .arg("--subtitles")
        .arg(format!("{}:pt-BR", dir.path().join("notes.srt").display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest: reel::catalog::Video =
        serde_json::from_slice(&std::fs::read(tree.join("manifest.json")).unwrap()).unwrap();
    let got: Vec<(Option<&str>, &str)> = manifest
        .subtitles
        .iter()
        .map(|s| (s.language.as_deref(), s.file.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(got, [(Some("fr"), "film.fr.srt"), (Some("pt-br"), "notes.srt")]);
    let master = std::fs::read_to_string(tree.join("master.m3u8")).unwrap();
    assert!(
        master.contains("TYPE=SUBTITLES") && master.contains("LANGUAGE=\"fr\""),
        "{master}"
    );
    let first = &manifest.subtitles[1].playlist;
    let playlist = std::fs::read_to_string(tree.join(first)).unwrap();
    let segment = playlist
        .lines()
        .find(|l| l.ends_with(".vtt"))
        .expect("a WebVTT segment");
    let dir_of = std::path::Path::new(first).parent().unwrap();
    let cue = std::fs::read_to_string(tree.join(dir_of).join(segment)).unwrap();
    assert!(cue.contains("Olá"), "{cue}");

    let out = reel()
        .arg("transcode")
        .arg(&clip)
        .arg("--out")
        .arg(dir.path().join("other"))
        .args(["--subtitles", "/nowhere/film.srt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nowhere/film.srt: no such file"));
    assert!(!dir.path().join("other").exists());
}
