//! With an API key, requests that change state need it (either header); reads stay open.

use crate::util::clips::small_clip;
use crate::util::*;

const KEY: &str = "s3cret-key";

fn form() -> Form {
    Form::new()
        .text("heights", "180")
        .file("file", "clip.mp4", &std::fs::read(small_clip()).unwrap())
}

fn check_guard(server: &Server) {
    for headers in [
        vec![],
        vec![("Authorization", "Bearer wrong")],
        vec![("X-API-Key", "wrong")],
        vec![("Authorization", KEY)],
        vec![("Authorization", "Basic czNjcmV0LWtleQ==")],
    ] {
        let res = post_form(server, form(), &headers);
        let body = assert_error(server, &res, 401, "unauthorized");
        assert!(body["error"].as_str().unwrap().contains("X-API-Key"));
        assert_eq!(res.header("www-authenticate"), Some("Bearer"));
    }
    let bearer = format!("Bearer {KEY}");
    let by_bearer = post_form(server, form(), &[("Authorization", &bearer)]);
    assert_eq!(by_bearer.status, 202, "{}", by_bearer.text());
    let by_header = post_form(server, form(), &[("X-API-Key", KEY)]);
    assert_eq!(by_header.status, 202, "{}", by_header.text());
    let id = by_header.json()["id"].as_str().unwrap().to_string();

    // Reads stay open, media included; so do CORS preflights.
    assert_eq!(server.get("/api/videos").status, 200);
    assert_eq!(server.get(&format!("/api/videos/{id}")).status, 200);
    wait_ready(server, &id);
    assert_eq!(server.get(&format!("/media/{id}/master.m3u8")).status, 200);
    let preflight = server.request(
        "OPTIONS",
        "/api/videos",
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    );
    assert_eq!(preflight.status, 204);

    let path = format!("/api/videos/{id}");
    assert_error(
        server,
        &server.request("DELETE", &path, &[], b""),
        401,
        "unauthorized",
    );
    assert_eq!(
        server
            .request("DELETE", &path, &[("Authorization", &bearer)], b"")
            .status,
        204
    );
}

#[test]
fn the_key_guards_state_changes_by_flag() {
    check_guard(&Server::start(Options::args(&["--api-key", KEY])));
}

#[test]
fn the_key_guards_state_changes_by_environment() {
    check_guard(&Server::start(Options {
        envs: vec![("REEL_API_KEY".into(), KEY.into())],
        ..Options::default()
    }));
}

#[test]
fn without_a_key_everything_is_open() {
    let server = Server::new();
    assert_eq!(post_form(&server, form(), &[]).status, 202);
}
