/**
 * The review page's web server: the page, a page of rows with the filter counts (api/rows), an edit (POST
 * api/rows/N), and the files the output names (media, with Range requests, and thumb, a small JPEG). The Host
 * check, listening and closing are the dashboard's (http-server.ts). An edit must come as JSON from this page's
 * own origin: another site open in the browser cannot send one.
 */
import { randomBytes } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { SidecarOptions } from '../../shared/output/sidecar.js';
import { unflatten } from '../../shared/row.js';
import { closeServer, endHandlers, hostCheck, hostNames, listen, pageHeaders, serverUrl } from '../http-server.js';
import { answerColumnsOf, EditRefused, saveEdit, type Edit } from './edit.js';
import { mediaOf } from './media.js';
import { reviewPage } from './page.js';
import type { Filter, ReviewStore } from './store.js';

export interface ReviewOptions {
  readonly store: ReviewStore;
  readonly host: string;
  readonly port: number;
  readonly allowHosts?: readonly string[];
  /** How the edited row's sidecar is written; undefined: the run writes none. */
  readonly sidecars: SidecarOptions | undefined;
  /** The output as the page names it. */
  readonly label: string;
}

export interface RunningReview {
  readonly url: string;
  close(): Promise<void>;
}

const PAGE_ROWS = 48;
const MAX_PAGE_ROWS = 200;

export async function startReview(opts: ReviewOptions): Promise<RunningReview> {
  const { store } = opts;
  const app = express();
  app.disable('x-powered-by');
  app.use(hostCheck(hostNames(opts.host, opts.allowHosts ?? []), 'review'));
  app.get('/', (_req, res) => {
    const nonce = randomBytes(16).toString('base64');
    pageHeaders(res, nonce, true);
    res.type('html').send(reviewPage({ nonce, label: opts.label }));
  });
  app.get('/api/rows', (req, res, next) => void rowsPage(store, req, res).catch(next));
  app.post('/api/rows/:n', sameOrigin, express.json({ limit: '4mb' }), (req, res, next) => void edit(opts, req, res).catch(next));
  app.get('/media', (req, res, next) => void media(store, req, res, false).catch(next));
  app.get('/thumb', (req, res, next) => void media(store, req, res, true).catch(next));
  endHandlers(app, (err) => (err instanceof EditRefused ? err.status : 500));
  const server = await listen(app, opts);
  return { url: serverUrl(server, opts.host), close: () => closeServer(server) };
}

/** Refuses a request sent from another origin (a form or script of another site). */
function sameOrigin(req: Request, res: Response, next: NextFunction): void {
  const origin = req.headers.origin;
  if (origin !== undefined && origin.replace(/^https?:\/\//, '') !== req.headers.host) {
    res.status(403).json({ error: `refused: an edit from another origin (${origin})` });
    return;
  }
  if (!req.is('application/json')) {
    res.status(415).json({ error: 'an edit is JSON' });
    return;
  }
  next();
}

const param = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

/** The rows that pass the filters, from `offset`, with the counts of every filter value. */
async function rowsPage(store: ReviewStore, req: Request, res: Response): Promise<void> {
  await store.fresh();
  const q = req.query;
  const filter: Filter = { status: param(q.status), code: param(q.code), label: param(q.label), reviewed: param(q.reviewed) };
  const offset = Math.max(0, Number(q.offset) || 0);
  const limit = Math.min(MAX_PAGE_ROWS, Math.max(1, Number(q.limit) || PAGE_ROWS));
  const { matches, counts } = store.query(filter);
  const rows = [];
  for (const n of matches.slice(offset, offset + limit)) rows.push(await rowView(store, n));
  res.setHeader('Cache-Control', 'no-store');
  res.json({
    version: store.version,
    total: store.entries.length,
    matches: matches.length,
    offset,
    counts,
    answerColumns: answerColumnsOf(store.columns),
    answerFormat: store.run.format ? (store.run.format.labels ? 'labels' : 'schema') : null,
    sidecars: store.run.sidecars !== undefined,
    rows: rows.filter(Boolean),
  });
}

/** One card's data. */
async function rowView(store: ReviewStore, n: number): Promise<Record<string, unknown> | undefined> {
  const rec = await store.record(n);
  const row = rec && unflatten(rec);
  if (!rec || !row) return undefined;
  const media = mediaOf(row);
  const kept = Object.fromEntries(Object.entries(row.kept ?? {}).map(([k, v]) => [`row_${k}`, v]));
  return {
    n,
    path: row.path,
    source: row.source,
    kind: row.kind,
    status: row.status,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    model: row.model,
    preprocess: row.preprocess,
    reviewed: row.reviewed === true,
    answers: answerColumnsOf(store.columns).map((c) => (typeof rec[c] === 'string' ? rec[c] : '')),
    labels: store.entries[n]?.labels ?? [],
    media,
    text: media.type === 'text' ? await store.media.text(media.src) : undefined,
    speech: row.audio_path || undefined,
    kept,
  };
}

async function edit(opts: ReviewOptions, req: Request, res: Response): Promise<void> {
  const body = req.body as Partial<Edit> | undefined;
  const n = Number(req.params.n);
  if (!Number.isInteger(n) || typeof body?.version !== 'string' || typeof body.path !== 'string' || !Array.isArray(body.answers) || !body.answers.every((a) => typeof a === 'string')) {
    res.status(400).json({ error: 'expected {version, path, answers: [text]}' });
    return;
  }
  const saved = await saveEdit(opts.store, n, { version: body.version, path: body.path, answers: body.answers }, opts.sidecars);
  res.json({ version: opts.store.version, row: await rowView(opts.store, n), sidecar: saved.sidecar ?? null });
}

/** A file the output names (Range requests answered by express's sendFile), or its thumbnail; else a 404. */
async function media(store: ReviewStore, req: Request, res: Response, thumb: boolean): Promise<void> {
  const abs = await store.media.file(param(req.query.path) ?? '');
  if (!abs) {
    res.status(404).json({ error: 'not a file this output names' });
    return;
  }
  res.setHeader('Cache-Control', 'private, max-age=60');
  if (!thumb) {
    res.sendFile(abs, { dotfiles: 'allow' });
    return;
  }
  try {
    res.type('jpeg').send(await store.media.thumbnail(abs));
  } catch (err) {
    res.status(415).json({ error: `cannot make a thumbnail: ${(err as Error).message}` });
  }
}
