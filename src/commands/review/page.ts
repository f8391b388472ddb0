/**
 * The review page: one HTML document with an inline script that asks api/rows for a page of cards at a time (more
 * as the list is scrolled to its end), draws the filters with their counts, and saves an edited answer. Everything
 * from the output (paths, answers, messages: user data) goes into the page with textContent, never as HTML.
 */
import { escapeHtml } from '../dashboard/page.js';

const STYLE = `
:root { --ok: #1a7f37; --failed: #cf222e; --skipped: #6e7781; --line: #d0d7de; --muted: #57606a; --accent: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: #1f2328; background: #f6f8fa; }
header { position: sticky; top: 0; z-index: 2; display: flex; flex-wrap: wrap; gap: 6px 18px; align-items: center; padding: 10px 20px; background: #fff; border-bottom: 1px solid var(--line); }
header h1 { font-size: 17px; margin: 0; }
header label { color: var(--muted); font-size: 12.5px; margin-right: 12px; }
header select { margin-left: 4px; font: inherit; font-size: 13px; }
#summary { margin-left: auto; color: var(--muted); }
#banner { display: none; margin: 12px 20px 0; padding: 8px 12px; border: 1px solid #ff818266; border-radius: 6px; background: #ffebe9; color: var(--failed); }
#grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 12px; padding: 12px 20px; }
.card { display: grid; grid-template-columns: 220px 1fr; gap: 12px; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px; }
.card.reviewed { border-color: #4ac26b; box-shadow: inset 3px 0 0 #4ac26b; }
.media { display: flex; flex-wrap: wrap; gap: 4px; align-content: flex-start; }
.media img.thumb { max-width: 220px; max-height: 220px; border-radius: 4px; background: #eaeef2; }
.media .frames img { width: 70px; height: 52px; object-fit: cover; border-radius: 3px; }
.media video { width: 220px; max-height: 180px; background: #000; border-radius: 4px; }
.media audio { width: 220px; }
.media pre { margin: 0; max-height: 200px; overflow: auto; white-space: pre-wrap; font-size: 12px; background: #f6f8fa; padding: 6px; border-radius: 4px; width: 100%; }
.path { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; word-break: break-all; }
.meta { display: flex; flex-wrap: wrap; gap: 4px 8px; align-items: baseline; margin-bottom: 6px; }
.badge { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 12px; background: #eaeef2; }
.badge.ok { background: #dafbe1; color: var(--ok); } .badge.failed { background: #ffebe9; color: var(--failed); } .badge.skipped { color: var(--skipped); }
.badge.rev { background: #dafbe1; }
.muted { color: var(--muted); font-size: 12.5px; }
.err { color: var(--failed); font-size: 12.5px; }
textarea { width: 100%; min-height: 84px; font: inherit; font-size: 13.5px; padding: 6px; border: 1px solid var(--line); border-radius: 4px; resize: vertical; }
.actions { display: flex; gap: 10px; align-items: center; margin-top: 4px; }
button { font: inherit; padding: 3px 12px; border: 1px solid var(--line); border-radius: 6px; background: #f6f8fa; cursor: pointer; }
button.save { background: var(--accent); border-color: var(--accent); color: #fff; }
button:disabled { opacity: .5; cursor: default; }
#more { display: block; margin: 4px auto 24px; }
`;

