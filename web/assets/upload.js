// The upload dialog: pick a file, the rungs and the segment length; then one progress bar
// for the upload (bytes sent, from XHR upload progress) and the processing (from the
// video's SSE events). When the ladder is ready the dialog closes and the video opens.

import { uploadVideo, apiKey, setApiKey } from './api.js';
import { bytes, percent } from './format.js';

export const RUNGS = [1080, 720, 480, 360, 240];

const $ = (id) => document.getElementById(id);

/// `store` follows the new video (its SSE stream) and tells us its progress.
/// hooks: onOpen(), onReady(video), onWatch(video)
export function setupUpload(store, hooks) {
  const dialog = $('upload-dialog');
  const form = $('upload-form');
  const fileInput = $('upload-file');
  const drop = $('drop');
  const dropText = $('drop-text');
  const submit = $('upload-submit');
  const cancel = $('upload-cancel');
  const watch = $('upload-watch');
  const progress = $('upload-progress');
  const phase = $('upload-phase');
  const pct = $('upload-percent');
  const bar = $('upload-bar');
  const error = $('upload-error');
  const keyRow = $('api-key-row');
  const keyInput = $('upload-key');

  const options = $('height-options');
  for (const h of RUNGS) {
    const label = document.createElement('label');
    label.className = 'check';
    label.innerHTML = `<input type="checkbox" name="heights" value="${h}" checked><span>${h}p</span>`;
    options.append(label);
  }
  const heightBoxes = [...options.querySelectorAll('input')];

  // What the dialog is doing: 'idle' | 'uploading' | 'processing'.
  let state = 'idle';
  let abortUpload = null;
  let current = null; // the video object once the server accepted it

  const chosenHeights = () => heightBoxes.filter((b) => b.checked).map((b) => Number(b.value));

  function refresh() {
    const busy = state !== 'idle';
    for (const el of form.querySelectorAll('input, select')) el.disabled = busy;
    drop.classList.toggle('disabled', busy);
    const file = fileInput.files?.[0];
    const heights = chosenHeights();
    submit.disabled = busy || !file || heights.length === 0;
    submit.title = !file ? 'Choose a file first' : heights.length === 0 ? 'Choose at least one rendition' : '';
    dropText.textContent = file ? `${file.name} · ${bytes(file.size)}` : 'Choose a file, or drop it here';
    drop.classList.toggle('chosen', Boolean(file));
    cancel.textContent = state === 'processing' ? 'Close' : 'Cancel';
    watch.hidden = state !== 'processing';
    submit.hidden = state === 'processing';
    progress.hidden = state === 'idle';
  }

  function showError(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  function setProgress(label, fraction, detail = '') {
    phase.textContent = label;
    pct.textContent = !label ? '' : detail ? `${detail} · ${percent(fraction)}` : percent(fraction);
    bar.value = Math.max(0, Math.min(1, fraction || 0));
  }

  function reset() {
    state = 'idle';
    abortUpload = null;
    current = null;
    setProgress('', 0);
    refresh();
  }

  function open(file) {
    if (state === 'idle') {
      showError('');
      form.reset();
      for (const b of heightBoxes) b.checked = true;
      if (file) setFiles(file);
      // Shown once the server has asked for a key (401), or when one is kept already.
      keyInput.value = apiKey();
      keyRow.hidden = !keyInput.value;
    }
    refresh();
    hooks.onOpen?.();
    if (!dialog.open) dialog.showModal();
  }

  function close() {
    if (state === 'uploading') abortUpload?.();
    // The server keeps working on an upload it accepted; the sidebar shows its progress.
    if (state === 'processing') reset();
    if (dialog.open) dialog.close();
  }

  fileInput.addEventListener('change', () => {
    showError('');
    refresh();
  });
  for (const b of heightBoxes) b.addEventListener('change', refresh);

  for (const kind of ['dragenter', 'dragover']) {
    drop.addEventListener(kind, (e) => {
      if (state !== 'idle') return;
      e.preventDefault();
      drop.classList.add('over');
    });
  }
  for (const kind of ['dragleave', 'drop']) drop.addEventListener(kind, () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    if (state !== 'idle' || !e.dataTransfer?.files.length) return;
    e.preventDefault();
    e.stopPropagation();
    setFiles(e.dataTransfer.files);
  });

  function setFiles(files) {
    fileInput.files = files;
    fileInput.dispatchEvent(new Event('change'));
  }

  keyInput.addEventListener('change', () => setApiKey(keyInput.value.trim()));

  for (const b of dialog.querySelectorAll('[data-action="close"]')) b.addEventListener('click', close);
  // Escape: the same as Cancel/Close.
  dialog.addEventListener('cancel', (e) => {
    e.preventDefault();
    close();
  });

  watch.addEventListener('click', () => {
    const video = current;
    close();
    if (video) hooks.onWatch?.(video);
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const file = fileInput.files?.[0];
    const heights = chosenHeights();
    if (!file || heights.length === 0 || state !== 'idle') return;
    if (!keyRow.hidden) setApiKey(keyInput.value.trim());
    showError('');
    state = 'uploading';
    refresh();
    setProgress('Uploading', 0, `0 B of ${bytes(file.size)}`);

    const job = uploadVideo(
      {
        file,
        heights,
        segmentSeconds: Number($('upload-segment').value),
        format: $('upload-format').value,
      },
      (sent, total) => setProgress('Uploading', total ? sent / total : 0, `${bytes(sent)} of ${bytes(total)}`),
    );
    abortUpload = job.abort;

    let video;
    try {
      video = await job.promise;
    } catch (err) {
      reset();
      if (err.status === 401) {
        keyRow.hidden = false;
        keyInput.focus();
        showError(
          keyInput.value
            ? 'The server refused this API key.'
            : 'This server wants an API key for uploads: enter it above.',
        );
      } else if (err.code !== 'aborted') {
        showError(err.message);
      }
      return;
    }

    current = video;
    state = 'processing';
    refresh();
    store.upsert(video);
    store.prefer(video.id);
    processing(store.get(video.id) ?? video);
  });

  // The store's news about the video being processed.
  store.subscribe((v) => {
    if (v && state === 'processing' && current?.id === v.id) processing(v);
  });

  function processing(v) {
    current = v;
    if (v.status === 'ready') {
      setProgress('Ready', 1);
      reset();
      if (dialog.open) dialog.close();
      hooks.onReady?.(v);
    } else if (v.status === 'failed') {
      reset();
      showError(`Processing failed: ${v.error || 'the server gave no reason.'}`);
    } else {
      setProgress(v.status === 'queued' ? 'Queued' : 'Processing', v.progress);
    }
  }

  refresh();
  return { open, close, isOpen: () => dialog.open };
}
