// The live session page (/live): one session, one plain <video> on its stream URL.
//
// The stream is one continuous fragmented MP4 encoded as it is sent; the session's clock
// (computed_current_time) is the server's idea of what the player shows. The page keeps
// the two together by telling the server whenever the picture stops or starts moving:
//
//   element 'playing'            → POST resume   (the clock runs from the first frame shown,
//                                                 not from the first byte)
//   element 'pause' / 'waiting'  → POST pause    (a user pause, or a stall for data)
//   scrubber / element 'seeking' → POST pause, POST seek {position}, then a new GET of the
//                                  stream URL (the server ended the old one)
//   audio track                  → POST pause, POST tracks {audio_track}, new GET
//   rate                         → POST rate {rate}; the element's playbackRate follows
//                                  (the stream is not time-stretched: the client speeds up)
//
// Timestamps are the source's: a stream opened at 6 s starts at pts 6 s, and Chromium's
// currentTime then reads 6 (checked in tests/browser/live.mjs). A browser that would
// report 0 instead is detected on the first frame and mapped with `offset`.
//
// ?video=<id> or ?library=<path> (and &start=<s>) start a session at once. window.reel
// exposes the session and the two clocks for tests.

import {
  ApiError,
  createSession,
  dropSession,
  listVideos,
  sessionAction,
  sessionStatus,
} from './api.js';
import { clock } from './format.js';
import { toast } from './toast.js';

const $ = (id) => document.getElementById(id);
const video = $('video');
const POLL_MS = 500;

let session = null; // the latest session object from the server
let offset = 0; // added to video.currentTime to get the source's time
let streamStart = 0; // where the current stream was opened (source time)
let streamCount = 0;
let serverPaused = null; // what we last told (or learnt from) the server
let wantPlaying = true; // the user's intent: false after a pause click
let switching = false; // a new stream is being opened: element events are ours
let scrubbing = false;
let pollTimer = null;
let drift = null; // player time − computed_current_time, when the last answer came
let learntAt = 0; // performance.now() when the last session object came

// ---- messages --------------------------------------------------------------------------

function note(text, kind = 'error') {
  const el = $('note');
  el.hidden = !text;
  el.textContent = text ?? '';
  el.dataset.kind = kind;
}

const fail = (e) => toast(e instanceof ApiError ? e.message : `Something went wrong: ${e?.message ?? e}`);

// ---- talking to the session ------------------------------------------------------------

// Calls run one after another, in the order the player's events came.
let queue = Promise.resolve();
function call(action, body) {
  const id = session?.id;
  if (!id) return Promise.resolve(null);
  const run = queue.then(async () => {
    const s = await sessionAction(id, action, body);
    if (session?.id === id) learn(s);
    return s;
  });
  queue = run.catch(() => {});
  return run;
}

function setServerPaused(paused) {
  if (!session || serverPaused === paused) return queue;
  serverPaused = paused;
  return call(paused ? 'pause' : 'resume').catch(fail);
}

// ---- the stream ------------------------------------------------------------------------

/// Points the element at a fresh GET of the stream (the server starts it at the session's
/// position). The server clock stays paused until the element shows a moving picture.
async function openStream(position) {
  switching = true;
  streamStart = position;
  offset = 0;
  streamCount += 1;
  note(null);
  // The query only makes each GET a new request; the server ignores it.
  video.src = `${session.links.stream}?n=${streamCount}`;
  if (wantPlaying) {
    video.play().catch((e) => {
      if (e.name !== 'AbortError') note(`The browser would not play: ${e.message}`);
    });
  }
}

async function start(source, position) {
  stop();
  try {
    session = await createSession({ ...source, start: position });
  } catch (e) {
    fail(e);
    return;
  }
  serverPaused = null;
  wantPlaying = true;
  const url = new URL(location.href);
  for (const k of ['video', 'library', 'start']) url.searchParams.delete(k);
  if (source.video) url.searchParams.set('video', source.video);
  else url.searchParams.set('library', source.library);
  if (position > 0) url.searchParams.set('start', String(position));
  history.replaceState(null, '', url);

  $('player').hidden = false;
  $('intro').hidden = true;
  $('live-title').textContent = title(source);
  $('mpv-command').value = `mpv ${new URL(session.links.stream, location.href)}`;
  fillTracks();
  $('rate').value = String(session.rate);
  video.defaultPlaybackRate = video.playbackRate = session.rate;
  await setServerPaused(true);
  openStream(session.position);
  poll();
}

