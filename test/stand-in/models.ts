// Per-model limits from API.md's tables. Only this file knows model names.
import type { ModelFamily } from './types.js';

export interface ModelSpec {
  family: ModelFamily;
  /** Image patch size f in pixels. */
  patch: number;
  voices: readonly string[];
  audioMaxBytes: number;
  audioMaxSec: number;
  /** Input audio tokens per second (also used for generated audio). */
  audioTokensPerSec: number;
  videoMaxBytes: number;
  videoMinSec: number;
  videoMaxSec: number;
  framesMin: number;
  framesMax: number;
  maxInputTokens: number;
  maxOutputTokens: number;
  /** How thinking is switched: `enable_thinking` (default off), `reasoning_effort` (default on), or not at all. */
  thinking: 'enable_thinking' | 'reasoning_effort' | null;
  /** The strengths reasoning_effort takes besides `none`. */
  efforts: readonly string[];
  /** Spoken answers. */
  speech: boolean;
  /** Text plus several modalities in one user message. */
  mixedMedia: boolean;
  /** What a user message may carry besides text. */
  inputs: readonly ('image' | 'audio' | 'video')[];
  /** Implicit cache (qwen3.8-omni-flash [1]): a system prompt seen before is served from it. */
  cache?: boolean;
}

const MB = 1024 * 1024;
const TURBO_VOICES = ['Cherry', 'Serena', 'Ethan', 'Chelsie'] as const;
const QWEN3_VOICES = [
  'Cherry', 'Ethan', 'Nofish', 'Jennifer', 'Ryan', 'Katerina', 'Elias', 'Jada', 'Dylan', 'Sunny',
  'Li', 'Marcus', 'Roy', 'Peter', 'Rocky', 'Kiki', 'Eric', 'Serena', 'Chelsie',
] as const;

const TURBO: ModelSpec = {
  family: 'turbo',
  patch: 28,
  voices: TURBO_VOICES,
  audioMaxBytes: 10 * MB,
  audioMaxSec: 180,
  audioTokensPerSec: 25,
  videoMaxBytes: 150 * MB,
  videoMinSec: 2,
  videoMaxSec: 40,
  framesMin: 4,
  framesMax: 80,
  maxInputTokens: 30_720,
  maxOutputTokens: 2_048,
  thinking: null,
  efforts: [],
  speech: true,
  mixedMedia: false,
  inputs: ['image', 'audio', 'video'],
};

const QWEN3: ModelSpec = {
  family: 'qwen3',
  patch: 32,
  voices: QWEN3_VOICES,
  audioMaxBytes: 100 * MB,
  audioMaxSec: 1_200,
  audioTokensPerSec: 12.5,
  videoMaxBytes: 256 * MB,
  // API.md gives no lower bound for qwen3; keeping turbo's 2 s errs on the side of rejecting
  // what the real service might reject.
  videoMinSec: 2,
  videoMaxSec: 150,
  framesMin: 2,
  framesMax: 128,
  maxInputTokens: 49_152,
  maxOutputTokens: 16_384,
  thinking: 'enable_thinking',
  efforts: [],
  speech: true,
  mixedMedia: false,
  inputs: ['image', 'audio', 'video'],
};

/** MODELS-2026: Qwen3.5-Omni takes about 3 h of audio and 1 h of video [10], mixed media [T]; 262,144 context [14]. */
const QWEN35: ModelSpec = {
  ...QWEN3,
  family: 'qwen35',
  voices: ['Tina'],
  audioMaxBytes: 2048 * MB,
  audioMaxSec: 3 * 3600,
  audioTokensPerSec: 7,
  videoMaxBytes: 2048 * MB,
  videoMaxSec: 3600,
  framesMax: 250,
  maxInputTokens: 245_760,
  thinking: null,
  mixedMedia: true,
};

