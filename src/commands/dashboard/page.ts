/**
 * The runs page: one HTML document with a small inline script that polls /api/runs and /api/runs/:id and draws
 * the numbers. Everything that comes from Redis (paths, answers, error messages: user data) is put into the
 * page with textContent, never as HTML, so a file named `<img onerror=...>.jpg` shows as text. The few values
 * the server writes into the HTML itself go through escapeHtml.
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

export interface PageOptions {
  /** The Redis the dashboard reads, password redacted. */
  redisLabel: string;
  /** Where Bull Board is mounted. */
  queuesPath: string;
  /** How often the page asks for new numbers. */
  pollMs: number;
  /** Allows the inline script under the page's Content-Security-Policy. */
  nonce: string;
}

const STYLE = `
:root { --ok: #1a7f37; --failed: #cf222e; --skipped: #6e7781; --line: #d0d7de; --muted: #57606a; --bar: #2f81f7; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: #1f2328; background: #f6f8fa; }
header { display: flex; flex-wrap: wrap; gap: 4px 24px; align-items: baseline; padding: 12px 24px; background: #fff; border-bottom: 1px solid var(--line); }
header h1 { font-size: 18px; margin: 0; }
header .meta { color: var(--muted); }
header a { margin-left: auto; }
main { max-width: 1400px; margin: 0 auto; padding: 16px 24px 32px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; margin-bottom: 16px; }
h2 { font-size: 16px; margin: 0 0 8px; }
h3 { font-size: 14px; margin: 0 0 6px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eaeef2; vertical-align: top; }
th { color: var(--muted); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.run { cursor: pointer; }
tr.run:hover { background: #f6f8fa; }
tr.run.selected { background: #ddf4ff; }
.bar { position: relative; height: 10px; min-width: 120px; background: #eaeef2; border-radius: 5px; overflow: hidden; }
.bar > span { position: absolute; inset: 0 auto 0 0; background: var(--bar); }
.big .bar { height: 14px; margin: 8px 0 12px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 8px; }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; }
.tile .label { color: var(--muted); font-size: 12px; }
.tile .value { white-space: nowrap; font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.cols { display: grid; grid-template-columns: minmax(260px, 1fr) 2fr; gap: 16px; margin-top: 12px; }
.ok { color: var(--ok); } .failed { color: var(--failed); } .skipped { color: var(--skipped); }
.path { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; word-break: break-all; }
.clip { max-width: 420px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.muted { color: var(--muted); }
.state { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; background: #eaeef2; }
.state.running { background: #ddf4ff; } .state.done { background: #dafbe1; } .state.stalled { background: #fff8c5; }
section:empty { display: none; }
#error { display: none; background: #ffebe9; border-color: #ff818266; color: var(--failed); }
`;

