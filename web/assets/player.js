// The dashboard's player: a <video> on the master playlist, with hls.js where the browser
// has Media Source Extensions and the browser's own HLS where that is the better engine
// (Safari); the page's own controls over the picture (a seek bar that previews the frame
// under the pointer, audio and subtitle menus, volume, full screen); one resolution chip
// per rung with its bitrate, an auto-adapt toggle, what is playing, the measured
// bandwidth, the segment list and the mpv command.
//
//   HlsJsEngine    hls.js on the master: levels, the rung chosen by hand or by hls.js,
//                  audio and subtitle tracks as hls.js reports them (hls.audioTracks,
//                  hls.subtitleTracks and their events).
//   NativeEngine   the browser's HLS: the rungs from the video object (a chip plays that
//                  rung's media playlist), bandwidth from Resource Timing, tracks from
//                  video.audioTracks and video.textTracks.
//                  Both dispatch the same events (ENGINE_EVENTS) and answer the same calls.
//   Storyboard     the video's seek previews: storyboard.vtt parsed into cues that name a
//                  rectangle of a sprite sheet (`sprite.jpg#xywh=x,y,w,h`).
//   SeekBar        position, buffered ranges, pointer and keyboard seeking, the preview.
//   TrackMenu      one menu of tracks (audio, subtitles) in the control bar; hidden while
//                  there is nothing to choose.
//   Controls       play, volume, time, full screen, the seek bar and the two menus.
//   RungChips      the Quality panel: a chip per rung and the Auto toggle.
//   SegmentList    the Segments panel: every segment, the one playing, seek on click.
//   DashboardPlayer  ties them to the video shown: attach, retry while processing,
//                  teardown, what the stats say.
//
// Engine choice. Chrome now answers "maybe" to canPlayType('application/vnd.apple.mpegurl')
// too, but its native HLS gives the page no say over the rung; so, as hls.js recommends,
// native HLS is used where ManagedMediaSource exists (Safari 17+) or where hls.js cannot
// run at all (iPhones before iOS 17.1). `?player=native` or `?player=hlsjs` overrides.

import { bitrate, bytes, clock, percent, rungName } from './format.js';

const $ = (id) => document.getElementById(id);

/** How long to wait before loading a video still processing again (ms). */
const RETRY_MS = 1500;
/** How far an arrow key moves the seek bar (seconds). */
const SEEK_STEP_SECS = 5;
/** The controls fade out after this long without a pointer move while playing (ms). */
const CONTROLS_IDLE_MS = 2500;
/** A fatal media error within this long of the last recovery stops playback (ms): some
 * errors (a buffer the stream cannot be appended to) come back at once, and recovering
 * from them for ever only spins. */
const MEDIA_RECOVERY_MS = 5000;
/** Seek previews are shown this much larger than their tiles (160x90 become 240x135). */
const PREVIEW_SCALE = 1.5;
/** A seek from the segment list lands this far past the boundary (seconds), inside the
 * segment rather than at the end of the one before. */
const INTO_SEGMENT_SECS = 0.01;

/** An absolute URL for a path of this server. */
const abs = (path) => new URL(path, location.href).href;

/**
 * Which engine plays here: 'hlsjs', 'native' or null (none can).
 * @param {HTMLVideoElement} el
 * @returns {'hlsjs' | 'native' | null}
 */
export function chooseEngine(el) {
  const forced = new URLSearchParams(location.search).get('player');
  const Hls = window.Hls;
  const mse = Boolean(Hls?.isSupported());
  const native = el.canPlayType('application/vnd.apple.mpegurl') !== '';
  if (forced === 'native' && native) return 'native';
  if (forced === 'hlsjs' && mse) return 'hlsjs';
  if (native && ('ManagedMediaSource' in window || !mse)) return 'native';
  return mse ? 'hlsjs' : null;
}

/** Plays, quietly: autoplay policies may refuse, and the controls are there. */
const playQuietly = (el) => el.play().catch(() => {});

// ---- engines ------------------------------------------------------------------------------

/**
 * A rung as the page shows it.
 * @typedef {object} Level
 * @property {number} index   the engine's index (hls.js level, or rendition)
 * @property {string} name    "360p"
 * @property {number} width
 * @property {number} height  the picture's height
 * @property {number} bitrate average bits per second
 * @property {number} peak    peak bits per second
 * @property {string} [url]   native engine: the rung's media playlist
 */

/**
 * A track as the menus show it.
 * @typedef {object} Track
 * @property {number} id      the engine's index of the track
 * @property {string} label   "English"
 * @property {string} detail  "en · 5.1", or ''
 */

/**
 * What both engines dispatch: `ready` (the manifest is in: the player may start),
 * `levels` (the rungs are known), `level` (the rung playing changed), `fragment` (another
 * segment plays), `stats` (a download ended), `tracks` (audio or subtitle tracks, or the
 * choice among them, changed), `retry` (a video still processing is missing a file: load
 * it again), `fatal` (detail: {message, details}: playback stopped).
 */
export const ENGINE_EVENTS = ['ready', 'levels', 'level', 'fragment', 'stats', 'tracks', 'retry', 'fatal'];

/** Channel counts as people say them. */
const CHANNELS = { 1: 'mono', 2: 'stereo', 6: '5.1', 8: '7.1' };

/**
 * The menu's view of a track: its name (else its language, else its number) and what else
 * is known of it.
 * @returns {Track}
 */
function describeTrack(id, { name, language, channels }) {
  const label = name || language || `Track ${id + 1}`;
  const ch = Number.parseInt(channels, 10);
  const detail = [language && language !== label ? language : '', CHANNELS[ch] ?? (ch ? `${ch} ch` : '')]
    .filter(Boolean)
    .join(' · ');
  return { id, label, detail };
}

/** hls.js on the master playlist: every rung, track and error as hls.js reports it. */
export class HlsJsEngine extends EventTarget {
  name = 'hlsjs';
  /** @type {Level[]} */
  levels = [];
  /** The level chosen by hand, -1 while hls.js adapts. */
  manual = -1;
  /** The level hls.js last switched to (LEVEL_SWITCHED), -1 before. */
  playingLevel = -1;
  #el;
  #video;
  #hls = null;
  /** When recoverMediaError() was last called (performance.now()). */
  #recoveredAt = -Infinity;

  /**
   * @param {HTMLVideoElement} el
   * @param {() => object} video  the video object shown now (it changes while processing)
   */
  constructor(el, video) {
    super();
    this.#el = el;
    this.#video = video;
  }

  get label() {
    return `hls.js ${window.Hls.version}`;
  }

