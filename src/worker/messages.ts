/**
 * Job -> chat messages, exactly as the Qwen-Omni guide shows them: a system message of text parts, then a user
 * message with the media part first and the text after it (one non-text modality per user message). Local files
 * travel as base64 data URLs (at DashScope `data:image/...;base64,` for images, `data:;base64,` for audio and
 * video); URLs pass through untouched. Each part takes the shape of the job's dialect (dialect-parts.ts). Assistant
 * turns in the history are text parts.
 */
import { readFile } from '../shared/fast-fs.js';
import type { ChatCompletionContentPart, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { OmniError } from '../shared/errors.js';
import type { Job, JobMedia, JobSource } from '../shared/job.js';
import { partsFor, type Base64Of, type OmniPart } from './dialect-parts.js';

/** A local file whose bytes are already in memory (planning read them), sent without reading it again. */
export interface HeldFile {
  readonly file: string;
  readonly bytes: Buffer;
}

/** A source's bytes as base64 (the held bytes when they are this file's), or undefined for a URL. */
function base64Reader(held: HeldFile | undefined): Base64Of {
  return async (source: JobSource, label: string) => {
    if ('url' in source) return undefined;
    try {
      const bytes = held?.file === source.file ? held.bytes : await readFile(source.file);
      return bytes.toString('base64');
    } catch (err) {
      throw new OmniError('file_unreadable', `${label}: cannot read ${source.file} (${(err as NodeJS.ErrnoException).code})`);
    }
  };
}

async function mediaParts(job: Pick<Job, 'path' | 'api'>, m: JobMedia | undefined, held: HeldFile | undefined): Promise<{ parts: OmniPart[]; extraText: string | undefined }> {
  if (!m) return { parts: [], extraText: undefined };
  if (m.type !== 'text_file') return { parts: await partsFor(job.api ?? 'dashscope', m, job.path, base64Reader(held)), extraText: undefined };
  if (m.text !== undefined) return { parts: [], extraText: m.text };
  let text: string;
  try {
    text = await readFile(m.file, 'utf8');
  } catch (err) {
    throw new OmniError('file_unreadable', `${job.path}: cannot read (${(err as NodeJS.ErrnoException).code})`);
  }
  return { parts: [], extraText: text };
}

/**
 * The messages of turn 1: system (if any) and the first user message. `media` is what preprocessing prepared
 * (the job's own media when nothing needed doing); `held`, the original file's bytes when planning kept them.
 */
export async function firstTurnMessages(
  job: Pick<Job, 'path' | 'system' | 'prompts' | 'api'>,
  media: JobMedia | undefined,
  held?: HeldFile,
  more: readonly JobMedia[] = [],
): Promise<ChatCompletionMessageParam[]> {
  const messages: ChatCompletionMessageParam[] = [];
  if (job.system !== undefined) messages.push({ role: 'system', content: [{ type: 'text', text: job.system }] });
  const prompt = job.prompts[0] ?? '';
  const { parts, extraText } = await mediaParts(job, media, held);
  // A media list (models with mixed media): every part before the text, in the list's order.
  for (const [i, m] of more.entries()) parts.push(...(await mediaParts({ path: `${job.path}: media ${i + 2}`, api: job.api }, m, undefined)).parts);
  const text = extraText === undefined ? prompt : `${prompt}\n\n${extraText}`;
  if (parts.length === 0) {
    // Plain-text input, as the guide's first example: a string content.
    messages.push({ role: 'user', content: text });
  } else {
    messages.push({ role: 'user', content: [...parts, { type: 'text', text }] as ChatCompletionContentPart[] });
  }
  return messages;
}

/** Appends the answer of the last turn and the next prompt, as the guide's multi-turn example. */
export function nextTurn(messages: ChatCompletionMessageParam[], answer: string, prompt: string): void {
  messages.push({ role: 'assistant', content: [{ type: 'text', text: answer }] });
  messages.push({ role: 'user', content: [{ type: 'text', text: prompt }] });
}
