/**
 * Per-model facts in one table: input limits, token rules and prices.
 * Code asks this table; it never hard-codes 40 s or 80 frames. Source: ../shared/qwen-omni/API.md.
 */

export interface ModelLimits {
  /** Image: each side must be larger than this many pixels. */
  readonly imageMinSidePx: number;
  /** Image: the longer side divided by the shorter may not exceed this. */
  readonly imageMaxAspect: number;
  /** Image: raw file size cap in bytes. */
  readonly imageMaxBytes: number;
  /** Audio: raw file size cap in bytes. */
  readonly audioMaxBytes: number;
  /** Audio: longest accepted clip in seconds. */
  readonly audioMaxSec: number;
  /** Video file: raw size cap in bytes. */
  readonly videoMaxBytes: number;
  /** Video file: accepted duration range in seconds. */
  readonly videoMinSec: number;
  readonly videoMaxSec: number;
  /** Video as an image list: accepted frame count range. */
  readonly framesMin: number;
  readonly framesMax: number;
  /** A base64 data URL item (the whole encoded string) may not be longer than this. */
  readonly dataUrlMaxChars: number;
  /** Token windows. */
  readonly contextTokens: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
}

export interface TokenRules {
  /** Image patch side in pixels: one token per f x f patch. */
  readonly patchPx: number;
  /** Audio tokens per second (clips under 1 s count as 1 s). */
  readonly audioTokensPerSec: number;
  /** Frames sampled per second of video. */
  readonly videoFps: number;
  /** Image: patch count range after the model's own resize (tokens = patches + 2). */
  readonly imageMinPatches: number;
  readonly imageMaxPatches: number;
  /** Video: patch range of one frame, and of all frames together. */
  readonly frameMinPatches: number;
  readonly frameMaxPatches: number;
  readonly videoTotalPatches: number;
}

/**
 * Prices per 1,000 tokens in `currency`. `outputTextAfterMedia` applies when the request carried
 * an image, audio or video part; `outputText` after text-only input.
 */
export interface Prices {
  readonly currency: string;
  readonly inputText: number;
  readonly inputAudio: number;
  readonly inputImageVideo: number;
  readonly outputText: number;
  readonly outputTextAfterMedia: number;
  readonly outputAudio: number;
}

export interface ModelInfo {
  readonly family: string;
  readonly limits: ModelLimits;
  readonly tokens: TokenRules;
  /** Undefined when no list price is known: rows then carry an empty cost. */
  readonly prices: Prices | undefined;
  /** Voices for spoken answers (`audio.voice`); the API refuses any other with a 400. */
  readonly voices: readonly string[];
  /** Whether the model has a thinking mode (`enable_thinking`). */
  readonly thinking: boolean;
}

const DATA_URL_MAX = 10_485_760;
const MB = 1024 * 1024;

const turboLimits: ModelLimits = {
  imageMinSidePx: 10,
  imageMaxAspect: 200,
  imageMaxBytes: 10 * MB,
  audioMaxBytes: 10 * MB,
  audioMaxSec: 180,
  videoMaxBytes: 150 * MB,
  videoMinSec: 2,
  videoMaxSec: 40,
  framesMin: 4,
  framesMax: 80,
  dataUrlMaxChars: DATA_URL_MAX,
  contextTokens: 32_768,
  inputTokens: 30_720,
  outputTokens: 2_048,
};

/** API.md "Token accounting": the same patch counts for every model; only the patch side differs. */
const PATCHES = { imageMinPatches: 4, imageMaxPatches: 1280, frameMinPatches: 128, frameMaxPatches: 768, videoTotalPatches: 16_384 } as const;

/** API.md, "bad voice": the 400 lists exactly these for qwen-omni-turbo. */
const turboVoices = ['Cherry', 'Serena', 'Ethan', 'Chelsie'] as const;
/** The voice table of the Qwen-Omni guide for qwen3-omni-flash (not in API.md; the stand-in knows the same list). */
const qwen3Voices = [
  'Cherry', 'Ethan', 'Nofish', 'Jennifer', 'Ryan', 'Katerina', 'Elias', 'Jada', 'Dylan', 'Sunny',
  'Li', 'Marcus', 'Roy', 'Peter', 'Rocky', 'Kiki', 'Eric', 'Serena', 'Chelsie',
] as const;

