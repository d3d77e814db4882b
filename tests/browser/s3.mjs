// hls.js plays a video whose objects live in S3 (issue 10), in headless Debian Chromium
// (through playwright-core), on the strangers' test page (players.html + players-page.js,
// the same judge as players.mjs: playback begins within the first second, currentTime
// advances 1.5 s, a picture, no error):
//
//   node tests/browser/s3.mjs <screenshot-dir> <media-master-url> <public-master-url>
//
// Cases:
//   media    the master through reel's `/media` (<media-master-url>), from a page on an
//            origin of its own (a static server on another loopback port: CORS is part of
//            the test), every object read from the bucket by reel;
//   public   the master at `--public-media-url` (<public-master-url>): the bucket itself,
//            served without signatures by a keyless s3s-fs over the same files. s3s-fs has no
//            CORS, as a bucket without a CORS rule has none, so the page is put on the
//            bucket's own origin: Playwright answers the page's own files (players.html,
//            players-page.js, hls.min.js) at that origin, and every playlist and segment
//            request goes to s3s-fs itself. (A page Playwright answers has no address, so
//            Chromium would not let it reach another loopback origin: it can only be the
//            same origin as the media, which is the point here.)
// In each case every playlist and segment request must have gone to that case's origin
// (none to the other) and answered 200. One screenshot per case, <case>-hlsjs.png.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { check, launch, log, PLAYER_PAGE_FILES, serveFiles, TestFailure, finish } from './harness.mjs';

const [shots, mediaMaster, publicMaster] = process.argv.slice(2);
if (!publicMaster) {
  console.error('usage: s3.mjs <screenshot-dir> <media-master-url> <public-master-url>');
  process.exit(2);
}
/** How long hls.js may take from start to a verdict (a busy two-core runner). */
const VERDICT_MS = 40_000;
fs.mkdirSync(shots, { recursive: true });
for (const f of fs.readdirSync(shots)) if (f.endsWith('.png')) fs.rmSync(path.join(shots, f));
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-s3-'));
const failures = [];

const stranger = await serveFiles(PLAYER_PAGE_FILES);
const bucketOrigin = new URL(publicMaster).origin;
let context;
try {
  context = await launch(profile, ['--autoplay-policy=no-user-gesture-required'], { width: 680, height: 560 });
  // The page's own files at the bucket's origin; everything else there goes to s3s-fs.
  await context.route(
    (url) => url.origin === bucketOrigin && PLAYER_PAGE_FILES[url.pathname] !== undefined,
    (route) => {
      const [file, contentType] = PLAYER_PAGE_FILES[new URL(route.request().url()).pathname];
      return route.fulfill({ status: 200, contentType, headers: { 'Cache-Control': 'no-store' }, body: fs.readFileSync(file) });
    },
  );
  for (const [label, origin, master] of [
    ['media', stranger.origin, mediaMaster],
    ['public', bucketOrigin, publicMaster],
  ]) {
    try {
      await play(label, origin, master);
    } catch (e) {
      failures.push(`${label}: ${e instanceof TestFailure ? e.message : e.stack ?? e}`);
    }
  }
} catch (e) {
  failures.push(`the test itself: ${e.stack ?? e}`);
} finally {
  await context?.close().catch(() => {});
  stranger.close();
  fs.rmSync(profile, { recursive: true, force: true });
}

finish(failures, 'hls.js played the S3-stored video through /media and through the public URL');

/** hls.js on the test page at `origin`, on `master`; judged, screenshot, requests checked. */
async function play(label, origin, master) {
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()} (${m.location().url ?? ''})`);
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  const media = [];
  page.on('response', (r) => {
    if (/\.(m3u8|m4s|ts|mp4)(\?|$)/.test(new URL(r.url()).pathname)) media.push({ url: r.url(), status: r.status() });
  });
  // hls.js cancels loads it no longer needs (net::ERR_ABORTED); any other failure counts.
  page.on('requestfailed', (r) => {
    const why = r.failure()?.errorText ?? '';
    if (!why.includes('ERR_ABORTED')) errors.push(`request failed: ${r.url()} (${why})`);
  });
  await page.goto(`${origin}/players.html?player=hlsjs&case=s3-${label}`);
  await page.waitForFunction(() => window.judge?.ready || window.judge?.outcome, null, { timeout: 30_000 });
  await page.evaluate((src) => void window.judge.start(src), master);
  let timedOut = false;
  await page.waitForFunction(() => window.judge.outcome, null, { timeout: VERDICT_MS }).catch(() => (timedOut = true));
  const file = path.join(shots, `${label}-hlsjs.png`);
  await page.screenshot({ path: file });
  const j = await page.evaluate(() => {
    const { start: _start, ...rest } = window.judge;
    return rest;
  });
  await page.close();
  const verdict = timedOut ? `failed: no verdict within ${VERDICT_MS / 1000} s` : j.outcome;
  const mediaOrigin = new URL(master).origin;
  const elsewhere = media.filter((r) => new URL(r.url).origin !== mediaOrigin);
  const refused = media.filter((r) => r.status !== 200);
  log(
    `${label}: hls.js ${j.version} on ${master}: ${verdict}; started at ${j.startAt?.toFixed(2) ?? 'never'} s,` +
      ` currentTime ${j.currentTime.toFixed(2)} s, ${j.videoWidth}x${j.videoHeight}, ${j.playlist ?? '-'} playlist;` +
      ` ${media.length} playlist/segment responses; screenshot ${file}`,
  );
  for (const e of [...j.errors, ...errors]) log(`  ${e}`);
  check(verdict === 'passed', `hls.js ${verdict}`);
  check(errors.length === 0 && j.errors.length === 0, `played, but ${[...j.errors, ...errors][0]}`);
  check(media.some((r) => /\.m4s$/.test(new URL(r.url).pathname)), `no segment was fetched: ${JSON.stringify(media)}`);
  check(elsewhere.length === 0, `requests left ${mediaOrigin}: ${JSON.stringify(elsewhere)}`);
  check(refused.length === 0, `refused requests: ${JSON.stringify(refused)}`);
}
