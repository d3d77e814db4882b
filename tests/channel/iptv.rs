//! Channels for Live TV clients over HTTP: the M3U list, the XMLTV guide (checked by
//! `tv_validate_file` from Debian's xmltv-util against the XMLTV DTD, and against
//! `GET /api/channels/{name}` for the same instants), and the HDHomeRun tuner documents.

use std::collections::HashMap;
use std::process::Command;

use super::*;

/// `#EXTINF` attributes and the title of each entry of an extended M3U, with its URL.
fn parse_m3u(text: &str) -> Vec<(HashMap<String, String>, String, String)> {
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("#EXTM3U"), "{text}");
    let mut entries = Vec::new();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("#EXTINF:") else {
            continue;
        };
        let (attrs, title) = info.rsplit_once(',').unwrap();
        let mut map = HashMap::new();
        let mut rest = attrs.split_once(' ').map(|(_, r)| r).unwrap_or("");
        while let Some((key, after)) = rest.split_once("=\"") {
            let (value, tail) = after.split_once('"').unwrap();
            map.insert(key.trim().to_string(), value.to_string());
            rest = tail;
        }
        entries.push((map, title.to_string(), lines.next().unwrap().to_string()));
    }
    entries
}

#[test]
fn live_tv_clients_get_a_lineup_a_guide_and_a_tuner() {
    let defs_dir = tempfile::tempdir().unwrap();
    let defs = defs_dir.path().join("channels.json");
    std::fs::write(&defs, "[]").unwrap();
    let options = Options::args(&["--channels", defs.to_str().unwrap()]);
    let (mut server, ids) = channel_server_with(options, &[("alpha", 3.0), ("bravo & co", 4.0)]);
    let file = serde_json::json!([
        {"name": "lobby", "items": [format!("video:{}", ids[1])], "number": "7.1",
         "logo": "https://example.org/lobby.png"},
        {"name": "zeta", "items": [format!("video:{}", ids[0])]},
    ]);
    std::fs::write(&defs, file.to_string()).unwrap();
    server.restart();
    let base = format!("http://{}", server.addr);

    // ---- the M3U ----
    let res = server.get("/iptv/channels.m3u");
    assert_eq!(res.status, 200);
    assert!(res.header("content-type").unwrap().contains("mpegurl"));
    let text = res.text();
    assert!(
        text.starts_with(&format!("#EXTM3U url-tvg=\"{base}/iptv/xmltv.xml\"")),
        "{text}"
    );
    let entries = parse_m3u(&text);
    let summary: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|(a, t, _)| (a["tvg-chno"].as_str(), a["tvg-name"].as_str(), t.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("1", "main", "main"),
            ("2", "zeta", "zeta"),
            ("7.1", "lobby", "lobby")
        ]
    );
    for (attrs, title, url) in &entries {
        assert_eq!(attrs["tvg-id"], format!("{title}.reel"));
        assert_eq!(attrs["group-title"], "reel");
        assert_eq!(*url, format!("{base}/channels/{title}/stream.ts"));
    }
    assert_eq!(entries[2].0["tvg-logo"], "https://example.org/lobby.png");
    let own_logo = entries[0].0["tvg-logo"].strip_prefix(&base).unwrap().to_string();
    let logo = server.get(&own_logo);
    assert_eq!(
        (logo.status, logo.header("content-type")),
        (200, Some("image/svg+xml"))
    );
    assert!(logo.text().contains(">main<"));

    // ---- HDHomeRun ----
    let discover = server.get("/discover.json").json();
    for field in [
        "FriendlyName",
        "DeviceID",
        "DeviceAuth",
        "BaseURL",
        "LineupURL",
        "TunerCount",
        "ModelNumber",
        "FirmwareName",
        "FirmwareVersion",
    ] {
        assert!(
            !discover[field].is_null(),
            "discover.json has no {field}: {discover}"
        );
    }
    assert_eq!(discover["BaseURL"], base.as_str());
    assert_eq!(discover["DeviceID"].as_str().unwrap().len(), 8);
    let lineup_path = discover["LineupURL"]
        .as_str()
        .unwrap()
        .strip_prefix(&base)
        .unwrap()
        .to_string();
    let lineup = server.get(&lineup_path).json();
    let lineup: Vec<(String, String, String)> = lineup
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap().to_string();
            (s("GuideNumber"), s("GuideName"), s("URL"))
        })
        .collect();
    let from_m3u: Vec<(String, String, String)> = entries
        .iter()
        .map(|(a, t, u)| (a["tvg-chno"].clone(), t.clone(), u.clone()))
        .collect();
    assert_eq!(lineup, from_m3u, "the tuner and the M3U list the same channels");
    let status = server.get("/lineup_status.json").json();
    assert_eq!(status["ScanInProgress"], 0);
    assert_eq!(status["ScanPossible"], 1);
    assert_eq!(status["Source"], "Cable");
    assert_eq!(status["SourceList"][0], "Cable");

    // ---- the guide ----
    let view = channel(&server);
    let res = server.get("/iptv/xmltv.xml?hours=1");
    assert_eq!(res.status, 200);
    assert!(res.header("content-type").unwrap().starts_with("application/xml"));
    let xml = res.text();
    let file = server.dir.join("xmltv.xml");
    std::fs::write(&file, &xml).unwrap();
    if crate::util::clips::have("tv_validate_file") {
        // The DTD from Debian's package, not from the network (there is none here).
        let out = Command::new("tv_validate_file")
            .arg(&file)
            .env("XMLTV_SUPPLEMENT", "/usr/share/xmltv")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tv_validate_file refuses the guide:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "tv_validate_file is absent (xmltv-util)"
        );
        eprintln!("skipping the DTD check: tv_validate_file is absent (scripts/setup --test installs it)");
    }
    // Programmes of main: the first is what plays now, the second what plays next, and
    // they run back to back for the hour asked for.
    let programmes: Vec<(String, String, String)> = xml
        .split("<programme ")
        .skip(1)
        .filter(|p| p.contains("channel=\"main.reel\""))
        .map(|p| {
            let attr = |name: &str| {
                let at = p.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                p[at..at + 20].to_string()
            };
            let title = p
                .split("<title>")
                .nth(1)
                .unwrap()
                .split("</title>")
                .next()
                .unwrap();
            (attr("start"), attr("stop"), title.to_string())
        })
        .collect();
    let when = |slot: &Value| crate::util::xmltv_time(slot["started_at_ms"].as_u64().unwrap());
    assert_eq!(programmes[0].0, when(&view["now"]));
    assert_eq!(
        programmes[0].2,
        view["now"]["title"].as_str().unwrap().replace('&', "&amp;")
    );
    assert_eq!(programmes[1].0, when(&view["next"]));
    assert_eq!(
        programmes[1].2,
        view["next"]["title"].as_str().unwrap().replace('&', "&amp;")
    );
    for (a, b) in programmes.iter().zip(&programmes[1..]) {
        assert_eq!(a.1, b.0, "programmes run back to back");
    }
    let hour_later = crate::util::xmltv_time(view["server_time_ms"].as_u64().unwrap() + 3_600_000);
    assert!(
        programmes.last().unwrap().1 >= hour_later,
        "the guide stops short of an hour"
    );
    assert!(xml.contains("<channel id=\"lobby.reel\">"));
    assert!(xml.contains(&format!("{base}/media/{}/poster.jpg", ids[0])));

    let bad = server.get("/iptv/xmltv.xml?hours=0");
    assert_error(&server, &bad, 400, "invalid_field");
}
