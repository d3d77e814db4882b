// Watching a channel in step with everyone else: the server's clock, the channel's
// schedule as the server pushes it (SSE), and a player that keeps a <video> within a
// quarter of a second of the schedule. Shared by channel.html and ambient.html.
//
//   ServerClock   server time = performance.now() + offset. Each message from the server
//                 carries server_time_ms, stamped before it travelled, so
//                 server_time_ms − receipt time is a lower bound of the offset; the largest
//                 of the recent bounds is the estimate (the fastest message wins).
//   ChannelFeed   the channel object: one GET, then the SSE stream (`update` when the item
//                 changes, `tick` at least every 5 s). Knows what plays at any instant
//                 from `now` and `next`, so a boundary needs no message to be crossed.
//   SyncPlayer    two stacked <video> "decks" with hls.js on the items' master playlists.
//                 The next item is loaded on the hidden deck a few seconds early and
//                 started at its scheduled instant, so boundaries cost no loading time.
//                 Target position = (server now − item start) / 1000. Small drift is
//                 absorbed by nudging playbackRate (0.95..1.05). Ahead by more than
//                 0.25 s (after a join or a seek): pause until the schedule reaches the
//                 picture. Behind by more than a second: seek, aiming ahead by how long
//                 the last seek took, and let the pause absorb the rest.

/// Samples kept for the offset estimate (ticks come every 5 s: about a minute).
const CLOCK_SAMPLES = 12;
/// Behind by more than this (seconds): seek (aiming a little ahead) instead of nudging.
const SEEK_ABOVE = 1.0;
/// Ahead by more than this (seconds): pause until the schedule catches up, then play
/// once within HOLD_UNTIL of it.
const HOLD_ABOVE = 0.25;
const HOLD_UNTIL = 0.01;
/// playbackRate stays within 1 ± this.
const MAX_NUDGE = 0.05;
/// Rate change per second of drift (1/s): 0.1 s of drift → 5 % faster or slower.
const NUDGE_GAIN = 0.5;
/// Drift below this is left alone (seconds): rate changes are not free for audio.
const DEADBAND = 0.03;
/// The next item starts loading this long before its start (ms).
const PRELOAD_MS = 6000;
/// How often the player compares its position with the schedule (ms).
const STEP_MS = 200;

export const now = () => performance.now();

export class ServerClock {
  #bounds = [];
  offset = null;

  /// A message stamped `serverMs` by the server arrived at `receivedAt` (performance.now()).
  add(serverMs, receivedAt = now()) {
    if (!Number.isFinite(serverMs)) return;
    this.#bounds.push(serverMs - receivedAt);
    if (this.#bounds.length > CLOCK_SAMPLES) this.#bounds.shift();
    this.offset = Math.max(...this.#bounds);
  }

  get ready() {
    return this.offset !== null;
  }

  /// The server's clock now, in Unix milliseconds.
  now() {
    return now() + (this.offset ?? Date.now() - now());
  }
}

/// End of a slot on the schedule (ms).
const slotEnd = (slot) => slot.started_at_ms + Math.round(slot.duration * 1000);

/// What identifies one play of an item (the same video may follow itself).
export const slotKey = (slot) => (slot ? `${slot.started_at_ms}:${slot.url}` : '');

export class ChannelFeed extends EventTarget {
  constructor(name, clock = new ServerClock()) {
    super();
    this.name = name;
    this.clock = clock;
    this.view = null;
    this.connected = false;
    this.source = null;
  }

  get base() {
    return `/api/channels/${encodeURIComponent(this.name)}`;
  }

  /// Fetches the channel once, then follows its event stream. Rejects if the channel
  /// does not exist or the server cannot be reached.
  async start() {
    const res = await fetch(this.base, { headers: { Accept: 'application/json' }, cache: 'no-store' });
    const received = now();
    if (!res.ok) {
      let message = `The server answered HTTP ${res.status}.`;
      try {
        message = (await res.json()).error ?? message;
      } catch {
        // keep the generic sentence
      }
      const err = new Error(message);
      err.status = res.status;
      throw err;
    }
    this.#accept(await res.json(), received, 'update');
    this.#follow();
  }

  #follow() {
    const source = new EventSource(`${this.base}/events`);
    this.source = source;
    const on = (kind) => (e) => {
      const received = now();
      let view;
      try {
        view = JSON.parse(e.data);
      } catch {
        return;
      }
      this.connected = true;
      this.#accept(view, received, kind);
    };
    source.addEventListener('update', on('update'));
    source.addEventListener('tick', on('tick'));
    source.addEventListener('open', () => {
      this.connected = true;
      this.dispatchEvent(new Event('connection'));
    });
    source.addEventListener('error', () => {
      // The browser reconnects by itself; the schedule we have keeps the picture going.
      this.connected = false;
      this.dispatchEvent(new Event('connection'));
    });
  }

  #accept(view, received, kind) {
    this.clock.add(view.server_time_ms, received);
    this.view = view;
    this.dispatchEvent(new CustomEvent('view', { detail: { view, kind } }));
  }

