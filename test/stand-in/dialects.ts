// The stand-in's other dialects: a vLLM-Omni server (`vllm serve Qwen/... --omni`, at /v1) and a hosted
// OpenAI-compatible provider (at /openai/v1). Each checks the request the way its server parses content parts,
// refuses what it refuses (with its wording where the source gives one), then restates the request in DashScope's
// shape so that the one media inspection (decoding, probing, the model's limits) and token count apply to all.
//
// What the checks follow (read from the stored copies, 2026-12):
// - vllm-project/vllm, vllm/entrypoints/chat_utils.py: MM_PARSER_MAP takes text, image_url, audio_url,
//   input_audio, video_url (and embeddings we never send); any other type raises "Unsupported chat content part
//   type: '<type>'". input_audio becomes f"data:audio/{format};base64,{data}": `data` must be bare base64.
// - vllm/multimodal/media/connector: a media URL is http(s), data: (base64 only) or file:; "data:video/jpeg"
//   is a list of comma-separated base64 JPEG frames (vllm/multimodal/video.py), the first num_frames (32) kept.
//   vLLM would also decode a `data:;base64,` URL by content; the vLLM-Omni examples always name the MIME type
//   (examples/online_serving/qwen2_5_omni), so the stand-in holds requests to the documented shape.
// - vllm-omni serving_chat.py: mm_processor_kwargs is handed to the processor; use_audio_in_video reads the
//   soundtrack of the video_url (chat_utils.py parse_video), so a silent video cannot be heard.
// - OpenAI's chat API: image_url, input_audio {data: base64, format: "wav" | "mp3"}; video_url is the vLLM /
//   Fireworks extension hosted providers take.
import { invalidParameter } from './errors.js';
import type { ApiError } from './errors.js';

export type StandInDialect = 'dashscope' | 'vllm-omni' | 'openai-compatible';

type Json = Record<string, unknown>;

