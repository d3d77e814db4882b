// The strangers' test page: `players.html?player=<hlsjs|videojs|shaka>&case=<label>` loads
// that player (through the test's static server at /vendor/, see players.mjs) and
// waits; `window.judge.start(masterUrl)` plays the master with the player's defaults and
// judges it. Each player is used the way its own documentation shows, with nothing tuned
// for reel: if a default fails on reel's output, that is what the test must see.
//
// `window.judge` is what players.mjs reads:
//   ready            the player's library is loaded
//   name, version    e.g. "Shaka Player", "v5.2.12"
//   engine           what plays: hls.js / VHS / Shaka on MSE (never Chromium's own HLS)
//   errors[]         every player error, uncaught exception or rejected promise
//   startAt          currentTime at the first `playing` event (must be < START_LIMIT_SECS,
//                    but for `case=channel`: a live channel starts where the channel is)
//   playedWallSecs   wall-clock seconds since that event
//   outcome          null while undecided, then "passed" or "failed: <why>"
//   playlist         the media playlist's type as the player saw it at the verdict
//                    (EVENT while processing, VOD when ready)
//
// and what players.mjs calls, through each player's own API, for a ladder with audio and
// subtitle renditions (`case=tracks`):
//   tracks()         {audio: [{language, name, active}], text: [{language, name, active}]}
//   selectAudio(l)   makes the audio track of language `l` the one that plays
//   showText(l)      shows the subtitle track of language `l`
//   activeCues()     [{text, start, end}] of the cues the shown subtitle track shows now
//   time()           the element's currentTime now (`currentTime` stops at the verdict)
//   listen()         unmutes and routes the sound through a Web Audio analyser
//   pitch()          the loudest frequency now, in Hz (FFT of 8192 samples)

/** Playback must begin this close to the start of the video ("from its first second"). */
const START_LIMIT_SECS = 1.0;
/** `case=channel`: a channel's live playlist, joined at the channel's moment, not at 0. */
const LIVE = new URLSearchParams(location.search).get('case') === 'channel';
/** How far currentTime must advance from where playback began. */
const ADVANCE_SECS = 1.5;
/** How much faster than the wall clock currentTime may run (a player's skip over a small
 * gap between segments): more is a jump, e.g. to a live edge, and not playback from the
 * start. */
const JUMP_SLACK_SECS = 0.5;

const PLAYERS = {
  hlsjs: {
    name: 'hls.js',
    scripts: ['/vendor/hls.min.js'],
    version: () => window.Hls.version,
    async start(video, src, fail) {
      const hls = new window.Hls();
      window.player = hls;
      hls.on(window.Hls.Events.ERROR, (_event, data) => {
        if (data.fatal) fail(`hls.js fatal ${data.type}: ${data.details}${data.error ? ` (${data.error.message})` : ''}`);
      });
      hls.loadSource(src);
      hls.attachMedia(video);
      return 'hls.js on MSE';
    },
    playlist: () => window.player.latestLevelDetails?.type ?? 'no type',
    tracks: () => ({
      audio: window.player.audioTracks.map((t, i) => ({ language: t.lang ?? '', name: t.name, active: i === window.player.audioTrack })),
      text: window.player.subtitleTracks.map((t, i) => ({ language: t.lang ?? '', name: t.name, active: i === window.player.subtitleTrack })),
    }),
    selectAudio: (language) => {
      window.player.audioTrack = window.player.audioTracks.findIndex((t) => t.lang === language);
    },
    showText: (language) => {
      window.player.subtitleDisplay = true;
      window.player.subtitleTrack = window.player.subtitleTracks.findIndex((t) => t.lang === language);
    },
  },
  videojs: {
    name: 'video.js',
    scripts: ['/vendor/video.min.js'],
    styles: ['/vendor/video-js.min.css'],
    version: () => window.videojs.VERSION,
    async start(video, src, fail) {
      video.classList.add('video-js');
      const player = window.videojs(video, { controls: true, muted: true, preload: 'auto' });
      window.player = player;
      player.on('error', () => {
        const e = player.error();
        fail(`video.js error ${e?.code}: ${e?.message}`);
      });
      player.src({ src, type: 'application/x-mpegURL' });
      await new Promise((resolve) => player.ready(resolve));
      const tech = player.tech({ IWillNotUseThisInPlugins: true });
      if (!tech?.vhs) fail(`video.js is not using VHS (tech ${tech?.name_}): the test would judge Chromium's own HLS`);
      return `VHS ${window.videojs.VhsHandler.version()['@videojs/http-streaming']} on MSE`;
    },
    // video.js's own play(), as its documentation shows (it returns the element's promise).
    play: () => window.player.play(),
    playlist: () => window.player.tech({ IWillNotUseThisInPlugins: true }).vhs?.playlists.media()?.playlistType ?? 'no type',
    tracks: () => ({
      audio: listOf(window.player.audioTracks()).map((t) => ({ language: t.language, name: t.label, active: t.enabled })),
      text: subtitleTracksOf(window.player.textTracks()).map((t) => ({ language: t.language, name: t.label, active: t.mode === 'showing' })),
    }),
    selectAudio: (language) => {
      const track = listOf(window.player.audioTracks()).find((t) => t.language === language);
      if (track) track.enabled = true;
    },
    showText: (language) => {
      for (const t of subtitleTracksOf(window.player.textTracks())) t.mode = t.language === language ? 'showing' : 'disabled';
    },
    // video.js keeps its own text tracks (emulated where the browser's would do).
    textTracks: () => subtitleTracksOf(window.player.textTracks()),
    unmute: () => window.player.muted(false),
  },
  shaka: {
    name: 'Shaka Player',
    scripts: ['/vendor/shaka-player.compiled.js'],
    version: () => window.shaka.Player.version,
    async start(video, src, fail) {
      window.shaka.polyfill.installAll();
      if (!window.shaka.Player.isBrowserSupported()) fail('Shaka Player says this browser is not supported');
      const player = new window.shaka.Player();
      window.player = player;
      player.addEventListener('error', (event) => fail(`Shaka error ${shakaError(event.detail)}`));
      await player.attach(video);
      try {
        await player.load(src);
      } catch (e) {
        fail(`Shaka load failed: ${shakaError(e)}`);
        return 'Shaka (not loaded)';
      }
      const mode = player.getLoadMode();
      if (mode !== window.shaka.Player.LoadMode.MEDIA_SOURCE) {
        fail(`Shaka is not on MSE (load mode ${mode}): the test would judge Chromium's own HLS`);
      }
      return 'Shaka on MSE';
    },
    // Shaka calls an EVENT playlist "in progress" (dynamic, but not live).
    playlist: () => (window.player.isLive() ? 'live' : window.player.isInProgress() ? 'EVENT (in progress)' : 'VOD'),
    tracks: () => ({
      audio: window.player.getAudioTracks().map((t) => ({ language: t.language, name: t.label, active: t.active })),
      text: window.player.getTextTracks().map((t) => ({ language: t.language, name: t.label, active: t.active })),
    }),
    selectAudio: (language) => {
      const track = window.player.getAudioTracks().find((t) => t.language === language);
      if (track) window.player.selectAudioTrack(track);
    },
    showText: (language) => {
      const track = window.player.getTextTracks().find((t) => t.language === language);
      if (track) window.player.selectTextTrack(track);
    },
  },
};

