// Surround sound in a browser that cannot decode it: a ladder of a 5.1 source has stereo
// AAC renditions (group `audio`) and AC-3 5.1 ones (group `audio-surround`), every
// variant listed with each. Chromium's MSE has no AC-3, so each player must drop the
// AC-3 variants by their CODECS and play the stereo ones as for any upload:
//
//   node tests/browser/surround.mjs <base-url> <screenshot-dir> <video-id>...
//
// For each ready video (an fMP4 and an MPEG-TS ladder) hls.js (reel's pinned copy),
// video.js 8 (VHS) and Shaka Player play its master on the strangers' test page
// (players.html, the same verdict as players.mjs: playback from the first second, 1.5 s
// on, no error); then the variant each plays must name `mp4a` (never `ac-3`), and the
// sound must be there (a Web Audio analyser: the loudest frequency one of the sines the
// 5.1 source's channels carry, above silence). Screenshots: <format>-<player>.png.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch, log, PLAYER_PAGE_FILES, serveFiles, finish } from './harness.mjs';

const [base, shots, ...ids] = process.argv.slice(2);
if (!ids.length) {
  console.error('usage: surround.mjs <base-url> <screenshot-dir> <video-id>...');
  process.exit(2);
}
const baseUrl = base.replace(/\/$/, '');
const PLAYERS = ['hlsjs', 'videojs', 'shaka'];
const VERDICT_MS = 40_000;
/** The 5.1 sample's channels: a sine each, 440 Hz + 110 Hz per channel (LFE's 770 Hz is
 * dropped by a stereo downmix). */
const SINES_HZ = [440, 550, 660, 770, 880, 990];
const PITCH_TOLERANCE_HZ = 12;
const AUDIBLE_DB = -85;
const SOUND_MS = 12_000;

fs.mkdirSync(shots, { recursive: true });
for (const f of fs.readdirSync(shots)) if (f.endsWith('.png')) fs.rmSync(path.join(shots, f));
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-surround-'));
const pageServer = await serveFiles(PLAYER_PAGE_FILES);
const failures = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** What the variant a player plays says of its audio, through the player's own API. */
const PLAYING = {
  hlsjs: () => {
    const hls = window.player;
    const level = hls.levels[hls.currentLevel] ?? hls.levels[hls.loadLevel];
    const track = hls.audioTracks[hls.audioTrack];
    return {
      codecs: level ? `${level.videoCodec ?? ''},${level.audioCodec ?? ''}` : 'no level',
      group: track?.groupId ?? track?.groupIds?.join('|') ?? '-',
      channels: track?.channels ?? '-',
      offered: hls.levels.map((l) => l.audioCodec).join(' '),
    };
  },
  videojs: () => {
    const vhs = window.player.tech({ IWillNotUseThisInPlugins: true }).vhs;
    const media = vhs.playlists.media();
    const all = vhs.playlists.main?.playlists ?? vhs.playlists.master?.playlists ?? [];
    return {
      codecs: media?.attributes?.CODECS ?? 'no CODECS',
      group: media?.attributes?.AUDIO ?? '-',
      channels: '-',
      offered: all.filter((p) => !p.excludeUntil).map((p) => p.attributes?.CODECS).join(' '),
    };
  },
  shaka: () => {
    const active = window.player.getVariantTracks().find((t) => t.active);
    return {
      codecs: active?.codecs ?? 'no active variant',
      group: active?.audioGroupId ?? '-',
      channels: active?.channelsCount ?? '-',
      offered: window.player.getVariantTracks().map((t) => t.audioCodec).join(' '),
    };
  },
};