/** Edit prices here: Beijing list prices, CNY per 1,000 tokens (API.md, "Rate limits and prices"). */
export const MODELS = {
  'qwen-omni-turbo': {
    family: 'qwen-omni-turbo',
    limits: turboLimits,
    tokens: { patchPx: 28, audioTokensPerSec: 25, videoFps: 2, ...PATCHES },
    prices: {
      currency: 'CNY',
      inputText: 0.0004,
      inputAudio: 0.025,
      inputImageVideo: 0.0015,
      outputText: 0.0016,
      outputTextAfterMedia: 0.0045,
      outputAudio: 0.05,
    },
    voices: turboVoices,
    thinking: false,
  },
  'qwen2.5-omni-7b': {
    family: 'qwen2.5-omni-7b',
    limits: turboLimits,
    tokens: { patchPx: 28, audioTokensPerSec: 25, videoFps: 2, ...PATCHES },
    prices: {
      currency: 'CNY',
      inputText: 0.0006,
      inputAudio: 0.038,
      inputImageVideo: 0.002,
      outputText: 0.0024,
      outputTextAfterMedia: 0.006,
      outputAudio: 0.076,
    },
    voices: turboVoices,
    thinking: false,
  },
  'qwen3-omni-flash': {
    family: 'qwen3-omni-flash',
    limits: {
      ...turboLimits,
      audioMaxBytes: 100 * MB,
      audioMaxSec: 1200,
      videoMaxBytes: 256 * MB,
      // API.md gives qwen3 no lower bound (only <= 150 s). Turbo's 2 s is kept on purpose: a shorter clip then
      // goes as frames, which every model takes, instead of risking a final 400 on an undocumented minimum.
      videoMinSec: 2,
      videoMaxSec: 150,
      framesMin: 2,
      framesMax: 128,
      contextTokens: 65_536,
      inputTokens: 49_152,
      outputTokens: 16_384,
    },
    tokens: { patchPx: 32, audioTokensPerSec: 12.5, videoFps: 2, ...PATCHES },
    // Not listed in API.md: cost stays empty rather than guessed.
    prices: undefined,
    voices: qwen3Voices,
    thinking: true,
  },
  // Minimal entry for the upload work (issue 14 item 3); the catalogue rewrite (branch `models`) replaces it.
  'qwen3.5-omni-flash': {
    family: 'qwen3.5-omni-flash',
    limits: {
      ...turboLimits,
      audioMaxBytes: 2 * 1024 * MB,
      audioMaxSec: 3 * 3600,
      videoMaxBytes: 2 * 1024 * MB,
      videoMinSec: 2,
      videoMaxSec: 3600,
      framesMin: 2,
      framesMax: 250,
      contextTokens: 262_144,
      inputTokens: 253_952,
      outputTokens: 8_192,
    },
    tokens: { patchPx: 32, audioTokensPerSec: 7, videoFps: 2, ...PATCHES },
    prices: { currency: 'CNY', inputText: 0.0022, inputAudio: 0.018, inputImageVideo: 0.0022, outputText: 0.0133, outputTextAfterMedia: 0.0133, outputAudio: 0.072 },
    voices: ['Tina', 'Cherry', 'Ethan'],
    thinking: false,
  },
} as const satisfies Record<string, ModelInfo>;

export type ModelFamily = keyof typeof MODELS;

/** The table entry for a model the config already validated; throws for an unknown one (a bug). */
export function requireModel(model: string): ModelInfo {
  const info = modelInfo(model);
  if (!info) throw new Error(`no model table entry for ${model}`);
  return info;
}

/**
 * Finds the table entry for a model name, including `-latest` and dated snapshots
 * (`qwen-omni-turbo-2025-03-26`). Undefined for a model the table does not know.
 */
export function modelInfo(model: string): ModelInfo | undefined {
  const families = Object.keys(MODELS) as ModelFamily[];
  // Longest family name first so that a future `qwen3-omni-flash-realtime` entry would win over its prefix.
  families.sort((a, b) => b.length - a.length);
  for (const family of families) {
    if (model === family || model.startsWith(`${family}-`)) return MODELS[family];
  }
  return undefined;
}

export const KNOWN_MODELS: readonly string[] = Object.keys(MODELS);
