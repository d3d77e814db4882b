// Strangers as judges: HLS players on a page that is not reel's play its output, in
// headless Debian Chromium (through playwright-core), against a running reel server:
//
//   node tests/browser/players.mjs <base-url> <screenshot-dir> <clip> <heights> <fmp4-id> <ts-id>
//
// Players: video.js 8 (its VHS engine) and Shaka Player, which reel does not ship (from
// web/node_modules, devDependencies), and hls.js (the pinned web/vendor/hls.js that reel's
// pages use too), on a test page of our own (players.html + players-page.js) served from a
// static server on another port: a stranger's page on another origin, so CORS is part of
// the test. Each player runs with its defaults in a page of its own.
//
// Cases, each with the three players side by side (three pages at once):
//   processing  <clip> is uploaded here (fMP4, rungs <heights>); the players start as soon
//               as GET /media/{id}/master.m3u8 answers 200, and the video must still be
//               `processing` then (its rung playlists are EVENT playlists);
//   fmp4, ts    the ready ladders <fmp4-id> and <ts-id>.
//   channel     channel `main` (those ready ladders) through `live.m3u8`: MPEG-TS segments
//               remuxed on the fly; a live stream starts at the channel's moment, not at 0.
// A player passes when playback begins within the first second (currentTime at its first
// `playing` < 1 s), currentTime then advances by 1.5 s, the picture has a size, and no
// player error, uncaught exception or console error came up. Every case and player is run
// even after a failure; the failures are listed at the end (exit status 1). One screenshot
// per case and player goes to <screenshot-dir>/<case>-<player>.png (old ones, and an old
// players.log, removed).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch, log, PLAYER_PAGE_FILES, serveFiles } from './harness.mjs';

const [base, shots, clip, heights, fmp4Id, tsId] = process.argv.slice(2);
if (!tsId) {
  console.error('usage: players.mjs <base-url> <screenshot-dir> <clip> <heights> <fmp4-id> <ts-id>');
  process.exit(2);
}
const baseUrl = base.replace(/\/$/, '');
const PLAYERS = ['hlsjs', 'videojs', 'shaka'];
/** How long a player may take from start to a verdict (three pages decode at once on a
 * busy two-core runner, next to a transcode in the processing case). */
const VERDICT_MS = 40_000;
/** How long the master of the processing upload may take to appear. */
const MASTER_MS = 60_000;

fs.mkdirSync(shots, { recursive: true });
for (const f of fs.readdirSync(shots)) if (f.endsWith('.png') || f.endsWith('.log')) fs.rmSync(path.join(shots, f));
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-players-'));
const failures = [];

// ---- the stranger's origin: the test page and the players' files, no page of reel's ----
const pageServer = await serveFiles(PLAYER_PAGE_FILES);
const pageOrigin = pageServer.origin;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let context;
try {
  context = await launch(profile, [
      '--autoplay-policy=no-user-gesture-required',
      // Three pages play at once: none may be throttled for being in the background.
      '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows',
    ], { width: 680, height: 560 });
  const probe = context.pages()[0] ?? (await context.newPage());
  const avc = await probe.evaluate(() => MediaSource.isTypeSupported('video/mp4; codecs="avc1.64001f,mp4a.40.2"'));
  if (!avc) throw new Error("this Chromium cannot decode H.264/AAC in MSE: install Debian's chromium");
  await probe.close();

  await runCase('processing', processingCase);
  await runCase('fmp4', () => readyCase('fmp4', fmp4Id));
  await runCase('ts', () => readyCase('ts', tsId));
  await runCase('channel', channelCase);
} catch (e) {
  failures.push(`the test itself: ${e.stack ?? e}`);
} finally {
  await context?.close().catch(() => {});
  pageServer.close();
  fs.rmSync(profile, { recursive: true, force: true });
}

if (failures.length) {
  console.log(`\n${failures.length} failure(s):\n${failures.map((f) => `  - ${f}`).join('\n')}`);
  process.exit(1);
}
log('every player played every case from its first second');

/** Runs one case; what goes wrong in it is its failure, and the next case runs. */
async function runCase(label, run) {
  try {
    await run();
  } catch (e) {
    failures.push(`${label}: ${e.stack ?? e}`);
  }
}

/** Uploads <clip> and starts the players on its master's first 200, while it processes. */
async function processingCase() {
  const players = await openPlayers('processing');
  const form = new FormData();
  form.set('heights', heights);
  form.set('format', 'fmp4');
  form.set('file', await fs.openAsBlob(clip), path.basename(clip));
  const upload = await fetch(`${baseUrl}/api/videos`, { method: 'POST', body: form });
  const accepted = await upload.json();
  if (upload.status !== 202) throw new Error(`upload answered ${upload.status}: ${JSON.stringify(accepted)}`);
  const id = accepted.id;
  const master = `${baseUrl}/media/${id}/master.m3u8`;
  const posted = Date.now();
  let masterText = null;
  while (masterText === null) {
    const r = await fetch(master);
    if (r.status === 200) masterText = await r.text();
    else if (Date.now() - posted > MASTER_MS) throw new Error(`no master for ${id} after ${MASTER_MS} ms (last status ${r.status})`);
    else await sleep(50);
  }
  const appeared = Date.now() - posted;
  const [video, rungs] = await Promise.all([fetch(`${baseUrl}/api/videos/${id}`).then((r) => r.json()), rungPlaylists(master, masterText)]);
  log(`processing: master of ${id} answered 200 ${appeared} ms after the upload was accepted; video ${video.status} at ${Math.round((video.progress ?? 0) * 100)}%`);
  for (const r of rungs) {
    log(`  ${r.uri}: ${r.status} ${r.type ?? '-'}, ${r.segments} segment(s), EXT-X-MAP ${r.map ? 'yes' : 'no'}, EXT-X-START ${r.start ?? 'none'}`);
  }
  if (video.status !== 'processing') {
    failures.push(`processing: the video was ${video.status}, not processing, when its master appeared: the case judges nothing (a longer clip?)`);
  }
  await judge(players, 'processing', master);
  const after = await fetch(`${baseUrl}/api/videos/${id}`).then((r) => r.json());
  log(`processing: the video is ${after.status} (${Math.round((after.progress ?? 0) * 100)}%) after the verdicts`);
}

