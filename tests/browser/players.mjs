// Strangers as judges: HLS players on a page that is not reel's play its output, in
// headless Debian Chromium (through playwright-core), against a running reel server:
//
//   node tests/browser/players.mjs <base-url> <screenshot-dir> <clip> <heights> <fmp4-id> <ts-id> [<tracks-id>...]
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
//   tracks-<format>  each <tracks-id>: a ready ladder of a source with two audio tracks
//               (English, a 440 Hz sine; French, 880 Hz) and two SubRip tracks (English,
//               French: "fra subtitle n" from 2n - 1.5 s to 2n - 0.5 s), so audio and
//               subtitle renditions. Once a player plays, it must list both audio tracks
//               and both subtitle tracks with their languages (its own API); sound at
//               440 Hz, then at 880 Hz once it switches to French (a Web Audio analyser
//               on the element); and, with French subtitles shown, a cue whose text is
//               the one due at its time, active while currentTime is inside it (the
//               player's text tracks). The screenshot is taken with the cue on screen.
// A player passes when playback begins within the first second (currentTime at its first
// `playing` < 1 s), currentTime then advances by 1.5 s, the picture has a size, and no
// player error, uncaught exception or console error came up. Every case and player is run
// even after a failure; the failures are listed at the end (exit status 1). One screenshot
// per case and player goes to <screenshot-dir>/<case>-<player>.png (old ones, and an old
// players.log, removed).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch, log, PLAYER_PAGE_FILES, serveFiles, finish } from './harness.mjs';

const [base, shots, clip, heights, fmp4Id, tsId, ...tracksIds] = process.argv.slice(2);
if (!tsId) {
  console.error('usage: players.mjs <base-url> <screenshot-dir> <clip> <heights> <fmp4-id> <ts-id> [<tracks-id>...]');
  process.exit(2);
}
const baseUrl = base.replace(/\/$/, '');
const PLAYERS = ['hlsjs', 'videojs', 'shaka'];
/** How long a player may take from start to a verdict (three pages decode at once on a
 * busy two-core runner, next to a transcode in the processing case). */
const VERDICT_MS = 40_000;
/** How long the master of the processing upload may take to appear. */
const MASTER_MS = 60_000;
/** How far a measured pitch may be from a track's sine (an FFT bin is 5.9 Hz at 48 kHz). */
const PITCH_TOLERANCE_HZ = 12;
/** How loud the loudest frequency must be to count (silence reads about -100 dB; the
 * sines at their level about -50 dB, much less while a player fades in). */
const AUDIBLE_DB = -85;
/** How long a player may take to sound the new track after a switch. */
const SWITCH_MS = 12_000;
/** How long to wait for a cue of the shown subtitle track (one shows every 2 s). */
const CUE_MS = 10_000;
/** How far a cue's start may be from the time its source gives it (the video's frame
 * offset, 2 frames, is 67 ms; a cue must not land a segment away). */
const CUE_TOLERANCE_SECS = 0.1;

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
  for (const id of tracksIds) await runCase('tracks', () => tracksCase(id));
} catch (e) {
  failures.push(`the test itself: ${e.stack ?? e}`);
} finally {
  await context?.close().catch(() => {});
  pageServer.close();
  fs.rmSync(profile, { recursive: true, force: true });
}

finish(failures, 'every player played every case from its first second');

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

/** A ladder with audio and subtitle renditions: the players list, switch and show them. */
async function tracksCase(id) {
  const video = await fetch(`${baseUrl}/api/videos/${id}`).then((r) => r.json());
  const label = `tracks-${video.format}`;
  if (video.status !== 'ready' || video.audio?.length !== 2 || video.subtitles?.length !== 2) {
    throw new Error(`video ${id} is ${video.status} with ${video.audio?.length} audio and ${video.subtitles?.length} subtitle tracks, not a ready ladder with two of each`);
  }
  log(`${label}: audio ${video.audio.map((a) => `${a.language} "${a.name}" ${a.playlist}`).join(', ')}; subtitles ${video.subtitles.map((s) => `${s.language} "${s.name}" ${s.playlist}`).join(', ')}`);
  await judge(await openPlayers(label), label, `${baseUrl}/media/${id}/master.m3u8`, (player, page) => checkTracks(label, player, page));
}

/** The tracks case's checks on a player that plays; returns what went wrong. A screenshot
 * (`<label>-<player>-cue.png`) just after the next cue begins: the test pattern's clock
 * and the cue on one picture (a screenshot takes a few hundred ms, a cue lasts 1 s). */
