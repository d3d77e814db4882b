// The pages' one message line: `toast(text)` shows it in the page's `#toast` element for a
// few seconds (a newer message replaces an older one at once).

const SHOW_MS = 6000;
let timer = null;

export function toast(message) {
  const box = document.getElementById('toast');
  if (!box) return;
  box.textContent = message;
  box.hidden = false;
  clearTimeout(timer);
  timer = setTimeout(() => (box.hidden = true), SHOW_MS);
}
