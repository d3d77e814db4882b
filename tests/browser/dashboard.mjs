// The dashboard in a real browser (headless Chromium through playwright-core), against a
// running reel server:
//
//   node tests/browser/dashboard.mjs <base-url> <screenshot-dir>
//
// Uploads a generated clip through the dialog (watching the upload and processing
// progress), waits for the video to open, plays it (currentTime must advance), picks the
// lowest rung by hand (hls.js must switch level and the labels must follow), hands the
// choice back to hls.js, previews a frame from the storyboard while the pointer hovers the
// seek bar and seeks with a click on it, seeks from the segment list, copies the mpv
// command, lights the audio and subtitle menus up from what hls.js reports (a master given
// a second audio track and a subtitle track on the way to the page), watches a
// longer upload (MPEG-TS) while it is still processing (EVENT playlists) until it is
// ready, follows the address and Back between two videos, shows a readable error for a
// file that is not a video, folds the sidebar on a narrow screen, deletes the videos,
// and fails on any console error. Screenshots go to <screenshot-dir> (old ones removed).
//
// The clip comes from `reel sample`: the binary is $REEL_BIN, else target/debug/reel.
// Chromium is Debian's /usr/bin/chromium ($CHROMIUM overrides); never a downloaded one.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { check, launch, log, root, TestFailure } from './harness.mjs';

// playwright-core is a devDependency of web/ (one npm install serves pages and tests).

const [base = 'http://127.0.0.1:8080', shots = path.join(root, 'target/screenshots')] = process.argv.slice(2);
const baseUrl = base.replace(/\/$/, '');
const reelBin = process.env.REEL_BIN ?? path.join(root, 'target/debug/reel');
const READY_MS = Number(process.env.REEL_READY_TIMEOUT_MS ?? 180_000);

fs.mkdirSync(shots, { recursive: true });
for (const f of fs.readdirSync(shots)) if (f.endsWith('.png')) fs.rmSync(path.join(shots, f));
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-browser-'));
const profile = path.join(work, 'profile');


let context;
let failed = false;
const consoleErrors = [];
// The one error the test provokes on purpose (a refused upload) makes the browser log
// "Failed to load resource: ... 4xx" for POST /api/videos; that line is expected, any
// other console error fails the test.
let refusalExpected = false;

