// The channel pages in a real browser (headless Chromium through playwright-core),
// against a running reel server whose `main` channel already holds a few short items:
//
//   node tests/browser/channel.mjs <base-url> <screenshot-dir>
//
// Two pages on /channels/main: both start muted on their own (autoplay policy) and must
// show the same moment: each page's picture, mapped to the schedule (item start +
// video.currentTime), is compared with the wall clock (browser and server share it here)
// every 250 ms for 12 s, across item boundaries; the two pages must stay within 0.5 s of
// each other (and each within 0.5 s of the schedule at p95; the page aims for 0.25 s). Then: one click
// unmutes; a like counts, shows as pressed, and reaches the other page; a narrow screen;
// the ambient page (title fades in at an item change, out a few seconds later). Any
// console error fails the test. Screenshots and the measured figures (sync.json) go to
// <screenshot-dir>.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { check, launch, log, root, TestFailure } from './harness.mjs';


const [base = 'http://127.0.0.1:8080', shots = path.join(root, 'target/screenshots/channel')] = process.argv.slice(2);
const baseUrl = base.replace(/\/$/, '');
const SAMPLE_MS = 12_000;
const PAIR_LIMIT_MS = 500;
// The page steers to 0.25 s of the schedule; on a loaded two-core CI runner (video decode in
// software for two pages) the test accepts twice that at p95, the pages' own limit.
const SCHEDULE_LIMIT_MS = 500;

fs.mkdirSync(shots, { recursive: true });
for (const f of fs.readdirSync(shots)) if (f.endsWith('.png') || f.endsWith('.json')) fs.rmSync(path.join(shots, f));
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-channel-'));


let context;
let failed = false;
const consoleErrors = [];