  /// The slot playing at server instant `at` (ms), from the last view: `now`, or `next`
  /// once `now` has ended; null when nothing is known to play.
  slotAt(at = this.clock.now()) {
    const v = this.view;
    if (!v?.now) return null;
    if (at < slotEnd(v.now) || !v.next) return v.now;
    return v.next;
  }

  /// The slot after the one playing at `at`, when known.
  slotAfter(at = this.clock.now()) {
    const v = this.view;
    if (!v?.now || !v.next) return null;
    return at < slotEnd(v.now) ? v.next : null;
  }

  /// Records a like or a dislike of item `index`; resolves to {likes, dislikes}.
  async vote(index, which) {
    const res = await fetch(`${this.base}/items/${index}/${which}`, {
      method: 'POST',
      headers: { Accept: 'application/json' },
    });
    if (!res.ok) {
      let message =
        res.status === 429 ? 'Too many votes from here: try again in a minute.' : `The vote failed (HTTP ${res.status}).`;
      try {
        message = (await res.json()).error ?? message;
      } catch {
        // keep the generic sentence
      }
      throw new Error(message);
    }
    const counts = await res.json();
    const item = this.view?.items?.[index];
    if (item) Object.assign(item, counts);
    return counts;
  }

  close() {
    this.source?.close();
  }
}

/// One <video> and the hls.js instance feeding it.
class Deck {
  constructor(video) {
    this.video = video;
    this.hls = null;
    this.slot = null;
    this.key = '';
    this.failed = null;
  }

  load(slot, startPosition) {
    this.unload();
    this.slot = slot;
    this.key = slotKey(slot);
    this.failed = null;
    const Hls = window.Hls;
    const v = this.video;
    if (Hls?.isSupported()) {
      const hls = new Hls({
        startPosition: Math.max(0, startPosition),
        capLevelToPlayerSize: true,
        maxBufferLength: 12,
        backBufferLength: 10,
      });
      hls.on(Hls.Events.ERROR, (_e, data) => {
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
          hls.recoverMediaError();
        } else if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
          // A segment that failed to load once: hls.js can try again from here.
          setTimeout(() => this.hls === hls && hls.startLoad(), 1000);
        } else {
          this.failed = data.details;
          hls.destroy();
          if (this.hls === hls) this.hls = null;
        }
      });
      hls.loadSource(slot.url);
      hls.attachMedia(v);
      this.hls = hls;
    } else if (v.canPlayType('application/vnd.apple.mpegurl')) {
      v.src = slot.url;
      v.addEventListener(
        'loadedmetadata',
        () => {
          if (this.key === slotKey(slot)) v.currentTime = Math.max(0, startPosition);
        },
        { once: true },
      );
      v.load();
    } else {
      this.failed = 'this browser cannot play HLS';
    }
  }

  unload() {
    this.hls?.destroy();
    this.hls = null;
    this.slot = null;
    this.key = '';
    const v = this.video;
    v.pause();
    if (v.hasAttribute('src')) {
      v.removeAttribute('src');
      v.load();
    }
    v.playbackRate = 1;
  }

  /// Has a picture at the current position (and is not in the middle of a seek).
  get ready() {
    return this.video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA && !this.video.seeking;
  }
}

