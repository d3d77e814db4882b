// The ambient page (/channels/{name}/ambient): the channel full screen, no controls, for a
// wall screen or a lobby. The item's title fades in at each change and out a few seconds
// later. Same synchronization as the channel page (sync.js). It starts muted (autoplay
// policy); a click anywhere toggles the sound, a double click toggles full screen.

import { ChannelFeed, SyncPlayer, channelNameFromPath } from './sync.js';

const TITLE_MS = 6000;
const NOTE_MS = 4000;

const $ = (id) => document.getElementById(id);
const name = channelNameFromPath();
const feed = new ChannelFeed(name);
const player = new SyncPlayer($('screen'), feed);
document.title = `${name} · ambient · reel`;
$('channel').textContent = name;

let titleTimer = null;
let shownKey = '';
/// Fades the title of what plays now in, and out after TITLE_MS.
function announce() {
  const slot = feed.slotAt();
  const key = slot ? `${slot.started_at_ms}:${slot.index}` : '';
  if (key === shownKey) return;
  shownKey = key;
  const idle = $('idle');
  if (!slot) {
    idle.textContent = `Nothing on ${name} yet.`;
    idle.hidden = false;
    $('title').classList.remove('shown');
    return;
  }
  idle.hidden = true;
  $('title-text').textContent = slot.title || slot.video || slot.library;
  const title = $('title');
  title.classList.add('shown');
  clearTimeout(titleTimer);
  titleTimer = setTimeout(() => title.classList.remove('shown'), TITLE_MS);
}

let noteTimer = null;
function note(text) {
  const n = $('note');
  n.textContent = text;
  n.classList.add('shown');
  clearTimeout(noteTimer);
  noteTimer = setTimeout(() => n.classList.remove('shown'), NOTE_MS);
}

// A click toggles the sound (the click is what lets the browser play it); a double click
// goes full screen. The first click of a double click must not toggle: wait for it.
let clickTimer = null;
document.addEventListener('click', () => {
  clearTimeout(clickTimer);
  clickTimer = setTimeout(() => {
    if (player.blocked) player.resume();
    player.setMuted(!player.muted);
    note(player.muted ? 'Sound off' : 'Sound on');
  }, 250);
});
document.addEventListener('dblclick', () => {
  clearTimeout(clickTimer);
  if (document.fullscreenElement) document.exitFullscreen?.();
  else document.documentElement.requestFullscreen?.().catch(() => {});
});

// The pointer shows while it moves, then hides again.
let pointerTimer = null;
document.addEventListener('pointermove', () => {
  document.body.classList.add('pointer');
  clearTimeout(pointerTimer);
  pointerTimer = setTimeout(() => document.body.classList.remove('pointer'), 2000);
});

feed.addEventListener('view', announce);
player.addEventListener('status', (e) => {
  if (e.detail.state === 'blocked') note('Click to start');
});
setInterval(announce, 250);

window.reel = { feed, player, clock: feed.clock, snapshot: () => player.snapshot() };

feed
  .start()
  .then(() => {
    player.start();
    note('Click for sound · double-click for full screen');
  })
  .catch((e) => {
    const idle = $('idle');
    idle.textContent = e.message;
    idle.hidden = false;
  });