/** qwen3.8-omni-flash [1]: text output only, thinks by default; reasoning_effort as for qwen3.8-flash [12]. */
const QWEN38: ModelSpec = {
  ...QWEN35,
  family: 'qwen38',
  voices: [],
  maxInputTokens: 991_808,
  maxOutputTokens: 131_072,
  thinking: 'reasoning_effort',
  efforts: ['low', 'medium', 'xhigh'],
  speech: false,
  // Documented for Qwen3.5-Omni only: the stand-in takes the strict reading.
  mixedMedia: false,
  cache: true,
};

/** The captioner [15]: audio in, text out; 32,768 in and out. */
const CAPTIONER: ModelSpec = { ...QWEN3, family: 'captioner', voices: [], maxInputTokens: 32_768, maxOutputTokens: 32_768, thinking: null, speech: false, inputs: ['audio'] };

/**
 * The open weights as a vLLM-Omni server serves them (by their Hugging Face names): the processor's media rules are
 * the DashScope family's (the stand-in has no others to go by), text answers only (vLLM-Omni's speech comes back in
 * a shape of its own, which the client does not ask for), no thinking switch, 32 frames in a frame list (vLLM's
 * num_frames).
 */
const OPEN_QWEN3: ModelSpec = { ...QWEN3, family: 'open', voices: [], thinking: null, speech: false, framesMax: 32 };
const OPEN_QWEN25: ModelSpec = { ...TURBO, family: 'open', voices: [], speech: false, framesMax: 32 };
const OPEN_MODELS: Readonly<Record<string, ModelSpec>> = {
  'Qwen/Qwen3-Omni-30B-A3B-Instruct': OPEN_QWEN3,
  'Qwen/Qwen3-Omni-30B-A3B-Thinking': OPEN_QWEN3,
  'Qwen/Qwen3-Omni-30B-A3B-Captioner': { ...OPEN_QWEN3, inputs: ['audio'], maxInputTokens: 32_768, maxOutputTokens: 32_768 },
  'Qwen/Qwen2.5-Omni-7B': OPEN_QWEN25,
  'Qwen/Qwen2.5-Omni-3B': OPEN_QWEN25,
};

/** Whether a name is one of the open weights (served at the stand-in's vLLM and OpenAI paths, never at DashScope's). */
export function isOpenModel(name: unknown): boolean {
  return typeof name === 'string' && Object.hasOwn(OPEN_MODELS, name);
}

const DATED = String.raw`-\d{4}-\d{2}-\d{2}`;
const TURBO_NAME = new RegExp(`^qwen-omni-turbo(?:-latest|${DATED})?$`);
const QWEN3_NAME = new RegExp(`^qwen3-omni-flash(?:${DATED})?$`);
const QWEN35_NAME = /^qwen3\.5-omni-(?:plus|flash)(?:-2026-03-15)?$/;

/** A model the stand-in serves besides its own, as a test names it (a model DashScope may ship tomorrow). */
export type ExtraModel = Partial<Omit<ModelSpec, 'family'>>;

export function resolveModel(name: unknown, extra: Readonly<Record<string, ExtraModel>> = {}): ModelSpec | null {
  if (typeof name !== 'string') return null;
  if (TURBO_NAME.test(name) || name === 'qwen2.5-omni-7b') return TURBO;
  if (QWEN3_NAME.test(name)) return QWEN3;
  if (QWEN35_NAME.test(name)) return QWEN35;
  if (name === 'qwen3.8-omni-flash') return QWEN38;
  if (name === 'qwen3-omni-30b-a3b-captioner') return CAPTIONER;
  if (Object.hasOwn(OPEN_MODELS, name)) return OPEN_MODELS[name] ?? null;
  const more = Object.hasOwn(extra, name) ? extra[name] : undefined;
  return more ? { ...TURBO, ...more, family: 'custom' } : null;
}

/**
 * Which 400 a non-streaming call gets. qwen-omni-turbo names the snapshot that served it
 * (API.md's capture says qwen-omni-turbo-2025-01-19 for the alias); the others use the generic
 * invalid_parameter_error message.
 */
export function turboSnapshotFor(model: string): string | null {
  if (!model.startsWith('qwen-omni-turbo')) return null;
  return new RegExp(`${DATED}$`).test(model) ? model : 'qwen-omni-turbo-2025-01-19';
}
