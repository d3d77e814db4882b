// The player: a <video> on the master playlist, with hls.js where the browser has Media
// Source Extensions, and the browser's own HLS where that is the better engine (Safari);
// one resolution chip per rung with its bitrate, an auto-adapt toggle, what is playing,
// the measured bandwidth, the segment list and the mpv command.
//
// Engine choice. Chrome now answers "maybe" to canPlayType('application/vnd.apple.mpegurl')
// too, but its native HLS gives the page no say over the rung; so, as hls.js recommends,
// native HLS is used where ManagedMediaSource exists (Safari 17+) or where hls.js cannot
// run at all (iPhones before iOS 17.1). `?player=native` or `?player=hlsjs` overrides.

import { bitrate, bytes, clock, percent, rungName } from './format.js';

const $ = (id) => document.getElementById(id);
const RETRY_MS = 1500;

function chooseEngine(el) {
  const forced = new URLSearchParams(location.search).get('player');
  const Hls = window.Hls;
  const mse = Boolean(Hls?.isSupported());
  const native = el.canPlayType('application/vnd.apple.mpegurl') !== '';
  if (forced === 'native' && native) return 'native';
  if (forced === 'hlsjs' && mse) return 'hlsjs';
  if (native && ('ManagedMediaSource' in window || !mse)) return 'native';
  return mse ? 'hlsjs' : null;
}

