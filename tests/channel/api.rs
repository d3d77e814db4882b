//! The channel over HTTP: what plays, when it changes, who agrees on it.

use std::time::{Duration, Instant};

use super::*;

/// Regression guard for the schedule's promise: a video that becomes ready while an item
/// plays joins the channel after that item, never cutting it short.
#[test]
fn an_upload_mid_item_does_not_move_the_current_item() {
    let (server, ids) = channel_server(&[("alpha", 4.0), ("bravo", 4.0)]);
    let mut watcher = Watcher::open(&server);
    let (first, _, _) = watcher.next_update(); // the state at connect
    let mut updates = vec![first.data];

    // Just after a boundary: the most time before the current item ends.
    let (boundary, _, _) = watcher.next_update();
    updates.push(boundary.data.clone());
    let playing = slot(&boundary.data["now"]);
    let charlie = upload_item(&server, "charlie", 3.0);
    wait_ready(&server, &charlie);
    let after = wait_listed(&server, 3);
    let now_ms = after["server_time_ms"].as_u64().unwrap();
    if now_ms < playing.1 + duration_ms(&boundary.data["now"]) {
        assert_eq!(slot(&after["now"]), playing, "the upload moved the current item");
    }
    assert_eq!(
        after["items"][2]["video"],
        charlie.as_str(),
        "uploads join at the end"
    );

    // Follow the channel until charlie has played: every item runs its full slot.
    while updates.last().unwrap()["now"]["video"] != charlie.as_str() {
        updates.push(watcher.next_update().0.data);
        assert!(updates.len() < 12, "charlie never came on: {updates:#?}");
    }
    let mut new_order = false;
    for pair in updates[1..].windows(2) {
        let (a, b) = (&pair[0]["now"], &pair[1]["now"]);
        assert_eq!(
            slot(b).1,
            slot(a).1 + duration_ms(a),
            "{} was cut short or delayed by {}",
            a["title"],
            b["title"]
        );
        // The old order (alpha, bravo) holds for the part of the schedule that was
        // already fixed (`schedule::FIXED_AHEAD_MS`: a live playlist may list it), then
        // the new list's: alpha, bravo, charlie.
        let pos = |v: &Value| {
            ids.iter()
                .chain([&charlie])
                .position(|id| v["video"] == id.as_str())
                .unwrap()
        };
        let new_step = (pos(a) + 1) % 3 == pos(b);
        let old_step = pos(a) < 2 && pos(b) == 1 - pos(a);
        new_order |= pos(b) == 2;
        assert!(
            new_step || (old_step && !new_order),
            "{} then {}",
            a["title"],
            b["title"]
        );
    }
}

#[test]
fn two_sse_clients_agree_on_item_and_position() {
    let (server, _) = channel_server(&[("alpha", 3.0), ("bravo", 3.0)]);
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let mut w = Watcher::open(&server);
            std::thread::spawn(move || {
                // The state at connect, then two item changes.
                (0..3).map(|_| w.next_update()).collect::<Vec<_>>()
            })
        })
        .collect();
    let seen: Vec<Vec<_>> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let common = Instant::now();
    for (k, (a, b)) in seen[0].iter().zip(&seen[1]).enumerate() {
        // Position each client believes at one common instant: the event's position plus
        // the time since it arrived.
        let position = |(e, at, _): &(crate::util::client::Event, Instant, u64)| {
            e.data["now"]["position"].as_f64().unwrap() + common.duration_since(*at).as_secs_f64()
        };
        if k > 0 {
            assert_eq!(slot(&a.0.data["now"]), slot(&b.0.data["now"]), "change {k}");
            let apart = if a.1 > b.1 { a.1 - b.1 } else { b.1 - a.1 };
            assert!(
                apart < Duration::from_millis(200),
                "change {k} reached the clients {apart:?} apart"
            );
            // The update leaves at the change, not on the next turn of some poll.
            let late = a.0.data["server_time_ms"].as_u64().unwrap() - slot(&a.0.data["now"]).1;
            assert!(late < 500, "update sent {late} ms after the change");
            let received_late = a.2 - slot(&a.0.data["now"]).1;
            assert!(
                received_late < 500,
                "update received {received_late} ms after the change"
            );
        }
        let (pa, pb) = (position(a), position(b));
        if slot(&a.0.data["now"]) == slot(&b.0.data["now"]) {
            assert!((pa - pb).abs() < 0.2, "event {k}: positions {pa:.3} and {pb:.3}");
        }
    }
}

