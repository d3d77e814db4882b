//! Library files in channel `main`: reel prepares an HLS rendition of each video in the
//! `--library` folder in the background; ready ones follow the uploads, by path.

use std::path::Path;
use std::time::Duration;

use super::*;

/// The items of `main` once it lists `n`, waiting for the library's renditions.
fn wait_items(server: &Server, n: usize) -> Vec<Value> {
    wait_listed_for(server, n, Duration::from_secs(60))["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn wait_listed_for(server: &Server, n: usize, timeout: Duration) -> Value {
    wait_for(&format!("main to list {n} items"), timeout, || {
        let v = channel(server);
        (v["items"].as_array().map(Vec::len) == Some(n) && !v["now"].is_null()).then_some(v)
    })
}

/// The video id in an item's master playlist URL (`/media/{id}/master.m3u8`).
fn media_id(item: &Value) -> String {
    let url = item["url"].as_str().unwrap();
    url.strip_prefix("/media/")
        .and_then(|rest| rest.strip_suffix("/master.m3u8"))
        .unwrap_or_else(|| panic!("not a master playlist URL: {url}"))
        .to_string()
}

fn library_with(dir: &Path, files: &[(&str, &Path)]) {
    for (name, clip) in files {
        let to = dir.join(name);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(clip, &to).unwrap();
    }
}

/// `reel serve` options that prepare `library` and look at it every second.
fn library_options(library: &Path) -> Options {
    Options {
        library_ladders: true,
        ..Options::args(&[
            "--library",
            library.to_str().unwrap(),
            "--library-scan-seconds",
            "1",
        ])
    }
}

#[test]
fn library_files_join_main_after_the_uploads_and_follow_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let library = tmp.path().join("library");
    library_with(
        &library,
        &[
            ("films/b-side.mp4", &item_clip("bside", 3.0)),
            ("a-side.mp4", &item_clip("aside", 4.0)),
            (".trash/hidden.mp4", &item_clip("hidden", 3.0)),
        ],
    );
    std::fs::write(library.join("notes.txt"), "not a video").unwrap();
    std::fs::write(library.join("broken.mp4"), vec![0x42u8; 4096]).unwrap();
    let server = Server::start(library_options(&library));
    let upload = upload_item(&server, "upload", 3.0);
    wait_ready(&server, &upload);

    let items = wait_items(&server, 3);
    let summary: Vec<(Value, Value, Value)> = items
        .iter()
        .map(|i| (i["video"].clone(), i["library"].clone(), i["title"].clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                Value::from(upload.as_str()),
                Value::Null,
                Value::from("upload-3s")
            ),
            (Value::Null, Value::from("a-side.mp4"), Value::from("a-side")),
            (
                Value::Null,
                Value::from("films/b-side.mp4"),
                Value::from("b-side")
            ),
        ],
        "uploads first, then library files by path; hidden, broken and non-video files left out"
    );
    // Each library item plays from a real ladder, judged like an upload's.
    for item in &items[1..] {
        let video = video(&server, &media_id(item));
        assert_eq!(video["status"], "ready");
        assert_eq!(video["library"]["path"], item["library"]);
        assert!((video["duration"].as_f64().unwrap() - item["duration"].as_f64().unwrap()).abs() < 1e-9);
        check_ladder(&server, &video);
    }
    assert!(server
        .log_text()
        .contains("\"broken.mp4\" is left out of channels"));

    // mpv's way in: the live playlist reaches the library items' own segments, remuxed
    // onto the channel timeline (a new item joins after the schedule's fixed 12 s).
    let a_id = media_id(&items[1]);
    let uri = wait_for(
        "live.m3u8 to list a library segment",
        Duration::from_secs(45),
        || {
            let text = server.get("/channels/main/live/180.m3u8").text();
            text.lines()
                .find(|l| l.starts_with("ts/") && l.contains(&format!("/{a_id}/")))
                .map(str::to_string)
        },
    );
    let segment = server.get(&format!("/channels/main/live/{uri}"));
    assert_eq!(segment.status, 200, "{uri}");
    assert_eq!(segment.header("content-type"), Some("video/mp2t"));

    // The folder decides: DELETE is refused with a sentence...
    let res = server.request("DELETE", &format!("/api/videos/{a_id}"), &[], b"");
    let body = assert_error(&server, &res, 409, "library_rendition");
    assert!(body["error"].as_str().unwrap().contains("a-side.mp4"), "{body}");
    // ...a file taken out of the folder leaves the channel, and its rendition goes...
    std::fs::remove_file(library.join("a-side.mp4")).unwrap();
    let items = wait_items(&server, 2);
    assert_eq!(items[1]["library"], "films/b-side.mp4");
    assert_eq!(server.get(&format!("/media/{a_id}/master.m3u8")).status, 404);
    assert!(!server.media.join(&a_id).exists());
    // ...and a file replaced by another is prepared again.
    let b_id = media_id(&items[1]);
    std::fs::copy(item_clip("longer", 4.0), library.join("films/b-side.mp4")).unwrap();
    let replaced = wait_for(
        "the replaced file's new rendition",
        Duration::from_secs(60),
        || {
            let v = channel(&server);
            let item = v["items"].as_array()?.get(1)?.clone();
            (item["duration"].as_f64()? > 3.5).then_some(item)
        },
    );
    assert_eq!(media_id(&replaced), b_id, "the id follows the path");
    check_ladder(&server, &video(&server, &b_id));
}

#[test]
fn two_processes_prepare_each_library_file_once_and_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let library = tmp.path().join("library");
    library_with(
        &library,
        &[
            ("one.mp4", &item_clip("one", 3.0)),
            ("two.mp4", &item_clip("two", 3.0)),
        ],
    );
    let first = Server::start(library_options(&library));
    let second = first.another(library_options(&library));
    let a = wait_items(&first, 2);
    let b = wait_items(&second, 2);
    assert_eq!(a, b);
    let logs = first.log_text() + &std::fs::read_to_string(first.dir.join("server-2.log")).unwrap();
    assert_eq!(
        logs.matches("preparing its HLS rendition").count(),
        2,
        "each file prepared once between the two:\n{logs}"
    );
    let (x, y) = (channel(&first), channel(&second));
    let t = y["server_time_ms"].as_u64().unwrap();
    let now = |v: &Value| {
        (
            v["now"]["library"].clone(),
            v["now"]["started_at_ms"].as_u64().unwrap(),
        )
    };
    let x_now = now(&x);
    // `x` was read before `y`: the same item, unless a boundary fell in between.
    if t < x_now.1 + duration_ms(&x["now"]) {
        assert_eq!(now(&y), x_now);
    }
    // A file replaced in the library: both processes end up with the new rendition.
    std::fs::copy(item_clip("four", 4.0), library.join("two.mp4")).unwrap();
    for server in [&first, &second] {
        wait_for("the new rendition everywhere", Duration::from_secs(60), || {
            let v = channel(server);
            let item = v["items"]
                .as_array()?
                .iter()
                .find(|i| i["library"] == "two.mp4")?
                .clone();
            // The channel follows the catalog a second later: the video may be gone.
            let res = server.get(&format!("/api/videos/{}", media_id(&item)));
            let ready = res.status == 200 && res.json()["status"] == "ready";
            (ready && item["duration"].as_f64()? > 3.5).then_some(())
        });
    }
}