/// hooks: onError(message)
export function setupPlayer(hooks = {}) {
  const section = $('player');
  const el = $('video');
  const note = $('screen-note');
  const chipsBox = $('chips');
  const autoToggle = $('auto-toggle');
  const segmentList = $('segment-list');
  const stat = {
    bandwidth: $('stat-bandwidth'),
    resolution: $('stat-resolution'),
    playing: $('stat-playing'),
    engine: $('stat-engine'),
  };

  let video = null; // the video object shown
  let engine = null; // 'hlsjs' | 'native' | null
  let hls = null;
  let attached = false;
  let retry = null;
  let levels = []; // [{index, name, width, height, bitrate, peak, url}]
  let manual = -1; // the level chosen by hand, -1 when hls.js adapts
  let playingLevel = -1; // the level hls.js switched to (LEVEL_SWITCHED)
  let nativeBandwidth = 0; // native engine: estimate from segment downloads
  let observer = null;
  let wantPlay = false; // play as soon as the manifest is in (a video the user just opened)

  const abs = (path) => new URL(path, location.href).href;

  // ---- showing a video ------------------------------------------------------------------

  function show(v, { autoplay = false } = {}) {
    if (video?.id === v.id) {
      update(v);
      return;
    }
    teardown();
    video = v;
    wantPlay = autoplay;
    section.hidden = false;
    // A different video: bring its picture into view.
    section.closest('.stage')?.scrollTo({ top: 0 });
    $('player-title').textContent = v.title || v.id;
    const master = abs(v.links.master);
    $('mpv-command').value = `mpv ${master}`;
    $('master-link').href = master;
    update(v);
  }

  function update(v) {
    if (!video || v.id !== video.id) return;
    const wasFinal = video.status === 'ready';
    video = v;
    renderMeta();
    renderSegments();
    if (v.status === 'failed') {
      teardown({ keepVideo: true });
      setNote(`Processing failed: ${v.error || 'the server gave no reason.'}`);
      return;
    }
    if (!attached) maybeAttach();
    else if (v.status === 'ready' && !wasFinal) setNote('');
    else if (v.status !== 'ready') setNote(`Still processing (${percent(v.progress)}): playing what exists so far.`, 'info');
    if (engine === 'hlsjs' && levels.length) renderChips();
  }

  function maybeAttach() {
    if (attached || !video || video.status === 'failed') return;
    // A player handed a master whose media playlists list no segment yet fails for good
    // (Chromium's own HLS: "DEMUXER_ERROR_COULD_NOT_PARSE", at 0:00), so wait until every
    // rung has one; the server also publishes the master only then.
    if (!video.renditions?.length || !video.renditions.every((r) => r.segments?.length)) {
      setNote(video.status === 'queued' ? 'Queued: waiting for a worker…' : 'Processing: waiting for the first segments…', 'info');
      return;
    }
    engine = chooseEngine(el);
    stat.engine.textContent =
      engine === 'hlsjs' ? `hls.js ${window.Hls.version}` : engine === 'native' ? 'Native HLS' : '–';
    if (!engine) {
      setNote('This browser cannot play HLS. Use the mpv command below.');
      return;
    }
    attached = true;
    if (video.status !== 'ready') {
      setNote(`Still processing (${percent(video.progress)}): playing what exists so far.`, 'info');
    } else {
      setNote('');
    }
    if (engine === 'hlsjs') attachHlsJs();
    else attachNative();
  }

  function teardown({ keepVideo = false } = {}) {
    clearTimeout(retry);
    if (hls) {
      hls.destroy();
      hls = null;
    }
    observer?.disconnect();
    observer = null;
    el.removeAttribute('src');
    el.load();
    attached = false;
    levels = [];
    manual = -1;
    playingLevel = -1;
    nativeBandwidth = 0;
    wantPlay = false;
    chipsBox.replaceChildren();
    setAuto(true);
    for (const s of Object.values(stat)) s.textContent = '–';
    setNote('');
    if (!keepVideo) video = null;
  }

  function clear() {
    teardown();
    section.hidden = true;
  }

  function setNote(text, kind = 'error') {
    note.textContent = text;
    note.hidden = !text;
    note.dataset.kind = kind;
  }

  function play() {
    wantPlay = false;
    // Autoplay policies may refuse; the controls are there.
    el.play().catch(() => {});
  }

  // ---- hls.js -----------------------------------------------------------------------------

  function attachHlsJs() {
    const Hls = window.Hls;
    hls = new Hls({
      // A video still processing has EVENT playlists, which hls.js treats as live and
      // would join near the end; a viewer wants it from the start.
      startPosition: 0,
      capLevelToPlayerSize: false,
      backBufferLength: 60,
    });
    const self = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      levels = self.levels.map((l, index) => {
        const r = renditionFor(l);
        return {
          index,
          name: rungName(l.width, l.height),
          width: l.width,
          height: l.height,
          bitrate: r?.average_bandwidth || l.averageBitrate || l.bitrate,
          peak: r?.bandwidth || l.maxBitrate || l.bitrate,
        };
      });
      renderChips();
      if (wantPlay) play();
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => {
      playingLevel = data.level;
      renderChips();
      renderStats();
    });
    hls.on(Hls.Events.FRAG_CHANGED, () => {
      renderStats();
      markSegment();
    });
    hls.on(Hls.Events.FRAG_LOADED, renderStats);
    hls.on(Hls.Events.ERROR, (_e, data) => {
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        self.recoverMediaError();
      } else if (video && video.status !== 'ready' && data.type === Hls.ErrorTypes.NETWORK_ERROR) {
        // Playlists and segments of a video still processing may not exist yet: try again.
        const v = video;
        const at = el.currentTime;
        const resume = wantPlay || !el.paused;
        teardown({ keepVideo: true });
        setNote('Waiting for the server…', 'info');
        retry = setTimeout(() => {
          if (video !== v && video?.id !== v.id) return;
          wantPlay = resume;
          maybeAttach();
          if (at > 0) el.currentTime = at;
        }, RETRY_MS);
      } else {
        const what = data.type === Hls.ErrorTypes.NETWORK_ERROR ? 'could not be loaded' : 'cannot be played';
        setNote(`This video ${what} (${data.details}).`);
        hooks.onError?.(`Playback stopped: ${data.details}`);
        self.destroy();
        if (hls === self) hls = null;
      }
    });
    hls.loadSource(video.links.master);
    hls.attachMedia(el);
    exposeForTests();
  }

  function renditionFor(level) {
    const rs = video?.renditions ?? [];
    const url = level.url?.[0] ?? level.uri ?? '';
    return (
      rs.find((r) => url && url.endsWith('/' + r.playlist)) ??
      rs.find((r) => r.width === level.width && r.picture_height === level.height)
    );
  }

  // ---- native HLS (Safari) ----------------------------------------------------------------

  function attachNative() {
    const rs = video.renditions;
    levels = rs.map((r, index) => ({
      index,
      name: rungName(r.width, r.picture_height),
      width: r.width,
      height: r.picture_height,
      bitrate: r.average_bandwidth,
      peak: r.bandwidth,
      url: abs(`${video.links.master.replace(/[^/]*$/, '')}${r.playlist}`),
    }));
    renderChips();
    el.src = video.links.master;
    if (wantPlay) play();
    // The browser does not say how fast it downloads; the Resource Timing of segment
    // requests does.
    if ('PerformanceObserver' in window) {
      const prefix = abs(video.links.master.replace(/[^/]*$/, ''));
      observer = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          if (!e.name.startsWith(prefix) || !/\.(m4s|ts)(\?|$)/.test(e.name)) continue;
          const secs = (e.responseEnd - e.startTime) / 1000;
          const size = e.transferSize || e.encodedBodySize;
          if (secs > 0 && size > 0) {
            const sample = (size * 8) / secs;
            nativeBandwidth = nativeBandwidth ? 0.7 * nativeBandwidth + 0.3 * sample : sample;
          }
        }
        renderStats();
      });
      observer.observe({ type: 'resource', buffered: false });
    }
  }

  /// Native HLS has no API for the rung: a chip plays that rung's media playlist instead
  /// of the master, from the same position; auto goes back to the master.
  function nativeSwitch(index) {
    const at = el.currentTime;
    const paused = el.paused;
    el.src = index < 0 ? video.links.master : levels[index].url;
    el.addEventListener(
      'loadedmetadata',
      () => {
        if (at > 0) el.currentTime = at;
        if (!paused) play();
      },
      { once: true },
    );
  }

  // ---- rung chips and the auto toggle -----------------------------------------------------

  function setAuto(on) {
    autoToggle.setAttribute('aria-pressed', String(on));
  }

  function choose(index) {
    manual = index;
    setAuto(index < 0);
    if (engine === 'hlsjs' && hls) {
      if (index >= 0) {
        // Immediate: flush what is buffered and load this rung from the current position.
        hls.currentLevel = index;
      } else {
        // Back to adaptation. nextLevel = -1 sets the same manual level -1 as
        // currentLevel = -1 but without flushing the buffer: no stall on the way back.
        hls.nextLevel = -1;
      }
    } else if (engine === 'native') {
      nativeSwitch(index);
    }
    renderChips();
    renderStats();
  }

  autoToggle.addEventListener('click', () => {
    if (autoToggle.getAttribute('aria-pressed') === 'true') {
      // Auto off: stay on what is playing now.
      const now = engine === 'hlsjs' ? (playingLevel >= 0 ? playingLevel : hls?.currentLevel ?? -1) : nativeLevel();
      choose(now >= 0 ? now : levels.length ? highest() : -1);
    } else {
      choose(-1);
    }
  });

  const highest = () => levels.reduce((best, l) => (l.height > levels[best].height ? l.index : best), 0);

  function nativeLevel() {
    if (manual >= 0) return manual;
    const h = el.videoHeight;
    const l = levels.find((x) => x.height === h);
    return l ? l.index : -1;
  }

  function renderChips() {
    const playing = engine === 'hlsjs' ? playingLevel : nativeLevel();
    const sorted = [...levels].sort((a, b) => b.height - a.height || b.bitrate - a.bitrate);
    const existing = new Map([...chipsBox.children].map((c) => [Number(c.dataset.level), c]));
    sorted.forEach((l, i) => {
      let chip = existing.get(l.index);
      if (!chip) {
        chip = document.createElement('button');
        chip.type = 'button';
        chip.className = 'chip';
        chip.dataset.level = String(l.index);
        chip.innerHTML = '<span class="chip-name"></span><span class="chip-rate"></span>';
        chip.addEventListener('click', () => choose(l.index));
      }
      chip.querySelector('.chip-name').textContent = l.name;
      chip.querySelector('.chip-rate').textContent = bitrate(l.bitrate);
      chip.title = `${l.width}×${l.height}, ${bitrate(l.bitrate)} average, ${bitrate(l.peak)} peak`;
      chip.setAttribute('aria-pressed', String(manual === l.index));
      chip.classList.toggle('playing', playing === l.index);
      chip.setAttribute('aria-label', `${l.name}, ${bitrate(l.bitrate)}${playing === l.index ? ', playing' : ''}`);
      if (chipsBox.children[i] !== chip) chipsBox.insertBefore(chip, chipsBox.children[i] ?? null);
    });
    for (const [index, chip] of existing) if (!levels.some((l) => l.index === index)) chip.remove();
  }

  // ---- what is playing --------------------------------------------------------------------

  function renderStats() {
    if (!video) return;
    const bw = engine === 'hlsjs' ? hls?.bandwidthEstimate : nativeBandwidth;
    stat.bandwidth.textContent = bw > 0 ? bitrate(bw) : '–';
    const w = el.videoWidth;
    const h = el.videoHeight;
    stat.resolution.textContent = w && h ? `${w}×${h}` : '–';
    const index = engine === 'hlsjs' ? playingLevel : nativeLevel();
    const level = levels[index];
    if (!level) {
      stat.playing.textContent = attached ? 'Loading…' : '–';
      return;
    }
    const segs = segments();
    const at = currentSegment(segs);
    const where = segs.length ? `segment ${at + 1} of ${segs.length}${video.status === 'ready' ? '' : ' so far'}` : '';
    stat.playing.textContent = `${level.name} · ${bitrate(level.bitrate)} · ${manual >= 0 ? 'chosen' : 'auto'}`;
    if (where) {
      const sub = document.createElement('span');
      sub.className = 'sub';
      sub.textContent = where;
      stat.playing.append(sub);
    }
  }

  // ---- segments ---------------------------------------------------------------------------

  /// Segment starts and ends: every rung is cut at the same instants, so the first
  /// rendition's list stands for all.
  function segments() {
    const r = video?.renditions?.[0];
    if (!r) return [];
    let t = 0;
    return r.segments.map((s, i) => {
      const seg = { index: i, start: t, end: t + s.duration, duration: s.duration };
      t += s.duration;
      return seg;
    });
  }

  function currentSegment(segs) {
    const t = el.currentTime;
    const i = segs.findIndex((s) => t >= s.start - 0.05 && t < s.end - 0.05);
    return i >= 0 ? i : t > 0 && segs.length ? segs.length - 1 : 0;
  }

  function segmentBytes(i) {
    const index = engine === 'hlsjs' ? playingLevel : nativeLevel();
    const level = levels[index];
    const r = level
      ? video.renditions.find((x) => x.width === level.width && x.picture_height === level.height)
      : video.renditions[0];
    return r?.segments[i]?.bytes;
  }

  function renderSegments() {
    const segs = segments();
    const total = segs.length ? segs[segs.length - 1].end : video.duration;
    const rows = [
      {
        key: 'full',
        start: 0,
        label: 'Full video',
        detail: `${clock(total || video.duration)} · ${segs.length} segment${segs.length === 1 ? '' : 's'}${
          video.status === 'ready' ? '' : ' so far'
        }`,
      },
      ...segs.map((s) => ({
        key: String(s.index),
        start: s.start,
        label: `#${s.index + 1}  ${clock(s.start)}–${clock(s.end)}`,
        detail: `${s.duration.toFixed(2)} s${segmentBytes(s.index) ? ` · ${bytes(segmentBytes(s.index))}` : ''}`,
      })),
    ];
    const existing = new Map([...segmentList.children].map((li) => [li.dataset.key, li]));
    rows.forEach((row, i) => {
      let li = existing.get(row.key);
      if (!li) {
        li = document.createElement('li');
        li.dataset.key = row.key;
        li.innerHTML = '<button type="button"><span class="seg-label"></span><span class="seg-detail"></span></button>';
        li.querySelector('button').addEventListener('click', () => seek(Number(li.dataset.start)));
      }
      li.dataset.start = String(row.start);
      li.querySelector('.seg-label').textContent = row.label;
      li.querySelector('.seg-detail').textContent = row.detail;
      if (segmentList.children[i] !== li) segmentList.insertBefore(li, segmentList.children[i] ?? null);
      existing.delete(row.key);
    });
    for (const li of existing.values()) li.remove();
    markSegment();
  }

  function markSegment() {
    const segs = segments();
    const at = el.currentTime > 0 || !el.paused ? currentSegment(segs) : -1;
    for (const li of segmentList.children) {
      const current = li.dataset.key === String(at);
      li.querySelector('button').setAttribute('aria-current', String(current));
    }
  }

  function seek(t) {
    if (!attached) return;
    // A hair past the boundary, so the player lands inside the segment, not at the end
    // of the one before.
    el.currentTime = t > 0 ? t + 0.01 : 0;
    play();
  }

  el.addEventListener('timeupdate', () => {
    markSegment();
    renderStats();
  });
  el.addEventListener('resize', () => {
    renderStats();
    if (engine === 'native') renderChips();
  });
  el.addEventListener('error', () => {
    if (engine !== 'native' || !el.error || !attached) return;
    if (video && video.status !== 'ready') {
      // Still processing: what failed may be a playlist caught mid-growth; try again from
      // the same place, as the hls.js path does.
      reattachNative({ resume: wantPlay });
      return;
    }
    setNote(`This video cannot be played here (${el.error.message || 'media error ' + el.error.code}).`);
  });
  // Native HLS reads an EVENT playlist once: at its end, while the ladder grows, load it
  // again and go on from there.
  el.addEventListener('ended', () => {
    if (engine === 'native' && attached && video && video.status !== 'ready') reattachNative({ resume: true });
  });

  /// Loads the master again after `RETRY_MS`, at the same position; `resume` plays on.
  function reattachNative({ resume }) {
    const v = video;
    const at = el.currentTime;
    teardown({ keepVideo: true });
    setNote('Waiting for the server…', 'info');
    wantPlay = resume;
    retry = setTimeout(() => {
      if (video?.id !== v.id) return;
      maybeAttach();
      if (at > 0) el.addEventListener('loadedmetadata', () => (el.currentTime = at), { once: true });
    }, RETRY_MS);
  }

  function renderMeta() {
    const v = video;
    const src = v.source?.video;
    const bits = [
      v.duration > 0 ? clock(v.duration) : null,
      src ? `source ${src.display_width || src.width}×${src.display_height || src.height} ${src.codec ?? ''}`.trim() : null,
      `${v.format === 'ts' ? 'MPEG-TS' : 'fMP4'} segments of ${v.segment_seconds} s`,
      v.skipped_heights?.length ? `skipped ${v.skipped_heights.map((h) => h + 'p').join(', ')} (above the source)` : null,
    ];
    $('player-meta').textContent = bits.filter(Boolean).join(' · ');
  }

  // ---- mpv --------------------------------------------------------------------------------

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

  // ---- for tests and the curious -----------------------------------------------------------

  function exposeForTests() {
    window.reel = {
      get hls() {
        return hls;
      },
      get engine() {
        return engine;
      },
      get video() {
        return video;
      },
    };
  }
  exposeForTests();

  return {
    show,
    update,
    clear,
    get current() {
      return video;
    },
  };
}
