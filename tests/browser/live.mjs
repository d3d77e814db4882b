// The live session page in a real browser (headless Chromium through playwright-core),
// against a running reel server whose library holds <library-file>:
//
//   node tests/browser/live.mjs <base-url> <screenshot-dir> <library-file>
//
// Starts a session on the library file from the page, plays it, pauses, resumes, seeks
// with the scrubber, switches the audio track (the page's <video> is heard through Web
// Audio: the pitch must change from 440 Hz to 660 Hz), doubles the rate, and after each
// step asserts that the player's clock (currentTime) and the server's
// (computed_current_time) agree within 0.5 s. Leaving the page ends the session. Any
// console error fails the test. Screenshots go to <screenshot-dir> (old ones removed).
//
// Chromium is Debian's /usr/bin/chromium ($CHROMIUM overrides); never a downloaded one.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { check, launch, log, root, TestFailure } from './harness.mjs';


const [base = 'http://127.0.0.1:8080', shots = path.join(root, 'target/screenshots/live'), libraryFile = 'clip.mp4'] =
  process.argv.slice(2);
const baseUrl = base.replace(/\/$/, '');
const AGREE = 0.5; // seconds the two clocks may differ by

fs.mkdirSync(shots, { recursive: true });
for (const f of fs.readdirSync(shots)) if (f.endsWith('.png')) fs.rmSync(path.join(shots, f));
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-live-browser-'));


let context;
let failed = false;
const consoleErrors = [];