let context;
try {
  context = await launch(profile, ['--autoplay-policy=no-user-gesture-required', '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows'], { width: 680, height: 560 });
  const probe = context.pages()[0] ?? (await context.newPage());
  const support = await probe.evaluate(() => ({
    aac: MediaSource.isTypeSupported('audio/mp4; codecs="mp4a.40.2"'),
    ac3: MediaSource.isTypeSupported('audio/mp4; codecs="ac-3"'),
  }));
  log(`this Chromium's MSE: AAC ${support.aac}, AC-3 ${support.ac3}`);
  if (!support.aac) throw new Error('this Chromium cannot decode AAC in MSE');
  await probe.close();
  for (const id of ids) {
    try {
      await surroundCase(id, support.ac3);
    } catch (e) {
      failures.push(`${id}: ${e.stack ?? e}`);
    }
  }
} catch (e) {
  failures.push(`the test itself: ${e.stack ?? e}`);
} finally {
  await context?.close().catch(() => {});
  pageServer.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
finish(failures, 'every player played the stereo variants of every 5.1 ladder');

async function surroundCase(id, ac3InMse) {
  const video = await fetch(`${baseUrl}/api/videos/${id}`).then((r) => r.json());
  const label = `surround-${video.format}`;
  const groups = (video.audio ?? []).map((a) => `${a.group}:${a.codec}/${a.channels}`).join(', ');
  if (video.status !== 'ready' || !(video.audio ?? []).some((a) => a.codec === 'ac3')) {
    throw new Error(`video ${id} is ${video.status} with audio ${groups || 'none'}, not a ready ladder with an AC-3 rendition`);
  }
  const master = `${baseUrl}/media/${id}/master.m3u8`;
  log(`${label}: audio ${groups}; master lists ${(await fetch(master).then((r) => r.text())).match(/^#EXT-X-STREAM-INF/gm).length} variants`);
  await Promise.all(
    PLAYERS.map(async (player) => {
      const page = await context.newPage();
      const errors = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
      page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
      await page.goto(`${pageServer.origin}/players.html?player=${player}&case=${label}`);
      await page.waitForFunction(() => window.judge?.ready || window.judge?.outcome, null, { timeout: 30_000 });
      await page.evaluate((src) => void window.judge.start(src), master);
      let timedOut = false;
      await page.waitForFunction(() => window.judge.outcome, null, { timeout: VERDICT_MS }).catch(() => (timedOut = true));
      const j = await page.evaluate(() => ({ outcome: window.judge.outcome, name: window.judge.name, version: window.judge.version, errors: window.judge.errors, startAt: window.judge.startAt, currentTime: window.judge.currentTime }));
      const verdict = timedOut ? `failed: no verdict within ${VERDICT_MS / 1000} s` : j.outcome;
      const who = `${label} ${j.name} ${j.version}`;
      let playing = null;
      let sound = null;
      if (verdict === 'passed') {
        playing = await page.evaluate(PLAYING[player]).catch((e) => ({ codecs: `unknown (${e.message})` }));
        await page.evaluate(() => window.judge.listen());
        const deadline = Date.now() + SOUND_MS;
        for (;;) {
          sound = await page.evaluate(() => window.judge.pitch());
          const near = SINES_HZ.some((hz) => Math.abs(sound.hz - hz) <= PITCH_TOLERANCE_HZ);
          if ((near && sound.db > AUDIBLE_DB) || Date.now() > deadline) break;
          await sleep(200);
        }
      }
      const file = path.join(shots, `${label}-${player}.png`);
      await page.screenshot({ path: file });
      log(`${who}: ${verdict}; started at ${j.startAt?.toFixed(2) ?? 'never'} s, currentTime ${j.currentTime.toFixed(2)} s; screenshot ${file}`);
      if (playing) log(`  plays CODECS "${playing.codecs}", audio group ${playing.group}, channels ${playing.channels}; variants it keeps: ${playing.offered}`);
      if (sound) log(`  sounds at ${sound.hz.toFixed(1)} Hz (${sound.db.toFixed(1)} dB, audio context ${sound.state})`);
      for (const e of [...j.errors, ...errors]) log(`  ${e}`);
      if (verdict !== 'passed') failures.push(`${who}: ${verdict}`);
      else if (j.errors.length || errors.length) failures.push(`${who}: played, but ${[...j.errors, ...errors][0]}`);
      if (playing && !ac3InMse && !/mp4a/.test(playing.codecs)) failures.push(`${who}: plays "${playing.codecs}", not the stereo AAC variant`);
      if (playing && /ac-3/.test(playing.codecs) && !ac3InMse) failures.push(`${who}: picked an AC-3 variant MSE cannot decode`);
      if (sound && !(SINES_HZ.some((hz) => Math.abs(sound.hz - hz) <= PITCH_TOLERANCE_HZ) && sound.db > AUDIBLE_DB)) {
        failures.push(`${who}: no sound of the source (${sound.hz.toFixed(1)} Hz at ${sound.db.toFixed(1)} dB)`);
      }
      await page.close();
    }),
  );
}
