// The sidebar: every video, newest first, with poster, title, duration and status; a
// click selects one, a two-step button deletes it. On narrow screens the sidebar is a
// drawer behind the menu button.

import { deleteVideo } from './api.js';
import { clock, when, percent } from './format.js';

const $ = (id) => document.getElementById(id);
const CONFIRM_MS = 4000;

const TRASH =
  '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13M10 11v6M14 11v6"/></svg>';

/// hooks: onSelect(id), onDeleted(id), onError(message)
export function setupHistory(store, hooks) {
  const list = $('history-list');
  const empty = $('history-empty');
  const count = $('history-count');
  const items = new Map(); // id -> <li>
  let selected = null;

  function item(video) {
    let li = items.get(video.id);
    if (li) return li;
    li = document.createElement('li');
    li.className = 'video-item';
    li.dataset.id = video.id;
    li.innerHTML = `
      <button type="button" class="video-select">
        <span class="thumb"><span class="badge"></span></span>
        <span class="info">
          <span class="title"></span>
          <span class="status"></span>
          <progress class="mini" max="1" value="0" hidden></progress>
        </span>
      </button>
      <button type="button" class="icon-button delete">${TRASH}<span class="confirm-text">Delete?</span></button>`;
    li.querySelector('.video-select').addEventListener('click', () => hooks.onSelect?.(video.id));
    const del = li.querySelector('.delete');
    let armed = null;
    del.addEventListener('click', async () => {
      if (!armed) {
        // First click arms; a second within CONFIRM_MS deletes.
        li.classList.add('confirming');
        del.setAttribute('aria-label', `Confirm: delete ${li.dataset.title}`);
        armed = setTimeout(disarm, CONFIRM_MS);
        return;
      }
      disarm();
      del.disabled = true;
      try {
        await deleteVideo(video.id);
        store.forget(video.id);
        hooks.onDeleted?.(video.id);
      } catch (err) {
        del.disabled = false;
        if (err.status === 404) {
          store.forget(video.id);
          hooks.onDeleted?.(video.id);
        } else if (err.status === 401) {
          hooks.onError?.(`Deleting needs this server's API key: the upload dialog asks for it. (${err.message})`);
        } else {
          hooks.onError?.(`Could not delete “${li.dataset.title}”: ${err.message}`);
        }
      }
    });
    function disarm() {
      clearTimeout(armed);
      armed = null;
      li.classList.remove('confirming');
      del.setAttribute('aria-label', `Delete ${li.dataset.title}`);
    }
    items.set(video.id, li);
    return li;
  }

  function fill(li, v) {
    li.dataset.status = v.status;
    li.dataset.title = v.title || v.id;
    li.querySelector('.title').textContent = v.title || v.id;
    li.querySelector('.title').title = v.title || v.id;
    if (!li.classList.contains('confirming')) {
      li.querySelector('.delete').setAttribute('aria-label', `Delete ${li.dataset.title}`);
    }
    // The library folder decides what it holds: its renditions have no delete button.
    li.querySelector('.delete').hidden = Boolean(v.library);

    const thumb = li.querySelector('.thumb');
    let img = thumb.querySelector('img');
    // The poster exists once the video is ready; asking earlier would only earn a 404.
    const poster = v.status === 'ready' && Boolean(v.links?.poster);
    if (poster && !img) {
      img = document.createElement('img');
      img.alt = '';
      img.loading = 'lazy';
      img.decoding = 'async';
      img.addEventListener('error', () => img.remove());
      img.src = v.links.poster;
      thumb.prepend(img);
    } else if (!poster && img) {
      img.remove();
    }
    thumb.querySelector('.badge').textContent = v.duration > 0 ? clock(v.duration) : '';

    const status = li.querySelector('.status');
    const bar = li.querySelector('progress');
    bar.hidden = !(v.status === 'processing' || v.status === 'queued');
    bar.value = v.progress || 0;
    status.title = '';
    switch (v.status) {
      case 'ready':
        // A library file's rendition says where it comes from rather than when.
        status.textContent = v.library ? `Library · ${v.library.path}` : `Ready · ${when(v.created_at_ms)}`;
        break;
      case 'processing':
        status.textContent = `Processing ${percent(v.progress)}`;
        break;
      case 'queued':
        status.textContent = 'Queued';
        break;
      case 'failed':
        status.textContent = `Failed: ${v.error || 'no reason given'}`;
        status.title = v.error || '';
        break;
      default:
        status.textContent = v.status;
    }
    li.querySelector('.video-select').setAttribute('aria-current', String(v.id === selected));
    li.classList.toggle('selected', v.id === selected);
  }

  function render() {
    const videos = store.list();
    for (const [id, li] of items) {
      if (!store.get(id)) {
        li.remove();
        items.delete(id);
      }
    }
    videos.forEach((v, i) => {
      const li = item(v);
      fill(li, v);
      if (list.children[i] !== li) list.insertBefore(li, list.children[i] ?? null);
    });
    empty.hidden = videos.length > 0 || !store.loaded;
    count.textContent = videos.length ? String(videos.length) : '';
  }

  store.subscribe((video) => {
    if (video && items.has(video.id)) fill(items.get(video.id), video);
    else render();
  });

  return {
    select(id) {
      selected = id;
      for (const [vid, li] of items) {
        li.querySelector('.video-select').setAttribute('aria-current', String(vid === id));
        li.classList.toggle('selected', vid === id);
      }
    },
    render,
  };
}

/// The drawer on narrow screens: the menu button opens and closes it, the scrim and Escape
/// close it. On wide screens the sidebar is always there and this does nothing visible.
export function setupDrawer() {
  const button = $('menu-button');
  const drawer = $('history');
  const scrim = $('scrim');
  const narrow = window.matchMedia('(max-width: 820px)');

  function set(open) {
    document.body.classList.toggle('drawer-open', open);
    button.setAttribute('aria-expanded', String(open));
    scrim.hidden = !open;
    // Off screen on a narrow layout: out of the tab order and the accessibility tree.
    drawer.inert = narrow.matches && !open;
    if (open) drawer.querySelector('.video-select[aria-current="true"], .video-select')?.focus();
  }

  button.addEventListener('click', () => set(button.getAttribute('aria-expanded') !== 'true'));
  scrim.addEventListener('click', () => set(false));
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && document.body.classList.contains('drawer-open')) {
      set(false);
      button.focus();
    }
  });
  narrow.addEventListener('change', () => set(false));
  set(false);
  return { close: () => set(false), isOpen: () => document.body.classList.contains('drawer-open') };
}
