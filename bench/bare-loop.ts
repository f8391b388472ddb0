/**
 * The physical limit omni-batch is measured against: p-limit and the `openai` SDK streaming the same requests
 * to the same stand-in, and nothing else (no probing, no ids, no output file, no retries).
 * Usage: node --import tsx bench/bare-loop.ts --dir DIR --base-url URL --concurrency 16 --kind text|image [--max N]
 * Prints one JSON line: { jobs, ok, wallMs }.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import OpenAI from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import pLimit from 'p-limit';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    'base-url': { type: 'string' },
    concurrency: { type: 'string', default: '16' },
    kind: { type: 'string', default: 'text' },
    model: { type: 'string', default: 'qwen-omni-turbo' },
    max: { type: 'string' },
  },
});
const dir = values.dir ?? '';
const client = new OpenAI({ apiKey: process.env.DASHSCOPE_API_KEY ?? '', baseURL: values['base-url'] ?? '', maxRetries: 0 });
const limit = pLimit(Number(values.concurrency));
const t0 = performance.now();

const files = (await readdir(dir, { recursive: true, withFileTypes: true }))
  .filter((e) => e.isFile() && !e.name.startsWith('.'))
  .map((e) => path.join(e.parentPath, e.name))
  .sort()
  .slice(0, values.max === undefined ? undefined : Number(values.max));

async function one(file: string): Promise<boolean> {
  // The prompt omni-batch renders for --prompt 'Summarize {{file.name}}'.
  const prompt = `Summarize ${path.basename(file)}`;
  const bytes = await readFile(file);
  const content: ChatCompletionMessageParam['content'] =
    values.kind === 'image'
      ? [
          { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${bytes.toString('base64')}` } },
          { type: 'text', text: prompt },
        ]
      : `${prompt}\n\n${bytes.toString('utf8')}`;
  const stream = await client.chat.completions.create({
    model: values.model ?? '',
    messages: [{ role: 'user', content }],
    modalities: ['text'],
    stream: true,
    stream_options: { include_usage: true },
  });
  let usage = false;
  for await (const chunk of stream) if (chunk.usage) usage = true;
  return usage;
}

const results = await Promise.all(files.map((f) => limit(() => one(f).catch(() => false))));
console.log(JSON.stringify({ jobs: files.length, ok: results.filter(Boolean).length, wallMs: Math.round(performance.now() - t0) }));
