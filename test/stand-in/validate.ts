// Request validation in the order DashScope applies it (model, stream, output modalities,
// message structure, media). Every rejection is an ApiError carrying the documented wording.
import { errors, invalidParameter, MESSAGES } from './errors.js';
import { classifySource, decode, inspectImage, probeAv, type MediaSource, type UrlResolvers } from './media.js';
import { resolveModel, turboSnapshotFor, type ExtraModel, type ModelSpec } from './models.js';
import { promptTokens } from './tokens.js';
import type { ChatRequestSummary, MediaSummary } from './types.js';

export interface ValidateOptions {
  /** Decides which http(s) media URLs "fail to download". */
  urlFail?: ((url: string) => boolean) | undefined;
  /** Resolves an `oss://` URL for the request's model; undefined when the request may not use them. */
  oss?: ((url: string, model: string) => Buffer) | undefined;
  /**
   * A line of a Batch request file: batch does not stream, so `stream` (and `stream_options`) must not be set, and
   * the models' stream-only rule is waived (MODELS-2026.md section 4). Default false: a real-time request.
   */
  batch?: boolean | undefined;
  /** Models served besides the stand-in's own (by name). */
  extraModels?: Readonly<Record<string, ExtraModel>> | undefined;
}

export interface ValidRequest {
  spec: ModelSpec;
  summary: ChatRequestSummary;
}

type Json = Record<string, unknown>;

const ROLES = new Set(['system', 'user', 'assistant']);
const AUDIO_FORMATS = ['amr', 'wav', '3gp', '3gpp', 'aac', 'mp3'] as const;

/** A media part found in the structural pass, inspected (decoded, probed) afterwards. */
type MediaRef =
  | { kind: 'image'; messageIndex: number; src: MediaSource }
  | { kind: 'audio'; messageIndex: number; src: MediaSource; format: string }
  | { kind: 'video'; messageIndex: number; src: MediaSource }
  | { kind: 'frames'; messageIndex: number; items: MediaSource[] };

export async function validateChatRequest(body: unknown, opts: ValidateOptions = {}): Promise<ValidRequest> {
  if (!isObject(body)) throw invalidParameter('Request body must be a JSON object');

  const spec = resolveModel(body['model'], opts.extraModels);
  if (!spec) throw errors.modelNotFound();
  const model = body['model'] as string;

  if (opts.batch) checkNoStream(body);
  else checkStream(body, model);
  const { modalities, voice } = checkOutput(body, spec);
  const thinks = checkThinking(body, spec);
  // Thinking mode answers in text only; the guide says audio output is not supported with it. The wording of
  // the real 400 is not captured (inferred).
  if (thinks && modalities.includes('audio')) {
    throw invalidParameter(`The audio output is not supported when ${spec.thinking ?? 'thinking'} is on: parameters.modalities`);
  }
  checkSampling(body);
  const maxTokens = checkMaxTokens(body, spec);

  // Structure first (cheap, synchronous), then the expensive media inspection.
  const oss = opts.oss;
  const scan = scanMessages(body['messages'], spec, { urlFail: opts.urlFail, oss: oss && ((url: string) => oss(url, model)) });
  const media: MediaSummary[] = [];
  for (const ref of scan.media) media.push(await inspect(ref, spec));

  const prompt = promptTokens(scan.textChars, media, spec);
  const promptTotal = prompt.text_tokens + prompt.image_tokens + prompt.audio_tokens + prompt.video_tokens;
  if (promptTotal > spec.maxInputTokens) {
    throw invalidParameter(`Range of input length should be [1, ${spec.maxInputTokens}]`);
  }

  const streamOptions = body['stream_options'];
  return {
    spec,
    summary: {
      model,
      family: spec.family,
      modalities,
      voice,
      includeUsage: isObject(streamOptions) && streamOptions['include_usage'] === true,
      enableThinking: thinks,
      maxTokens,
      turn: scan.turn,
      lastUserText: scan.lastUserText,
      messageCount: scan.messageCount,
      media,
      promptTokens: prompt,
    },
  };
}

function checkStream(body: Json, model: string): void {
  if (body['stream'] === true) return;
  const modalities = body['modalities'];
  if (Array.isArray(modalities) && modalities.includes('audio')) throw errors.audioNeedsStream();
  const snapshot = turboSnapshotFor(model);
  throw snapshot ? errors.turboStreamOnly(snapshot) : errors.streamOnly();
}