#[test]
fn a_restart_keeps_the_schedule_and_the_likes() {
    let (mut server, _) = channel_server(&[("alpha", 3.0), ("bravo", 4.0)]);
    let vote = |index: usize, which: &str| {
        let res = server.request(
            "POST",
            &format!("/api/channels/main/items/{index}/{which}"),
            &[],
            b"",
        );
        assert_eq!(res.status, 200, "{}", res.text());
        res.json()
    };
    vote(0, "like");
    let counts = vote(0, "like");
    assert_eq!(
        (counts["likes"].as_u64(), counts["dislikes"].as_u64()),
        (Some(2), Some(0))
    );
    let counts = vote(1, "dislike");
    assert_eq!(
        (counts["likes"].as_u64(), counts["dislikes"].as_u64()),
        (Some(0), Some(1))
    );
    let before = channel(&server);

    server.kill();
    server.restart();
    let after = channel(&server);
    let t = after["server_time_ms"].as_u64().unwrap();
    assert_eq!(
        slot(&after["now"]),
        expected_at(&before, t),
        "after the restart the channel is where the old schedule says"
    );
    for (i, (likes, dislikes)) in [(2, 0), (0, 1)].into_iter().enumerate() {
        assert_eq!(after["items"][i]["likes"], likes, "{}", after["items"][i]);
        assert_eq!(after["items"][i]["dislikes"], dislikes, "{}", after["items"][i]);
    }

    // Unknown items and channels answer 404 with a sentence.
    let res = server.request("POST", "/api/channels/main/items/9/like", &[], b"");
    assert_error(&server, &res, 404, "not_found");
    let res = server.get("/api/channels/nope");
    assert_error(&server, &res, 404, "not_found");
}

#[test]
fn two_reel_processes_on_one_media_root_show_the_same_thing() {
    let (first, _) = channel_server(&[("alpha", 3.0), ("bravo", 3.0)]);
    let second = first.another(Options::default());
    wait_listed(&second, 2);
    // Twice, the second time on the other side of an item boundary.
    for round in 0..2 {
        let a = channel(&first);
        let b = channel(&second);
        let t = b["server_time_ms"].as_u64().unwrap();
        assert_eq!(slot(&b["now"]), expected_at(&a, t), "round {round}");
        assert_eq!(a["items"], b["items"], "round {round}");
        std::thread::sleep(Duration::from_millis(3100));
    }
    // Votes through either process add up, and both show the sum.
    for server in [&first, &second, &first] {
        let res = server.request("POST", "/api/channels/main/items/0/like", &[], b"");
        assert_eq!(res.status, 200, "{}", res.text());
    }
    for server in [&first, &second] {
        wait_for("both processes to count 3 likes", Duration::from_secs(5), || {
            (channel(server)["items"][0]["likes"] == 3).then_some(())
        });
    }
    // An upload to one process reaches the other's catalog and channel.
    let charlie = upload_item(&first, "charlie", 3.0);
    wait_ready(&first, &charlie);
    assert_eq!(wait_listed(&second, 3)["items"][2]["video"], charlie.as_str());
    assert_eq!(video(&second, &charlie)["status"], "ready");
}

