/**
 * Job -> chat messages, exactly as the Qwen-Omni guide shows them: a system message of text parts, then a user
 * message with the media part first and the text after it (one non-text modality per user message). Local files
 * travel as base64 data URLs (`data:image/...;base64,` for images, `data:;base64,` for audio and video); URLs
 * pass through untouched. Assistant turns in the history are text parts.
 */
import { readFile } from '../shared/fast-fs.js';
import type { ChatCompletionContentPart, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { OmniError } from '../shared/errors.js';
import type { Job, JobMedia, JobSource } from '../shared/job.js';

/** A local file whose bytes are already in memory (planning read them), sent without reading it again. */
export interface HeldFile {
  readonly file: string;
  readonly bytes: Buffer;
}

async function sourceUrl(source: JobSource, mime: string, label: string, held?: HeldFile): Promise<string> {
  if ('url' in source) return source.url;
  let bytes: Buffer;
  try {
    bytes = held?.file === source.file ? held.bytes : await readFile(source.file);
  } catch (err) {
    throw new OmniError('file_unreadable', `${label}: cannot read ${source.file} (${(err as NodeJS.ErrnoException).code})`);
  }
  return `data:${mime};base64,${bytes.toString('base64')}`;
}

/**
 * The SDK's types do not know DashScope's `video` (frame list) and `video_url` parts, nor audio as a URL:
 * they are built as plain objects and passed as content parts.
 */
type OmniPart = ChatCompletionContentPart | { type: 'video_url'; video_url: { url: string } } | { type: 'video'; video: string[] };

async function mediaParts(job: Pick<Job, 'path'>, m: JobMedia | undefined, held: HeldFile | undefined): Promise<{ parts: OmniPart[]; extraText: string | undefined }> {
  if (!m) return { parts: [], extraText: undefined };
  switch (m.type) {
    case 'image':
      return { parts: [{ type: 'image_url', image_url: { url: await sourceUrl(m.source, m.mime ?? 'image/jpeg', job.path, held) } }], extraText: undefined };
    case 'audio':
      return { parts: [{ type: 'input_audio', input_audio: { data: await sourceUrl(m.source, '', job.path, held), format: m.format as 'mp3' } }], extraText: undefined };
    case 'video_file':
      return { parts: [{ type: 'video_url', video_url: { url: await sourceUrl(m.source, '', job.path, held) } }], extraText: undefined };
    case 'frames': {
      const urls: string[] = [];
      for (const [i, f] of m.frames.entries()) urls.push(await sourceUrl(f.source, f.mime ?? 'image/jpeg', `${job.path}: frame ${i + 1}`));
      return { parts: [{ type: 'video', video: urls }], extraText: undefined };
    }
    case 'text_file': {
      if (m.text !== undefined) return { parts: [], extraText: m.text };
      let text: string;
      try {
        text = await readFile(m.file, 'utf8');
      } catch (err) {
        throw new OmniError('file_unreadable', `${job.path}: cannot read (${(err as NodeJS.ErrnoException).code})`);
      }
      return { parts: [], extraText: text };
    }
  }
}

/**
 * The messages of turn 1: system (if any) and the first user message. `media` is what preprocessing prepared
 * (the job's own media when nothing needed doing); `held`, the original file's bytes when planning kept them.
 */
export async function firstTurnMessages(
  job: Pick<Job, 'path' | 'system' | 'prompts'>,
  media: JobMedia | undefined,
  held?: HeldFile,
  more: readonly JobMedia[] = [],
): Promise<ChatCompletionMessageParam[]> {
  const messages: ChatCompletionMessageParam[] = [];
  if (job.system !== undefined) messages.push({ role: 'system', content: [{ type: 'text', text: job.system }] });
  const prompt = job.prompts[0] ?? '';
  const { parts, extraText } = await mediaParts(job, media, held);
  // A media list (models with mixed media): every part before the text, in the list's order.
  for (const [i, m] of more.entries()) parts.push(...(await mediaParts({ path: `${job.path}: media ${i + 2}` }, m, undefined)).parts);
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