function checkNoStream(body: Json): void {
  if (body['stream'] !== undefined) throw invalidParameter('stream is not supported in batch mode: remove the stream parameter');
  if (body['stream_options'] !== undefined) throw invalidParameter('stream_options is not supported in batch mode');
  const modalities = body['modalities'];
  if (Array.isArray(modalities) && modalities.includes('audio')) throw invalidParameter('audio output is not supported in batch mode: parameters.modalities');
}

function checkOutput(body: Json, spec: ModelSpec): { modalities: Array<'text' | 'audio'>; voice: string | null } {
  const m = body['modalities'];
  const ok =
    Array.isArray(m) &&
    m.includes('text') &&
    ((m.length === 1) || (m.length === 2 && m.includes('audio')));
  if (!ok) throw invalidParameter(`Input should be ["text"] or ["text","audio"]: parameters.modalities`);
  if (m.length === 1) return { modalities: ['text'], voice: null };
  if (!spec.speech) throw invalidParameter(`This model does not support audio output: parameters.modalities`);

  const audio = body['audio'];
  const voice = isObject(audio) ? audio['voice'] : undefined;
  if (typeof voice !== 'string' || !spec.voices.includes(voice)) {
    throw invalidParameter(`Input should be ${quotedList(spec.voices)}: parameters.audio.voice`);
  }
  // API.md documents format "wav" only; requiring it keeps requests within what is known to work.
  if (isObject(audio) && audio['format'] !== 'wav') {
    throw invalidParameter(`Input should be 'wav': parameters.audio.format`);
  }
  return { modalities: ['text', 'audio'], voice };
}

/**
 * Whether the request thinks. `enable_thinking` (qwen3-omni-flash) is off unless true; `reasoning_effort`
 * (qwen3.8, MODELS-2026 [12]) is on unless `none`, takes only its documented strengths, and `enable_thinking: true`
 * is refused there (only `false` is reported to work [T]). Other models ignore enable_thinking, as DashScope does
 * with fields a model lacks, but refuse reasoning_effort.
 */
function checkThinking(body: Json, spec: ModelSpec): boolean {
  const effort = body['reasoning_effort'];
  const enable = body['enable_thinking'];
  if (spec.thinking !== 'reasoning_effort') {
    if (effort !== undefined) throw invalidParameter(`reasoning_effort is not supported by this model: parameters.reasoning_effort`);
    return spec.thinking === 'enable_thinking' && enable === true;
  }
  if (enable === true) throw invalidParameter('enable_thinking is not supported by this model, use reasoning_effort: parameters.enable_thinking');
  if (effort === undefined) return enable !== false;
  if (typeof effort !== 'string' || ![...spec.efforts, 'none'].includes(effort)) {
    throw invalidParameter(`Input should be ${quotedList([...spec.efforts, 'none'])}: parameters.reasoning_effort`);
  }
  return effort !== 'none' && enable !== false;
}

/** The sampling ranges of the Qwen API reference (MODELS-2026 [12]). */
const SAMPLING: readonly { name: string; min: number; max: number; minOpen?: boolean; maxOpen?: boolean; whole?: boolean }[] = [
  { name: 'temperature', min: 0, max: 2, maxOpen: true },
  { name: 'top_p', min: 0, max: 1, minOpen: true },
  { name: 'presence_penalty', min: -2, max: 2 },
  { name: 'seed', min: 0, max: 2 ** 31 - 1, whole: true },
];

function checkSampling(body: Json): void {
  for (const r of SAMPLING) {
    const v = body[r.name];
    if (v === undefined) continue;
    const ok =
      typeof v === 'number' && Number.isFinite(v) && (r.minOpen ? v > r.min : v >= r.min) && (r.maxOpen ? v < r.max : v <= r.max) && (!r.whole || Number.isInteger(v));
    if (!ok) throw invalidParameter(`Range of ${r.name} should be ${r.minOpen ? '(' : '['}${r.min}, ${r.max}${r.maxOpen ? ')' : ']'}: parameters.${r.name}`);
  }
}

function checkMaxTokens(body: Json, spec: ModelSpec): number | null {
  const raw = body['max_tokens'] ?? body['max_completion_tokens'];
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1 || raw > spec.maxOutputTokens) {
    throw invalidParameter(`Range of max_tokens should be [1, ${spec.maxOutputTokens}]`);
  }
  return raw;
}

interface Scan {
  media: MediaRef[];
  textChars: number;
  turn: number;
  lastUserText: string;
  messageCount: number;
}