#[test]
fn a_channel_from_the_channels_file_plays_only_its_items() {
    let defs_dir = tempfile::tempdir().unwrap();
    let defs = defs_dir.path().join("channels.json");
    std::fs::write(&defs, "[]").unwrap();
    let options = Options::args(&["--channels", defs.to_str().unwrap()]);
    let (mut server, ids) = channel_server_with(options, &[("alpha", 3.0), ("bravo", 3.0)]);
    let file = serde_json::json!([
        {"name": "picks", "items": [format!("video:{}", ids[1])]},
        {"name": "both", "items": [format!("video:{}", ids[1]), format!("video:{}", ids[0])], "order": "upload"},
        {"name": "once", "items": [format!("video:{}", ids[0])], "loop": false},
    ]);
    std::fs::write(&defs, file.to_string()).unwrap();
    server.restart();

    let list = server.get("/api/channels").json();
    let names: Vec<&str> = list["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["both", "main", "once", "picks"]);
    let picks = wait_for("picks to play", Duration::from_secs(10), || {
        let v = server.get("/api/channels/picks").json();
        (!v["now"].is_null()).then_some(v)
    });
    assert_eq!(picks["items"].as_array().unwrap().len(), 1);
    assert_eq!(picks["now"]["video"], ids[1].as_str());
    assert_eq!(picks["next"]["video"], ids[1].as_str(), "one item loops");
    let both = server.get("/api/channels/both").json();
    let order: Vec<&str> = both["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["video"].as_str().unwrap())
        .collect();
    assert_eq!(order, [ids[0].as_str(), ids[1].as_str()], "\"upload\" order");
    assert_eq!(server.get("/channels/picks/live.m3u8").status, 200);
    assert_eq!(server.get("/channels/picks").status, 200);

    // "loop": false plays the list once, then nothing.
    let once = server.get("/api/channels/once").json();
    assert_eq!(once["now"]["video"], ids[0].as_str());
    assert!(once["next"].is_null(), "nothing after the only item: {once}");
    let ends = once["now"]["started_at_ms"].as_u64().unwrap() + duration_ms(&once["now"]);
    let over = wait_for("the run to end", Duration::from_secs(10), || {
        let v = server.get("/api/channels/once").json();
        (v["server_time_ms"].as_u64()? >= ends).then_some(v)
    });
    assert!(over["now"].is_null(), "{over}");
    // Its live playlist ends (RFC 8216: ENDLIST) instead of answering 503, and stays so.
    let variant = media_variant(&server, "once");
    let ended = server.get(&variant);
    assert_eq!(ended.status, 200, "{}", ended.text());
    let text = ended.text();
    assert!(text.contains("#EXT-X-ENDLIST"), "{text}");
    assert!(text.contains(&ids[0]), "{text}");
    assert_eq!(server.get(&variant).text(), text);

    // A name that would leave the channels folder is refused at start, with a reason.
    std::fs::write(&defs, r#"[{"name": "../escape"}]"#).unwrap();
    let out = std::process::Command::new("timeout")
        .args(["20", env!("CARGO_BIN_EXE_reel"), "serve", "--bind", "127.0.0.1:0"])
        .arg("--media")
        .arg(defs_dir.path().join("media"))
        .arg("--channels")
        .arg(&defs)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && out.status.code() != Some(124),
        "{}: {stderr}",
        out.status
    );
    assert!(stderr.contains("channel name"), "{stderr}");
}

/// The URL of the one variant of a channel's `live.m3u8`.
fn media_variant(server: &Server, channel: &str) -> String {
    let master = server.get(&format!("/channels/{channel}/live.m3u8"));
    assert_eq!(master.status, 200, "{}", master.text());
    let Ok(m3u8_rs::Playlist::MasterPlaylist(m)) = m3u8_rs::parse_playlist_res(&master.body) else {
        panic!("not a master playlist: {}", master.text());
    };
    format!("/channels/{channel}/{}", m.variants[0].uri)
}

/// The vote limit counts clients, not the proxy in front of them: behind a trusted proxy
/// (`--trusted-proxy`) each forwarded address has its own 30 a minute, while an untrusted
/// peer's `X-Forwarded-For` is ignored (anybody can write one). The access log names the
/// same client.
#[test]
fn the_vote_limit_sees_clients_through_a_trusted_proxy_only() {
    let vote = |server: &Server, client: &str| {
        server
            .request(
                "POST",
                "/api/channels/main/items/0/like",
                &[("X-Forwarded-For", &format!("198.51.100.77, {client}"))],
                b"",
            )
            .status
    };
    let (proxied, _) = channel_server_with(
        Options::args(&["--trusted-proxy", "127.0.0.0/8"]),
        &[("alpha", 2.0)],
    );
    for _ in 0..30 {
        assert_eq!(vote(&proxied, "203.0.113.1"), 200);
    }
    assert_eq!(vote(&proxied, "203.0.113.1"), 429, "the 31st vote in a minute");
    assert_eq!(
        vote(&proxied, "203.0.113.2"),
        200,
        "another client behind the proxy"
    );
    wait_for(
        "the access log to name the client",
        Duration::from_secs(5),
        || {
            proxied
                .log_text()
                .contains("203.0.113.2 \"POST /api/channels/main/items/0/like")
                .then_some(())
        },
    );

    let (direct, _) = channel_server_with(Options::default(), &[("alpha", 2.0)]);
    for i in 0..30 {
        assert_eq!(vote(&direct, &format!("203.0.113.{i}")), 200);
    }
    let refused = direct.request(
        "POST",
        "/api/channels/main/items/0/like",
        &[("X-Forwarded-For", "203.0.113.200")],
        b"",
    );
    assert_error(&direct, &refused, 429, "too_many_requests");
    assert!(refused.header("retry-after").is_some());
}
