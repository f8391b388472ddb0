/**
 * The API dialect of an endpoint: which shapes of the OpenAI chat API it takes. DashScope's compatible mode is one;
 * servers that serve the open Qwen-Omni weights on your own GPUs (vLLM-Omni) and hosted OpenAI-compatible providers
 * are the others. The message builder (worker/messages.ts) maps each part for the dialect; what a dialect cannot
 * express is a skipped row before any call (worker/dialect-parts.ts).
 *
 * Sources (read 2026-12 from the stored copies):
 * - vLLM's OpenAI server parses content parts in `vllm/entrypoints/chat_utils.py` (vllm-project/vllm): `image_url`,
 *   `audio_url`, `input_audio` (bare base64: it builds `data:audio/{format};base64,{data}` itself), `video_url`;
 *   any other `type` is refused ("Unsupported chat content part type"). With `mm_processor_kwargs:
 *   {use_audio_in_video: true}` it takes a video's soundtrack as an audio item too (`parse_video`).
 * - `vllm/multimodal/video.py` takes a `data:video/jpeg;base64,<frame>,<frame>,...` URL as a list of JPEG frames.
 * - vLLM-Omni's own example (vllm-project/vllm-omni, examples/online_serving/qwen2_5_omni/
 *   openai_chat_completion_client_for_multimodal_generation.py) sends `audio_url` / `image_url` / `video_url` with
 *   data URLs that carry a real MIME type, `modalities: ["text"]` for text-only answers, and `mm_processor_kwargs`.
 * - Usage: vLLM-Omni's `serving_chat.py` reports prompt_tokens, completion_tokens, total_tokens (and cached tokens
 *   when enabled), no per-modality breakdown. Its Dec 2025 snapshot refused `stream: true`; its PR #2313 (May 2026)
 *   shows streamed chunks with usage, which is what this client sends. Nothing is billed per token.
 */

import { lookupModel, MODELS } from './models.js';

export const API_NAMES = ['dashscope', 'openai-compatible', 'vllm-omni'] as const;
export type ApiDialect = (typeof API_NAMES)[number];

export interface DialectFacts {
  /** One line for --help and the README. */
  readonly summary: string;
  /** The catalogue's list prices apply (otherwise the cost is empty unless the job sets a price). */
  readonly listPrices: boolean;
  /**
   * Requests are paced to the model's per-account RPM/TPM by default. A server of your own has no account limit:
   * concurrency bounds it (--rpm / --tpm still pace when given).
   */
  readonly paced: boolean;
  /** DashScope's temporary upload (oss://) exists here. */
  readonly uploads: boolean;
  /** Spoken answers as DashScope streams them (`delta.audio`). */
  readonly speech: boolean;
  /** DashScope Batch exists here. */
  readonly batch: boolean;
  /** The environment variable the key is read from. */
  readonly keyVariable: string;
  /** Audio formats sent as they are (others are converted to MP3 first). */
  readonly audioFormats: readonly string[];
}

export const DIALECTS: Readonly<Record<ApiDialect, DialectFacts>> = {
  dashscope: {
    summary: "Alibaba DashScope's compatible mode (the default for its hosts)",
    listPrices: true,
    paced: true,
    uploads: true,
    speech: true,
    batch: true,
    keyVariable: 'DASHSCOPE_API_KEY',
    // API.md lists these input_audio formats.
    audioFormats: ['mp3', 'wav', 'aac', 'amr'],
  },
  'openai-compatible': {
    summary: "OpenAI's documented shapes (image_url, input_audio with bare base64) plus video_url, for hosted providers",
    listPrices: false,
    paced: false,
    uploads: false,
    speech: false,
    batch: false,
    keyVariable: 'OMNI_API_KEY',
    // OpenAI documents input_audio.format as "wav" or "mp3" only.
    audioFormats: ['mp3', 'wav'],
  },
  'vllm-omni': {
    summary: "vLLM-Omni / vLLM serving the open Qwen-Omni weights on your own GPUs (the default for another host with an open-weights model, Qwen/...)",
    listPrices: false,
    paced: false,
    uploads: false,
    speech: false,
    batch: false,
    keyVariable: 'OMNI_API_KEY',
    // audio_url with the format's MIME type; vLLM decodes the bytes in memory with librosa (libsndfile), which reads
    // WAV and MP3 but not AAC or AMR: those are converted to MP3 first, as for openai-compatible.
    audioFormats: ['mp3', 'wav'],
  },
};

/** Hosted OpenAI-compatible providers known by host (a suffix match). */
const HOSTED_OPENAI = ['api.fireworks.ai', 'api.together.xyz', 'openrouter.ai', 'api.openai.com', 'api.deepinfra.com'] as const;

/**
 * The dialect a base URL speaks when none is named: DashScope for its hosts and for any `/compatible-mode/` path
 * (a proxy or the project's stand-in in front of DashScope), openai-compatible for a known hosted provider, and
 * for any other host vllm-omni when the model is one of the catalogue's open weights (`Qwen/...`, which only a server
 * of your own serves), else DashScope: a corporate gateway in front of DashScope keeps DashScope's key, pacing,
 * features and prices unless --api says otherwise.
 */
export function apiOfUrl(url: string, model?: string): ApiDialect {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'dashscope';
  }
  const host = u.hostname.toLowerCase();
  if (host.endsWith('.aliyuncs.com') || u.pathname.includes('/compatible-mode/')) return 'dashscope';
  if (HOSTED_OPENAI.some((h) => host === h || host.endsWith(`.${h}`))) return 'openai-compatible';
  return model !== undefined && isOpenWeights(model) ? 'vllm-omni' : 'dashscope';
}

/** A catalogue entry (or a name of its family) for the open weights: no DashScope region serves it. */
function isOpenWeights(model: string): boolean {
  const { name, match } = lookupModel(model);
  return match.kind !== 'fallback' && MODELS[name].regions.length === 0;
}

/**
 * The key for a dialect's server: DashScope's from DASHSCOPE_API_KEY; any other server's from OMNI_API_KEY (vLLM's
 * `--api-key`), never the DashScope key, which must not reach another host. A server without a key takes any: vLLM's
 * examples send "EMPTY".
 */
export function apiKeyFor(api: ApiDialect, env: NodeJS.ProcessEnv): string | undefined {
  const key = env[DIALECTS[api].keyVariable]?.trim() || undefined;
  return key ?? (api === 'dashscope' ? undefined : 'EMPTY');
}

/**
 * A distributed worker's keys, per dialect (apiKeyFor for each): a job picks its own, so the DashScope key goes to
 * DashScope jobs only. Undefined when neither DASHSCOPE_API_KEY nor OMNI_API_KEY is set: such a worker has no key.
 */
export function workerKeys(env: NodeJS.ProcessEnv): Partial<Record<ApiDialect, string>> | undefined {
  if (!API_NAMES.some((api) => env[DIALECTS[api].keyVariable]?.trim())) return undefined;
  const keys: Partial<Record<ApiDialect, string>> = {};
  for (const api of API_NAMES) {
    const key = apiKeyFor(api, env);
    if (key !== undefined) keys[api] = key;
  }
  return keys;
}