export class SyncPlayer extends EventTarget {
  /// `screen`: the element the two <video> decks go into (stacked, the active one shown).
  constructor(screen, feed) {
    super();
    this.feed = feed;
    this.clock = feed.clock;
    this.muted = true;
    this.blocked = false;
    this.decks = [0, 1].map(() => {
      const v = document.createElement('video');
      v.className = 'deck';
      v.muted = true;
      v.playsInline = true;
      v.preload = 'auto';
      v.setAttribute('playsinline', '');
      v.setAttribute('aria-hidden', 'true');
      screen.append(v);
      const deck = new Deck(v);
      v.addEventListener('seeked', () => this.#seeked(deck));
      return deck;
    });
    this.active = this.decks[0];
    this.status = { state: 'loading', drift: null, rate: 1, slot: null };
    /// How long a seek takes to show its picture (s), learnt from the last seeks.
    this.seekLead = 0.3;
    this.seekStartedAt = null;
    this.timer = null;
    this.boundaryTimer = null;
    this.holdTimer = null;
    feed.addEventListener('view', () => this.step());
  }

  start() {
    this.step();
    this.timer = setInterval(() => this.step(), STEP_MS);
  }

  stop() {
    clearInterval(this.timer);
    clearTimeout(this.boundaryTimer);
    clearTimeout(this.holdTimer);
    for (const d of this.decks) d.unload();
  }

  /// Sound on or off (call from a click: browsers allow sound after a user gesture).
  setMuted(muted) {
    this.muted = muted;
    for (const d of this.decks) d.video.muted = muted;
    // Unmuting is a click: the moment to (re)start playback if the browser held it back.
    if (!muted && this.status.state !== 'holding') this.#play(this.active);
    this.#emit();
  }

  /// Retries playback after the browser refused to start it (call from a click).
  resume() {
    this.blocked = false;
    this.#play(this.active);
  }

  #play(deck) {
    deck.video.muted = this.muted;
    const p = deck.video.play();
    p?.then(
      () => {
        if (this.blocked) {
          this.blocked = false;
          this.#emit();
        }
      },
      (err) => {
        if (err?.name === 'NotAllowedError' && deck === this.active) {
          this.blocked = true;
          this.#emit();
        }
      },
    );
  }

