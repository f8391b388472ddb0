/**
 * One prepared medium as the content part(s) of a dialect (shared/dialect.ts says where each shape is documented),
 * and what a dialect cannot express, said before any call.
 *
 * | medium      | dashscope                         | vllm-omni                                   | openai-compatible                         |
 * |-------------|-----------------------------------|---------------------------------------------|-------------------------------------------|
 * | image       | image_url, data:image/<t>;base64   | the same                                    | the same                                  |
 * | audio       | input_audio, data:;base64 + format | audio_url, data:audio/<t>;base64 (or a URL) | input_audio, bare base64 + format wav/mp3 |
 * | video file  | video_url, data:;base64            | video_url, data:video/<t>;base64 (or a URL) | the same as vllm-omni                     |
 * | frame list  | video: [image URLs]                | video_url, data:video/jpeg;base64,<f>,<f>.. | one image_url per frame                   |
 *
 * Refused (a skipped row): vllm-omni, a frame list with a frame by URL or not JPEG (data:video/jpeg holds JPEG
 * frames only); openai-compatible, audio by URL (input_audio carries the bytes) or in a format other than wav/mp3.
 */
import type { ChatCompletionContentPart } from 'openai/resources/chat/completions';
import { DIALECTS, type ApiDialect } from '../shared/dialect.js';
import type { Job, JobMedia, JobSource } from '../shared/job.js';

/**
 * The SDK's types know neither DashScope's `video` (frame list) and `video_url` parts nor vLLM's `audio_url`:
 * they are built as plain objects and passed as content parts.
 */
export type OmniPart =
  | ChatCompletionContentPart
  | { type: 'video_url'; video_url: { url: string } }
  | { type: 'audio_url'; audio_url: { url: string } }
  | { type: 'video'; video: string[] };

/** `input_audio.format` (API.md's names) -> its MIME type, for a data URL that names one. */
const AUDIO_MIME: Readonly<Record<string, string>> = { mp3: 'audio/mpeg', wav: 'audio/wav', aac: 'audio/aac', amr: 'audio/amr', '3gp': 'audio/3gpp', '3gpp': 'audio/3gpp' };

/** A video file's extension -> its MIME type; vLLM reads the container from the bytes, so the common ones suffice. */
const VIDEO_MIME: Readonly<Record<string, string>> = {
  mp4: 'video/mp4',
  m4v: 'video/mp4',
  mov: 'video/quicktime',
  webm: 'video/webm',
  mkv: 'video/x-matroska',
  avi: 'video/x-msvideo',
  mpeg: 'video/mpeg',
  mpg: 'video/mpeg',
  '3gp': 'video/3gpp',
  flv: 'video/x-flv',
};

const OPENAI_AUDIO = ['wav', 'mp3'];

function where(source: JobSource): string {
  return 'url' in source ? source.url : source.file;
}