function scanMessages(messages: unknown, spec: ModelSpec, urlFail: UrlResolvers): Scan {
  if (!Array.isArray(messages) || messages.length === 0) throw invalidParameter('messages must be a non-empty array');
  const scan: Scan = { media: [], textChars: 0, turn: 0, lastUserText: '', messageCount: messages.length };

  // Well-formed history: optional system first, then user/assistant alternating, ending on user.
  let expected = 'user' as 'user' | 'assistant';
  for (const [i, msg] of (messages as unknown[]).entries()) {
    const where = `messages[${i}]`;
    if (!isObject(msg)) throw invalidParameter(`${where} must be an object`);
    const role = msg['role'];
    if (typeof role !== 'string' || !ROLES.has(role)) {
      throw invalidParameter(`${where}.role must be one of system, user, assistant`);
    }
    if (role === 'system') {
      if (i !== 0) throw invalidParameter(`${where}: a system message is only allowed as the first message`);
    } else {
      if (role !== expected) {
        throw invalidParameter(
          `${where}: expected a ${expected} message (turns must alternate user/assistant, starting and ending with user), got ${role}`,
        );
      }
      expected = role === 'user' ? 'assistant' : 'user';
    }

    const texts: string[] = [];
    if (role === 'user') {
      scan.turn++;
      scanUserContent(msg['content'], where, i, spec, urlFail, texts, scan.media);
      scan.lastUserText = texts.join(' ');
    } else {
      scanTextContent(msg['content'], where, role, texts);
    }
    for (const t of texts) scan.textChars += t.length;
  }
  if (expected !== 'assistant') {
    throw invalidParameter('The last message must be a user message (turns must alternate user/assistant)');
  }
  return scan;
}

/** System and assistant turns: a string or text parts only. */
function scanTextContent(content: unknown, where: string, role: string, texts: string[]): void {
  if (typeof content === 'string') {
    texts.push(content);
    return;
  }
  if (!Array.isArray(content)) throw invalidParameter(`${where}.content must be a string or an array of content parts`);
  content.forEach((part: unknown, j) => {
    if (!isObject(part) || part['type'] !== 'text') {
      throw invalidParameter(`${where}.content[${j}]: ${role} messages may contain text only`);
    }
    texts.push(textOf(part, `${where}.content[${j}]`));
  });
}

/** User turns: text plus at most one other modality (several images allowed, one audio, one video). */
function scanUserContent(
  content: unknown,
  where: string,
  messageIndex: number,
  spec: ModelSpec,
  urlFail: UrlResolvers,
  texts: string[],
  media: MediaRef[],
): void {
  if (typeof content === 'string') {
    if (content.length === 0) throw invalidParameter(`${where}.content must not be empty`);
    texts.push(content);
    return;
  }
  if (!Array.isArray(content) || content.length === 0) {
    throw invalidParameter(`${where}.content must be a non-empty string or a non-empty array of content parts`);
  }
  const kinds = new Map<string, number>();
  content.forEach((part: unknown, j) => {
    const at = `${where}.content[${j}]`;
    if (!isObject(part)) throw invalidParameter(`${at} must be an object`);
    const type = part['type'];
    switch (type) {
      case 'text':
        texts.push(textOf(part, at));
        return;
      case 'image_url': {
        const inner = part['image_url'];
        if (!isObject(inner)) throw invalidParameter(`${at}.image_url must be an object with a url`);
        media.push({ kind: 'image', messageIndex, src: classifySource(inner['url'], 'image', urlFail) });
        break;
      }
      case 'input_audio': {
        const inner = part['input_audio'];
        if (!isObject(inner)) throw invalidParameter(`${at}.input_audio must be an object with data and format`);
        const src = classifySource(inner['data'], 'bare', urlFail);
        const format = inner['format'];
        if (typeof format !== 'string' || !(AUDIO_FORMATS as readonly string[]).includes(format)) {
          throw invalidParameter(`Input should be ${quotedList(AUDIO_FORMATS)}: input_audio.format`);
        }
        media.push({ kind: 'audio', messageIndex, src, format });
        break;
      }
      case 'video_url': {
        const inner = part['video_url'];
        if (!isObject(inner)) throw invalidParameter(`${at}.video_url must be an object with a url`);
        media.push({ kind: 'video', messageIndex, src: classifySource(inner['url'], 'bare', urlFail) });
        break;
      }
      case 'video': {
        const list = part['video'];
        if (!Array.isArray(list)) throw invalidParameter(`${at}.video must be an array of image URLs`);
        if (list.length < spec.framesMin || list.length > spec.framesMax) {
          throw errors.video(`the range of sequence images shoule be (${spec.framesMin},${spec.framesMax}).`);
        }
        const items = list.map((item: unknown) => classifySource(item, 'image', urlFail));
        media.push({ kind: 'frames', messageIndex, items });
        break;
      }
      default:
        throw invalidParameter(`${at}: unsupported content type ${JSON.stringify(type)}`);
    }
    const kind = type === 'video_url' ? 'video' : type === 'input_audio' ? 'audio' : type === 'image_url' ? 'image' : type;
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  });
  for (const kind of kinds.keys()) {
    const input = kind === 'frames' ? 'video' : kind;
    if (!(spec.inputs as readonly string[]).includes(input)) throw invalidParameter(`${where}: this model does not accept ${kind} input`);
  }
  if (kinds.size > 1 && !spec.mixedMedia) {
    throw invalidParameter(
      `${where}: a user message may contain text plus at most one other modality, found ${[...kinds.keys()].join(' and ')}`,
    );
  }
  for (const single of ['audio', 'video']) {
    if ((kinds.get(single) ?? 0) > 1) throw invalidParameter(`${where}: only one ${single} input is allowed per message`);
  }
}

