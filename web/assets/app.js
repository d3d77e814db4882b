// The dashboard: wires the store (what the server holds), the sidebar, the upload dialog
// and the player, and keeps the selected video in the address (?video=<id>).

import { getVideo } from './api.js';
import { Store } from './store.js';
import { setupHistory, setupDrawer } from './history.js';
import { setupUpload } from './upload.js';
import { setupPlayer } from './player.js';
import { toast } from './toast.js';

const store = new Store();

const drawer = setupDrawer();
const player = setupPlayer({ onError: toast });
let selected = null;

const sidebar = setupHistory(store, {
  onSelect: (id) => {
    select(id, { push: true, autoplay: true });
    drawer.close();
  },
  onDeleted: (id) => {
    if (id === selected) select(store.list()[0]?.id ?? null, { replace: true });
  },
  onError: toast,
});

const upload = setupUpload(store, {
  onOpen: () => drawer.close(),
  onReady: (v) => select(v.id, { push: true, autoplay: true }),
  onWatch: (v) => select(v.id, { push: true, autoplay: true }),
});

for (const b of document.querySelectorAll('#upload-button, [data-action="upload"]')) {
  b.addEventListener('click', () => upload.open());
}

// A file dropped anywhere on the page opens the upload dialog with it.
document.addEventListener('dragover', (e) => {
  if (e.dataTransfer?.types.includes('Files')) e.preventDefault();
});
document.addEventListener('drop', (e) => {
  if (!e.dataTransfer?.files.length) return;
  e.preventDefault();
  if (!upload.isOpen()) upload.open(e.dataTransfer.files);
});

function urlFor(id) {
  const url = new URL(location.href);
  if (id) url.searchParams.set('video', id);
  else url.searchParams.delete('video');
  return url;
}

/// Shows a video (or the placeholder for null). `push` adds a history entry, `replace`
/// rewrites the current one (the video it named is gone).
async function select(id, { push = false, replace = false, autoplay = false } = {}) {
  if ((push || replace) && urlFor(id).href !== location.href) {
    window.history[push ? 'pushState' : 'replaceState']({ video: id }, '', urlFor(id));
  }
  selected = id;
  sidebar.select(id);
  document.getElementById('placeholder').hidden = Boolean(id);
  if (!id) {
    player.clear();
    document.title = 'reel';
    return;
  }
  store.prefer(id);
  let v = store.get(id);
  if (!v && store.loaded) {
    // The list is complete: asking the server would only earn a 404 in the console.
    toast(`There is no video “${id}” (deleted?).`);
    select(store.list()[0]?.id ?? null, { replace: true });
    return;
  }
  if (!v) {
    try {
      v = await getVideo(id);
      store.upsert(v);
    } catch (err) {
      if (selected !== id) return;
      toast(err.status === 404 ? `There is no video “${id}” (deleted?).` : err.message);
      select(store.list()[0]?.id ?? null, { replace: true });
      return;
    }
    if (selected !== id) return;
  }
  document.title = `${v.title || v.id} · reel`;
  player.show(v, { autoplay });
}

store.subscribe((v, removedId) => {
  if (v && v.id === selected) {
    player.update(v);
    document.title = `${v.title || v.id} · reel`;
  } else if (!v && selected && removedId === selected) {
    select(store.list()[0]?.id ?? null, { replace: true });
  } else if (!v && selected && store.get(selected)) {
    player.update(store.get(selected));
  }
});

window.addEventListener('popstate', () => {
  select(new URL(location.href).searchParams.get('video') ?? store.list()[0]?.id ?? null);
});

document.addEventListener('visibilitychange', () => {
  if (!document.hidden) store.refresh().catch(() => {});
});

// Start: the list, then the video the address names, else the newest.
(async () => {
  const wanted = new URL(location.href).searchParams.get('video');
  try {
    await store.refresh();
  } catch (err) {
    const empty = document.getElementById('history-empty');
    empty.textContent = `Could not load the videos: ${err.message}`;
    empty.hidden = false;
  }
  if (!selected) select(wanted ?? store.list()[0]?.id ?? null);
})();