const SCRIPT = String.raw`
'use strict';
const state = { version: null, offset: 0, matches: 0, loading: false, filter: {} };
const FILTERS = ['status', 'code', 'label', 'reviewed'];
function h(tag, attrs, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) node.setAttribute(k, v);
  for (const kid of kids) if (kid !== null && kid !== undefined) node.append(kid);
  return node;
}
const q = (name) => 'path=' + encodeURIComponent(name);
function banner(text) {
  const b = document.getElementById('banner');
  b.textContent = text || '';
  b.style.display = text ? 'block' : 'none';
}
function mediaOf(r) {
  const m = r.media;
  const box = h('div', { class: 'media' });
  if (m.type === 'image') box.append(h('a', { href: 'media?' + q(m.src), target: '_blank' }, h('img', { class: 'thumb', src: 'thumb?' + q(m.src), alt: m.src, loading: 'lazy', 'data-field': 'thumb' })));
  else if (m.type === 'video') box.append(h('video', { src: 'media?' + q(m.src), controls: '', preload: 'metadata', 'data-field': 'video' }));
  else if (m.type === 'audio') box.append(h('audio', { src: 'media?' + q(m.src), controls: '', preload: 'metadata', 'data-field': 'audio' }));
  else if (m.type === 'frames') box.append(h('div', { class: 'frames media', 'data-field': 'frames' }, ...m.frames.map((f) => h('img', { src: 'thumb?' + q(f), alt: f, loading: 'lazy', 'data-field': 'frame' }))));
  else if (m.type === 'text') box.append(h('pre', { 'data-field': 'text' }, r.text));
  else if (m.type === 'url') box.append(h('a', { href: m.url, target: '_blank', rel: 'noreferrer', class: 'path' }, m.url));
  const kept = Object.entries(r.kept || {});
  if (m.type === 'none') box.append(kept.length ? h('pre', { 'data-field': 'text' }, kept.map(([k, v]) => k + ': ' + v).join('\n')) : h('span', { class: 'muted' }, 'no media'));
  if (r.speech) box.append(h('div', { class: 'muted' }, 'spoken answer'), h('audio', { src: 'media?' + q(r.speech), controls: '', preload: 'none', 'data-field': 'speech' }));
  return box;
}
function card(r, cols) {
  const areas = cols.map((c, i) => h('textarea', { 'data-field': 'answer', 'aria-label': c }, r.answers[i] || ''));
  const note = h('span', { class: 'muted', 'data-field': 'note' });
  const save = h('button', { class: 'save', 'data-field': 'save' }, 'Save');
  const node = h('article', { class: 'card' + (r.reviewed ? ' reviewed' : ''), 'data-path': r.path, 'data-status': r.status },
    mediaOf(r),
    h('div', {},
      h('div', { class: 'meta' }, h('span', { class: 'path', 'data-field': 'path' }, r.path),
        h('span', { class: 'badge ' + r.status, 'data-field': 'status' }, r.status),
        r.reviewed ? h('span', { class: 'badge rev', 'data-field': 'reviewed' }, 'reviewed') : null,
        ...r.labels.map((l) => h('span', { class: 'badge', 'data-field': 'label' }, l))),
      r.source && r.media.type !== 'url' ? h('div', { class: 'muted path' }, r.source.length > 160 ? r.source.slice(0, 160) + '...' : r.source) : null,
      r.errorCode ? h('div', { class: 'err', 'data-field': 'error' }, r.errorCode + (r.errorMessage ? ': ' + r.errorMessage : '')) : null,
      r.preprocess ? h('div', { class: 'muted' }, r.model + ' \u00b7 ' + r.preprocess) : h('div', { class: 'muted' }, r.model),
      ...cols.map((c, i) => cols.length > 1 ? h('label', { class: 'muted' }, c, areas[i]) : areas[i]),
      h('div', { class: 'actions' }, save, note)));
  save.addEventListener('click', () => saveCard(r, areas, save, note, node, cols));
  return node;
}
async function saveCard(r, areas, save, note, node, cols) {
  save.disabled = true;
  note.textContent = 'saving\u2026';
  try {
    const res = await fetch('api/rows/' + r.n, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: state.version, path: r.path, answers: areas.map((a) => a.value) }) });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || res.status + ' ' + res.statusText);
    state.version = body.version;
    const fresh = card(body.row, cols);
    fresh.querySelector('[data-field="note"]').textContent = 'saved' + (body.sidecar ? ' \u00b7 ' + body.sidecar : '');
    node.replaceWith(fresh);
  } catch (err) {
    note.textContent = '';
    note.className = 'err';
    note.textContent = err.message;
    save.disabled = false;
  }
}
function drawFilters(counts, total) {
  const labels = { status: 'status', code: 'error code', label: 'label', reviewed: 'reviewed' };
  const bar = document.getElementById('filters');
  bar.replaceChildren(...FILTERS.filter((f) => f !== 'label' || Object.keys(counts.label).length).map((f) => {
    const sel = h('select', { name: f, 'data-filter': f }, h('option', { value: '' }, 'all (' + total + ')'),
      ...Object.entries(counts[f]).sort().map(([v, n]) => h('option', { value: v }, v + ' (' + n + ')')));
    sel.value = state.filter[f] || '';
    sel.addEventListener('change', () => { state.filter[f] = sel.value; load(true); });
    return h('label', {}, labels[f], sel);
  }));
}
async function load(reset) {
  // A filter changed while a page was loading: that answer is dropped (seq), this one drawn.
  if (state.loading && !reset) return;
  const seq = state.seq = (state.seq || 0) + 1;
  state.loading = true;
  const grid = document.getElementById('grid');
  const offset = reset ? 0 : state.offset;
  const params = new URLSearchParams({ offset: String(offset) });
  for (const f of FILTERS) if (state.filter[f]) params.set(f, state.filter[f]);
  try {
    const res = await fetch('api/rows?' + params, { cache: 'no-store' });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || res.status + ' ' + res.statusText);
    if (seq !== state.seq) return;
    if (reset || state.version === null) state.version = body.version;
    else if (body.version !== state.version) banner('The output changed on disk since this page read it (a run still writing it?): saving is refused until you reload the page.');
    if (reset) grid.replaceChildren();
    drawFilters(body.counts, body.total);
    grid.append(...body.rows.map((r) => card(r, body.answerColumns)));
    state.offset = offset + body.rows.length;
    state.matches = body.matches;
    document.getElementById('summary').textContent = body.matches + ' of ' + body.total + ' rows' + (body.answerFormat ? ' \u00b7 answers: ' + body.answerFormat : '') + (body.sidecars ? ' \u00b7 edits go to the sidecars too' : '');
    document.getElementById('more').style.display = state.offset < state.matches ? 'block' : 'none';
  } catch (err) {
    banner('Cannot read the output: ' + err.message);
  } finally {
    if (seq === state.seq) state.loading = false;
  }
}
document.getElementById('more').addEventListener('click', () => load(false));
new IntersectionObserver((seen) => { if (seen.some((e) => e.isIntersecting) && state.offset < state.matches) load(false); }).observe(document.getElementById('more'));
load(true);
`;

export function reviewPage(opts: { nonce: string; label: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>omni-batch review: ${escapeHtml(opts.label)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>Review <span class="path">${escapeHtml(opts.label)}</span></h1>
  <span id="filters"></span>
  <span id="summary"></span>
</header>
<div id="banner" role="alert"></div>
<main id="grid"></main>
<button id="more" type="button">Load more</button>
<script nonce="${escapeHtml(opts.nonce)}">${SCRIPT}</script>
</body>
</html>
`;
}
