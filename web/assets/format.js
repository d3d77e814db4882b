// How numbers read on the page: durations, bit rates, sizes, dates.

/// 75.4 → "1:15", 3725 → "1:02:05".
export function clock(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '0:00';
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/// Bits per second → "2.7 Mb/s", "460 kb/s".
export function bitrate(bps) {
  if (!Number.isFinite(bps) || bps <= 0) return '–';
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(bps >= 1e7 ? 0 : 1)} Mb/s`;
  return `${Math.round(bps / 1e3)} kb/s`;
}

/// Bytes → "12.3 MB".
export function bytes(n) {
  if (!Number.isFinite(n) || n < 0) return '–';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i += 1;
  }
  return `${n.toFixed(i === 0 || n >= 100 ? 0 : 1)} ${units[i]}`;
}

/// Epoch milliseconds → "14:05" (today), "3 Mar 14:05", "3 Mar 2024".
export function when(ms) {
  const d = new Date(ms);
  const now = new Date();
  const time = d.toLocaleTimeString([], { hour: 'numeric', minute: '2-digit' });
  if (d.toDateString() === now.toDateString()) return time;
  const sameYear = d.getFullYear() === now.getFullYear();
  const date = d.toLocaleDateString([], { day: 'numeric', month: 'short', ...(sameYear ? {} : { year: 'numeric' }) });
  return sameYear ? `${date} ${time}` : date;
}

/// The rung name of a rendition or hls.js level: its short side ("720p"), as the ladder
/// names rungs (a portrait 720x1280 picture is the 720 rung).
export function rungName(width, height) {
  if (!width || !height) return height ? `${height}p` : '?';
  return `${Math.min(width, height)}p`;
}

export const percent = (x) => `${Math.round(Math.max(0, Math.min(1, x || 0)) * 100)}%`;