function stop() {
  clearTimeout(pollTimer);
  if (session) dropSession(session.id);
  session = null;
  video.removeAttribute('src');
  video.load();
}

/// Moves the session to `position` and opens the stream there.
async function seekTo(position) {
  if (!session) return;
  const to = Math.max(0, Math.min(position, session.duration));
  await setServerPaused(true);
  try {
    await call('seek', { position: to });
  } catch (e) {
    fail(e);
    return;
  }
  openStream(to);
}

async function switchTrack(track) {
  await setServerPaused(true);
  try {
    const s = await call('tracks', { audio_track: track });
    openStream(s.position);
  } catch (e) {
    fail(e);
    fillTracks();
  }
}

async function setRate(rate) {
  video.defaultPlaybackRate = video.playbackRate = rate;
  await call('rate', { rate }).catch(fail);
}

// ---- the element's events drive the session ----------------------------------------------

video.addEventListener('loadeddata', () => {
  // Source timeline or zero-based? Chromium keeps the source's (a stream opened at 6 s
  // reads 6); a browser that starts at 0 gets the stream's start added.
  const first = video.buffered.length ? video.buffered.start(0) : video.currentTime;
  offset = streamStart > 1 && first < 0.5 ? streamStart : 0;
});

video.addEventListener('playing', () => {
  switching = false;
  setServerPaused(false);
  render();
});

video.addEventListener('waiting', () => {
  // Stalled for data: the picture stopped, so does the clock.
  if (!switching) setServerPaused(true);
});

video.addEventListener('pause', () => {
  if (switching || video.ended) return;
  wantPlaying = false;
  setServerPaused(true);
  render();
});

video.addEventListener('play', () => {
  wantPlaying = true;
  render();
});

video.addEventListener('seeking', () => {
  // Only a seek that someone else asked of the element (media keys, devtools, a test):
  // the stream cannot seek by itself, so the session moves and a new stream comes.
  if (switching) return;
  const target = video.currentTime + offset;
  if (Math.abs(target - playerTime()) > 0.25) seekTo(target);
});

video.addEventListener('ended', () => {
  wantPlaying = false;
  render();
});

video.addEventListener('error', () => {
  if (!video.getAttribute('src')) return;
  note(`The stream stopped: ${video.error?.message || 'media error ' + (video.error?.code ?? '')}`);
});

// ---- controls ------------------------------------------------------------------------------

$('play').addEventListener('click', () => {
  if (!session) return;
  if (video.paused) {
    wantPlaying = true;
    if (video.ended || !video.getAttribute('src')) seekTo(0);
    else video.play().catch((e) => note(`The browser would not play: ${e.message}`));
  } else {
    video.pause();
  }
});

const scrub = $('scrub');
scrub.addEventListener('input', () => {
  scrubbing = true;
  $('time-now').textContent = clock(Number(scrub.value));
});
scrub.addEventListener('change', () => {
  scrubbing = false;
  seekTo(Number(scrub.value));
});

$('audio').addEventListener('change', (e) => switchTrack(Number(e.target.value)));
$('rate').addEventListener('change', (e) => setRate(Number(e.target.value)));

document.addEventListener('keydown', (e) => {
  if (!session || e.target.closest('input, select, textarea')) return;
  if (e.key === ' ' || e.key === 'k') {
    e.preventDefault();
    $('play').click();
  } else if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
    e.preventDefault();
    seekTo(playerTime() + (e.key === 'ArrowLeft' ? -10 : 10));
  }
});

// ---- what the page shows -------------------------------------------------------------------

const playerTime = () => video.currentTime + offset;

function title(source) {
  if (source.library) return source.library.split('/').pop();
  const option = [...$('pick-video').options].find((o) => o.value === source.video);
  return option?.dataset.title ?? source.video;
}

function fillTracks() {
  const select = $('audio');
  const tracks = session?.tracks?.audio_tracks ?? [];
  select.replaceChildren(
    ...tracks.map((t) => {
      const o = document.createElement('option');
      o.value = String(t.index);
      o.textContent = [`${t.index + 1}`, t.language, `${t.codec} ${t.channels}ch`].filter(Boolean).join(' · ');
      return o;
    }),
  );
  if (!tracks.length) select.append(new Option('none', ''));
  select.disabled = tracks.length < 2;
  select.value = String(session?.tracks?.audio_track ?? 0);
}

