/**
 * Part 6, cost: for the preprocessing corpus, the prompt tokens and bytes uploaded with omni-batch's defaults vs
 * sending every original unmodified (where the API accepts it). Both sides go to the stand-in, which counts
 * tokens from the media it receives as DashScope documents; an original it refuses (too big, a format the API
 * does not take) is counted as refused, not as tokens.
 * Run: npm run bench:cost
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import type { ChatCompletionContentPart } from 'openai/resources/chat/completions';
import { bigCorpus } from '../test/corpus.js';
import { FIXTURES } from '../test/helpers.js';
import { KEY, MODEL, requireBuild, runNode, startStandInProcess, stopAll } from './lib/processes.js';
import { markdown, publish, ratio, type Table } from './lib/report.js';

interface Row {
  path: string;
  kind: string;
  status: string;
  prompt_tokens: number | null;
  estimated_tokens: number | null;
  source_bytes: number | null;
  sent_bytes: number | null;
}

/** The original as the API would get it without omni-batch: a data URL of the file's bytes, by its extension. */
function originalPart(file: string, bytes: Buffer, kind: string): unknown {
  const ext = path.extname(file).slice(1).toLowerCase();
  const b64 = bytes.toString('base64');
  if (kind === 'image') return { type: 'image_url', image_url: { url: `data:image/${ext === 'jpg' ? 'jpeg' : ext};base64,${b64}` } };
  if (kind === 'audio') return { type: 'input_audio', input_audio: { data: `data:;base64,${b64}`, format: ext } };
  return { type: 'video_url', video_url: { url: `data:;base64,${b64}` } };
}

export async function cost(): Promise<void> {
  requireBuild();
  const C = await bigCorpus();
  const work = await mkdtemp(path.join(os.tmpdir(), 'omni-batch-bench-cost-'));
  const api = await startStandInProcess({ latencyMs: 0 });
  const table: Table = {
    head: ['kind', 'files', 'omni-batch: sent', 'prompt tokens', 'estimated tokens', 'MB uploaded', 'originals: accepted', 'prompt tokens', 'MB uploaded', 'tokens saved', 'bytes saved'],
    rows: [],
  };
  try {
    const out = path.join(work, 'out.jsonl');
    await runNode(['run', '--input', FIXTURES, '--input', C, '--exclude', '*.{md,sh,txt}', '--prompt', 'Describe', '--out', out, '--concurrency', '4', '--base-url', api.baseURL]);
    const rows = (await readFile(out, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row);
    const client = new OpenAI({ apiKey: KEY, baseURL: api.baseURL, maxRetries: 0 });
    type Sum = { files: number; ok: number; tokens: number; est: number; bytes: number; origOk: number; origTokens: number; origBytes: number; bothTokensOmni: number; bothTokensOrig: number; bothBytesOmni: number; bothBytesOrig: number };
    const sums = new Map<string, Sum>();
    const files = new Map((await Promise.all([FIXTURES, C].map(async (d) => (await readdir(d)).map((f) => path.join(d, f))))).flat().map((f) => [path.basename(f), f]));
    for (const row of rows) {
      if (!['image', 'audio', 'video'].includes(row.kind)) continue;
      const s = sums.get(row.kind) ?? { files: 0, ok: 0, tokens: 0, est: 0, bytes: 0, origOk: 0, origTokens: 0, origBytes: 0, bothTokensOmni: 0, bothTokensOrig: 0, bothBytesOmni: 0, bothBytesOrig: 0 };
      sums.set(row.kind, s);
      s.files++;
      const omniOk = row.status === 'ok';
      if (omniOk) {
        s.ok++;
        s.tokens += row.prompt_tokens ?? 0;
        s.est += row.estimated_tokens ?? 0;
        s.bytes += row.sent_bytes ?? row.source_bytes ?? 0;
      }
      const file = files.get(path.basename(row.path));
      if (!file) continue;
      const bytes = await readFile(file);
      const content = [originalPart(file, bytes, row.kind), { type: 'text', text: 'Describe' }] as ChatCompletionContentPart[];
      try {
        const stream = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content }], modalities: ['text'], stream: true, stream_options: { include_usage: true } });
        let tokens = 0;
        for await (const chunk of stream) if (chunk.usage) tokens = chunk.usage.prompt_tokens;
        s.origOk++;
        s.origTokens += tokens;
        s.origBytes += bytes.length;
        if (omniOk) {
          s.bothTokensOmni += row.prompt_tokens ?? 0;
          s.bothTokensOrig += tokens;
          s.bothBytesOmni += row.sent_bytes ?? row.source_bytes ?? 0;
          s.bothBytesOrig += bytes.length;
        }
      } catch {
        // Refused as it is (400): the original cannot be sent at all.
      }
    }
    const mb = (b: number) => (b / 1e6).toFixed(2);
    for (const [kind, s] of [...sums].sort()) {
      table.rows.push([
        kind,
        s.files,
        `${s.ok} of ${s.files}`,
        s.tokens,
        s.est,
        mb(s.bytes),
        `${s.origOk} of ${s.files}`,
        s.origTokens,
        mb(s.origBytes),
        s.bothTokensOrig ? ratio(1 - s.bothTokensOmni / s.bothTokensOrig) : 'n/a',
        s.bothBytesOrig ? ratio(1 - s.bothBytesOmni / s.bothBytesOrig) : 'n/a',
      ]);
    }
  } finally {
    await stopAll();
    await rm(work, { recursive: true, force: true });
  }
  await publish(
    'cost',
    '6. Cost: omni-batch defaults vs sending every original unmodified',
    `The corpus (committed fixtures + generated big files; ${MODEL}). omni-batch side: one \`run\` with the defaults; tokens are what the stand-in counted (DashScope's documented rules on the media it received), estimated = omni-batch's estimate before any call; MB = media bytes sent (before base64). Originals side: each file's bytes as a data URL, unmodified, through the SDK; the stand-in refuses what DashScope would refuse. "Saved" compares only files both sides got answered (fraction of the originals' tokens/bytes not spent).\n\n${markdown(table)}`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await cost();