async function checkTracks(label, player, page) {
  const problems = [];
  const tracks = await page.evaluate(() => window.judge.tracks());
  const show = (list) => list.map((t) => `${t.language} "${t.name}"${t.active ? ' (active)' : ''}`).join(', ');
  log(`  ${player} lists audio: ${show(tracks.audio)}; subtitles: ${show(tracks.text)}`);
  const languages = (list) => list.map((t) => t.language).join(',');
  if (languages(tracks.audio) !== 'en,fr') problems.push(`audio tracks ${languages(tracks.audio) || 'none'}, not en,fr`);
  if (languages(tracks.text) !== 'en,fr') problems.push(`subtitle tracks ${languages(tracks.text) || 'none'}, not en,fr`);

  await page.evaluate(() => window.judge.listen());
  const english = await pitchNear(page, 440, SWITCH_MS);
  log(`  ${player} sounds at ${english.hz.toFixed(1)} Hz (${english.db.toFixed(1)} dB, audio context ${english.state}) at ${english.at.toFixed(2)} s`);
  if (Math.abs(english.hz - 440) > PITCH_TOLERANCE_HZ || english.db <= AUDIBLE_DB) problems.push(`the English track sounds at ${english.hz.toFixed(1)} Hz (${english.db.toFixed(1)} dB), not 440`);
  await page.evaluate(() => window.judge.selectAudio('fr'));
  const switched = Date.now();
  const french = await pitchNear(page, 880, SWITCH_MS);
  log(`  ${player} switched to French: ${french.hz.toFixed(1)} Hz (${french.db.toFixed(1)} dB) after ${((Date.now() - switched) / 1000).toFixed(1)} s, at ${french.at.toFixed(2)} s`);
  if (Math.abs(french.hz - 880) > PITCH_TOLERANCE_HZ || french.db <= AUDIBLE_DB) problems.push(`after switching to French the sound is at ${french.hz.toFixed(1)} Hz (${french.db.toFixed(1)} dB), not 880`);

  await page.evaluate(() => window.judge.showText('fr'));
  const deadline = Date.now() + CUE_MS;
  let seen = null;
  while (!seen && Date.now() < deadline) {
    const now = await page.evaluate(() => ({ cues: window.judge.activeCues(), at: window.judge.time() }));
    if (now.cues.length) seen = now;
    else await sleep(100);
  }
  if (!seen) {
    const at = await page.evaluate(() => window.judge.time());
    problems.push(`no French cue showed within ${CUE_MS / 1000} s (currentTime ${at.toFixed(2)} s)`);
    for (const line of await page.evaluate(() => window.judge.textTrackDump())) log(`  ${player} text track ${line}`);
    return problems;
  }
  const cue = seen.cues[0];
  const n = Number(cue.text.match(/^fra subtitle (\d+)$/)?.[1]);
  const due = 2 * n - 1.5;
  log(`  ${player} shows "${cue.text}" (${cue.start.toFixed(3)} to ${cue.end.toFixed(3)} s) at currentTime ${seen.at.toFixed(2)} s; due from ${due} s`);
  if (n) {
    const next = cue.start + 2 + 0.15;
    const until = Date.now() + CUE_MS;
    while ((await page.evaluate(() => window.judge.time())) < next && Date.now() < until) await sleep(20);
    const cueShot = path.join(shots, `${label}-${player}-cue.png`);
    await page.screenshot({ path: cueShot });
    const after = await page.evaluate(() => ({ cues: window.judge.activeCues(), at: window.judge.time() }));
    log(`  ${player} at ${after.at.toFixed(2)} s shows ${after.cues.map((c) => `"${c.text}"`).join(', ') || 'no cue'}; screenshot ${cueShot}`);
  }
  if (!n) problems.push(`the shown cue reads "${cue.text}", not a French cue`);
  else if (Math.abs(cue.start - due) > CUE_TOLERANCE_SECS || Math.abs(cue.end - cue.start - 1) > 0.01) {
    problems.push(`"${cue.text}" shows from ${cue.start.toFixed(3)} to ${cue.end.toFixed(3)} s, not from ${due} s for 1 s`);
  } else if (seen.at < cue.start - 0.25 || seen.at > cue.end + 0.25) {
    problems.push(`"${cue.text}" is active at ${seen.at.toFixed(2)} s, outside its time`);
  }
  return problems;
}

/** Polls the page's pitch until it is near `hz` or `ms` pass; the last reading. */
async function pitchNear(page, hz, ms) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await page.evaluate(() => ({ ...window.judge.pitch(), at: window.judge.time() }));
    if ((Math.abs(last.hz - hz) <= PITCH_TOLERANCE_HZ && last.db > AUDIBLE_DB) || Date.now() > deadline) return last;
    await sleep(200);
  }
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

/** Starts every player on `master` at once, waits for each verdict, screenshots each.
 * `extra(player, page)`, if given, runs on a player that passed, before its screenshot,
 * and returns more failures. */
async function judge(players, label, master, extra) {
  await Promise.all(players.map(({ page }) => page.evaluate((src) => void window.judge.start(src), master)));
  const started = Date.now();
  await Promise.all(
    players.map(async ({ player, page, consoleErrors }) => {
      let timedOut = false;
      await page.waitForFunction(() => window.judge.outcome, null, { timeout: VERDICT_MS }).catch(() => (timedOut = true));
      let more = [];
      if (extra && !timedOut && (await page.evaluate(() => window.judge.outcome)) === 'passed') {
        more = await extra(player, page).catch((e) => [`the checks failed: ${e.message}`]);
      }
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
      for (const problem of more) failures.push(`${label} ${j.name} ${j.version}: ${problem}`);
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