try {
  context = await launch(path.join(work, 'profile'), [
      '--autoplay-policy=no-user-gesture-required',
    ], { width: 1280, height: 860 });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${m.text()} (${m.location().url ?? ''})`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
  const shot = async (name) => {
    const file = path.join(shots, `${name}.png`);
    await page.screenshot({ path: file });
    log(`screenshot ${file}`);
  };

  /// Both clocks at (nearly) one instant: the page's currentTime around a status fetch.
  const clocks = () =>
    page.evaluate(async () => {
      const id = window.reel.session.id;
      const v = window.reel.video;
      const before = v.currentTime;
      const s = await fetch(`/api/sessions/${id}/status`).then((r) => r.json());
      const after = v.currentTime;
      const player = (before + after) / 2 + window.reel.offset;
      return { player, server: s.computed_current_time, paused: s.paused, rate: s.rate, track: s.tracks.audio_track, s };
    });
  const agree = async (what) => {
    const c = await clocks();
    const d = c.player - c.server;
    log(`${what}: player ${c.player.toFixed(3)} s, server ${c.server.toFixed(3)} s (${d >= 0 ? '+' : ''}${d.toFixed(3)})`);
    check(Math.abs(d) < AGREE, `${what}: the clocks differ by ${d.toFixed(3)} s (player ${c.player}, server ${c.server})`);
    return c;
  };
  const playing = () =>
    page.waitForFunction(() => {
      const v = window.reel?.video;
      return v && !v.paused && v.readyState >= 3 && !window.reel.session.paused;
    });
  const streams = () => page.evaluate(() => window.reel.streams);

  // ---- the page, and a session from it ----
  await page.goto(`${baseUrl}/live`);
  await page.waitForFunction(() => !/Loading/.test(document.querySelector('#pick-video option')?.textContent ?? 'Loading'));
  await shot('01-pick');
  await page.fill('#pick-library', libraryFile);
  await page.click('#pick-submit');
  await page.waitForSelector('#player:not([hidden])');
  await playing();
  check(new URL(page.url()).searchParams.get('library') === libraryFile, `the address does not name the file: ${page.url()}`);
  const first = await page.evaluate(() => ({
    start: window.reel.video.buffered.start(0),
    offset: window.reel.offset,
    tracks: window.reel.session.tracks.audio_tracks.length,
  }));
  log(`playing; buffered from ${first.start}, offset ${first.offset}, ${first.tracks} audio tracks`);
  check(first.tracks === 2, 'the library clip should have two audio tracks');
  await page.waitForTimeout(2000);
  const p1 = await agree('playing');
  check(p1.player > 1.2, `currentTime ${p1.player} after 2 s of play`);
  check(!p1.paused, 'the session is not running');
  await shot('02-playing');

  // ---- pause: the element stops, the session clock freezes ----
  await page.click('#play');
  await page.waitForFunction(() => window.reel.video.paused);
  await page.waitForFunction(async () => (await fetch(`/api/sessions/${window.reel.session.id}/status`).then((r) => r.json())).paused);
  const a = await agree('paused');
  await page.waitForTimeout(1500);
  const b = await agree('still paused');
  check(b.paused, 'the session did not stay paused');
  check(Math.abs(b.server - a.server) < 1e-6, `the server clock moved while paused: ${a.server} → ${b.server}`);
  check(Math.abs(b.player - a.player) < 0.05, `the player moved while paused: ${a.player} → ${b.player}`);
  await page.waitForFunction(() => document.getElementById('play').getAttribute('aria-label') === 'Play');
  await shot('03-paused');

  // ---- resume: the same stream goes on ----
  const streamsBefore = await streams();
  await page.click('#play');
  await playing();
  await page.waitForTimeout(1500);
  const r = await agree('resumed');
  check(r.player > b.player + 1, `the player did not go on after resume (${b.player} → ${r.player})`);
  check((await streams()) === streamsBefore, 'resume opened a new stream; it should go on with the same one');

  // ---- seek with the scrubber: a new stream from there ----
  const target = 12;
  await page.evaluate((t) => {
    const scrub = document.getElementById('scrub');
    scrub.value = String(t);
    scrub.dispatchEvent(new Event('input'));
    scrub.dispatchEvent(new Event('change'));
  }, target);
  await page.waitForFunction((n) => window.reel.streams > n, streamsBefore);
  await playing();
  const landed = await page.evaluate(() => ({
    currentTime: window.reel.video.currentTime,
    buffered: window.reel.video.buffered.start(0),
    offset: window.reel.offset,
  }));
  log(`after the seek to ${target} s Chromium reports currentTime ${landed.currentTime.toFixed(3)} (buffered from ${landed.buffered.toFixed(3)}), offset ${landed.offset}`);
  check(Math.abs(landed.currentTime + landed.offset - target) < 1, `the player landed at ${landed.currentTime + landed.offset}, not ${target}`);
  await page.waitForTimeout(1500);
  const s = await agree('after the seek');
  check(s.player > target + 1 && s.player < target + 3, `position ${s.player} 1.5 s after a seek to ${target}`);
  await shot('04-seeked');

  // ---- audio track: heard through Web Audio, 440 Hz then 660 Hz ----
  await page.evaluate(() => {
    const ctx = new AudioContext();
    const source = ctx.createMediaElementSource(window.reel.video);
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    source.connect(analyser);
    analyser.connect(ctx.destination);
    window.__pitch = () => {
      const bins = new Float32Array(analyser.frequencyBinCount);
      analyser.getFloatFrequencyData(bins);
      let best = 0;
      for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
      return { hz: (best * ctx.sampleRate) / analyser.fftSize, db: bins[best], state: ctx.state };
    };
  });
  await page.waitForTimeout(800);
  const pitch0 = await page.evaluate(() => window.__pitch());
  log(`track 1 sounds at ${pitch0.hz.toFixed(1)} Hz (${pitch0.db.toFixed(1)} dB, audio context ${pitch0.state})`);
  check(Math.abs(pitch0.hz - 440) < 12, `track 1 should sound at 440 Hz, not ${pitch0.hz}`);
  const beforeTrack = await streams();
  await page.selectOption('#audio', '1');
  await page.waitForFunction((n) => window.reel.streams > n, beforeTrack);
  await playing();
  await page.waitForTimeout(1200);
  const t = await agree('after the audio track switch');
  check(t.track === 1, `the session's audio track is ${t.track}`);
  const pitch1 = await page.evaluate(() => window.__pitch());
  log(`track 2 sounds at ${pitch1.hz.toFixed(1)} Hz`);
  check(Math.abs(pitch1.hz - 660) < 12, `track 2 should sound at 660 Hz, not ${pitch1.hz}`);
  await shot('05-track-2');

  // ---- rate 2: the server clock runs at 2x, the element plays at 2x ----
  await page.selectOption('#rate', '2');
  await page.waitForFunction(() => window.reel.video.playbackRate === 2 && window.reel.session.rate === 2);
  const r0 = await clocks();
  await page.waitForTimeout(1500);
  const r1 = await agree('at rate 2');
  const speed = (r1.server - r0.server) / 1.5;
  log(`at rate 2 the server clock ran at ${speed.toFixed(2)}x`);
  check(r1.rate === 2 && speed > 1.7, `the server clock ran at ${speed.toFixed(2)}x at rate 2`);
  await shot('06-rate-2');

  check(consoleErrors.length === 0, `console errors:\n  ${consoleErrors.join('\n  ')}`);

  // ---- leaving the page ends the session ----
  const id = await page.evaluate(() => window.reel.session.id);
  await page.goto(`${baseUrl}/healthz`);
  let status = 0;
  for (let i = 0; i < 50 && status !== 404; i++) {
    status = (await context.request.get(`${baseUrl}/api/sessions/${id}`)).status();
    if (status !== 404) await new Promise((r) => setTimeout(r, 100));
  }
  check(status === 404, `the session outlived its page (status ${status})`);
  log('live page: all checks passed');
} catch (err) {
  failed = true;
  console.error(`live page: FAILED: ${err instanceof TestFailure ? err.message : err.stack ?? err}`);
  if (consoleErrors.length) console.error(`console errors:\n  ${consoleErrors.join('\n  ')}`);
  try {
    const p = context?.pages()[0];
    if (p) await p.screenshot({ path: path.join(shots, 'failure.png') });
  } catch {}
} finally {
  await context?.close().catch(() => {});
  fs.rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
