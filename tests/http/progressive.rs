//! Progressive playback as players outside this repository meet it (issue 9): video.js
//! (VHS) and Shaka fail on a master playlist whose media playlists list no segment yet,
//! and start a playlist without `ENDLIST` near its end unless told otherwise.

use m3u8_rs::{MediaPlaylist, MediaPlaylistType, Playlist};

use crate::util::clips::clip;
use crate::util::*;

/// Parses a media playlist fetched over HTTP.
fn media_playlist(server: &Server, path: &str) -> MediaPlaylist {
    let res = server.get(path);
    assert_eq!(res.status, 200, "{path}");
    match m3u8_rs::parse_playlist_res(&res.body) {
        Ok(Playlist::MediaPlaylist(p)) => p,
        other => panic!("{path} is not a media playlist: {other:?}"),
    }
}

#[test]
fn the_master_appears_only_once_every_playlist_it_names_lists_a_segment() {
    let server = Server::new();
    // The default 4 s segments: the window in which a rung has no segment is widest.
    let id = upload_ok(
        &server,
        &clip("long.mp4", 1280, 720, 10.0),
        &[("heights", "720,360,180")],
    );
    let base = format!("/media/{id}/");
    let mut absent = 0;
    let master = wait_for("the master playlist", READY_TIMEOUT, || {
        let res = server.get(&format!("{base}master.m3u8"));
        if res.status == 404 {
            absent += 1;
            return None;
        }
        assert_eq!(res.status, 200, "{}", res.text());
        Some(res)
    });
    let status = video(&server, &id)["status"].as_str().unwrap().to_string();
    let Ok(Playlist::MasterPlaylist(master)) = m3u8_rs::parse_playlist_res(&master.body) else {
        panic!("not a master playlist: {}", master.text());
    };
    assert_eq!(master.variants.len(), 3);
    // Fetched after the master: a playlist only grows, so what holds now held then.
    for variant in &master.variants {
        let playlist = media_playlist(&server, &format!("{base}{}", variant.uri));
        let first = playlist
            .segments
            .first()
            .unwrap_or_else(|| panic!("the master names {} before it lists a segment", variant.uri));
        let dir = variant.uri.rsplit_once('/').unwrap().0;
        let map = first.map.as_ref().expect("EXT-X-MAP on the first fMP4 segment");
        assert_eq!(server.get(&format!("{base}{dir}/{}", map.uri)).status, 200);
        assert_eq!(server.get(&format!("{base}{dir}/{}", first.uri)).status, 200);
    }
    assert!(absent > 0, "the master was there from the first look");
    assert_eq!(
        status, "processing",
        "the job ended before the master could be judged"
    );
    let video = wait_ready(&server, &id);
    check_ladder(&server, &video);
}

#[test]
fn event_playlists_start_players_at_the_beginning() {
    let server = Server::new();
    let id = upload_ok(
        &server,
        &clip("long.mp4", 1280, 720, 10.0),
        &[("heights", "360"), ("segment_seconds", "1")],
    );
    let path = format!("/media/{id}/360p/index.m3u8");
    let mut seen_event = 0;
    wait_for("the VOD playlist", READY_TIMEOUT, || {
        if server.get(&path).status == 404 {
            return None;
        }
        let playlist = media_playlist(&server, &path);
        if playlist.end_list {
            // VOD: players start at the beginning anyway; EXT-X-START is not needed.
            assert_eq!(playlist.playlist_type, Some(MediaPlaylistType::Vod));
            return Some(());
        }
        assert_eq!(playlist.playlist_type, Some(MediaPlaylistType::Event));
        let start = playlist.start.as_ref().expect("EXT-X-START in an EVENT playlist");
        assert_eq!(start.time_offset, 0.0);
        seen_event += 1;
        None
    });
    assert!(seen_event > 0, "never saw the EVENT playlist");
}