function render() {
  const playing = !video.paused && !video.ended;
  const button = $('play');
  button.classList.toggle('paused', !playing);
  button.setAttribute('aria-label', playing ? 'Pause' : 'Play');
  if (!session) return;
  const t = playerTime();
  // The server's clock as of its last answer, moved on by the time since (when running),
  // so the two numbers on screen tick together between polls.
  const since = session.paused ? 0 : ((performance.now() - learntAt) / 1000) * session.rate;
  const server = Math.min(session.computed_current_time + since, session.duration);
  if (!scrubbing) {
    scrub.max = String(session.duration || 1);
    scrub.value = String(t);
    $('time-now').textContent = clock(t);
  }
  $('time-total').textContent = clock(session.duration);
  $('clock-player').textContent = `${t.toFixed(2)} s`;
  $('clock-server').textContent = `${server.toFixed(2)} s`;
  const driftBox = $('clock-drift');
  driftBox.textContent = drift === null ? '–' : `${drift >= 0 ? '+' : '−'}${Math.abs(drift).toFixed(2)} s`;
  driftBox.dataset.ok = String(drift !== null && Math.abs(drift) < 0.5);
  $('session-state').innerHTML = '';
  $('session-state').append(
    `${session.paused ? 'paused' : 'running'} · ${session.mode}`,
    Object.assign(document.createElement('span'), {
      className: 'sub',
      textContent: `${session.id}${session.rate !== 1 ? ` · ${session.rate}×` : ''}`,
    }),
  );
  const height = video.videoHeight ? `${video.videoWidth}x${video.videoHeight}` : '';
  $('live-meta').textContent = [clock(session.duration), height, session.video ? 'ready video' : 'library file']
    .filter(Boolean)
    .join(' · ');
  window.reel = { session, video, playerTime: t, serverTime: server, drift, offset, streams: streamCount };
}

/// Takes a session object from the server, and compares its clock with the player's at
/// the moment it arrived (the answer is a few milliseconds old at most).
function learn(s) {
  session = s;
  serverPaused = s.paused;
  learntAt = performance.now();
  drift = video.readyState >= 2 && !switching ? playerTime() - s.computed_current_time : null;
  render();
}

async function poll() {
  clearTimeout(pollTimer);
  if (!session) return;
  const id = session.id;
  try {
    const s = await sessionStatus(id);
    if (session?.id !== id) return;
    learn(s);
  } catch (e) {
    if (e.status === 404) {
      note('This session has ended (it expired or was deleted). Start a new one above.');
      session = null;
      return;
    }
  }
  render();
  pollTimer = setTimeout(poll, POLL_MS);
}

// Between polls the player's clock still moves on screen.
setInterval(() => session && render(), 250);

// ---- picking a source ------------------------------------------------------------------------

async function loadVideos() {
  const select = $('pick-video');
  try {
    const ready = (await listVideos()).filter((v) => v.status === 'ready');
    select.replaceChildren(
      new Option(ready.length ? 'Choose a ready video…' : 'No ready video (use a library path)', ''),
      ...ready.map((v) => {
        const o = new Option(`${v.title} · ${clock(v.duration)}`, v.id);
        o.dataset.title = v.title;
        return o;
      }),
    );
  } catch (e) {
    select.replaceChildren(new Option('Videos unavailable', ''));
    fail(e);
  }
}

$('pick').addEventListener('submit', (e) => {
  e.preventDefault();
  const videoId = $('pick-video').value;
  const library = $('pick-library').value.trim();
  const position = Math.max(0, Number($('pick-start').value) || 0);
  if (library) start({ library }, position);
  else if (videoId) start({ video: videoId }, position);
  else toast('Choose a ready video, or type the path of a library file.');
});
$('pick-video').addEventListener('change', () => {
  if ($('pick-video').value) $('pick-library').value = '';
});

window.addEventListener('pagehide', () => session && dropSession(session.id));

const params = new URLSearchParams(location.search);
await loadVideos();
const initial = Math.max(0, Number(params.get('start')) || 0);
$('pick-start').value = String(initial);
if (params.get('video')) {
  $('pick-video').value = params.get('video');
  start({ video: params.get('video') }, initial);
} else if (params.get('library')) {
  $('pick-library').value = params.get('library');
  start({ library: params.get('library') }, initial);
}
render();
