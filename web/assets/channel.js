// The channel page (/channels/{name}): the synchronized player (sync.js), what plays now
// and next, likes and dislikes, the channel's items with when each comes up, the live
// playlist for mpv. Starts muted (browsers only autoplay silent video); one click on the
// visible button brings the sound.

import { ChannelFeed, SyncPlayer, channelNameFromPath } from './sync.js';
import { clock } from './format.js';
import { toast } from './toast.js';

const $ = (id) => document.getElementById(id);
const name = channelNameFromPath();
const feed = new ChannelFeed(name);
const player = new SyncPlayer($('screen'), feed);

// ---- page furniture ---------------------------------------------------------------------

document.title = `${name} · reel`;
$('channel-name').textContent = name;
$('ambient-link').href = `/channels/${encodeURIComponent(name)}/ambient`;
const live = new URL(`/channels/${encodeURIComponent(name)}/live.m3u8`, location.href).href;
$('mpv-command').value = `mpv ${live}`;


$('mpv-copy').addEventListener('click', async () => {
  const input = $('mpv-command');
  try {
    await navigator.clipboard.writeText(input.value);
    $('mpv-copy').textContent = 'Copied';
    setTimeout(() => ($('mpv-copy').textContent = 'Copy'), 1500);
  } catch {
    // No Clipboard API (plain http on a LAN): select it for Ctrl+C.
    input.focus();
    input.select();
  }
});

async function listChannels() {
  try {
    const res = await fetch('/api/channels', { headers: { Accept: 'application/json' } });
    if (!res.ok) return;
    const names = ((await res.json()).channels ?? []).map((c) => c.name);
    if (names.length < 2) return;
    const select = $('channel-switch');
    select.replaceChildren(
      ...names.map((n) => {
        const o = document.createElement('option');
        o.value = n;
        o.textContent = n;
        o.selected = n === name;
        return o;
      }),
    );
    select.hidden = false;
    $('channel-name').hidden = true;
    select.addEventListener('change', () => {
      location.href = `/channels/${encodeURIComponent(select.value)}`;
    });
  } catch {
    // The list is a convenience; the channel plays without it.
  }
}

// ---- sound --------------------------------------------------------------------------------

function renderSound() {
  $('mute-toggle').setAttribute('aria-pressed', String(player.muted));
  $('mute-toggle').setAttribute('aria-label', player.muted ? 'Unmute' : 'Mute');
  $('unmute').hidden = !player.muted || player.blocked || !feed.view?.now;
  $('start').hidden = !player.blocked;
}
$('unmute').addEventListener('click', () => player.setMuted(false));
$('mute-toggle').addEventListener('click', () => player.setMuted(!player.muted));
$('start').addEventListener('click', () => {
  player.setMuted(false);
  player.resume();
});
$('fullscreen').addEventListener('click', () => {
  const screen = $('screen');
  if (document.fullscreenElement) document.exitFullscreen?.();
  else screen.requestFullscreen?.().catch(() => {});
});

// ---- votes ----------------------------------------------------------------------------------

// One vote per item per browser: the choice is remembered here (the server counts votes).
const VOTES_KEY = `reel.votes.${name}`;
function myVotes() {
  try {
    return JSON.parse(localStorage.getItem(VOTES_KEY) ?? '{}') ?? {};
  } catch {
    return {};
  }
}
function rememberVote(itemKey, which) {
  const all = myVotes();
  all[itemKey] = which;
  try {
    localStorage.setItem(VOTES_KEY, JSON.stringify(all));
  } catch {
    // Storage refused: the vote still counts on the server.
  }
}
const itemKey = (item) => (item.video ? `video:${item.video}` : `library:${item.library}`);

let voting = false;
async function vote(which) {
  const now = feed.slotAt();
  if (!now || voting) return;
  const item = feed.view?.items?.[now.index];
  if (!item) return;
  voting = true;
  renderVotes();
  try {
    await feed.vote(now.index, which);
    rememberVote(itemKey(item), which);
  } catch (e) {
    toast(e.message);
  } finally {
    voting = false;
    renderVotes();
    renderList();
  }
}
$('like').addEventListener('click', () => vote('like'));
$('dislike').addEventListener('click', () => vote('dislike'));

function renderVotes() {
  const slot = feed.slotAt();
  const item = slot ? feed.view?.items?.[slot.index] : null;
  const mine = item ? myVotes()[itemKey(item)] : undefined;
  for (const which of ['like', 'dislike']) {
    const b = $(which);
    b.disabled = !item || voting || Boolean(mine);
    b.setAttribute('aria-pressed', String(mine === which));
    $(`${which}-count`).textContent = String(item?.[which === 'like' ? 'likes' : 'dislikes'] ?? 0);
  }
  $('like').title = mine ? 'You voted for this one' : 'Like what plays now';
  $('dislike').title = mine ? 'You voted for this one' : 'Dislike what plays now';
}

// ---- now, next, the list ---------------------------------------------------------------

/// When each item next starts (server ms), walking the list from what plays now.
function upcomingStarts(view, at) {
  const starts = new Map();
  const slot = feed.slotAt(at);
  const items = view.items ?? [];
  if (!slot || !items.length) return starts;
  const after = feed.slotAfter(at);
  let t = slot.started_at_ms + Math.round(slot.duration * 1000);
  let index = slot.index;
  if (after) {
    starts.set(after.index, after.started_at_ms);
    t = after.started_at_ms + Math.round(after.duration * 1000);
    index = after.index;
  }
  for (let k = 1; k < items.length; k += 1) {
    const i = (index + k) % items.length;
    if (i === slot.index || starts.has(i)) break;
    starts.set(i, t);
    t += Math.round(items[i].duration * 1000);
  }
  return starts;
}

