// A copied `reel` binary's own pages in a real browser (headless Chromium through
// playwright-core). The server runs from a folder outside the checkout with no `web/`
// beside it, so everything the browser gets comes from inside the binary:
//
//   node tests/browser/portable.mjs <base-url> <screenshot-dir> <ready-id> <processing-id> <hls.js-version>
//
// First the browser's own HLS (`?player=native`) on <processing-id>, opened the moment it
// was uploaded: the page must wait for its first segments and then play from the start
// (it used to hand Chromium a master whose playlists were empty: "DEMUXER_ERROR_COULD_NOT_
// PARSE", stuck at 0:00). Then the dashboard plays the ready <ready-id> with hls.js (the
// pinned version, from its versioned URL, cached for a year) and natively, and the channel
// page plays channel `main`. Each playback must advance `currentTime` by a second from
// near the start and show a picture; any console error fails the test. Screenshots go to
// <screenshot-dir>.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { check, launch, log, root, TestFailure } from './harness.mjs';

const [base, shots = path.join(root, 'target/screenshots/portable'), id, processingId, hlsVersion] = process.argv.slice(2);
const baseUrl = base.replace(/\/$/, '');
fs.mkdirSync(shots, { recursive: true });
for (const f of fs.readdirSync(shots)) if (f.endsWith('.png')) fs.rmSync(path.join(shots, f));
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-portable-'));

let context;
let failed = false;
const consoleErrors = [];

/** Waits until `video` (a selector) has advanced by `by` seconds from wherever it was. */
async function advances(page, selector, by) {
  await page.waitForFunction((s) => document.querySelector(s).readyState >= 2, selector, { timeout: 30_000 });
  const t0 = await page.evaluate((s) => document.querySelector(s).currentTime, selector);
  await page.waitForFunction(
    ([s, t0, by]) => document.querySelector(s).currentTime >= t0 + by,
    [selector, t0, by],
    { timeout: 20_000 },
  );
  const state = await page.evaluate((s) => {
    const v = document.querySelector(s);
    return { t: v.currentTime, w: v.videoWidth, h: v.videoHeight, error: v.error?.message ?? null };
  }, selector);
  check(state.w > 0 && state.h > 0 && !state.error, `no picture: ${JSON.stringify(state)}`);
  log(`${selector}: ${t0.toFixed(2)} → ${state.t.toFixed(2)} s, ${state.w}x${state.h}`);
  return { t0, ...state };
}

try {
  context = await launch(profile, ['--autoplay-policy=no-user-gesture-required'], { width: 1280, height: 800 });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${m.text()} (${m.location().url ?? ''})`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
  const hlsResponses = [];
  page.on('response', (r) => {
    if (r.url().includes('/vendor/')) hlsResponses.push({ url: r.url(), status: r.status(), cache: r.headers()['cache-control'] });
  });
  const shot = async (name) => {
    const file = path.join(shots, `${name}.png`);
    await page.screenshot({ path: file });
    log(`screenshot ${file}`);
  };

  // ---- native HLS on a video still processing ----
  const native = await page.evaluate(() => document.createElement('video').canPlayType('application/vnd.apple.mpegurl'));
  log(`canPlayType(application/vnd.apple.mpegurl) = "${native}"`);
  check(native !== '', 'this Chromium has no native HLS: ?player=native cannot be judged here');
  await page.goto(`${baseUrl}/?video=${encodeURIComponent(processingId)}&player=native`);
  const status = await page.evaluate((v) => fetch(`/api/videos/${v}`).then((r) => r.json()).then((v) => v.status), processingId);
  check(status !== 'ready', `the video meant to be processing is ${status}`);
  await page.waitForFunction(() => window.reel?.engine === 'native' && document.getElementById('video').readyState >= 2, null, { timeout: 90_000 });
  await page.evaluate(() => document.getElementById('video').play());
  const early = await advances(page, '#video', 1.0);
  check(early.t0 < 1.5, `native HLS did not start near the beginning (${early.t0})`);
  const still = await page.evaluate((v) => fetch(`/api/videos/${v}`).then((r) => r.json()).then((v) => `${v.status} ${v.progress}`), processingId);
  log(`native HLS played the video while it was ${still}`);
  await shot('00-dashboard-native-processing');

  // ---- the dashboard, hls.js ----
  await page.goto(`${baseUrl}/?video=${encodeURIComponent(id)}`);
  await page.waitForFunction(() => window.reel?.engine === 'hlsjs' && window.Hls);
  const version = await page.evaluate(() => window.Hls.version);
  check(version === hlsVersion, `hls.js ${version} is not the pinned ${hlsVersion}`);
  check(
    hlsResponses.some((r) => r.url.endsWith(`/vendor/hls.js@${hlsVersion}/hls.min.js`) && r.status === 200 && /immutable/.test(r.cache)),
    `hls.js did not come from its versioned, immutable URL: ${JSON.stringify(hlsResponses)}`,
  );
  await page.evaluate(() => document.getElementById('video').play());
  const hlsjs = await advances(page, '#video', 1.0);
  check(hlsjs.t0 < 1.5, `hls.js did not start near the beginning (${hlsjs.t0})`);
  await shot('01-dashboard-hlsjs');

  // ---- the dashboard, the browser's own HLS ----
  await page.goto(`${baseUrl}/?video=${encodeURIComponent(id)}&player=native`);
  await page.waitForFunction(() => window.reel?.engine === 'native');
  // What a person does: a click on play (the page's own controls are the element's).
  await page.evaluate(() => document.getElementById('video').play());
  const nat = await advances(page, '#video', 1.0);
  check(nat.t0 < 1.5, `native HLS did not start near the beginning (${nat.t0})`);
  await shot('02-dashboard-native');

  // ---- the channel page ----
  await page.goto(`${baseUrl}/channels/main`);
  await page.waitForFunction(() => window.reel?.snapshot().state === 'playing' && !window.reel.snapshot().paused, null, {
    timeout: 30_000,
  });
  // Two decks take turns; the snapshot follows the one on screen.
  const c0 = await page.evaluate(() => window.reel.snapshot());
  await page.waitForFunction((t0) => {
    const s = window.reel.snapshot();
    return s.readyState >= 2 && !s.paused && (s.currentTime >= t0 + 1 || s.item !== null && s.currentTime < t0 - 1);
  }, c0.currentTime, { timeout: 20_000 });
  const c1 = await page.evaluate(() => window.reel.snapshot());
  log(`channel: ${c0.currentTime.toFixed(2)} → ${c1.currentTime.toFixed(2)} s (drift ${c1.drift?.toFixed(3)} s)`);
  await shot('03-channel');

  check(consoleErrors.length === 0, `console errors:\n${consoleErrors.join('\n')}`);
  log('PASS');
} catch (e) {
  failed = true;
  console.error(e instanceof TestFailure ? `FAIL: ${e.message}` : e);
} finally {
  await context?.close().catch(() => {});
  fs.rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