try {
  // ---- the clip ----
  const clip = path.join(work, 'clip.mp4');
  execFileSync(reelBin, ['sample', clip, '--size', '640x360', '--seconds', '6'], { stdio: 'inherit' });
  // Long enough that its transcode is still running when the player starts on it.
  const longClip = path.join(work, 'long take.mp4');
  execFileSync(reelBin, ['sample', longClip, '--size', '640x360', '--seconds', '60'], { stdio: 'inherit' });
  const notVideo = path.join(work, 'holiday.mp4');
  fs.writeFileSync(notVideo, 'This is a text file wearing a video extension.\n'.repeat(200));
  log(`clip ${clip} (${fs.statSync(clip).size} bytes)`);

  // ---- the browser ----
  context = await launch(profile, [
      '--autoplay-policy=no-user-gesture-required',
    ], { width: 1280, height: 820 });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseUrl });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  const watchConsole = (p) => {
    p.on('console', (m) => {
      if (m.type() !== 'error') return;
      const url = m.location().url ?? '';
      if (refusalExpected && /status of 4\d\d/.test(m.text()) && url.endsWith('/api/videos')) {
        log(`expected: ${m.text()}`);
        return;
      }
      consoleErrors.push(`${m.text()} (${url})`);
    });
    p.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
  };
  watchConsole(page);
  const shot = async (name) => {
    const file = path.join(shots, `${name}.png`);
    await page.screenshot({ path: file });
    log(`screenshot ${file}`);
  };

  // H.264 in MSE: without it nothing below can play, so say so plainly first.
  await page.goto(baseUrl + '/');
  const codecs = await page.evaluate(() => ({
    mse: typeof MediaSource !== 'undefined',
    avc: typeof MediaSource !== 'undefined' && MediaSource.isTypeSupported('video/mp4; codecs="avc1.64001f,mp4a.40.2"'),
  }));
  check(codecs.avc, `this Chromium cannot decode H.264/AAC in MSE (${JSON.stringify(codecs)}): install Debian's chromium (it ships ffmpeg with H.264)`);

  // ---- the page comes up ----
  await page.waitForFunction(() => window.Hls && document.querySelector('#history-list'));
  const hlsVersion = await page.evaluate(() => window.Hls.version);
  log(`page up, hls.js ${hlsVersion} from /vendor/hls.min.js`);
  // Start from a known state: what earlier runs left is not ours to judge.
  const before = await page.evaluate(() => fetch('/api/videos').then((r) => r.json()));
  log(`${before.videos.length} video(s) on the server already`);
  await shot('01-start');

  // ---- upload dialog ----
  await page.click('#upload-button');
  await page.waitForSelector('#upload-dialog[open]');
  check(await page.isDisabled('#upload-submit'), 'submit must be disabled before a file is chosen');
  await page.setInputFiles('#upload-file', clip);
  check(await page.isEnabled('#upload-submit'), 'submit must be enabled with a file and rungs');
  for (const box of await page.$$('#height-options input')) await box.uncheck();
  check(await page.isDisabled('#upload-submit'), 'submit must be disabled with no height chosen');
  // 720 is above the 640x360 source: the server skips it; 360 and 240 make two rungs.
  for (const h of [720, 360, 240]) await page.check(`#height-options input[value="${h}"]`);
  await page.selectOption('#upload-segment', '2');
  await shot('02-upload-dialog');

  // Slow the upload down (about 1 MB/s) so its progress is visible, and record every
  // phase and percentage the dialog shows.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: Number(process.env.UPLOAD_BPS ?? 1_000_000),
  });
  await page.evaluate(() => {
    window.__phases = [];
    const note = () => {
      const text = `${document.getElementById('upload-phase').textContent} ${document.getElementById('upload-percent').textContent}`.trim();
      if (text && window.__phases.at(-1) !== text) window.__phases.push(text);
    };
    new MutationObserver(note).observe(document.getElementById('upload-progress'), {
      subtree: true,
      childList: true,
      characterData: true,
    });
  });
  await page.click('#upload-submit');
  await page.waitForFunction(() => /Uploading/.test(document.getElementById('upload-phase').textContent));
  await page.waitForFunction(() => {
    const p = document.getElementById('upload-percent').textContent;
    return /Uploading/.test(document.getElementById('upload-phase').textContent) && /[1-9]\d*%/.test(p) && !/100%/.test(p);
  });
  await shot('03-uploading');
  await page.waitForFunction(() => /Queued|Processing|Ready/.test(document.getElementById('upload-phase').textContent) || !document.getElementById('upload-dialog').open, null, { timeout: 60_000 });
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  if (await page.evaluate(() => document.getElementById('upload-dialog').open)) await shot('04-processing');

  // The new video opens by itself when it is ready.
  await page.waitForFunction(() => !document.getElementById('upload-dialog').open, null, { timeout: READY_MS });
  const phases = await page.evaluate(() => window.__phases);
  log(`dialog phases: ${phases.join(' → ')}`);
  check(phases.some((p) => /^Uploading .*of.*\d+%/.test(p)), `upload progress (bytes sent) was never shown: ${phases}`);
  check(phases.some((p) => /^Uploading .*100%/.test(p)), 'the upload never reached 100%');
  check(phases.some((p) => /^(Queued|Processing)/.test(p)), `processing progress was never shown: ${phases}`);
  check(!(await page.isVisible('#upload-error')), `upload error: ${await page.textContent('#upload-error')}`);

  const id = new URL(page.url()).searchParams.get('video');
  check(id, `the address does not name the new video: ${page.url()}`);
  const video = await page.evaluate((id) => fetch(`/api/videos/${id}`).then((r) => r.json()), id);
  check(video.status === 'ready', `video ${id} is ${video.status}`);
  check(video.title === 'clip', `title is ${video.title}`);
  log(`video ${id}: ${video.renditions.map((r) => `${r.width}x${r.picture_height}`).join(', ')}; skipped ${video.skipped_heights}`);
  check(video.renditions.length >= 2, 'want at least two renditions to switch between');

  // ---- history ----
  const first = page.locator('#history-list .video-item').first();
  check((await first.getAttribute('data-id')) === id, 'the new video is not first in the history');
  await page.waitForFunction((id) => {
    const li = document.querySelector(`.video-item[data-id="${id}"]`);
    return li && li.dataset.status === 'ready' && li.querySelector('.thumb img')?.complete && li.querySelector('.thumb img').naturalWidth > 0;
  }, id);
  check((await first.locator('.video-select').getAttribute('aria-current')) === 'true', 'the new video is not marked current');
  check((await first.locator('.badge').textContent()) === '0:06', `duration badge: ${await first.locator('.badge').textContent()}`);

  // ---- playback ----
  await page.waitForFunction(() => window.reel?.engine === 'hlsjs' && window.reel.hls?.levels?.length >= 2);
  await page.waitForFunction(() => document.querySelectorAll('#chips .chip').length >= 2);
  await page.evaluate(() => document.getElementById('video').play().catch(() => {}));
  await page.waitForFunction(() => document.getElementById('video').currentTime > 0.3, null, { timeout: 20_000 });
  const t1 = await page.evaluate(() => document.getElementById('video').currentTime);
  await page.waitForTimeout(800);
  const t2 = await page.evaluate(() => document.getElementById('video').currentTime);
  check(t2 > t1, `currentTime does not advance (${t1} → ${t2})`);
  log(`playing: currentTime ${t1.toFixed(2)} → ${t2.toFixed(2)}`);
  await page.waitForFunction(() => document.querySelector('#chips .chip.playing') && /\d/.test(document.getElementById('stat-bandwidth').textContent));
  await shot('05-playing');

  // ---- one audio track, no subtitles: nothing to choose, no menus ----
  check(await page.isHidden('#audio-menu'), 'an audio menu is shown for a single audio track');
  check(await page.isHidden('#subtitles-menu'), 'a subtitles menu is shown with no subtitles');

  // ---- seek previews: hovering the seek bar shows the storyboard's frame ----
  check(video.links.storyboard === `/media/${id}/storyboard.vtt`, `links.storyboard is ${video.links.storyboard}`);
  await page.waitForFunction(() => window.reel.storyboard, null, { timeout: 10_000 });
  const seek = await page.locator('#seek').boundingBox();
  const hoverAt = 0.75;
  await page.mouse.move(seek.x + seek.width * hoverAt, seek.y + seek.height / 2);
  await page.waitForFunction(() => {
    const img = document.getElementById('seek-preview-image');
    return !document.getElementById('seek-preview').hidden && !img.hidden && /sprite-000\.jpg/.test(img.style.backgroundImage);
  });
  const preview = await page.evaluate((f) => {
    const img = document.getElementById('seek-preview-image');
    const box = img.getBoundingClientRect();
    const d = document.getElementById('video').duration;
    const cue = window.reel.storyboard.at(f * d);
    return {
      time: document.getElementById('seek-preview-time').textContent,
      expected: `0:${String(Math.floor(f * d)).padStart(2, '0')}`,
      position: img.style.backgroundPosition,
      cue,
      size: [box.width, box.height],
    };
  }, hoverAt);
  log(`seek preview at ${preview.time}: ${JSON.stringify(preview.cue)} shown ${preview.size.join('x')} at ${preview.position}`);
  check(preview.time === preview.expected, `the preview says ${preview.time}, the pointer is at ${preview.expected}`);
  check(preview.cue && preview.cue.x > 0, `no thumbnail past the first for the hovered instant: ${JSON.stringify(preview.cue)}`);
  check(preview.size[0] >= preview.cue.w && preview.size[1] >= preview.cue.h, `the preview is ${preview.size}, smaller than its tile`);
  const sprite = await page.evaluate((u) => fetch(u).then((r) => ({ status: r.status, type: r.headers.get('content-type'), cache: r.headers.get('cache-control') })), preview.cue.url);
  check(sprite.status === 200 && sprite.type === 'image/jpeg' && /immutable/.test(sprite.cache), `the sprite answers ${JSON.stringify(sprite)}`);
  await shot('05b-seek-preview');
  // A click on the bar seeks there.
  await page.mouse.click(seek.x + seek.width * 0.5, seek.y + seek.height / 2);
  await page.waitForFunction(() => {
    const v = document.getElementById('video');
    return Math.abs(v.currentTime - v.duration / 2) < 1;
  });
  await page.mouse.move(seek.x + seek.width * 0.5, seek.y - 200);
  check(await page.isHidden('#seek-preview'), 'the preview stays after the pointer left the seek bar');

  // Back to the start through the segment list ("Full video"), so the switch below
  // happens with the whole clip ahead.
  await page.click('#segment-list li[data-key="full"] button');
  await page.waitForFunction(() => document.getElementById('video').currentTime < 1.5);

  // ---- a rung by hand: the lowest ----
  const playingBefore = await page.innerText('#stat-playing');
  const chips = page.locator('#chips .chip');
  const lowest = chips.last();
  const lowestLevel = Number(await lowest.getAttribute('data-level'));
  const lowestName = (await lowest.locator('.chip-name').textContent()).trim();
  const lowestHeight = await page.evaluate((i) => window.reel.hls.levels[i].height, lowestLevel);
  await page.evaluate(() => {
    window.__switched = [];
    window.reel.hls.on(window.Hls.Events.LEVEL_SWITCHED, (_e, d) => window.__switched.push(d.level));
  });
  await lowest.click();
  check((await lowest.getAttribute('aria-pressed')) === 'true', 'the chosen chip is not marked active');
  check((await page.getAttribute('#auto-toggle', 'aria-pressed')) === 'false', 'choosing a chip did not turn auto off');
  check(await page.evaluate(() => !window.reel.hls.autoLevelEnabled), 'hls.js still adapts after a manual choice');
  check(await page.evaluate((i) => window.reel.hls.manualLevel === i || window.reel.hls.currentLevel === i, lowestLevel), 'hls.currentLevel was not set');
  await page.waitForFunction((i) => window.__switched.includes(i) && window.reel.hls.currentLevel === i, lowestLevel, { timeout: 20_000 });
  await page.waitForFunction((h) => document.getElementById('video').videoHeight === h, lowestHeight, { timeout: 20_000 });
  await page.waitForFunction((name) => document.getElementById('stat-playing').textContent.startsWith(name), lowestName);
  const playingAfter = await page.innerText('#stat-playing');
  const resolution = await page.textContent('#stat-resolution');
  check(playingAfter !== playingBefore, `the "playing" label did not change (${playingAfter})`);
  check((await lowest.getAttribute('class')).includes('playing'), 'the chip hls.js switched to is not marked playing');
  log(`manual ${lowestName}: LEVEL_SWITCHED ${await page.evaluate(() => window.__switched)}; playing "${playingBefore}" → "${playingAfter}", ${resolution}`);
  await shot('06-manual-lowest');

  // ---- auto again, from the keyboard ----
  await page.focus('#auto-toggle');
  await page.keyboard.press('Space');
  check((await page.getAttribute('#auto-toggle', 'aria-pressed')) === 'true', 'the auto toggle did not turn on');
  check(await page.evaluate(() => window.reel.hls.autoLevelEnabled), 'hls.js does not adapt after auto was turned back on');
  check((await page.locator('#chips .chip[aria-pressed="true"]').count()) === 0, 'a chip stays marked chosen in auto mode');
  await page.waitForFunction(() => document.querySelector('#chips .chip.playing'));
  await page.waitForFunction(() => /auto/.test(document.getElementById('stat-playing').textContent));
  log(`auto: ${await page.innerText('#stat-playing')}`);

  // ---- the segment list ----
  const segRows = await page.locator('#segment-list li').count();
  check(segRows === 1 + video.renditions[0].segments.length, `segment list has ${segRows} rows`);
  await page.click('#segment-list li[data-key="1"] button');
  const start = video.renditions[0].segments[0].duration;
  await page.waitForFunction((s) => {
    const t = document.getElementById('video').currentTime;
    return t >= s - 0.05 && t < s + 1.5;
  }, start);
  await page.waitForFunction(() => document.querySelector('#segment-list li[data-key="1"] button[aria-current="true"]'));
  await shot('07-auto-segment-2');

  // ---- mpv ----
  const master = `${baseUrl}/media/${id}/master.m3u8`;
  check((await page.inputValue('#mpv-command')) === `mpv ${master}`, `mpv command: ${await page.inputValue('#mpv-command')}`);
  await page.click('#mpv-copy');
  await page.waitForFunction(() => document.getElementById('mpv-copy').textContent === 'Copied');
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  check(copied === `mpv ${master}`, `clipboard holds ${copied}`);
  const masterText = await page.evaluate((u) => fetch(u).then((r) => r.text()), master);
  check(masterText.startsWith('#EXTM3U'), 'the master playlist URL does not serve a playlist');

  // ---- watch while it processes: EVENT playlists, MPEG-TS this time ----
  await page.click('#upload-button');
  await page.setInputFiles('#upload-file', longClip);
  for (const box of await page.$$('#height-options input')) await box.uncheck();
  for (const h of [360, 240]) await page.check(`#height-options input[value="${h}"]`);
  await page.selectOption('#upload-segment', '2');
  await page.selectOption('#upload-format', 'ts');
  await page.click('#upload-submit');
  await page.waitForSelector('#upload-watch:not([hidden])', { timeout: 60_000 });
  await page.click('#upload-watch');
  await page.waitForFunction(() => !document.getElementById('upload-dialog').open);
  const longId = new URL(page.url()).searchParams.get('video');
  check(longId && longId !== id, `"Watch while it processes" did not open the new video (${page.url()})`);
  // Playing while the server is still at work: the media playlist is an EVENT one.
  await page.waitForFunction(
    () => {
      const r = window.reel;
      return (
        r.video?.status === 'processing' &&
        r.hls?.latestLevelDetails?.type === 'EVENT' &&
        document.getElementById('video').currentTime > 0.5
      );
    },
    null,
    { timeout: 60_000 },
  );
  const early = await page.evaluate(() => ({
    t: document.getElementById('video').currentTime,
    progress: window.reel.video.progress,
    note: document.getElementById('screen-note').textContent,
  }));
  log(`playing at ${early.t.toFixed(2)} s while processing (${Math.round(early.progress * 100)}%): "${early.note}"`);
  check(/processing/i.test(early.note), 'no "still processing" note over the player');
  await shot('08-playing-while-processing');
  // Ready: the playlist ends (VOD + ENDLIST) under the same player, the note goes.
  await page.waitForFunction(() => window.reel.video?.status === 'ready', null, { timeout: READY_MS });
  await page.waitForFunction(() => window.reel.hls?.latestLevelDetails?.live === false, null, { timeout: 30_000 });
  check(await page.isHidden('#screen-note'), 'the processing note stayed after the video was ready');
  check(
    (await page.evaluate(() => document.getElementById('video').currentTime)) > early.t,
    'playback did not go on once the video was ready',
  );

  // ---- two videos: the address follows the selection, Back goes back ----
  await page.click(`.video-item[data-id="${id}"] .video-select`);
  await page.waitForFunction((id) => new URL(location.href).searchParams.get('video') === id, id);
  check((await page.textContent('#player-title')) === 'clip', 'selecting from the list did not switch the player');
  await page.goBack();
  await page.waitForFunction((id) => window.reel.video?.id === id, longId);
  check((await page.textContent('#player-title')) === 'long take', 'Back did not return to the previous video');
  const order = await page.$$eval('#history-list .video-item', (lis) => lis.map((li) => li.dataset.id));
  check(order[0] === longId && order[1] === id, `history is not newest first: ${order}`);

  // ---- audio and subtitle menus, from what hls.js reports ----
  // The server makes one audio rendition per source track, muxed into the variants; the
  // menus must light up from hls.js's audioTracks and subtitleTracks however many there
  // are. Here the MPEG-TS video's master gains, on its way to the page, a second audio
  // track (an audio-only playlist) and a subtitle track (WebVTT), both made by this test.
  const alt = path.join(work, 'alt');
  fs.mkdirSync(path.join(alt, 'audio'), { recursive: true });
  fs.mkdirSync(path.join(alt, 'subs'), { recursive: true });
  execFileSync('ffmpeg', [
    '-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=660:sample_rate=48000:duration=60', '-ac', '2', '-c:a', 'aac', '-b:a', '64k',
    '-f', 'hls', '-hls_time', '2', '-hls_playlist_type', 'vod', '-hls_segment_type', 'fmp4', '-hls_fmp4_init_filename', 'init.mp4',
    '-hls_segment_filename', path.join(alt, 'audio', 'seg%03d.m4s'), path.join(alt, 'audio', 'index.m3u8'),
  ]);
  fs.writeFileSync(path.join(alt, 'subs', 'en.m3u8'), '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:60\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:60.0,\nen.vtt\n#EXT-X-ENDLIST\n');
  fs.writeFileSync(path.join(alt, 'subs', 'en.vtt'), 'WEBVTT\n\n00:00:00.000 --> 00:01:00.000\nSubtitles from the second track\n');
  const tracksPage = await context.newPage();
  watchConsole(tracksPage);
  await tracksPage.route((u) => u.pathname === `/media/${longId}/master.m3u8`, async (route) => {
    const res = await route.fetch();
    const media = [
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Main",LANGUAGE="en",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2"',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Commentary",LANGUAGE="fr",DEFAULT=NO,AUTOSELECT=YES,CHANNELS="6",URI="/alt/audio/index.m3u8"',
      '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",DEFAULT=NO,AUTOSELECT=NO,URI="/alt/subs/en.m3u8"',
    ].join('\n');
    const body = (await res.text())
      .replace('#EXT-X-INDEPENDENT-SEGMENTS\n', `#EXT-X-INDEPENDENT-SEGMENTS\n${media}\n`)
      .replace(/^(#EXT-X-STREAM-INF:.*)$/gm, '$1,AUDIO="aud",SUBTITLES="subs"');
    await route.fulfill({ response: res, body });
  });
  await tracksPage.route('**/alt/**', (route) => route.fulfill({ path: path.join(alt, new URL(route.request().url()).pathname.slice('/alt/'.length)) }));
  await tracksPage.goto(`${baseUrl}/?video=${longId}`);
  await tracksPage.waitForFunction(() => window.reel?.hls?.audioTracks?.length === 2 && window.reel.hls.subtitleTracks.length === 1);
  await tracksPage.evaluate(() => document.getElementById('video').play().catch(() => {}));
  await tracksPage.waitForFunction(() => document.getElementById('video').currentTime > 0.5);
  check(await tracksPage.isVisible('#audio-menu'), 'no audio menu with two audio tracks');
  check(await tracksPage.isVisible('#subtitles-menu'), 'no subtitles menu with a subtitle track');
  await tracksPage.click('#audio-menu button');
  const audioItems = await tracksPage.$$eval('#audio-menu [role="menuitemradio"]', (items) => items.map((i) => `${i.textContent}:${i.getAttribute('aria-checked')}`));
  log(`audio menu: ${audioItems.join(', ')}`);
  check(audioItems.length === 2 && audioItems[0].startsWith('Main') && audioItems[0].endsWith(':true'), `audio menu: ${audioItems}`);
  await tracksPage.click('#audio-menu [data-track="1"]');
  await tracksPage.waitForFunction(() => window.reel.hls.audioTrack === 1 && document.querySelector('#audio-menu [data-track="1"]').getAttribute('aria-checked') === 'true');
  check(await tracksPage.isHidden('#audio-menu [role="menu"]'), 'the audio menu stayed open after a choice');
  await tracksPage.click('#subtitles-menu button');
  const subItems = await tracksPage.$$eval('#subtitles-menu [role="menuitemradio"]', (items) => items.map((i) => `${i.textContent}:${i.getAttribute('aria-checked')}`));
  log(`subtitles menu: ${subItems.join(', ')}`);
  check(subItems.length === 2 && subItems[0] === 'Off:true', `subtitles menu: ${subItems}`);
  await tracksPage.click('#subtitles-menu [data-track="0"]');
  await tracksPage.waitForFunction(() =>
    [...document.getElementById('video').textTracks].some((t) => t.mode === 'showing' && [...(t.activeCues ?? [])].some((c) => /second track/.test(c.text))),
  );
  const t0 = await tracksPage.evaluate(() => document.getElementById('video').currentTime);
  await tracksPage.waitForFunction((t0) => document.getElementById('video').currentTime > t0 + 1, t0);
  log(`audio track ${await tracksPage.evaluate(() => window.reel.hls.audioTrack)}, subtitles on, playing on past ${t0.toFixed(2)} s`);
  await tracksPage.screenshot({ path: path.join(shots, '08b-audio-and-subtitles.png') });
  await tracksPage.click('#subtitles-menu button');
  await tracksPage.click('#subtitles-menu [data-track="-1"]');
  await tracksPage.waitForFunction(() => window.reel.hls.subtitleTrack === -1 || !window.reel.hls.subtitleDisplay);
  await tracksPage.close();

  // ---- a file that is not a video: a readable error, not a broken page ----
  await page.click('#upload-button');
  await page.setInputFiles('#upload-file', notVideo);
  refusalExpected = true;
  await page.click('#upload-submit');
  await page.waitForSelector('#upload-error:not([hidden])', { timeout: READY_MS });
  refusalExpected = false;
  const errorText = (await page.textContent('#upload-error')).trim();
  log(`error shown: "${errorText}"`);
  check(errorText.length > 10 && !/undefined|\[object|<html|stack/i.test(errorText), `unreadable error: ${errorText}`);
  check(!errorText.includes(work), 'the error shows a path of the server disk');
  await shot('09-upload-error');
  await page.click('#upload-cancel');
  await page.waitForFunction(() => !document.getElementById('upload-dialog').open);

  // ---- ?video=<id> selects; the back button follows ----
  const page2 = await context.newPage();
  watchConsole(page2);
  await page2.goto(`${baseUrl}/?video=${id}`);
  await page2.waitForFunction((id) => document.querySelector(`.video-item[data-id="${id}"] .video-select[aria-current="true"]`), id);
  check((await page2.textContent('#player-title')) === 'clip', 'deep link did not open the video');
  await page2.close();

  // ---- narrow screen: the sidebar folds behind the menu button ----
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  check(await page.isVisible('#menu-button'), 'no menu button on a narrow screen');
  check(!(await page.isVisible('#history')), 'the sidebar is shown on a narrow screen before the menu is opened');
  await shot('10-narrow');
  await page.click('#menu-button');
  await page.waitForFunction(() => document.getElementById('history').getBoundingClientRect().left >= 0);
  check(await page.isVisible('#history'), 'the menu did not open the sidebar');
  check((await page.getAttribute('#menu-button', 'aria-expanded')) === 'true', 'menu button aria-expanded');
  await page.waitForTimeout(300);
  await shot('11-narrow-drawer');
  await page.click('#upload-button');
  await page.waitForSelector('#upload-dialog[open]');
  check((await page.getAttribute('#menu-button', 'aria-expanded')) === 'false', 'the sidebar stayed open under the upload dialog');
  await page.waitForFunction(() => getComputedStyle(document.getElementById('history')).visibility === 'hidden');
  await shot('12-narrow-upload');
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => !document.getElementById('upload-dialog').open);
  await page.click('#menu-button');
  await page.waitForFunction(() => document.getElementById('history').getBoundingClientRect().left >= 0);
  await page.click(`.video-item[data-id="${id}"] .video-select`);
  check((await page.getAttribute('#menu-button', 'aria-expanded')) === 'false', 'choosing a video did not close the drawer');
  await page.setViewportSize({ width: 1280, height: 820 });
  await page.waitForTimeout(300);

  // ---- delete: two steps, then it is gone from the list and the server ----
  const ours = await page.evaluate(() => fetch('/api/videos').then((r) => r.json()));
  const failedOnes = ours.videos.filter((v) => v.status === 'failed' && !before.videos.some((b) => b.id === v.id));
  if (failedOnes.length) {
    const f = failedOnes[0];
    const status = await page.textContent(`.video-item[data-id="${f.id}"] .status`);
    check(/^Failed: ./.test(status), `the failed upload reads "${status}"`);
    log(`failed upload in the list: "${status}"`);
  }
  const longVideo = { id: longId };
  for (const v of [...failedOnes, longVideo, video]) {
    const item = page.locator(`.video-item[data-id="${v.id}"]`);
    await item.hover();
    await item.locator('.delete').click();
    check((await item.getAttribute('class')).includes('confirming'), 'delete did not ask for confirmation');
    if (v === video) await shot('13-delete-confirm');
    const deleted = page.waitForResponse((r) => r.url().endsWith(`/api/videos/${v.id}`) && r.request().method() === 'DELETE');
    await item.locator('.delete').click();
    check((await deleted).status() === 204, 'DELETE did not answer 204');
    await page.waitForSelector(`.video-item[data-id="${v.id}"]`, { state: 'detached' });
  }
  // From outside the page: a 404 seen by the page would count as a console error.
  const gone = (await context.request.get(`${baseUrl}/api/videos/${id}`)).status();
  check(gone === 404, `the deleted video still answers ${gone}`);
  check(new URL(page.url()).searchParams.get('video') !== id, 'the address still names the deleted video');
  await shot('14-after-delete');

  check(consoleErrors.length === 0, `console errors:\n  ${consoleErrors.join('\n  ')}`);
  log('dashboard: all checks passed');
} catch (err) {
  failed = true;
  console.error(`dashboard: FAILED: ${err instanceof TestFailure ? err.message : err.stack ?? err}`);
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