/** A TextTrackList or AudioTrackList (video.js's or the browser's) as an array. */
function listOf(list) {
  const out = [];
  for (let i = 0; i < list.length; i++) out.push(list[i]);
  return out;
}

/** The subtitle (or caption) tracks of a text track list. */
function subtitleTracksOf(list) {
  return listOf(list).filter((t) => t.kind === 'subtitles' || t.kind === 'captions');
}

/** A Shaka error's code and its name in `shaka.util.Error.Code`, plus its data. */
function shakaError(e) {
  if (!e || typeof e.code !== 'number') return String(e?.message ?? e);
  const codes = window.shaka.util.Error.Code;
  const name = Object.keys(codes).find((k) => codes[k] === e.code) ?? '?';
  return `${e.code} ${name} ${JSON.stringify(e.data ?? []).slice(0, 300)}`;
}

const params = new URLSearchParams(location.search);
const which = params.get('player');
const spec = PLAYERS[which];
const stage = document.getElementById('stage');
const state = document.getElementById('state');

const judge = {
  ready: false,
  player: which,
  name: spec?.name ?? which,
  version: null,
  engine: null,
  src: null,
  errors: [],
  startAt: null,
  playedWallSecs: 0,
  currentTime: 0,
  videoWidth: 0,
  videoHeight: 0,
  outcome: null,
  playlist: null,
  start,
  tracks: () => spec.tracks(),
  selectAudio: (language) => spec.selectAudio(language),
  showText: (language) => spec.showText(language),
  activeCues,
  textTrackDump,
  listen,
  pitch,
  time: () => media?.currentTime ?? 0,
};
window.judge = judge;

/** The page's media element, once started. */
let media = null;

/** What every text track holds (a failure's evidence): label, language, mode, cue count
 * and the first cues' times. */
function textTrackDump() {
  const dump = (t) => {
    const cues = listOf(t.cues ?? []);
    return `${t.label || '-'}/${t.language || '-'} ${t.mode}: ${cues.length} cues ${cues.slice(0, 3).map((c) => `${c.startTime.toFixed(3)}-${c.endTime.toFixed(3)} "${c.text}"`).join(' ')}`;
  };
  const own = spec.textTracks ? spec.textTracks().map(dump) : [];
  return [...own, ...listOf(media.textTracks).map((t) => `native ${dump(t)}`)];
}

