//! Nothing outside the media root or the library is ever served: `..` in every spelling,
//! absolute paths, hidden directories and symlinks that lead out get 400, 403 or 404,
//! never a redirect and never the bytes. Directories are never listed.

use std::os::unix::fs::symlink;

use crate::util::clips::small_clip;
use crate::util::*;

const SECRET: &str = "TOP SECRET: outside every served folder";

#[test]
fn hostile_paths_never_leave_the_served_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let library = tmp.path().join("library");
    std::fs::create_dir_all(library.join("sub")).unwrap();
    std::fs::write(library.join("sub/ok.txt"), "inside").unwrap();
    let server = Server::start(Options::args(&["--library", library.to_str().unwrap()]));
    let secret = server.dir.join("secret.txt");
    std::fs::write(&secret, SECRET).unwrap();
    let id = upload_ok(&server, &small_clip(), &[("heights", "180")]);
    wait_ready(&server, &id);

    let video_dir = server.media.join(&id);
    symlink(&secret, video_dir.join("leak.txt")).unwrap();
    symlink("../../secret.txt", video_dir.join("rel.txt")).unwrap();
    symlink(&server.dir, video_dir.join("dirlink")).unwrap();
    symlink(&secret, library.join("leak.txt")).unwrap();
    symlink("../secret.txt", library.join("rel.txt")).unwrap();
    symlink(&server.dir, library.join("dirlink")).unwrap();
    symlink("sub/ok.txt", library.join("inner-link.txt")).unwrap();

    let hostile = [
        "/media/../secret.txt".to_string(),
        "/media/../../etc/passwd".into(),
        format!("/media/{id}/../../secret.txt"),
        format!("/media/{id}/..%2f..%2fsecret.txt"),
        format!("/media/{id}/..%2F..%2Fsecret.txt"),
        "/media/%2e%2e/secret.txt".into(),
        format!("/media/{id}/%2e%2e/%2e%2e/secret.txt"),
        format!("/media/{id}/%2E%2E/%2E%2E/secret.txt"),
        format!("/media/{id}/.%2e/.%2e/secret.txt"),
        format!("/media/{id}/%252e%252e/%252e%252e/secret.txt"),
        format!("/media/{id}/%252e%252e%252f%252e%252e%252fsecret.txt"),
        format!("/media/{id}/..%5c..%5csecret.txt"),
        format!("/media/{id}/..\\..\\secret.txt"),
        "/media//etc/passwd".into(),
        "/media/%2fetc%2fpasswd".into(),
        format!("/media/{id}/%2fetc%2fpasswd"),
        format!("/media/{id}//etc/passwd"),
        format!("/media/{id}/master.m3u8%00.txt"),
        format!("/media/{id}/leak.txt"),
        format!("/media/{id}/rel.txt"),
        format!("/media/{id}/dirlink/secret.txt"),
        "/media/.jobs/anything".into(),
        "/media/.uploads/anything".into(),
        format!("/media/{id}/.tmp-x"),
        "/library/../secret.txt".into(),
        "/library/%2e%2e/secret.txt".into(),
        "/library/%252e%252e/secret.txt".into(),
        "/library/sub/../../secret.txt".into(),
        "/library//etc/passwd".into(),
        "/library/%2Fetc%2Fpasswd".into(),
        "/library/leak.txt".into(),
        "/library/rel.txt".into(),
        "/library/dirlink/secret.txt".into(),
    ];
    assert_never_served(&server, &hostile);
    // Symlinks out are refused by the kernel's resolution check: 403, not a silent 404.
    for path in [
        format!("/media/{id}/leak.txt"),
        "/library/leak.txt".into(),
        "/library/dirlink/secret.txt".into(),
    ] {
        assert_error(&server, &server.get(&path), 403, "forbidden");
    }
    // A symlink that stays inside is fine.
    assert_eq!(server.get("/library/inner-link.txt").text(), "inside");
    assert_eq!(server.get("/library/sub/ok.txt").text(), "inside");
}

/// Each of `paths` gets 400, 403 or 404 to GET and HEAD, never a redirect, and never
/// bytes of a secret (a text starting `TOP SECRET`, or `/etc/passwd`). The S3 store's tests
/// (`s3.rs`) hold it to the same.
pub(super) fn assert_never_served(server: &Server, paths: &[String]) {
    for path in paths {
        for method in ["GET", "HEAD"] {
            let res = server.request(method, path, &[], b"");
            assert!(
                matches!(res.status, 400 | 403 | 404),
                "{method} {path} -> {}",
                res.status
            );
            assert!(res.header("location").is_none(), "{path} redirects");
            let text = res.text();
            assert!(
                !text.contains("TOP SECRET") && !text.contains("root:"),
                "{path} leaked: {text}"
            );
        }
    }
}

#[test]
fn directories_are_never_listed() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("sub")).unwrap();
    std::fs::write(tmp.path().join("sub/a.txt"), "a").unwrap();
    let server = Server::start(Options::args(&["--library", tmp.path().to_str().unwrap()]));
    let id = upload_ok(&server, &small_clip(), &[("heights", "180")]);
    wait_ready(&server, &id);
    for path in ["/library", "/library/", "/library/sub", "/library/sub/"] {
        let res = server.get(path);
        assert_eq!(res.status, 404, "{path}");
        assert!(res.header("location").is_none(), "{path} redirects");
    }
    assert_media_not_listed(&server, &id, "180p");
}

/// `/media`, the video `id`'s directory and its rung's directory `rung` (with and without
/// a final slash) answer 404, never a listing nor a redirect. The S3 store's tests
/// (`s3.rs`) hold it to the same.
pub(super) fn assert_media_not_listed(server: &Server, id: &str, rung: &str) {
    for path in [
        "/media".to_string(),
        "/media/".into(),
        format!("/media/{id}"),
        format!("/media/{id}/"),
        format!("/media/{id}/{rung}"),
        format!("/media/{id}/{rung}/"),
    ] {
        let res = server.get(&path);
        assert_eq!(res.status, 404, "{path}");
        assert!(res.header("location").is_none(), "{path} redirects");
    }
}