let listKey = '';
function renderList() {
  const view = feed.view;
  const items = view?.items ?? [];
  const list = $('schedule-list');
  $('item-count').textContent = items.length ? String(items.length) : '';
  $('schedule-empty').hidden = items.length > 0;
  const slot = feed.slotAt();
  const mine = myVotes();
  // Rebuilt only when something shown changed (not on every tick).
  const key = JSON.stringify([slot?.index, slot?.started_at_ms, items.map((i) => [i.title, i.likes, i.dislikes, itemKey(i) in mine])]);
  if (key !== listKey) {
    listKey = key;
    list.replaceChildren(
      ...items.map((item) => {
        const li = document.createElement('li');
        li.className = 'schedule-item';
        li.dataset.index = String(item.index);
        if (slot && item.index === slot.index) li.setAttribute('aria-current', 'true');
        const title = document.createElement('span');
        title.className = 'item-title';
        title.textContent = item.title || item.video || item.library;
        const when = document.createElement('span');
        when.className = 'item-when';
        const meta = document.createElement('span');
        meta.className = 'item-meta';
        meta.textContent = `${clock(item.duration)} · ▲ ${item.likes} · ▼ ${item.dislikes}`;
        li.append(title, when, meta);
        return li;
      }),
    );
  }
  renderWhen();
}

function renderWhen() {
  const view = feed.view;
  if (!view) return;
  const at = feed.clock.now();
  const slot = feed.slotAt(at);
  const starts = upcomingStarts(view, at);
  for (const li of $('schedule-list').children) {
    const index = Number(li.dataset.index);
    const when = li.querySelector('.item-when');
    if (slot && index === slot.index) when.textContent = 'Now';
    else if (starts.has(index)) when.textContent = `in ${clock((starts.get(index) - at) / 1000)}`;
    else when.textContent = '';
  }
}

let shownKey = '';
function renderNow() {
  const at = feed.clock.now();
  const slot = feed.slotAt(at);
  const message = $('screen-message');
  if (!feed.view) return;
  if (!slot) {
    $('now-title').textContent = 'Nothing on this channel yet';
    $('screen-message-text').textContent = 'Nothing to watch here yet. Videos join the channel when they are ready.';
    message.hidden = false;
    $('up-next').hidden = true;
    $('now-bar').value = 0;
    renderVotes();
    return;
  }
  message.hidden = true;
  const key = `${slot.started_at_ms}:${slot.index}`;
  if (key !== shownKey) {
    shownKey = key;
    $('now-title').textContent = slot.title || slot.video || slot.library;
    document.title = `${slot.title} · ${name} · reel`;
    renderVotes();
    renderList();
  }
  const position = Math.max(0, Math.min(slot.duration, (at - slot.started_at_ms) / 1000));
  $('now-position').textContent = clock(position);
  $('now-duration').textContent = clock(slot.duration);
  $('now-bar').value = slot.duration > 0 ? position / slot.duration : 0;
  const next = feed.slotAfter(at);
  const upNext = $('up-next');
  if (next) {
    upNext.replaceChildren();
    const label = document.createElement('span');
    label.className = 'now-label';
    label.textContent = 'Up next';
    const title = document.createElement('strong');
    title.textContent = next.title || next.video || next.library;
    const when = document.createElement('span');
    when.className = 'muted';
    when.textContent = `in ${clock((next.started_at_ms - at) / 1000)}`;
    upNext.append(label, title, when);
    upNext.hidden = false;
  } else {
    upNext.hidden = true;
  }
}

function renderSync(status) {
  const badge = $('sync');
  const { state, drift } = status;
  let text = '–';
  let kind = 'wait';
  if (state === 'playing' && drift !== null) {
    const ms = Math.round(Math.abs(drift) * 1000);
    text = Math.abs(drift) <= 0.25 ? `In sync · ${ms} ms` : `Catching up · ${(Math.abs(drift)).toFixed(1)} s`;
    kind = Math.abs(drift) <= 0.25 ? 'ok' : 'off';
  } else if (state === 'holding') {
    text = 'Joining…';
  } else if (state === 'loading') {
    text = 'Loading…';
  } else if (state === 'blocked') {
    text = 'Paused by the browser';
    kind = 'off';
  } else if (state === 'failed') {
    text = 'Cannot play this item';
    kind = 'off';
  } else if (state === 'idle') {
    text = 'Off air';
  }
  badge.textContent = text;
  badge.dataset.kind = kind;
  if (!feed.connected && feed.view) {
    badge.textContent += ' · reconnecting';
  }
}

// ---- wiring --------------------------------------------------------------------------------

feed.addEventListener('view', () => {
  renderNow();
  renderList();
  renderVotes();
  renderSound();
});
feed.addEventListener('connection', () => renderSync(player.status));
player.addEventListener('status', (e) => {
  renderSync(e.detail);
  renderSound();
});
setInterval(() => {
  renderNow();
  renderWhen();
}, 250);

// For tests and the curious.
window.reel = { feed, player, clock: feed.clock, snapshot: () => player.snapshot() };

listChannels();
feed
  .start()
  .then(() => player.start())
  .catch((e) => {
    $('now-title').textContent = e.status === 404 ? `No channel called “${name}”` : 'The channel cannot be reached';
    $('screen-message-text').textContent = e.message;
    $('screen-message').hidden = false;
    renderSync({ state: 'failed', drift: null });
  });