/** The MIME type a local video file is sent under (by its extension; MP4 for one it does not know). */
export function videoMime(source: JobSource): string {
  const ext = /\.([A-Za-z0-9]+)$/.exec(where(source).split(/[?#]/)[0] ?? '')?.[1]?.toLowerCase() ?? '';
  return VIDEO_MIME[ext] ?? 'video/mp4';
}

/** The MIME type of an audio format, or undefined for one the table does not know. */
export function audioMime(format: string): string | undefined {
  return AUDIO_MIME[format.toLowerCase()];
}

/** vLLM's VideoMediaIO num_frames default: a data:video/jpeg list keeps its first 32 frames, the rest are dropped unseen. */
export const VLLM_NUM_FRAMES = 32;

/**
 * The most frames a vllm-omni server keeps of a frame list: the job file's modelLimits framesMax when it sets one (the
 * server was started with --media-io-kwargs num_frames to match), else the model's framesMax up to vLLM's 32.
 */
export function vllmFramesCap(job: Pick<Job, 'modelLimits'>, framesMax: number): number {
  return job.modelLimits?.limits?.framesMax ?? Math.min(framesMax, VLLM_NUM_FRAMES);
}

/**
 * Why `api` cannot express `m` (one line, for a skipped row), or undefined when it can. `framesCap`: the frames a
 * vllm-omni server keeps (vllmFramesCap); a longer list would lose frames unseen.
 */
export function dialectRefusal(api: ApiDialect, m: JobMedia | undefined, framesCap = VLLM_NUM_FRAMES): string | undefined {
  if (!m || api === 'dashscope') return undefined;
  if (m.type === 'audio') {
    if (api === 'openai-compatible' && 'url' in m.source) return `the openai-compatible dialect takes audio as input_audio bytes, not by URL (${m.source.url}): download it, or use --api vllm-omni (audio_url)`;
    if (api === 'openai-compatible' && !OPENAI_AUDIO.includes(m.format)) return `the openai-compatible dialect takes input_audio in wav or mp3 only, this is ${m.format}`;
    if (api === 'vllm-omni' && 'url' in m.source && !DIALECTS[api].audioFormats.includes(m.format)) return `vllm-omni decodes audio with libsndfile, which reads wav and mp3, not ${m.format} (${m.source.url}): download it (a local file is converted to MP3)`;
    if (api === 'vllm-omni' && 'file' in m.source && audioMime(m.format) === undefined) return `no MIME type known for audio format ${m.format}, which vllm-omni's audio_url data URL must name`;
  }
  if (m.type === 'frames' && api === 'vllm-omni') {
    const i = m.frames.findIndex((f) => 'url' in f.source || (f.mime ?? 'image/jpeg') !== 'image/jpeg');
    const f = m.frames[i];
    if (f) {
      const what = 'url' in f.source ? `given by URL (${f.source.url})` : `${f.mime ?? ''}`;
      return `vllm-omni takes a frame list as one data:video/jpeg URL of JPEG frames; frame ${i + 1} is ${what}: send local JPEG frames or the video file`;
    }
    if (m.frames.length > framesCap) return `vllm-omni keeps the first ${framesCap} frames of a frame list (vLLM's num_frames), this one has ${m.frames.length}: send at most ${framesCap}, or start the server with --media-io-kwargs '{"video": {"num_frames": N}}' and set modelLimits.limits.framesMax to N`;
  }
  return undefined;
}

/** The first refusal among a job's media (the first, then a media list's further ones), or undefined. */
export function firstRefusal(api: ApiDialect | undefined, media: readonly (JobMedia | undefined)[], framesCap?: number): string | undefined {
  for (const m of media) {
    const why = dialectRefusal(api ?? 'dashscope', m, framesCap);
    if (why) return why;
  }
  return undefined;
}

/** Reads a source's bytes as base64 (a local file), or undefined for a URL. */
export type Base64Of = (source: JobSource, label: string) => Promise<string | undefined>;

/**
 * The parts of one medium in `api`'s shapes (text files have none: their text follows the prompt). Assumes
 * dialectRefusal found nothing.
 */
export async function partsFor(api: ApiDialect, m: Exclude<JobMedia, { type: 'text_file' }>, label: string, b64: Base64Of): Promise<OmniPart[]> {
  const url = async (source: JobSource, mime: string, name = label) => {
    const data = await b64(source, name);
    return data === undefined ? where(source) : `data:${mime};base64,${data}`;
  };
  switch (m.type) {
    case 'image':
      return [{ type: 'image_url', image_url: { url: await url(m.source, m.mime ?? 'image/jpeg') } }];
    case 'audio':
      if (api === 'dashscope') return [{ type: 'input_audio', input_audio: { data: await url(m.source, ''), format: m.format as 'mp3' } }];
      if (api === 'vllm-omni') return [{ type: 'audio_url', audio_url: { url: await url(m.source, audioMime(m.format) ?? '') } }];
      return [{ type: 'input_audio', input_audio: { data: (await b64(m.source, label)) ?? '', format: m.format as 'mp3' } }];
    case 'video_file':
      return [{ type: 'video_url', video_url: { url: await url(m.source, api === 'dashscope' ? '' : videoMime(m.source)) } }];
    case 'frames': {
      const frames: string[] = [];
      for (const [i, f] of m.frames.entries()) {
        const name = `${label}: frame ${i + 1}`;
        frames.push(api === 'vllm-omni' ? ((await b64(f.source, name)) ?? '') : await url(f.source, f.mime ?? 'image/jpeg', name));
      }
      if (api === 'dashscope') return [{ type: 'video', video: frames }];
      if (api === 'vllm-omni') return [{ type: 'video_url', video_url: { url: `data:video/jpeg;base64,${frames.join(',')}` } }];
      return frames.map((u) => ({ type: 'image_url', image_url: { url: u } }));
    }
  }
}

/**
 * Request fields a dialect needs for these media: vLLM hears a video's soundtrack only when asked
 * (`mm_processor_kwargs.use_audio_in_video`, vllm chat_utils.py `parse_video`); DashScope always hears it.
 */
export function dialectBody(api: ApiDialect | undefined, m: JobMedia | undefined, hasAudio: boolean | undefined): Record<string, unknown> {
  if (api === 'vllm-omni' && m?.type === 'video_file' && hasAudio === true) return { mm_processor_kwargs: { use_audio_in_video: true } };
  return {};
}