function activeCues() {
  const tracks = spec.textTracks ? spec.textTracks() : subtitleTracksOf(media.textTracks);
  const shown = tracks.filter((t) => t.mode === 'showing');
  const cues = [];
  for (const t of shown) {
    for (const c of listOf(t.activeCues ?? [])) cues.push({ text: c.text, start: c.startTime, end: c.endTime });
  }
  return cues;
}

let analyser = null;
let audioContext = null;

function listen() {
  if (!analyser) {
    audioContext = new AudioContext();
    const source = audioContext.createMediaElementSource(media);
    analyser = audioContext.createAnalyser();
    analyser.fftSize = 8192;
    source.connect(analyser);
    analyser.connect(audioContext.destination);
  }
  media.muted = false;
  spec.unmute?.();
}

function pitch() {
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  let best = 0;
  for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
  return { hz: (best * audioContext.sampleRate) / analyser.fftSize, db: bins[best], state: audioContext.state };
}

function fail(message) {
  judge.errors.push(message);
  if (!judge.outcome) judge.outcome = `failed: ${message}`;
  render();
}
window.addEventListener('error', (e) => fail(`uncaught: ${e.message}`));
window.addEventListener('unhandledrejection', (e) => fail(`unhandled rejection: ${e.reason?.message ?? e.reason}`));

function render() {
  document.getElementById('title').textContent = `${judge.name} ${judge.version ?? ''} · ${params.get('case') ?? ''}`;
  document.getElementById('what').textContent = judge.src
    ? `${judge.engine ?? ''}${judge.playlist ? ` (${judge.playlist})` : ''} · ${judge.src}`
    : 'waiting for a master playlist';
  const started = judge.startAt === null ? 'not yet' : `${judge.startAt.toFixed(2)} s`;
  state.textContent = [
    `currentTime ${judge.currentTime.toFixed(2)} s · started at ${started} · picture ${judge.videoWidth}x${judge.videoHeight}`,
    judge.outcome ?? 'playing…',
    ...judge.errors.filter((e) => `failed: ${e}` !== judge.outcome).slice(0, 3),
  ].join('\n');
  state.className = judge.outcome === 'passed' ? 'passed' : judge.outcome ? 'failed' : '';
}

async function load(url, tag) {
  const el = document.createElement(tag);
  if (tag === 'link') Object.assign(el, { rel: 'stylesheet', href: url });
  else el.src = url;
  const done = new Promise((resolve, reject) => {
    el.onload = resolve;
    el.onerror = () => reject(new Error(`${url} did not load`));
  });
  document.head.append(el);
  await done;
}

async function start(src) {
  judge.src = src;
  const video = document.createElement('video');
  media = video;
  video.muted = true;
  video.playsInline = true;
  stage.append(video);
  video.addEventListener('error', () => fail(`media element error ${video.error?.code}: ${video.error?.message}`));
  let playingSince = null;
  video.addEventListener('playing', () => {
    if (judge.startAt !== null) return;
    judge.startAt = video.currentTime;
    playingSince = performance.now();
  });
  // video.js moves the element into a wrapper of its own; it is still this element.
  const watch = setInterval(() => {
    judge.currentTime = video.currentTime;
    judge.videoWidth = video.videoWidth;
    judge.videoHeight = video.videoHeight;
    if (!judge.outcome && judge.startAt !== null) {
      judge.playedWallSecs = (performance.now() - playingSince) / 1000;
      const advance = video.currentTime - judge.startAt;
      if (!LIVE && judge.startAt >= START_LIMIT_SECS) {
        judge.outcome = `failed: playback began at ${judge.startAt.toFixed(2)} s, not within the first ${START_LIMIT_SECS} s`;
      } else if (advance > judge.playedWallSecs + JUMP_SLACK_SECS) {
        judge.outcome =
          `failed: currentTime jumped from ${judge.startAt.toFixed(2)} s to ${video.currentTime.toFixed(2)} s` +
          ` in ${judge.playedWallSecs.toFixed(2)} s of playback`;
      } else if (advance >= ADVANCE_SECS && video.videoWidth > 0) {
        judge.outcome = 'passed';
      }
    }
    if (judge.outcome) {
      clearInterval(watch);
      if (judge.startAt !== null) {
        try {
          judge.playlist = spec.playlist();
        } catch (e) {
          judge.playlist = `unknown (${e.message})`;
        }
      }
    }
    render();
  }, 100);
  try {
    judge.engine = await spec.start(video, src, fail);
    await (spec.play ? spec.play() : video.play());
  } catch (e) {
    fail(`start: ${e?.message ?? e}`);
  }
  render();
}

try {
  if (!spec) throw new Error(`no player "${which}"`);
  for (const url of spec.styles ?? []) await load(url, 'link');
  for (const url of spec.scripts) await load(url, 'script');
  judge.version = spec.version();
  judge.ready = true;
} catch (e) {
  fail(e.message);
}
render();