/** vLLM reports a bad request as a 400 with an `error.message`; the stand-in's invalidParameter has that shape. */
function refuse(message: string): ApiError {
  return invalidParameter(message);
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `data:audio/<subtype>` -> the input_audio format DashScope's validation knows. */
const AUDIO_SUBTYPE: Readonly<Record<string, string>> = { mpeg: 'mp3', mp3: 'mp3', wav: 'wav', 'x-wav': 'wav', aac: 'aac', amr: 'amr', '3gpp': '3gpp' };

/**
 * What vLLM decodes audio bytes with: librosa.load on a BytesIO, i.e. libsndfile (soundfile), which reads WAV and MP3
 * but not AAC (ADTS) or AMR, and audioread cannot read from memory. A data URL (or input_audio) of another format fails.
 */
const VLLM_AUDIO: readonly string[] = ['wav', 'mp3'];

/** vLLM's VideoMediaIO num_frames default: frames past it are dropped, so the stand-in refuses them (nothing is lost unseen). */
export const VLLM_NUM_FRAMES = 32;

const DATA_URL = /^data:([^;,]*);base64,/;

function dataUrl(url: unknown, at: string): { mime: string; base64: string } | { http: string } {
  if (typeof url !== 'string') throw refuse(`${at}: the url must be a string`);
  if (/^https?:\/\//i.test(url)) return { http: url };
  const m = DATA_URL.exec(url);
  if (!m) throw refuse(`${at}: The URL must be either a HTTP, data or file URL.`);
  const mime = (m[1] ?? '').toLowerCase();
  if (!mime) throw refuse(`${at}: a data URL without a media type (data:;base64,) is DashScope's shape; name the type (data:video/mp4;base64,...)`);
  return { mime, base64: url.slice(m[0].length) };
}

function bareBase64(data: unknown, at: string): string {
  if (typeof data !== 'string' || data.length === 0) throw refuse(`${at}: input_audio.data must be base64`);
  if (data.startsWith('data:')) throw refuse(`${at}: input_audio.data must be bare base64 (the server builds data:audio/{format};base64,{data} itself): Incorrect padding`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data)) throw refuse(`${at}: input_audio.data is not base64`);
  return data;
}

function audioFromDataUrl(url: unknown, at: string): Json {
  const u = dataUrl(url, at);
  if ('http' in u) return { type: 'input_audio', input_audio: { data: u.http, format: 'mp3' } };
  const sub = u.mime.startsWith('audio/') ? AUDIO_SUBTYPE[u.mime.slice('audio/'.length)] : undefined;
  if (!sub) throw refuse(`${at}: ${u.mime} is not an audio type the stand-in decodes`);
  if (!VLLM_AUDIO.includes(sub)) throw refuse(`${at}: Error opening <_io.BytesIO object>: Format not recognised. (${u.mime}: librosa/libsndfile cannot decode it from memory)`);
  return { type: 'input_audio', input_audio: { data: `data:;base64,${u.base64}`, format: sub } };
}

function videoFromDataUrl(url: unknown, at: string, maxFrames: number | undefined): Json {
  const u = dataUrl(url, at);
  if ('http' in u) return { type: 'video_url', video_url: { url: u.http } };
  if (u.mime === 'video/jpeg') {
    if (maxFrames === undefined) throw refuse(`${at}: data:video/jpeg frame lists are vLLM's; this server takes images`);
    const frames = u.base64.split(',');
    if (frames.length > maxFrames) throw refuse(`${at}: ${frames.length} frames in a data:video/jpeg URL; the server keeps the first ${maxFrames} (num_frames)`);
    return { type: 'video', video: frames.map((f) => `data:image/jpeg;base64,${f}`) };
  }
  if (!u.mime.startsWith('video/')) throw refuse(`${at}: ${u.mime} is not a video type`);
  return { type: 'video_url', video_url: { url: `data:;base64,${u.base64}` } };
}

function imagePart(part: Json, at: string): Json {
  const inner = part['image_url'];
  const u = dataUrl(isObject(inner) ? inner['url'] : undefined, `${at}.image_url`);
  if ('mime' in u && !u.mime.startsWith('image/')) throw refuse(`${at}: ${u.mime} is not an image type`);
  return part;
}

/** One content part in `dialect`, restated as DashScope's; throws the server's refusal. */
function translatePart(dialect: Exclude<StandInDialect, 'dashscope'>, part: unknown, at: string, numFrames: number): unknown {
  if (!isObject(part)) return part;
  const type = part['type'];
  const vllm = dialect === 'vllm-omni';
  switch (type) {
    case 'text':
      return part;
    case 'image_url':
      return imagePart(part, at);
    case 'input_audio': {
      const inner = isObject(part['input_audio']) ? part['input_audio'] : {};
      const data = bareBase64(inner['data'], at);
      const format = inner['format'];
      if (!vllm && format !== 'wav' && format !== 'mp3') throw refuse(`${at}: Invalid value: input_audio.format must be 'wav' or 'mp3'`);
      if (typeof format !== 'string') throw refuse(`${at}: input_audio.format must be a string`);
      if (vllm && !VLLM_AUDIO.includes(format === 'mpeg' ? 'mp3' : format)) throw refuse(`${at}: Error opening <_io.BytesIO object>: Format not recognised. (input_audio ${format}: librosa/libsndfile cannot decode it from memory)`);
      return { type: 'input_audio', input_audio: { data: `data:;base64,${data}`, format: format === 'mpeg' ? 'mp3' : format } };
    }
    case 'audio_url':
      if (!vllm) throw refuse(`${at}: Invalid value: '${type}'. Supported values are: 'text', 'image_url', 'input_audio', 'video_url'.`);
      return audioFromDataUrl(isObject(part['audio_url']) ? part['audio_url']['url'] : undefined, `${at}.audio_url`);
    case 'video_url':
      return videoFromDataUrl(isObject(part['video_url']) ? part['video_url']['url'] : undefined, `${at}.video_url`, vllm ? numFrames : undefined);
    default:
      throw refuse(vllm ? `Unsupported chat content part type: ${JSON.stringify(type)}. Supported types: audio_url, image_url, input_audio, text, video_url.` : `${at}: Invalid value: ${JSON.stringify(type)}. Supported values are: 'text', 'image_url', 'input_audio', 'video_url'.`);
  }
}

/** What the dialect's own checks found that DashScope's validation does not see. */
export interface DialectNotes {
  /** mm_processor_kwargs.use_audio_in_video asked for (vllm-omni). */
  readonly useAudioInVideo: boolean;
}

/**
 * The request of a vllm-omni or openai-compatible client, checked as its server checks it and restated as a
 * DashScope request (streamed, its parts in DashScope's shapes). Throws the server's 400.
 */
export function toDashScope(dialect: Exclude<StandInDialect, 'dashscope'>, body: unknown, numFrames = VLLM_NUM_FRAMES): { body: unknown; notes: DialectNotes } {
  if (!isObject(body)) return { body, notes: { useAudioInVideo: false } };
  const kwargs = body['mm_processor_kwargs'];
  if (kwargs !== undefined && (dialect !== 'vllm-omni' || !isObject(kwargs))) throw refuse(`mm_processor_kwargs: ${dialect === 'vllm-omni' ? 'must be an object' : 'not a parameter of this API'}`);
  // DashScope-only fields a vLLM server would ignore with a warning; the stand-in refuses them, so we never rely on them.
  for (const field of ['enable_thinking', 'reasoning_effort']) {
    if (body[field] !== undefined) throw refuse(`${field}: DashScope's parameter; this server ignores it`);
  }
  const messages = Array.isArray(body['messages'])
    ? body['messages'].map((msg: unknown, i) => {
        if (!isObject(msg) || !Array.isArray(msg['content'])) return msg;
        return { ...msg, content: msg['content'].map((p: unknown, j) => translatePart(dialect, p, `messages[${i}].content[${j}]`, numFrames)) };
      })
    : body['messages'];
  const rest = { ...body };
  delete rest['mm_processor_kwargs'];
  return { body: { ...rest, messages }, notes: { useAudioInVideo: isObject(kwargs) && kwargs['use_audio_in_video'] === true } };
}

/** The dialect a request path speaks: /compatible-mode/v1 (DashScope), /openai/v1, or /v1 (a vLLM server). */
export function dialectOfPath(path: string): StandInDialect {
  if (path.startsWith('/compatible-mode/')) return 'dashscope';
  if (path.startsWith('/openai/')) return 'openai-compatible';
  return 'vllm-omni';
}