function textOf(part: Json, at: string): string {
  const text = part['text'];
  if (typeof text !== 'string') throw invalidParameter(`${at}.text must be a string`);
  return text;
}

function blankSummary(ref: MediaRef): MediaSummary {
  const first = ref.kind === 'frames' ? ref.items[0] : ref.src;
  const source = ref.kind === 'frames' ? (ref.items.every((s) => s.source === 'url') ? 'url' : 'data') : ref.src.source;
  return {
    kind: ref.kind,
    messageIndex: ref.messageIndex,
    source,
    url: ref.kind !== 'frames' && ref.src.source !== 'data' ? ref.src.url : null,
    bytes: null,
    width: null,
    height: null,
    durationSec: null,
    frames: ref.kind === 'frames' ? ref.items.length : null,
    hasAudio: null,
    format: ref.kind === 'audio' ? ref.format : first?.source === 'data' ? first.subtype : null,
  };
}

async function inspect(ref: MediaRef, spec: ModelSpec): Promise<MediaSummary> {
  const out = blankSummary(ref);
  switch (ref.kind) {
    case 'image': {
      if (ref.src.source === 'url') return out;
      const bytes = decode(ref.src);
      out.bytes = bytes.length;
      Object.assign(out, await inspectImage(bytes));
      return out;
    }
    case 'frames': {
      let total = 0;
      for (const item of ref.items) {
        if (item.source === 'url') continue;
        const bytes = decode(item);
        total += bytes.length;
        const size = await inspectImage(bytes);
        // Token estimate uses the first decodable frame's size (frames of a clip share a size).
        if (out.width === null) Object.assign(out, size);
      }
      if (total > 0) out.bytes = total;
      return out;
    }
    case 'audio':
      return ref.src.source === 'url' ? out : inspectAudio(decode(ref.src), spec, out);
    case 'video':
      return ref.src.source === 'url' ? out : inspectVideo(decode(ref.src), spec, out);
  }
}

async function inspectAudio(bytes: Buffer, spec: ModelSpec, out: MediaSummary): Promise<MediaSummary> {
  out.bytes = bytes.length;
  if (bytes.length === 0) throw invalidParameter(MESSAGES.audioEmpty);
  if (bytes.length > spec.audioMaxBytes) throw invalidParameter(MESSAGES.fileTooBig);
  const probe = await probeAv(bytes);
  if (!probe?.audio) throw invalidParameter(MESSAGES.audioIllegal);
  const duration = probe.audio.durationSec;
  if (duration === null || duration <= 0) throw invalidParameter(MESSAGES.audioEmpty);
  if (duration > spec.audioMaxSec) {
    throw invalidParameter('The audio modality input does not meet the requirements because: The audio file is too long.');
  }
  out.durationSec = duration;
  return out;
}

async function inspectVideo(bytes: Buffer, spec: ModelSpec, out: MediaSummary): Promise<MediaSummary> {
  out.bytes = bytes.length;
  if (bytes.length > spec.videoMaxBytes) throw invalidParameter(MESSAGES.fileTooBig);
  const probe = bytes.length === 0 ? null : await probeAv(bytes);
  if (!probe?.video || probe.durationSec === null) throw errors.video('The video file is illegal and cannot be opened.');
  if (probe.durationSec < spec.videoMinSec) throw errors.video('The video file is too short.');
  if (probe.durationSec > spec.videoMaxSec) throw errors.video('The video file is too long.');
  out.durationSec = probe.durationSec;
  out.width = probe.video.width;
  out.height = probe.video.height;
  out.hasAudio = probe.audio !== null;
  return out;
}

function quotedList(items: readonly string[]): string {
  const q = items.map((v) => `'${v}'`);
  return q.length < 2 ? (q[0] ?? '') : `${q.slice(0, -1).join(', ')} or ${q[q.length - 1]}`;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