/** The players on a ready ladder of `format`. */
async function readyCase(format, id) {
  const video = await fetch(`${baseUrl}/api/videos/${id}`).then((r) => r.json());
  if (video.status !== 'ready' || video.format !== format) {
    throw new Error(`video ${id} is ${video.status} ${video.format}, not a ready ${format} ladder`);
  }
  await judge(await openPlayers(format), format, `${baseUrl}/media/${id}/master.m3u8`);
}

/** Channel `main` (the ready uploads: an fMP4 and an MPEG-TS ladder) through its live
 * playlist, whose segments are MPEG-TS remuxed on the fly: each player must play on. */
async function channelCase() {
  const deadline = Date.now() + MASTER_MS;
  for (;;) {
    const ch = await fetch(`${baseUrl}/api/channels/main`).then((r) => r.json());
    if (ch.now && ch.items.length >= 2) break;
    if (Date.now() > deadline) throw new Error(`channel main never played two items: ${JSON.stringify(ch)}`);
    await sleep(250);
  }
  await judge(await openPlayers('channel'), 'channel', `${baseUrl}/channels/main/live.m3u8`);
}

/** A page per player on the test page, each with its library loaded and waiting. */
async function openPlayers(label) {
  return Promise.all(
    PLAYERS.map(async (player) => {
      const page = await context.newPage();
      const consoleErrors = [];
      page.on('console', (m) => {
        if (m.type() === 'error') consoleErrors.push(`console: ${m.text()} (${m.location().url ?? ''})`);
      });
      page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
      await page.goto(`${pageOrigin}/players.html?player=${player}&case=${label}`);
      await page.waitForFunction(() => window.judge?.ready || window.judge?.outcome, null, { timeout: 30_000 });
      return { player, page, consoleErrors };
    }),
  );
}

/** Starts every player on `master` at once, waits for each verdict, screenshots each. */
async function judge(players, label, master) {
  await Promise.all(players.map(({ page }) => page.evaluate((src) => void window.judge.start(src), master)));
  const started = Date.now();
  await Promise.all(
    players.map(async ({ player, page, consoleErrors }) => {
      let timedOut = false;
      await page.waitForFunction(() => window.judge.outcome, null, { timeout: VERDICT_MS }).catch(() => (timedOut = true));
      const file = path.join(shots, `${label}-${player}.png`);
      await page.screenshot({ path: file });
      const j = await page.evaluate(() => {
        const { start: _start, ...rest } = window.judge;
        return rest;
      });
      const verdict = timedOut ? `failed: no verdict within ${VERDICT_MS / 1000} s` : j.outcome;
      const errors = [...j.errors, ...consoleErrors];
      const startAt = j.startAt === null ? 'never' : `${j.startAt.toFixed(2)} s`;
      log(
        `${label} ${j.name} ${j.version} (${j.engine}${j.playlist ? `, ${j.playlist} playlist` : ''}): ${verdict} after ${((Date.now() - started) / 1000).toFixed(1)} s;` +
          ` started at ${startAt}, currentTime ${j.currentTime.toFixed(2)} s after ${j.playedWallSecs.toFixed(2)} s of playback,` +
          ` ${j.videoWidth}x${j.videoHeight}; screenshot ${file}`,
      );
      for (const e of errors) log(`  ${e}`);
      if (verdict !== 'passed') failures.push(`${label} ${j.name} ${j.version}: ${verdict} (started at ${startAt}, currentTime ${j.currentTime.toFixed(2)} s)`);
      else if (errors.length) failures.push(`${label} ${j.name} ${j.version}: played, but ${errors[0]}`);
      await page.close();
    }),
  );
}

/** What each playlist the master names looks like now. */
async function rungPlaylists(master, text) {
  const uris = [
    ...text.split('\n').filter((l) => l && !l.startsWith('#')),
    ...[...text.matchAll(/URI="([^"]+)"/g)].map((m) => m[1]),
  ];
  return Promise.all(
    uris.map(async (uri) => {
      const r = await fetch(new URL(uri, master));
      const body = r.ok ? await r.text() : '';
      return {
        uri,
        status: r.status,
        type: body.match(/#EXT-X-PLAYLIST-TYPE:(\w+)/)?.[1],
        segments: (body.match(/^#EXTINF/gm) ?? []).length,
        map: body.includes('#EXT-X-MAP'),
        start: body.match(/#EXT-X-START:(\S+)/)?.[1],
      };
    }),
  );
}