/** The client: fetch, then draw with DOM nodes and textContent only. */
const SCRIPT = String.raw`
const POLL_MS = Number(document.body.dataset.pollMs);
const fmtInt = (n) => Number(n).toLocaleString('en-US');
const fmtCost = (r) => (r.currency ? r.cost.toFixed(6) + ' ' + r.currency : 'no price');
const fmtRate = (r) => (r.ratePerSec > 0 ? r.ratePerSec.toFixed(r.ratePerSec >= 10 ? 0 : 1) + ' files/s' : '-');
const fmtEta = (s) => (s === null ? '?' : s >= 3600 ? (s / 3600).toFixed(1) + ' h' : s >= 60 ? Math.round(s / 60) + ' min' : s + ' s');
const fmtPct = (r) => (r.percent === null ? '-' : (r.percent >= 99.95 || r.percent === 0 ? r.percent.toFixed(0) : r.percent.toFixed(1)) + '%');
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'class') node.className = v;
    else if (k === 'field') node.dataset.field = v;
    else if (k === 'onclick') node.addEventListener('click', v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}
function bar(percent) {
  const fill = el('span');
  fill.style.width = (percent === null ? 0 : percent) + '%';
  return el('div', { class: 'bar', role: 'progressbar', 'aria-valuenow': String(percent === null ? 0 : Math.round(percent)) }, fill);
}
function state(r, queue) {
  if (!r.producerDone) return ['enqueueing', 'running'];
  if (r.pending === 0) return ['done', 'done'];
  if (queue.workers === 0) return ['waiting for a worker', 'stalled'];
  return ['running', 'running'];
}
function table(head, rows, numeric) {
  return el('table', {},
    el('thead', {}, el('tr', {}, ...head.map((h, i) => el('th', numeric.includes(i) ? { class: 'num' } : {}, h)))),
    el('tbody', {}, ...rows));
}
const fromHash = () => { try { return decodeURIComponent((location.hash.match(/^#run=(.+)$/) || [])[1] || ''); } catch { return ''; } };
let selected = fromHash();
function select(id) {
  selected = id;
  history.replaceState(null, '', '#run=' + encodeURIComponent(id));
  refresh();
}
function drawList(data) {
  document.getElementById('queue').textContent = data.queue === null ? '' :
    'queue: ' + fmtInt(data.queue.waiting) + ' waiting, ' + fmtInt(data.queue.active) + ' running, ' +
    fmtInt(data.queue.workers) + ' worker connection' + (data.queue.workers === 1 ? '' : 's');
  const list = document.getElementById('runs');
  if (!data.runs.length) {
    list.replaceChildren(el('p', { class: 'muted' }, 'No runs in this Redis yet: omni-batch enqueue JOB --redis URL adds one.'));
    return;
  }
  list.replaceChildren(table(
    ['run', 'state', 'progress', 'done', 'ok', 'failed', 'skipped', 'pending', 'tokens', 'cost', 'created'],
    data.runs.map((r) => el('tr', { class: 'run' + (r.id === selected ? ' selected' : ''), 'data-run': r.id, onclick: () => select(r.id) },
      el('td', { class: 'path' }, r.id),
      el('td', {}, el('span', { class: 'state ' + state(r, data.queue)[1] }, state(r, data.queue)[0])),
      el('td', {}, bar(r.percent)),
      el('td', { class: 'num' }, fmtInt(r.rows) + ' / ' + (r.producerDone ? fmtInt(r.found) : '?')),
      el('td', { class: 'num ok' }, fmtInt(r.ok)),
      el('td', { class: 'num failed' }, fmtInt(r.failed)),
      el('td', { class: 'num skipped' }, fmtInt(r.skipped)),
      el('td', { class: 'num' }, fmtInt(r.pending)),
      el('td', { class: 'num' }, fmtInt(r.tokens.total)),
      el('td', { class: 'num' }, fmtCost(r)),
      el('td', { class: 'muted' }, r.createdAt && !Number.isNaN(Date.parse(r.createdAt)) ? new Date(r.createdAt).toLocaleString() : '-'))),
    [3, 4, 5, 6, 7, 8, 9]));
}
function tile(label, value, field, cls) {
  return el('div', { class: 'tile' }, el('div', { class: 'label' }, label), el('div', { class: 'value ' + (cls || ''), field }, value));
}
function drawRun(data) {
  const r = data.run;
  const [stateText, stateClass] = state(r, data.queue);
  const tokens = [['text', r.tokens.text], ['image', r.tokens.image], ['audio', r.tokens.audio], ['video', r.tokens.video],
    ['prompt (all)', r.tokens.prompt], ['answer', r.tokens.answer], ['answer audio', r.tokens.answerAudio], ['total', r.tokens.total]];
  document.getElementById('run').replaceChildren(
    el('h2', {}, 'Run ', el('span', { class: 'path', field: 'run-id' }, r.id), ' ', el('span', { class: 'state ' + stateClass, field: 'state' }, stateText)),
    el('div', { class: 'muted' }, 'model ', el('b', {}, r.model || '?'), ' \u00b7 output ', el('span', { class: 'path' }, r.out),
      ' \u00b7 this pass: ' + fmtInt(r.found) + ' found, ' + fmtInt(r.enqueued) + ' enqueued, ' + fmtInt(r.alreadyDone) + ' already done'),
    el('div', { class: 'big' }, bar(r.percent)),
    el('div', { class: 'tiles' },
      tile('done', fmtInt(r.rows) + ' / ' + (r.producerDone ? fmtInt(r.found) : '?'), 'done'),
      tile('progress', fmtPct(r), 'percent'),
      tile('ok', fmtInt(r.ok), 'ok', 'ok'),
      tile('failed', fmtInt(r.failed), 'failed', 'failed'),
      tile('skipped', fmtInt(r.skipped), 'skipped', 'skipped'),
      tile('pending', fmtInt(r.pending), 'pending'),
      tile('rate', fmtRate(r), 'rate'),
      tile('ETA', r.pending === 0 ? '-' : fmtEta(r.etaSec), 'eta'),
      tile('tokens', fmtInt(r.tokens.total), 'tokens'),
      tile('cost', fmtCost(r), 'cost'),
      tile('API requests', fmtInt(r.requests), 'requests')),
    el('div', { class: 'cols' },
      el('div', {}, el('h3', {}, 'Tokens by modality'),
        table(['', 'tokens'], tokens.map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', { class: 'num', field: 'tokens-' + k.replace(/[^a-z]+/g, '-') }, fmtInt(v)))), [1])),
      el('div', { field: 'failures' }, el('h3', {}, 'Failed and skipped, by error code'),
        r.failures.length
          ? table(['code', 'rows', 'e.g.', 'message'], r.failures.map((f) => el('tr', { 'data-code': f.code },
              el('td', { class: 'failed' }, f.code), el('td', { class: 'num' }, fmtInt(f.count)),
              el('td', { class: 'path' }, f.path || '-'), el('td', { class: 'clip', title: f.message }, f.message))), [1])
          : el('p', { class: 'muted' }, 'none'))),
    el('h3', { style: 'margin-top:12px' }, 'Latest rows'),
    r.latest.length
      ? table(['path', 'kind', 'status', 'error', 'tokens', 'cost', 'latency', 'answer'], r.latest.map((x) => el('tr', { field: 'latest-row' },
          el('td', { class: 'path' }, x.path), el('td', {}, x.kind), el('td', { class: x.status }, x.status),
          el('td', { title: x.errorMessage }, x.errorCode), el('td', { class: 'num' }, fmtInt(x.totalTokens)),
          el('td', { class: 'num' }, x.cost === null ? '' : x.cost.toFixed(6)),
          el('td', { class: 'num' }, x.latencyMs === null ? '' : fmtInt(x.latencyMs) + ' ms'),
          el('td', { class: 'clip', title: x.answer }, x.answer))), [4, 5, 6])
      : el('p', { class: 'muted' }, 'no rows yet'));
}
async function getJson(url) {
  const res = await fetch(url, { cache: 'no-store' });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.status + ' ' + res.statusText);
  return body;
}
let timer;
async function refresh() {
  clearTimeout(timer);
  const banner = document.getElementById('error');
  try {
    const list = await getJson('api/runs');
    if (!list.runs.some((r) => r.id === selected)) selected = list.runs.length ? list.runs[0].id : '';
    drawList(list);
    if (selected) drawRun(await getJson('api/runs/' + encodeURIComponent(selected)));
    else document.getElementById('run').replaceChildren();
    banner.style.display = 'none';
    document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (err) {
    banner.textContent = 'Cannot read the runs: ' + err.message + ' (trying again)';
    banner.style.display = 'block';
  }
  timer = setTimeout(refresh, POLL_MS);
}
refresh();
`;

export function dashboardPage(opts: PageOptions): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>omni-batch runs</title>
<style>${STYLE}</style>
</head>
<body data-poll-ms="${opts.pollMs}">
<header>
  <h1>omni-batch runs</h1>
  <span class="meta">Redis ${escapeHtml(opts.redisLabel)}</span>
  <span class="meta" id="queue"></span>
  <span class="meta" id="updated"></span>
  <a href="${escapeHtml(opts.queuesPath)}/">Queues (Bull Board) &rarr;</a>
</header>
<main>
  <section id="error" role="alert"></section>
  <section><h2>Runs</h2><div id="runs"><p class="muted">loading&hellip;</p></div></section>
  <section id="run"></section>
</main>
<script nonce="${escapeHtml(opts.nonce)}">${SCRIPT}</script>
</body>
</html>
`;
}