try {
  context = await launch(profile, [
      // Two pages play at once: neither may be throttled for being in the background.
      '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows',
    ], { width: 1280, height: 800 });
  const watch = (p, label) => {
    p.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${label}: ${m.text()} (${m.location().url ?? ''})`);
    });
    p.on('pageerror', (e) => consoleErrors.push(`${label}: uncaught ${e.message}`));
    p.setDefaultTimeout(30_000);
    return p;
  };
  const a = watch(context.pages()[0] ?? (await context.newPage()), 'page A');
  const b = watch(await context.newPage(), 'page B');
  const shot = async (p, name, options = {}) => {
    const file = path.join(shots, `${name}.png`);
    await p.screenshot({ path: file, ...options });
    log(`screenshot ${file}`);
  };

  // ---- both pages come up, muted, playing ----
  await a.goto(baseUrl + '/channels/main');
  await b.goto(baseUrl + '/channels/main');
  const codecs = await a.evaluate(() => MediaSource.isTypeSupported('video/mp4; codecs="avc1.64001e,mp4a.40.2"'));
  check(codecs, 'this Chromium cannot decode H.264/AAC in MSE: install Debian chromium');
  for (const p of [a, b]) {
    await p.waitForFunction(() => window.reel?.snapshot().state === 'playing' && !window.reel.snapshot().paused, null, {
      timeout: 30_000,
    });
  }
  log('both pages playing');
  for (const p of [a, b]) {
    const s = await p.evaluate(() => ({
      muted: window.reel.player.muted,
      unmute: !document.getElementById('unmute').hidden,
      title: document.getElementById('now-title').textContent,
      items: document.querySelectorAll('#schedule-list li').length,
    }));
    check(s.muted && s.unmute, `a page must start muted with a visible unmute button: ${JSON.stringify(s)}`);
    check(s.items >= 2 && s.title && s.title !== '–', `now playing and the item list are shown: ${JSON.stringify(s)}`);
  }

  // ---- in step: sample both pages across item boundaries ----
  await a.waitForTimeout(1500); // the join settles (hold, then play)
  const snap = (p) => p.evaluate(() => window.reel.snapshot());
  const samples = [];
  const items = new Set();
  const until = Date.now() + SAMPLE_MS;
  while (Date.now() < until) {
    const [sa, sb] = await Promise.all([snap(a), snap(b)]);
    // How far each picture is from the schedule, on the shared wall clock (ms; + = ahead).
    const lag = (s) => s.startedAt + s.currentTime * 1000 - s.dateNow;
    if (sa.item && sa.item === sb.item && sa.startedAt === sb.startedAt && sa.state === 'playing' && sb.state === 'playing') {
      samples.push({ item: sa.item, lagA: lag(sa), lagB: lag(sb), driftA: sa.drift * 1000, driftB: sb.drift * 1000 });
      items.add(`${sa.item}@${sa.startedAt}`);
    }
    await a.waitForTimeout(250);
  }
  const pairGap = samples.map((s) => Math.abs(s.lagA - s.lagB));
  const scheduleGap = samples.flatMap((s) => [Math.abs(s.lagA), Math.abs(s.lagB)]);
  const max = (xs) => Math.max(...xs);
  const p95 = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length * 0.95)];
  const figures = {
    samples: samples.length,
    itemsPlayed: items.size,
    pagesApartMaxMs: Math.round(max(pairGap)),
    pagesApartP95Ms: Math.round(p95(pairGap)),
    fromScheduleMaxMs: Math.round(max(scheduleGap)),
    fromScheduleP95Ms: Math.round(p95(scheduleGap)),
  };
  log(`sync: ${JSON.stringify(figures)}`);
  fs.writeFileSync(path.join(shots, 'sync.json'), JSON.stringify({ figures, samples }, null, 1));
  check(samples.length >= 30, `too few comparable samples (${samples.length})`);
  check(items.size >= 2, `the pages did not cross an item boundary while sampled (${[...items]})`);
  check(figures.pagesApartMaxMs < PAIR_LIMIT_MS, `the two pages drifted ${figures.pagesApartMaxMs} ms apart`);
  check(
    figures.fromScheduleP95Ms < SCHEDULE_LIMIT_MS,
    `the pictures were ${figures.fromScheduleP95Ms} ms from the schedule (p95)`,
  );
  await shot(a, 'channel');

  // ---- one click for sound ----
  await a.click('#unmute');
  const sound = await a.evaluate(() => ({
    muted: window.reel.player.muted,
    videoMuted: document.querySelector('video.deck.active').muted,
    button: document.getElementById('unmute').hidden,
  }));
  check(!sound.muted && !sound.videoMuted && sound.button, `one click unmutes: ${JSON.stringify(sound)}`);
  check((await snap(a)).paused === false, 'still playing after unmuting');

  // ---- a like counts, sticks, and reaches the other page ----
  // (Counted over all items: the click may land just after an item boundary.)
  const totalLikes = () => window.reel.feed.view.items.reduce((n, i) => n + i.likes, 0);
  const likesBefore = await a.evaluate(totalLikes);
  // Well inside an item, so that the pressed button still belongs to it when checked.
  await a.waitForFunction(() => {
    const s = window.reel.snapshot();
    return s.target > 0.5 && s.target < 3;
  });
  await a.click('#like');
  await a.waitForFunction(
    () => document.getElementById('like').getAttribute('aria-pressed') === 'true',
    null,
    { timeout: 5000 },
  );
  const liked = await a.evaluate(() => ({
    shown: Number(document.getElementById('like-count').textContent),
    total: window.reel.feed.view.items.reduce((n, i) => n + i.likes, 0),
    locked: document.getElementById('like').disabled,
  }));
  check(liked.total === likesBefore + 1 && liked.shown >= 1, `the like counts: ${JSON.stringify(liked)}`);
  check(liked.locked, 'one vote per item: the buttons lock after it');
  // The other page learns it from the stream (a tick at least every 5 s).
  await b.waitForFunction(
    (n) => window.reel.feed.view.items.reduce((sum, i) => sum + i.likes, 0) === n,
    likesBefore + 1,
    { timeout: 8000 },
  );
  log('like counted on both pages');
  await shot(a, 'channel-liked');

  // ---- narrow screen ----
  await b.setViewportSize({ width: 390, height: 844 });
  await b.waitForTimeout(400);
  const overflow = await b.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `the narrow page scrolls sideways by ${overflow}px`);
  await shot(b, 'channel-narrow', { fullPage: true });
  await b.close();

  // ---- ambient ----
  const amb = watch(await context.newPage(), 'ambient');
  await amb.goto(baseUrl + '/channels/main/ambient');
  await amb.waitForFunction(() => window.reel?.snapshot().state === 'playing', null, { timeout: 30_000 });
  const controls = await amb.evaluate(() => ({
    controls: [...document.querySelectorAll('video')].some((v) => v.controls),
    buttons: document.querySelectorAll('button').length,
  }));
  check(!controls.controls && controls.buttons === 0, `the ambient page has no controls: ${JSON.stringify(controls)}`);
  await amb.waitForFunction(() => document.getElementById('title').classList.contains('shown'), null, { timeout: 5000 });
  await amb.waitForTimeout(1000); // the fade-in
  const first = await amb.evaluate(() => ({
    title: document.getElementById('title-text').textContent,
    now: window.reel.feed.slotAt().title,
  }));
  check(first.title === first.now, `the ambient title names what plays: ${JSON.stringify(first)}`);
  await shot(amb, 'ambient');
  // It fades out after a few seconds, and in again with the next item.
  await amb.waitForFunction(() => !document.getElementById('title').classList.contains('shown'), null, { timeout: 9000 });
  await amb.waitForFunction(() => document.getElementById('title').classList.contains('shown'), null, { timeout: 15_000 });
  const second = await amb.evaluate(() => document.getElementById('title-text').textContent);
  const ambSync = await amb.evaluate(() => window.reel.snapshot());
  log(`ambient: "${first.title}" then "${second}", drift ${Math.round((ambSync.drift ?? 0) * 1000)} ms`);
  await amb.waitForTimeout(1000);
  await shot(amb, 'ambient-next');

  check(consoleErrors.length === 0, `console errors:\n  ${consoleErrors.join('\n  ')}`);
  log('channel pages: all good');
} catch (e) {
  failed = true;
  console.error(e instanceof TestFailure ? `FAILED: ${e.message}` : e);
  if (consoleErrors.length) console.error(`console errors:\n  ${consoleErrors.join('\n  ')}`);
} finally {
  await context?.close().catch(() => {});
  fs.rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
