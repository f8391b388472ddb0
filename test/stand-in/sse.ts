// The success stream, chunk by chunk, in the wire shape captured in API.md. Frames are built up
// front as strings so the HTTP layer (and fault injection) only decides how many to send.
import { randomUUID } from 'node:crypto';
import { outputTextTokens, usageObject, type CompletionTokenDetails } from './tokens.js';
import type { PromptTokenDetails } from './types.js';

export interface Frame {
  /** head: role chunk; content: answer text; usage: the choices:[] chunk; done: [DONE]. */
  kind: 'head' | 'reasoning' | 'content' | 'audio' | 'usage' | 'done';
  /** Carries finish_reason. */
  final: boolean;
  wire: string;
}

export interface StreamInput {
  model: string;
  answer: string;
  /** Output cap in tokens; a longer answer is cut and finishes with "length". */
  maxTokens: number;
  reasoning: string | null;
  /** Generated-audio tokens per second, or null for text-only output. */
  audioTokensPerSec: number | null;
  includeUsage: boolean;
  prompt: PromptTokenDetails;
  /** Per-modality usage details (DashScope); false: the three totals only (vLLM). Default true. */
  breakdown?: boolean;
}

export interface BuiltStream {
  frames: Frame[];
  completion: CompletionTokenDetails;
}

export const DONE_FRAME = 'data: [DONE]\n\n';
const PCM_RATE = 24_000;
const SECONDS_PER_CHAR = 0.02;

export function buildStream(input: StreamInput): BuiltStream {
  const id = `chatcmpl-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const chunk = (choices: unknown[], usage: unknown = null): string =>
    // Key order as on the wire (API.md): choices, object, usage, created, system_fingerprint, model, id.
    `data: ${JSON.stringify({ choices, object: 'chat.completion.chunk', usage, created, system_fingerprint: null, model: input.model, id })}\n\n`;
  const choice = (delta: unknown, finish: string | null) => ({ delta, finish_reason: finish, index: 0, logprobs: null });

  const { answer, finish } = fitAnswer(input.answer, input.maxTokens);

  const frames: Frame[] = [{ kind: 'head', final: false, wire: chunk([choice({ content: '', role: 'assistant' }, null)]) }];
  for (const piece of input.reasoning === null ? [] : splitText(input.reasoning)) {
    frames.push({ kind: 'reasoning', final: false, wire: chunk([choice({ content: null, reasoning_content: piece }, null)]) });
  }

  const pieces = splitText(answer);
  const audio = input.audioTokensPerSec === null ? null : new SineVoice(`audio_${randomUUID()}`, created + 86_400);
  pieces.forEach((piece, i) => {
    const last = i === pieces.length - 1;
    // With audio output the stream ends on an audio chunk, so that one carries finish_reason.
    frames.push({ kind: 'content', final: last && !audio, wire: chunk([choice({ content: piece }, last && !audio ? finish : null)]) });
    if (audio) {
      const delta = { audio: audio.speak(piece) };
      frames.push({ kind: 'audio', final: last, wire: chunk([choice(delta, last ? finish : null)]) });
    }
  });

  const completion: CompletionTokenDetails = {
    text: outputTextTokens(answer),
    audio: audio && input.audioTokensPerSec !== null ? Math.ceil(audio.seconds * input.audioTokensPerSec) : 0,
    reasoning: input.reasoning === null ? 0 : outputTextTokens(input.reasoning),
  };
  if (input.includeUsage) {
    frames.push({ kind: 'usage', final: false, wire: chunk([], usageObject(input.prompt, completion, input.breakdown ?? true)) });
  }
  frames.push({ kind: 'done', final: false, wire: DONE_FRAME });
  return { frames, completion };
}

/** The answer cut to the output cap (finish_reason "length"), or whole ("stop"). */
function fitAnswer(text: string, maxTokens: number): { answer: string; finish: string } {
  if (outputTextTokens(text) <= maxTokens) return { answer: text, finish: 'stop' };
  return { answer: Array.from(text).slice(0, maxTokens * 4).join(''), finish: 'length' };
}

/**
 * The non-streaming answer (a `chat.completion` object) to the request buildStream would stream: the same text,
 * the same cut at the output cap, the same usage. Batch answers are these (batch has no speech output).
 */
export function buildCompletion(input: Omit<StreamInput, 'includeUsage' | 'audioTokensPerSec'>): { body: Record<string, unknown>; completion: CompletionTokenDetails } {
  const { answer, finish } = fitAnswer(input.answer, input.maxTokens);
  const completion: CompletionTokenDetails = { text: outputTextTokens(answer), audio: 0, reasoning: input.reasoning === null ? 0 : outputTextTokens(input.reasoning) };
  const message = { role: 'assistant', content: answer, ...(input.reasoning === null ? {} : { reasoning_content: input.reasoning }) };
  const body = {
    choices: [{ message, finish_reason: finish, index: 0, logprobs: null }],
    object: 'chat.completion',
    usage: usageObject(input.prompt, completion),
    created: Math.floor(Date.now() / 1000),
    system_fingerprint: null,
    model: input.model,
    id: `chatcmpl-${randomUUID()}`,
  };
  return { body, completion };
}

/**
 * Frames a fault may send before misbehaving: the head plus `contentChunks` content chunks (with
 * the audio that follows them), never one carrying finish_reason.
 */
export function framesBefore(frames: readonly Frame[], contentChunks: number): Frame[] {
  const out: Frame[] = [];
  let content = 0;
  for (const f of frames) {
    if (f.final || f.kind === 'usage' || f.kind === 'done') break;
    if (f.kind === 'content') {
      if (content === contentChunks) break;
      content++;
    }
    out.push(f);
  }
  return out;
}

/** DashScope's native error event, as it shows up inside an HTTP 200 stream. */
export function inbandErrorFrame(status: number, code: string, message: string): string {
  return `id:1\nevent:error\n:HTTP_STATUS/${status}\ndata:${JSON.stringify({ code, message })}\n\n`;
}

/** Word-sized pieces (whitespace stays attached) and never fewer than two for 2+ characters. */
export function splitText(text: string): string[] {
  const words = text.match(/\s*\S+\s*/g) ?? [];
  if (words.length >= 2) return words;
  const chars = Array.from(text);
  if (chars.length < 2) return [text];
  const half = Math.ceil(chars.length / 2);
  return [chars.slice(0, half).join(''), chars.slice(half).join('')];
}

/** Raw 16-bit mono 24 kHz PCM of a quiet 440 Hz tone, phase-continuous across chunks. */
class SineVoice {
  private samples = 0;
  constructor(
    private readonly id: string,
    private readonly expiresAt: number,
  ) {}

  get seconds(): number {
    return this.samples / PCM_RATE;
  }

  speak(text: string): { data: string; expires_at: number; id: string } {
    const n = Math.max(1, Math.round(Math.max(2, text.length) * SECONDS_PER_CHAR * PCM_RATE));
    const pcm = Buffer.alloc(n * 2);
    for (let i = 0; i < n; i++) {
      const t = (this.samples + i) / PCM_RATE;
      pcm.writeInt16LE(Math.round(Math.sin(2 * Math.PI * 440 * t) * 6000), i * 2);
    }
    this.samples += n;
    return { data: pcm.toString('base64'), expires_at: this.expiresAt, id: this.id };
  }
}