  /** The hls.js instance (null once a fatal error destroyed it). */
  get hls() {
    return this.#hls;
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Loads `master` into the element. */
  attach(master) {
    const Hls = window.Hls;
    const hls = new Hls({
      // A video still processing has EVENT playlists, which hls.js treats as live and
      // would join near the end; a viewer wants it from the start.
      startPosition: 0,
      capLevelToPlayerSize: false,
      backBufferLength: 60,
    });
    this.#hls = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      this.levels = hls.levels.map((l, index) => {
        const r = this.#renditionFor(l);
        return {
          index,
          name: rungName(l.width, l.height),
          width: l.width,
          height: l.height,
          bitrate: r?.average_bandwidth || l.averageBitrate || l.bitrate,
          peak: r?.bandwidth || l.maxBitrate || l.bitrate,
        };
      });
      this.#emit('levels');
      this.#emit('tracks');
      this.#emit('ready');
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => {
      this.playingLevel = data.level;
      this.#emit('level');
    });
    hls.on(Hls.Events.FRAG_CHANGED, () => this.#emit('fragment'));
    hls.on(Hls.Events.FRAG_LOADED, () => this.#emit('stats'));
    for (const e of [
      Hls.Events.AUDIO_TRACKS_UPDATED,
      Hls.Events.AUDIO_TRACK_SWITCHED,
      Hls.Events.SUBTITLE_TRACKS_UPDATED,
      Hls.Events.SUBTITLE_TRACK_SWITCH,
    ]) {
      hls.on(e, () => this.#emit('tracks'));
    }
    hls.on(Hls.Events.ERROR, (_e, data) => {
      if (!data.fatal) return;
      const media = data.type === Hls.ErrorTypes.MEDIA_ERROR;
      if (media && performance.now() - this.#recoveredAt > MEDIA_RECOVERY_MS) {
        this.#recoveredAt = performance.now();
        hls.recoverMediaError();
      } else if (this.#video()?.status !== 'ready' && data.type === Hls.ErrorTypes.NETWORK_ERROR) {
        // Playlists and segments of a video still processing may not exist yet.
        this.#emit('retry');
      } else {
        const what = data.type === Hls.ErrorTypes.NETWORK_ERROR ? 'could not be loaded' : 'cannot be played';
        this.destroy();
        this.#emit('fatal', { message: `This video ${what} (${data.details}).`, details: data.details });
      }
    });
    hls.loadSource(master);
    hls.attachMedia(this.#el);
  }

  /** The rendition of the video object that an hls.js level plays. */
  #renditionFor(level) {
    const rs = this.#video()?.renditions ?? [];
    const url = level.url?.[0] ?? level.uri ?? '';
    return (
      rs.find((r) => url && url.endsWith('/' + r.playlist)) ??
      rs.find((r) => r.width === level.width && r.picture_height === level.height)
    );
  }

  /** Plays level `index` from now on, or adapts again for -1. */
  select(index) {
    this.manual = index;
    if (!this.#hls) return;
    if (index >= 0) {
      // Immediate: flush what is buffered and load this rung from the current position.
      this.#hls.currentLevel = index;
    } else {
      // Back to adaptation. nextLevel = -1 sets the same manual level -1 as
      // currentLevel = -1 but without flushing the buffer: no stall on the way back.
      this.#hls.nextLevel = -1;
    }
  }

  /** The level on screen, as well as known: hls.js's last switch, else its current one. */
  nowPlaying() {
    return this.playingLevel >= 0 ? this.playingLevel : (this.#hls?.currentLevel ?? -1);
  }

  /** hls.js's estimate (bits per second), 0 when it has none. */
  get bandwidth() {
    return this.#hls?.bandwidthEstimate ?? 0;
  }

  /** @returns {Track[]} */
  audioTracks() {
    return (this.#hls?.audioTracks ?? []).map((t, i) =>
      describeTrack(i, { name: t.name, language: t.lang, channels: t.channels ?? t.attrs?.CHANNELS }),
    );
  }

  get audioTrack() {
    return this.#hls?.audioTrack ?? -1;
  }

  setAudioTrack(id) {
    if (this.#hls) this.#hls.audioTrack = id;
  }

  /** @returns {Track[]} */
  subtitleTracks() {
    return (this.#hls?.subtitleTracks ?? []).map((t, i) => describeTrack(i, { name: t.name, language: t.lang }));
  }

  /** The subtitle track shown, -1 for none. */
  get subtitleTrack() {
    return this.#hls && this.#hls.subtitleDisplay ? this.#hls.subtitleTrack : -1;
  }

  setSubtitleTrack(id) {
    if (!this.#hls) return;
    this.#hls.subtitleTrack = id;
    this.#hls.subtitleDisplay = id >= 0;
  }

  destroy() {
    this.#hls?.destroy();
    this.#hls = null;
  }
}

/** The browser's own HLS: the element plays the master (or one rung's playlist) itself. */
export class NativeEngine extends EventTarget {
  name = 'native';
  label = 'Native HLS';
  /** @type {Level[]} */
  levels = [];
  /** The rung chosen by hand, -1 while the browser adapts. */
  manual = -1;
  #el;
  #video;
  #master = '';
  #bandwidth = 0;
  #observer = null;
  /** Removes the track-list listeners. */
  #listening = new AbortController();

  /**
   * @param {HTMLVideoElement} el
   * @param {() => object} video  the video object shown now
   */
  constructor(el, video) {
    super();
    this.#el = el;
    this.#video = video;
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Loads `master` into the element. */
  attach(master) {
    const video = this.#video();
    this.#master = master;
    const base = master.replace(/[^/]*$/, '');
    this.levels = video.renditions.map((r, index) => ({
      index,
      name: rungName(r.width, r.picture_height),
      width: r.width,
      height: r.picture_height,
      bitrate: r.average_bandwidth,
      peak: r.bandwidth,
      url: abs(`${base}${r.playlist}`),
    }));
    this.#el.src = master;
    this.#emit('levels');
    this.#emit('ready');
    // The browser does not say how fast it downloads; the Resource Timing of segment
    // requests does.
    if ('PerformanceObserver' in window) {
      const prefix = abs(base);
      this.#observer = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          if (!e.name.startsWith(prefix) || !/\.(m4s|ts)(\?|$)/.test(e.name)) continue;
          const secs = (e.responseEnd - e.startTime) / 1000;
          const size = e.transferSize || e.encodedBodySize;
          if (secs > 0 && size > 0) {
            const sample = (size * 8) / secs;
            this.#bandwidth = this.#bandwidth ? 0.7 * this.#bandwidth + 0.3 * sample : sample;
          }
        }
        this.#emit('stats');
      });
      this.#observer.observe({ type: 'resource', buffered: false });
    }
    const signal = this.#listening.signal;
    for (const list of [this.#el.audioTracks, this.#el.textTracks]) {
      for (const type of ['addtrack', 'removetrack', 'change']) {
        list?.addEventListener(type, () => this.#emit('tracks'), { signal });
      }
    }
  }

  /**
   * Native HLS has no API for the rung: a chip plays that rung's media playlist instead
   * of the master, from the same position; -1 goes back to the master.
   */
  select(index) {
    this.manual = index;
    const el = this.#el;
    const at = el.currentTime;
    const paused = el.paused;
    el.src = index < 0 ? this.#master : this.levels[index].url;
    el.addEventListener(
      'loadedmetadata',
      () => {
        if (at > 0) el.currentTime = at;
        if (!paused) playQuietly(el);
      },
      { once: true },
    );
  }

  /** The rung on screen: the one chosen, else the one whose height is the picture's. */
  get playingLevel() {
    if (this.manual >= 0) return this.manual;
    const h = this.#el.videoHeight;
    const l = this.levels.find((x) => x.height === h);
    return l ? l.index : -1;
  }

  nowPlaying() {
    return this.playingLevel;
  }

  get bandwidth() {
    return this.#bandwidth;
  }

  /** @returns {Track[]} */
  audioTracks() {
    return [...(this.#el.audioTracks ?? [])].map((t, i) => describeTrack(i, { name: t.label, language: t.language }));
  }

  get audioTrack() {
    return [...(this.#el.audioTracks ?? [])].findIndex((t) => t.enabled);
  }

  setAudioTrack(id) {
    [...(this.#el.audioTracks ?? [])].forEach((t, i) => (t.enabled = i === id));
  }

  #subtitleList() {
    return [...this.#el.textTracks].filter((t) => t.kind === 'subtitles' || t.kind === 'captions');
  }

  /** @returns {Track[]} */
  subtitleTracks() {
    return this.#subtitleList().map((t, i) => describeTrack(i, { name: t.label, language: t.language }));
  }

  get subtitleTrack() {
    return this.#subtitleList().findIndex((t) => t.mode === 'showing');
  }

  setSubtitleTrack(id) {
    this.#subtitleList().forEach((t, i) => (t.mode = i === id ? 'showing' : 'disabled'));
  }

  /** No hls.js here (the same question the other engine answers). */
  get hls() {
    return null;
  }

  destroy() {
    this.#observer?.disconnect();
    this.#observer = null;
    this.#listening.abort();
    this.#listening = new AbortController();
  }
}

// ---- seek previews --------------------------------------------------------------------------

/**
 * One cue of a thumbnails track.
 * @typedef {object} Thumbnail
 * @property {number} start  seconds
 * @property {number} end    seconds
 * @property {string} url    the sprite sheet, absolute
 * @property {number} x
 * @property {number} y
 * @property {number} w
 * @property {number} h
 */

/** `hh:mm:ss.ttt` or `mm:ss.ttt` → seconds. */
function vttSeconds(text) {
  const parts = text.trim().split(':').map(Number);
  return parts.reduce((acc, p) => acc * 60 + p, 0);
}

/**
 * Parses a WebVTT thumbnails track: cues whose text is `sprite.jpg#xywh=x,y,w,h`, the
 * sprite relative to the track's own URL.
 * @param {string} text
 * @param {string} base the track's URL
 * @returns {Thumbnail[]}
 */
export function parseThumbnails(text, base) {
  if (!/^\uFEFF?WEBVTT/.test(text)) return [];
  const cues = [];
  for (const block of text.replace(/\r\n?/g, '\n').split(/\n{2,}/)) {
    const lines = block.trim().split('\n');
    const timing = lines.findIndex((l) => l.includes('-->'));
    if (timing < 0 || !lines[timing + 1]) continue;
    const [from, to] = lines[timing].split('-->');
    const match = /^(.*)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(lines[timing + 1].trim());
    if (!match) continue;
    cues.push({
      start: vttSeconds(from),
      end: vttSeconds(to.trim().split(/\s+/)[0]),
      url: new URL(match[1], base).href,
      x: Number(match[2]),
      y: Number(match[3]),
      w: Number(match[4]),
      h: Number(match[5]),
    });
  }
  return cues.sort((a, b) => a.start - b.start);
}

/** A video's seek previews: which rectangle of which sprite shows instant t. */
export class Storyboard {
  /** @type {Thumbnail[]} */
  #cues;

  /** @param {Thumbnail[]} cues sorted by start */
  constructor(cues) {
    this.#cues = cues;
  }

  /**
   * Fetches and parses `url`; null when there is none (yet).
   * @param {string} url
   * @param {AbortSignal} [signal]
   */
  static async load(url, signal) {
    try {
      const res = await fetch(url, { signal });
      if (!res.ok) return null;
      const cues = parseThumbnails(await res.text(), abs(url));
      return cues.length ? new Storyboard(cues) : null;
    } catch {
      return null; // aborted (another video), or offline: no previews
    }
  }

  /**
   * The thumbnail of instant `t` (seconds), null past the ends.
   * @returns {Thumbnail | null}
   */
  at(t) {
    const cues = this.#cues;
    let lo = 0;
    let hi = cues.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (t < cues[mid].start) hi = mid - 1;
      else if (t >= cues[mid].end) lo = mid + 1;
      else return cues[mid];
    }
    // The very end belongs to the last cue.
    const last = cues[cues.length - 1];
    return last && t >= last.start && t <= last.end ? last : null;
  }
}

// ---- the controls ---------------------------------------------------------------------------

/**
 * The seek bar: where the video is, what is buffered, seeking by pointer or keyboard, and
 * over it the frame (from the storyboard) and time under the pointer.
 */
class SeekBar {
  /** @type {Storyboard | null} */
  storyboard = null;
  #root;
  #el;
  #duration;
  #played;
  #buffered;
  #knob;
  #preview;
  #image;
  #time;
  #dragging = false;
  /** The instant previewed, null while hidden. */
  #shown = null;
  /** Sprites already asked for, so each is fetched once. */
  #sprites = new Map();

  /**
   * @param {HTMLElement} root  the bar (role=slider)
   * @param {HTMLVideoElement} el
   * @param {() => number} duration  seconds, 0 while unknown
   */
  constructor(root, el, duration) {
    this.#root = root;
    this.#el = el;
    this.#duration = duration;
    this.#played = root.querySelector('.seek-played');
    this.#buffered = root.querySelector('.seek-buffered');
    this.#knob = root.querySelector('.seek-knob');
    this.#preview = root.querySelector('.seek-preview');
    this.#image = root.querySelector('.seek-preview-image');
    this.#time = root.querySelector('.seek-preview-time');

    root.addEventListener('pointermove', (e) => {
      this.#showPreview(this.#timeAt(e.clientX));
      if (this.#dragging) this.#seek(this.#timeAt(e.clientX));
    });
    root.addEventListener('pointerleave', () => {
      if (!this.#dragging) this.#hidePreview();
    });
    root.addEventListener('pointerdown', (e) => {
      if (e.button !== 0 || !this.#duration()) return;
      this.#dragging = true;
      root.setPointerCapture(e.pointerId);
      this.#seek(this.#timeAt(e.clientX));
    });
    const release = (e) => {
      if (!this.#dragging) return;
      this.#dragging = false;
      if (root.hasPointerCapture(e.pointerId)) root.releasePointerCapture(e.pointerId);
      if (e.type === 'pointercancel' || !root.matches(':hover')) this.#hidePreview();
    };
    root.addEventListener('pointerup', release);
    root.addEventListener('pointercancel', release);
    root.addEventListener('keydown', (e) => this.#key(e));
    root.addEventListener('blur', () => this.#hidePreview());
  }

  /** The instant under client x. */
  #timeAt(clientX) {
    const box = this.#root.getBoundingClientRect();
    const f = box.width ? Math.min(1, Math.max(0, (clientX - box.left) / box.width)) : 0;
    return f * this.#duration();
  }

  #seek(t) {
    const d = this.#duration();
    if (!d) return;
    this.#el.currentTime = Math.min(Math.max(0, t), d);
    this.render();
  }

  #key(e) {
    const d = this.#duration();
    const now = this.#el.currentTime;
    const to = {
      ArrowLeft: now - SEEK_STEP_SECS,
      ArrowDown: now - SEEK_STEP_SECS,
      ArrowRight: now + SEEK_STEP_SECS,
      ArrowUp: now + SEEK_STEP_SECS,
      PageDown: now - d / 10,
      PageUp: now + d / 10,
      Home: 0,
      End: d,
    }[e.key];
    if (to === undefined || !d) return;
    e.preventDefault();
    this.#seek(to);
  }

  /** Shows the preview of instant `t`: the storyboard's frame if there is one, the time. */
  #showPreview(t) {
    const d = this.#duration();
    if (!d) return;
    this.#shown = t;
    const thumb = this.storyboard?.at(t) ?? null;
    const sprite = thumb && this.#sprite(thumb.url);
    this.#time.textContent = clock(t);
    // The frame shows once its sprite is in (sprites are immutable: cached for ever).
    const ready = Boolean(sprite?.complete && sprite.naturalWidth);
    if (ready) {
      const s = PREVIEW_SCALE;
      Object.assign(this.#image.style, {
        width: `${thumb.w * s}px`,
        height: `${thumb.h * s}px`,
        backgroundImage: `url("${thumb.url}")`,
        backgroundSize: `${sprite.naturalWidth * s}px ${sprite.naturalHeight * s}px`,
        backgroundPosition: `-${thumb.x * s}px -${thumb.y * s}px`,
      });
    }
    this.#image.hidden = !ready;
    this.#preview.hidden = false;
    // Centred on the pointer, kept inside the bar.
    const bar = this.#root.clientWidth;
    const half = this.#preview.offsetWidth / 2;
    const x = (t / d) * bar;
    this.#preview.style.left = `${Math.min(Math.max(x, half), Math.max(half, bar - half))}px`;
  }

  /** The sprite at `url`, asked for once; the preview is drawn again when it arrives. */
  #sprite(url) {
    let img = this.#sprites.get(url);
    if (!img) {
      img = new Image();
      img.addEventListener('load', () => {
        if (!this.#preview.hidden && this.#shown !== null) this.#showPreview(this.#shown);
      });
      img.src = url;
      this.#sprites.set(url, img);
    }
    return img;
  }

  #hidePreview() {
    this.#shown = null;
    this.#preview.hidden = true;
  }

  /** Forgets the preview images (another video). */
  reset() {
    this.storyboard = null;
    this.#sprites.clear();
    this.#hidePreview();
    this.render();
  }

  /** Redraws position and buffered ranges. */
  render() {
    const d = this.#duration();
    const el = this.#el;
    const t = Math.min(el.currentTime || 0, d || 0);
    const f = d ? t / d : 0;
    this.#played.style.width = `${f * 100}%`;
    this.#knob.style.left = `${f * 100}%`;
    let ahead = 0;
    for (let i = 0; i < el.buffered.length; i += 1) {
      if (el.buffered.start(i) <= t + 0.5 && el.buffered.end(i) > ahead) ahead = el.buffered.end(i);
    }
    this.#buffered.style.width = d ? `${Math.min(1, ahead / d) * 100}%` : '0';
    this.#root.setAttribute('aria-valuemax', String(Math.round(d || 0)));
    this.#root.setAttribute('aria-valuenow', String(Math.round(t)));
    this.#root.setAttribute('aria-valuetext', `${clock(t)} of ${clock(d)}`);
  }
}

/**
 * A menu of tracks in the control bar (audio, subtitles): a button that opens a list of
 * radio items. Hidden while there are fewer than `minimum` tracks: one audio track is no
 * choice, one subtitle track is (on or off).
 */
class TrackMenu {
  #root;
  #button;
  #list;
  #off;
  #minimum;
  #onChoose;
  /** @type {Track[]} */
  #tracks = [];
  #selected = -1;

  /**
   * @param {HTMLElement} root  `.menu` holding a button and a `[role=menu]` list
   * @param {{off?: string, minimum: number, onChoose: (id: number) => void}} options
   *   `off`: the label of a "none" item (id -1), for subtitles
   */
  constructor(root, { off, minimum, onChoose }) {
    this.#root = root;
    this.#button = root.querySelector('button');
    this.#list = root.querySelector('[role="menu"]');
    this.#off = off;
    this.#minimum = minimum;
    this.#onChoose = onChoose;
    this.#button.addEventListener('click', () => this.toggle());
    this.#list.addEventListener('keydown', (e) => this.#key(e));
    document.addEventListener('pointerdown', (e) => {
      if (!this.#root.contains(e.target)) this.close();
    });
  }

  get isOpen() {
    return !this.#list.hidden;
  }

  /**
   * Shows these tracks, `selected` marked (-1: none).
   * @param {Track[]} tracks
   * @param {number} selected
   */
  set(tracks, selected) {
    const same =
      selected === this.#selected &&
      tracks.length === this.#tracks.length &&
      tracks.every((t, i) => t.label === this.#tracks[i].label && t.detail === this.#tracks[i].detail);
    this.#tracks = tracks;
    this.#selected = selected;
    this.#root.hidden = tracks.length < this.#minimum;
    if (this.#root.hidden) this.close();
    this.#root.dataset.active = String(selected >= 0 && this.#off !== undefined);
    if (same && this.#list.children.length) return;
    const items = this.#off === undefined ? tracks : [{ id: -1, label: this.#off, detail: '' }, ...tracks];
    this.#list.replaceChildren(
      ...items.map((t) => {
        const item = document.createElement('button');
        item.type = 'button';
        item.className = 'menu-item';
        item.setAttribute('role', 'menuitemradio');
        item.setAttribute('aria-checked', String(t.id === selected));
        item.dataset.track = String(t.id);
        item.innerHTML = '<span class="menu-item-label"></span><span class="menu-item-detail"></span>';
        item.querySelector('.menu-item-label').textContent = t.label;
        item.querySelector('.menu-item-detail').textContent = t.detail;
        item.addEventListener('click', () => {
          this.close();
          this.#button.focus();
          this.#onChoose(t.id);
        });
        return item;
      }),
    );
  }

  toggle() {
    if (this.isOpen) this.close();
    else this.open();
  }

  open() {
    this.#list.hidden = false;
    this.#button.setAttribute('aria-expanded', 'true');
    (this.#list.querySelector('[aria-checked="true"]') ?? this.#list.firstElementChild)?.focus();
  }

  close() {
    this.#list.hidden = true;
    this.#button.setAttribute('aria-expanded', 'false');
  }

  #key(e) {
    const items = [...this.#list.children];
    const i = items.indexOf(document.activeElement);
    const to = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: items.length - 1 }[e.key];
    if (e.key === 'Escape') {
      e.preventDefault();
      this.close();
      this.#button.focus();
    } else if (to !== undefined) {
      e.preventDefault();
      items[(to + items.length) % items.length]?.focus();
    }
  }
}

/**
 * The control bar over the picture: play, volume, time, the seek bar, the audio and
 * subtitle menus, full screen. It fades out while the video plays and the pointer rests.
 */
class Controls {
  seekBar;
  audioMenu;
  subtitleMenu;
  #screen;
  #el;
  #duration;
  #idle = null;

  /**
   * @param {HTMLElement} screen  `.screen`, holding the video and the bar
   * @param {HTMLVideoElement} el
   * @param {{duration: () => number, onAudio: (id: number) => void,
   *          onSubtitles: (id: number) => void}} hooks
   */
  constructor(screen, el, { duration, onAudio, onSubtitles }) {
    this.#screen = screen;
    this.#el = el;
    this.#duration = duration;
    this.seekBar = new SeekBar($('seek'), el, duration);
    this.audioMenu = new TrackMenu($('audio-menu'), { minimum: 2, onChoose: onAudio });
    this.subtitleMenu = new TrackMenu($('subtitles-menu'), { off: 'Off', minimum: 1, onChoose: onSubtitles });

    $('play-button').addEventListener('click', () => this.togglePlay());
    el.addEventListener('click', () => this.togglePlay());
    el.addEventListener('dblclick', () => this.toggleFullscreen());
    $('mute-button').addEventListener('click', () => (el.muted = !el.muted));
    $('volume').addEventListener('input', (e) => {
      el.volume = Number(e.target.value);
      el.muted = el.volume === 0;
    });
    $('fullscreen-button').addEventListener('click', () => this.toggleFullscreen());
    document.addEventListener('fullscreenchange', () => this.render());
    for (const type of ['play', 'pause', 'volumechange', 'durationchange', 'loadedmetadata', 'progress', 'emptied']) {
      el.addEventListener(type, () => this.render());
    }
    screen.addEventListener('pointermove', () => this.#wake());
    screen.addEventListener('pointerleave', () => this.#sleepSoon(0));
    screen.addEventListener('keydown', (e) => this.#key(e));
    screen.addEventListener('focusin', () => this.#wake());
    this.render();
  }

  togglePlay() {
    if (this.#el.paused) playQuietly(this.#el);
    else this.#el.pause();
  }

  toggleFullscreen() {
    if (document.fullscreenElement) {
      document.exitFullscreen().catch(() => {});
    } else if (this.#screen.requestFullscreen) {
      this.#screen.requestFullscreen().catch(() => {});
    } else {
      // iPhone Safari: only the element itself goes full screen (with its own controls).
      this.#el.webkitEnterFullscreen?.();
    }
  }

  /** k or Space: play/pause; f: full screen; m: mute. A focused control keeps Space. */
  #key(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const el = this.#el;
    const actions = {
      k: () => this.togglePlay(),
      f: () => this.toggleFullscreen(),
      m: () => (el.muted = !el.muted),
    };
    if (!e.target.closest('button, input, [role="slider"], [role="menu"]')) actions[' '] = actions.k;
    const action = actions[e.key];
    if (!action) return;
    e.preventDefault();
    action();
  }

  /** Shows the bar, and hides it again after a rest while playing. */
  #wake() {
    this.#screen.dataset.controls = 'shown';
    this.#sleepSoon(CONTROLS_IDLE_MS);
  }

  #sleepSoon(ms) {
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => {
      const busy = this.#el.paused || this.audioMenu.isOpen || this.subtitleMenu.isOpen || this.#screen.matches(':has(:focus-visible)');
      if (!busy) this.#screen.dataset.controls = 'idle';
    }, ms);
  }

  /** Redraws the bar from the element's state. */
  render() {
    const el = this.#el;
    const paused = el.paused;
    this.#screen.dataset.paused = String(paused);
    if (paused) this.#screen.dataset.controls = 'shown';
    $('play-button').setAttribute('aria-label', paused ? 'Play' : 'Pause');
    $('mute-button').setAttribute('aria-label', el.muted ? 'Unmute' : 'Mute');
    $('mute-button').dataset.muted = String(el.muted || el.volume === 0);
    $('volume').value = String(el.muted ? 0 : el.volume);
    $('time-now').textContent = clock(el.currentTime);
    $('time-total').textContent = clock(this.#duration());
    $('fullscreen-button').setAttribute('aria-label', document.fullscreenElement ? 'Exit full screen' : 'Full screen');
    this.seekBar.render();
  }

  /** Back to a blank bar (no video). */
  reset() {
    this.seekBar.reset();
    this.audioMenu.set([], -1);
    this.subtitleMenu.set([], -1);
    this.render();
  }
}

// ---- the panels under the picture -------------------------------------------------------

/** The Quality panel: a chip per rung (chosen, playing) and the Auto toggle. */
class RungChips {
  #box;
  #auto;
  #choose;

  /**
   * @param {HTMLElement} box  where the chips go
   * @param {HTMLElement} auto the Auto toggle (aria-pressed)
   * @param {{choose: (index: number) => void, nowPlaying: () => number}} hooks
   *   `nowPlaying`: the rung on screen, -1 if unknown; Auto off keeps it
   */
  constructor(box, auto, { choose, nowPlaying }) {
    this.#box = box;
    this.#auto = auto;
    this.#choose = choose;
    this.levels = [];
    auto.addEventListener('click', () => {
      if (auto.getAttribute('aria-pressed') === 'true') {
        // Auto off: stay on what is playing now.
        const now = nowPlaying();
        choose(now >= 0 ? now : this.levels.length ? this.#highest() : -1);
      } else {
        choose(-1);
      }
    });
  }

  #highest() {
    const levels = this.levels;
    return levels.reduce((best, l) => (l.height > levels[best].height ? l.index : best), 0);
  }

  setAuto(on) {
    this.#auto.setAttribute('aria-pressed', String(on));
  }

  /**
   * Shows `levels`, largest first; `manual` is the chosen one (-1: auto), `playing` the
   * one on screen.
   * @param {Level[]} levels
   */
  render(levels, manual, playing) {
    this.levels = levels;
    const box = this.#box;
    const sorted = [...levels].sort((a, b) => b.height - a.height || b.bitrate - a.bitrate);
    const existing = new Map([...box.children].map((c) => [Number(c.dataset.level), c]));
    sorted.forEach((l, i) => {
      let chip = existing.get(l.index);
      if (!chip) {
        chip = document.createElement('button');
        chip.type = 'button';
        chip.className = 'chip';
        chip.dataset.level = String(l.index);
        chip.innerHTML = '<span class="chip-name"></span><span class="chip-rate"></span>';
        chip.addEventListener('click', () => this.#choose(l.index));
      }
      chip.querySelector('.chip-name').textContent = l.name;
      chip.querySelector('.chip-rate').textContent = bitrate(l.bitrate);
      chip.title = `${l.width}×${l.height}, ${bitrate(l.bitrate)} average, ${bitrate(l.peak)} peak`;
      chip.setAttribute('aria-pressed', String(manual === l.index));
      chip.classList.toggle('playing', playing === l.index);
      chip.setAttribute('aria-label', `${l.name}, ${bitrate(l.bitrate)}${playing === l.index ? ', playing' : ''}`);
      if (box.children[i] !== chip) box.insertBefore(chip, box.children[i] ?? null);
    });
    for (const [index, chip] of existing) if (!levels.some((l) => l.index === index)) chip.remove();
  }

  clear() {
    this.levels = [];
    this.#box.replaceChildren();
    this.setAuto(true);
  }
}

/**
 * A segment's place on the timeline (seconds).
 * @typedef {{index: number, start: number, end: number, duration: number}} SegmentSpan
 */

/**
 * Segment starts and ends: every rung is cut at the same instants, so the first
 * rendition's list stands for all.
 * @returns {SegmentSpan[]}
 */
function segmentsOf(video) {
  const r = video?.renditions?.[0];
  if (!r) return [];
  let t = 0;
  return r.segments.map((s, i) => {
    const seg = { index: i, start: t, end: t + s.duration, duration: s.duration };
    t += s.duration;
    return seg;
  });
}

/** The segment playing at `t` (an index into `segs`). */
function segmentAt(segs, t) {
  const i = segs.findIndex((s) => t >= s.start - 0.05 && t < s.end - 0.05);
  return i >= 0 ? i : t > 0 && segs.length ? segs.length - 1 : 0;
}

/** The Segments panel: "Full video" and every segment, the one playing marked. */
class SegmentList {
  #list;
  #onSeek;

  /**
   * @param {HTMLElement} list  the `<ol>`
   * @param {(t: number) => void} onSeek
   */
  constructor(list, onSeek) {
    this.#list = list;
    this.#onSeek = onSeek;
  }

  /**
   * @param {object} video
   * @param {(i: number) => number | undefined} bytesOf  a segment's size in the rung playing
   */
  render(video, bytesOf) {
    const segs = segmentsOf(video);
    const total = segs.length ? segs[segs.length - 1].end : video.duration;
    const sofar = video.status === 'ready' ? '' : ' so far';
    const rows = [
      {
        key: 'full',
        start: 0,
        label: 'Full video',
        detail: `${clock(total || video.duration)} · ${segs.length} segment${segs.length === 1 ? '' : 's'}${sofar}`,
      },
      ...segs.map((s) => ({
        key: String(s.index),
        start: s.start,
        label: `#${s.index + 1}  ${clock(s.start)}–${clock(s.end)}`,
        detail: `${s.duration.toFixed(2)} s${bytesOf(s.index) ? ` · ${bytes(bytesOf(s.index))}` : ''}`,
      })),
    ];
    const list = this.#list;
    const existing = new Map([...list.children].map((li) => [li.dataset.key, li]));
    rows.forEach((row, i) => {
      let li = existing.get(row.key);
      if (!li) {
        li = document.createElement('li');
        li.dataset.key = row.key;
        li.innerHTML = '<button type="button"><span class="seg-label"></span><span class="seg-detail"></span></button>';
        li.querySelector('button').addEventListener('click', () => this.#onSeek(Number(li.dataset.start)));
      }
      li.dataset.start = String(row.start);
      li.querySelector('.seg-label').textContent = row.label;
      li.querySelector('.seg-detail').textContent = row.detail;
      if (list.children[i] !== li) list.insertBefore(li, list.children[i] ?? null);
      existing.delete(row.key);
    });
    for (const li of existing.values()) li.remove();
  }

  /** Marks segment `at` as the one playing (-1: none). */
  mark(at) {
    for (const li of this.#list.children) {
      li.querySelector('button').setAttribute('aria-current', String(li.dataset.key === String(at)));
    }
  }
}

// ---- the player -------------------------------------------------------------------------

/** The player section of the dashboard: one video at a time. */
export class DashboardPlayer {
  /** The video object shown, null for none. */
  video = null;
  /** @type {HlsJsEngine | NativeEngine | null} */
  engine = null;
  #hooks;
  #section = $('player');
  #el = $('video');
  #note = $('screen-note');
  #stat = {
    bandwidth: $('stat-bandwidth'),
    resolution: $('stat-resolution'),
    playing: $('stat-playing'),
    engine: $('stat-engine'),
  };
  #attached = false;
  #retry = null;
  /** Play as soon as the manifest is in (a video the user just opened). */
  #wantPlay = false;
  /** The storyboard being fetched or shown: {id, abort}. */
  #storyboard = null;
  #controls;
  #chips;
  #segments;

  /** @param {{onError?: (message: string) => void}} hooks */
  constructor(hooks = {}) {
    this.#hooks = hooks;
    const el = this.#el;
    this.#controls = new Controls(el.closest('.screen'), el, {
      duration: () => this.#duration(),
      onAudio: (id) => this.engine?.setAudioTrack(id),
      onSubtitles: (id) => this.engine?.setSubtitleTrack(id),
    });
    this.#chips = new RungChips($('chips'), $('auto-toggle'), {
      choose: (index) => this.#choose(index),
      nowPlaying: () => this.engine?.nowPlaying() ?? -1,
    });
    this.#segments = new SegmentList($('segment-list'), (t) => this.#seek(t));

    el.addEventListener('timeupdate', () => {
      this.#markSegment();
      this.#renderStats();
      this.#controls.render();
    });
    el.addEventListener('resize', () => {
      this.#renderStats();
      if (this.engine?.name === 'native') this.#renderChips();
    });
    el.addEventListener('error', () => {
      if (this.engine?.name !== 'native' || !el.error || !this.#attached) return;
      if (this.video && this.video.status !== 'ready') {
        // Still processing: what failed may be a playlist caught mid-growth; try again
        // from the same place, as the hls.js path does.
        this.#reattachNative({ resume: this.#wantPlay });
        return;
      }
      this.#setNote(`This video cannot be played here (${el.error.message || 'media error ' + el.error.code}).`);
    });
    // Native HLS reads an EVENT playlist once: at its end, while the ladder grows, load it
    // again and go on from there.
    el.addEventListener('ended', () => {
      if (this.engine?.name === 'native' && this.#attached && this.video && this.video.status !== 'ready') {
        this.#reattachNative({ resume: true });
      }
    });
    this.#setupMpv();
    this.#expose();
  }

  /** The video shown, or null. */
  get current() {
    return this.video;
  }

  /**
   * Shows `v` (or updates it, if it is the one shown).
   * @param {object} v  the video object
   * @param {{autoplay?: boolean}} [options]
   */
  show(v, { autoplay = false } = {}) {
    if (this.video?.id === v.id) {
      this.update(v);
      return;
    }
    this.#teardown();
    this.#controls.reset();
    this.video = v;
    this.#wantPlay = autoplay;
    this.#section.hidden = false;
    // A different video: bring its picture into view.
    this.#section.closest('.stage')?.scrollTo({ top: 0 });
    $('player-title').textContent = v.title || v.id;
    const master = abs(v.links.master);
    $('mpv-command').value = `mpv ${master}`;
    $('master-link').href = master;
    this.update(v);
  }

  /** Takes a newer state of the video shown (progress, segments, ready). */
  update(v) {
    if (!this.video || v.id !== this.video.id) return;
    const wasFinal = this.video.status === 'ready';
    this.video = v;
    this.#renderMeta();
    this.#renderSegments();
    this.#loadStoryboard();
    if (v.status === 'failed') {
      this.#teardown({ keepVideo: true });
      this.#setNote(`Processing failed: ${v.error || 'the server gave no reason.'}`);
      return;
    }
    if (!this.#attached) this.#maybeAttach();
    else if (v.status === 'ready' && !wasFinal) this.#setNote('');
    else if (v.status !== 'ready') this.#setNote(`Still processing (${percent(v.progress)}): playing what exists so far.`, 'info');
    if (this.engine?.name === 'hlsjs' && this.engine.levels.length) this.#renderChips();
    this.#controls.render();
  }

  /** Hides the player. */
  clear() {
    this.#teardown();
    this.#controls.reset();
    this.#section.hidden = true;
  }

  /** Seconds the seek bar spans: the element's duration once known, else the video's. */
  #duration() {
    const d = this.#el.duration;
    if (Number.isFinite(d) && d > 0) return d;
    return this.video?.duration > 0 ? this.video.duration : 0;
  }

  #maybeAttach() {
    const video = this.video;
    if (this.#attached || !video || video.status === 'failed') return;
    // A player handed a master whose media playlists list no segment yet fails for good
    // (Chromium's own HLS: "DEMUXER_ERROR_COULD_NOT_PARSE", at 0:00), so wait until every
    // rung has one; the server also publishes the master only then.
    if (!video.renditions?.length || !video.renditions.every((r) => r.segments?.length)) {
      this.#setNote(video.status === 'queued' ? 'Queued: waiting for a worker…' : 'Processing: waiting for the first segments…', 'info');
      return;
    }
    const kind = chooseEngine(this.#el);
    if (!kind) {
      this.#stat.engine.textContent = '–';
      this.#setNote('This browser cannot play HLS. Use the mpv command below.');
      return;
    }
    const current = () => this.video;
    const engine = kind === 'hlsjs' ? new HlsJsEngine(this.#el, current) : new NativeEngine(this.#el, current);
    this.engine = engine;
    this.#stat.engine.textContent = engine.label;
    this.#attached = true;
    if (video.status !== 'ready') {
      this.#setNote(`Still processing (${percent(video.progress)}): playing what exists so far.`, 'info');
    } else {
      this.#setNote('');
    }
    this.#listen(engine);
    engine.attach(video.links.master);
  }

  /** Wires an engine's events to the page. */
  #listen(engine) {
    const mine = (fn) => (e) => {
      if (this.engine === engine) fn(e);
    };
    engine.addEventListener('ready', mine(() => this.#wantPlay && this.#play()));
    engine.addEventListener('levels', mine(() => this.#renderChips()));
    engine.addEventListener(
      'level',
      mine(() => {
        this.#renderChips();
        this.#renderStats();
      }),
    );
    engine.addEventListener(
      'fragment',
      mine(() => {
        this.#renderStats();
        this.#markSegment();
      }),
    );
    engine.addEventListener('stats', mine(() => this.#renderStats()));
    engine.addEventListener('tracks', mine(() => this.#renderTracks()));
    engine.addEventListener('retry', mine(() => this.#retryLater()));
    engine.addEventListener(
      'fatal',
      mine((e) => {
        this.#setNote(e.detail.message);
        this.#hooks.onError?.(`Playback stopped: ${e.detail.details}`);
      }),
    );
  }

  /**
   * hls.js met a missing playlist or segment of a video still processing: start again
   * after RETRY_MS from the same position.
   */
  #retryLater() {
    const v = this.video;
    const at = this.#el.currentTime;
    const resume = this.#wantPlay || !this.#el.paused;
    this.#teardown({ keepVideo: true });
    this.#setNote('Waiting for the server…', 'info');
    this.#retry = setTimeout(() => {
      if (this.video !== v && this.video?.id !== v.id) return;
      this.#wantPlay = resume;
      this.#maybeAttach();
      if (at > 0) this.#el.currentTime = at;
    }, RETRY_MS);
  }

  /** Loads the master again after RETRY_MS, at the same position; `resume` plays on. */
  #reattachNative({ resume }) {
    const v = this.video;
    const at = this.#el.currentTime;
    this.#teardown({ keepVideo: true });
    this.#setNote('Waiting for the server…', 'info');
    this.#wantPlay = resume;
    this.#retry = setTimeout(() => {
      if (this.video?.id !== v.id) return;
      this.#maybeAttach();
      if (at > 0) this.#el.addEventListener('loadedmetadata', () => (this.#el.currentTime = at), { once: true });
    }, RETRY_MS);
  }

  /** Stops playback and forgets the engine; the video too unless `keepVideo`. */
  #teardown({ keepVideo = false } = {}) {
    clearTimeout(this.#retry);
    this.engine?.destroy();
    this.engine = null;
    this.#el.removeAttribute('src');
    this.#el.load();
    this.#attached = false;
    this.#wantPlay = false;
    this.#chips.clear();
    this.#controls.audioMenu.set([], -1);
    this.#controls.subtitleMenu.set([], -1);
    for (const s of Object.values(this.#stat)) s.textContent = '–';
    this.#setNote('');
    if (!keepVideo) {
      this.#storyboard?.abort.abort();
      this.#storyboard = null;
      this.video = null;
    }
  }

  #setNote(text, kind = 'error') {
    const note = this.#note;
    note.textContent = text;
    note.hidden = !text;
    note.dataset.kind = kind;
  }

  #play() {
    this.#wantPlay = false;
    playQuietly(this.#el);
  }

  #seek(t) {
    if (!this.#attached) return;
    this.#el.currentTime = t > 0 ? t + INTO_SEGMENT_SECS : 0;
    this.#play();
  }

  /** Fetches the storyboard once the video is ready (it is written last). */
  #loadStoryboard() {
    const v = this.video;
    if (!v || v.status !== 'ready' || !v.links?.storyboard || this.#storyboard?.id === v.id) return;
    const abort = new AbortController();
    this.#storyboard = { id: v.id, abort };
    Storyboard.load(v.links.storyboard, abort.signal).then((board) => {
      if (this.#storyboard?.abort === abort) this.#controls.seekBar.storyboard = board;
    });
  }

  // ---- rungs, tracks, stats ---------------------------------------------------------------

  #choose(index) {
    this.#chips.setAuto(index < 0);
    this.engine?.select(index);
    this.#renderChips();
    this.#renderStats();
  }

  #renderChips() {
    const e = this.engine;
    if (!e) return;
    this.#chips.render(e.levels, e.manual, e.playingLevel);
  }

  #renderTracks() {
    const e = this.engine;
    if (!e) return;
    this.#controls.audioMenu.set(e.audioTracks(), e.audioTrack);
    this.#controls.subtitleMenu.set(e.subtitleTracks(), e.subtitleTrack);
  }

  #renderStats() {
    const video = this.video;
    if (!video) return;
    const e = this.engine;
    const stat = this.#stat;
    const bw = e?.bandwidth ?? 0;
    stat.bandwidth.textContent = bw > 0 ? bitrate(bw) : '–';
    const w = this.#el.videoWidth;
    const h = this.#el.videoHeight;
    stat.resolution.textContent = w && h ? `${w}×${h}` : '–';
    const level = e?.levels[e.playingLevel];
    if (!level) {
      stat.playing.textContent = this.#attached ? 'Loading…' : '–';
      return;
    }
    const segs = segmentsOf(video);
    const at = segmentAt(segs, this.#el.currentTime);
    const where = segs.length ? `segment ${at + 1} of ${segs.length}${video.status === 'ready' ? '' : ' so far'}` : '';
    stat.playing.textContent = `${level.name} · ${bitrate(level.bitrate)} · ${e.manual >= 0 ? 'chosen' : 'auto'}`;
    if (where) {
      const sub = document.createElement('span');
      sub.className = 'sub';
      sub.textContent = where;
      stat.playing.append(sub);
    }
  }

  /** A segment's size in the rung playing (the first rendition's while unknown). */
  #segmentBytes(i) {
    const video = this.video;
    const level = this.engine?.levels[this.engine.playingLevel];
    const r = level
      ? video.renditions.find((x) => x.width === level.width && x.picture_height === level.height)
      : video.renditions[0];
    return r?.segments[i]?.bytes;
  }

  #renderSegments() {
    this.#segments.render(this.video, (i) => this.#segmentBytes(i));
    this.#markSegment();
  }

  #markSegment() {
    const el = this.#el;
    const at = el.currentTime > 0 || !el.paused ? segmentAt(segmentsOf(this.video), el.currentTime) : -1;
    this.#segments.mark(at);
  }

  #renderMeta() {
    const v = this.video;
    const src = v.source?.video;
    const bits = [
      v.duration > 0 ? clock(v.duration) : null,
      src ? `source ${src.display_width || src.width}×${src.display_height || src.height} ${src.codec ?? ''}`.trim() : null,
      `${v.format === 'ts' ? 'MPEG-TS' : 'fMP4'} segments of ${v.segment_seconds} s`,
      v.skipped_heights?.length ? `skipped ${v.skipped_heights.map((h) => h + 'p').join(', ')} (above the source)` : null,
    ];
    $('player-meta').textContent = bits.filter(Boolean).join(' · ');
  }

  // ---- mpv ----------------------------------------------------------------------------------

  #setupMpv() {
    $('mpv-copy').addEventListener('click', async () => {
      const input = $('mpv-command');
      const button = $('mpv-copy');
      let ok = false;
      try {
        // Only on secure origins (https, localhost); a LAN address over http has none.
        await navigator.clipboard.writeText(input.value);
        ok = true;
      } catch {
        input.focus();
        input.select();
        try {
          ok = document.execCommand('copy');
        } catch {
          ok = false;
        }
      }
      button.textContent = ok ? 'Copied' : 'Press Ctrl+C';
      setTimeout(() => (button.textContent = 'Copy'), 2000);
    });
    $('mpv-command').addEventListener('focus', (e) => e.target.select());
  }

  // ---- for tests and the curious ------------------------------------------------------------

  #expose() {
    const player = this;
    window.reel = {
      /** The hls.js instance playing, or null. */
      get hls() {
        return player.engine?.hls ?? null;
      },
      /** 'hlsjs', 'native' or null. */
      get engine() {
        return player.engine?.name ?? null;
      },
      get video() {
        return player.video;
      },
      get storyboard() {
        return player.#controls.seekBar.storyboard;
      },
    };
  }
}

/**
 * The dashboard's player (app.js): show(video), update(video), clear(), current.
 * @param {{onError?: (message: string) => void}} [hooks]
 */
export function setupPlayer(hooks = {}) {
  return new DashboardPlayer(hooks);
}