  #other(deck) {
    return this.decks[0] === deck ? this.decks[1] : this.decks[0];
  }

  #show(deck) {
    const previous = this.active;
    this.active = deck;
    deck.video.classList.add('active');
    if (previous !== deck) {
      previous.video.classList.remove('active');
      previous.unload();
    }
  }

  #seeked(deck) {
    if (deck !== this.active || this.seekStartedAt === null) return;
    // The picture is back: learn how long that took, so the next seek aims that far ahead.
    const took = (now() - this.seekStartedAt) / 1000;
    this.seekStartedAt = null;
    this.seekLead = Math.min(2, Math.max(0.05, 0.5 * this.seekLead + 0.5 * took));
  }

  /// One turn of the loop: right item on the shown deck, next item preloaded, drift fixed.
  step() {
    const at = this.clock.now();
    const slot = this.feed.slotAt(at);
    if (!slot) {
      for (const d of this.decks) if (d.key) d.unload();
      this.status = { state: 'idle', drift: null, rate: 1, slot: null };
      this.#emit();
      return;
    }
    const key = slotKey(slot);
    if (this.active.key !== key) {
      const prepared = this.decks.find((d) => d.key === key);
      if (prepared) {
        this.#show(prepared);
      } else {
        const deck = this.#other(this.active);
        const target = (at - slot.started_at_ms) / 1000;
        // A join in the middle of an item loads a little ahead of the schedule, then
        // holds until the schedule gets there (see #correct).
        deck.load(slot, target > 0.5 ? target + this.seekLead + 0.5 : 0);
        this.#show(deck);
      }
    }

    // The next item waits, loaded and paused at its start, on the other deck.
    const after = this.feed.slotAfter(at);
    const spare = this.#other(this.active);
    if (after && after.started_at_ms - at < PRELOAD_MS && spare.key !== slotKey(after)) {
      spare.load(after, 0);
      spare.video.muted = true;
    }
    // Wake exactly at the boundary rather than on the next turn of the loop.
    clearTimeout(this.boundaryTimer);
    if (after && after.started_at_ms - at < STEP_MS * 1.5) {
      this.boundaryTimer = setTimeout(() => this.step(), Math.max(0, after.started_at_ms - this.clock.now()));
    }

    this.#correct(this.active, slot, at);
    this.#emit();
  }

  #correct(deck, slot, at) {
    const v = deck.video;
    const target = (at - slot.started_at_ms) / 1000;
    const state = deck.failed ? 'failed' : this.blocked ? 'blocked' : deck.ready ? 'playing' : 'loading';
    this.status = { state, drift: null, rate: v.playbackRate, slot, target, error: deck.failed };
    clearTimeout(this.holdTimer);
    if (state !== 'playing') return;
    const end = Number.isFinite(v.duration) ? v.duration : slot.duration;
    if (v.ended || target >= end - 0.05) {
      // The media ends a little before its slot does: hold the last picture.
      this.status.drift = 0;
      return;
    }
    const drift = v.currentTime - target;
    this.status.drift = drift;
    // Ahead (a join or a seek aimed past the target): wait, paused, for the schedule to
    // reach the picture, then play; exact, and no rebuffering.
    if (drift > (v.paused ? HOLD_UNTIL : HOLD_ABOVE)) {
      if (!v.paused) v.pause();
      v.playbackRate = 1;
      this.status.state = 'holding';
      this.holdTimer = setTimeout(() => this.step(), Math.max(0, (drift - HOLD_UNTIL) * 1000));
      return;
    }
    if (v.paused && !this.blocked) this.#play(deck);
    if (drift < -SEEK_ABOVE) {
      if (this.seekStartedAt === null || now() - this.seekStartedAt > 4000) {
        this.seekStartedAt = now();
        v.playbackRate = 1;
        v.currentTime = Math.min(end, target + this.seekLead);
      }
      return;
    }
    let rate = 1;
    if (Math.abs(drift) > DEADBAND) {
      rate = 1 - Math.max(-MAX_NUDGE, Math.min(MAX_NUDGE, drift * NUDGE_GAIN));
    }
    if (Math.abs(v.playbackRate - rate) > 0.004) v.playbackRate = rate;
    this.status.rate = v.playbackRate;
  }

  #emit() {
    this.dispatchEvent(new CustomEvent('status', { detail: this.status }));
  }

  /// Where the shown picture is on the schedule, for tests and the curious.
  snapshot() {
    const v = this.active.video;
    const slot = this.active.slot;
    const serverNow = this.clock.now();
    return {
      item: slot?.video ?? slot?.library ?? null,
      startedAt: slot?.started_at_ms ?? null,
      currentTime: v.currentTime,
      target: slot ? (serverNow - slot.started_at_ms) / 1000 : null,
      drift: slot ? v.currentTime - (serverNow - slot.started_at_ms) / 1000 : null,
      rate: v.playbackRate,
      paused: v.paused,
      readyState: v.readyState,
      serverNow,
      offset: this.clock.offset,
      dateNow: Date.now(),
      state: this.status.state,
      seekLead: this.seekLead,
    };
  }
}

/// "/channels/main/ambient" → "main".
export function channelNameFromPath(pathname = location.pathname) {
  const m = pathname.match(/^\/channels\/([^/]+)/);
  return m ? decodeURIComponent(m[1]) : 'main';
}
