/**
 * The open model catalogue: per-model facts in one data table (limits, token rules, output, thinking, windows,
 * prices per region, rate limits, Batch support), each fact marked documented or assumed. Code asks this table;
 * it never hard-codes 40 s or 80 frames, and never branches on a model name. A name the table does not know runs
 * on the entry of its family prefix (`qwen3.5-omni-*`), patched by the job file's `modelLimits` block.
 * Sources: ../shared/qwen-omni/API.md and ../shared/qwen-omni/MODELS-2026.md (its [n] numbers are used here).
 */

/** Every region a model is documented in. Only some have a documented base URL (config.ts REGIONS). */
export type RegionId = 'cn' | 'intl' | 'us' | 'hk' | 'tokyo' | 'frankfurt' | 'virginia';

/** What a user message may carry besides text. */
export type InputKind = 'image' | 'audio' | 'video';

export interface ModelLimits {
  /** Image: each side must be larger than this many pixels. */
  readonly imageMinSidePx: number;
  /** Image: the longer side divided by the shorter may not exceed this. */
  readonly imageMaxAspect: number;
  /** Image: raw file size cap in bytes. */
  readonly imageMaxBytes: number;
  /** Audio: raw file size cap in bytes (any way it is sent). */
  readonly audioMaxBytes: number;
  /** Audio: longest accepted clip in seconds. */
  readonly audioMaxSec: number;
  /** Video file: raw size cap in bytes (any way it is sent). */
  readonly videoMaxBytes: number;
  /** Video file: accepted duration range in seconds. */
  readonly videoMinSec: number;
  readonly videoMaxSec: number;
  /** Video as an image list sent as base64 data URLs: accepted frame count range. */
  readonly framesMin: number;
  readonly framesMax: number;
  /** Video as an image list sent as URLs (https or oss://): accepted frame count range. */
  readonly urlFramesMin: number;
  readonly urlFramesMax: number;
  /** A base64 data URL item (the whole encoded string) may not be longer than this. */
  readonly dataUrlMaxChars: number;
  /** Audio / video given by URL (https or oss://): size cap in bytes. */
  readonly urlAudioMaxBytes: number;
  readonly urlVideoMaxBytes: number;
  /** DashScope temporary upload (`oss://`, MODELS-2026 section 5): one file may be at most this big. */
  readonly uploadMaxBytes: number;
  /** Whether one user message may carry several media kinds (an image and an audio together). */
  readonly mixedMedia: boolean;
  /** What a user message may carry besides text (the captioner takes audio only). */
  readonly inputs: readonly InputKind[];
  /** Token windows. */
  readonly contextTokens: number;
  readonly inputTokens: number;
  /** Input window while thinking, where the model documents a smaller one. */
  readonly inputTokensThinking: number;
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
 * Prices per 1,000,000 tokens in `currency` (as the price pages quote them). `outputTextAfterMedia` applies when
 * the request carried an image, audio or video part, `outputText` after text-only input; reasoning tokens are
 * billed as output text. `outputAudio` is null for a model without speech output.
 */
export interface Prices {
  readonly currency: 'CNY' | 'USD';
  readonly inputText: number;
  readonly inputAudio: number;
  readonly inputImageVideo: number;
  /** Cached input tokens (implicit cache); null when the model documents no cache price. */
  readonly inputCached: number | null;
  readonly outputText: number;
  readonly outputTextAfterMedia: number;
  readonly outputAudio: number | null;
}

/** How a model's thinking mode is switched, if it has one. */
export type ThinkingParam = 'enable_thinking' | 'reasoning_effort';
export type ThinkingEffort = 'low' | 'medium' | 'high' | 'xhigh';
export const THINKING_EFFORTS = ['low', 'medium', 'high', 'xhigh'] as const satisfies readonly ThinkingEffort[];

/** `off`, `on` (the model's default strength) or a strength (`reasoning_effort` models). */
export type ThinkingSetting = 'off' | 'on' | ThinkingEffort;

export interface Thinking {
  /** The body field that controls it; undefined: the model has no thinking mode. */
  readonly param: ThinkingParam | undefined;
  /** Whether the model thinks when the request says nothing. */
  readonly defaultOn: boolean;
  /** Strengths `reasoning_effort` takes (empty for an on/off switch). */
  readonly efforts: readonly ThinkingEffort[];
  /** Whether a thinking request may also ask for speech. */
  readonly withSpeech: boolean;
}

export interface Output {
  /** Spoken answers (`modalities: ["text","audio"]`). */
  readonly audio: boolean;
  /** Voices for spoken answers (`audio.voice`). */
  readonly voices: readonly string[];
  /** Whether `voices` is the whole list: a voice not in a partial list is warned about, not refused. */
  readonly voicesComplete: boolean;
}

/**
 * Where a fact comes from: `[n]` a MODELS-2026 / API.md source, `[T]` third-party and unverified, or text that
 * starts with `assumed`, `inferred` or `conflict` (then it is a guess, and one table entry to change).
 */
export type Source = string;

export interface ModelInfo {
  /** The catalogue entry this name runs on (itself for a listed name). */
  readonly family: string;
  /** One line: what the model is for. */
  readonly summary: string;
  /** Where it is documented. */
  readonly regions: readonly RegionId[];
  readonly limits: ModelLimits;
  readonly tokens: TokenRules;
  readonly output: Output;
  readonly thinking: Thinking;
  /** Calls must stream (`stream: true`). */
  readonly streamOnly: boolean;
  /** List prices per region; a region without an entry leaves the cost column empty. */
  readonly prices: Partial<Record<RegionId, Prices>>;
  /** Requests and tokens per minute per account (the defaults of --rpm and --tpm). */
  readonly rateLimits: { readonly rpm: number; readonly tpm: number };
  /** DashScope Batch API (`/v1/batches`): the regions that take this model; undefined: none. */
  readonly batch: { readonly regions: readonly RegionId[] } | undefined;
  /** The source of every fact not named in `sources`. */
  readonly source: Source;
  /** Facts with another source than `source`, by field path (`limits.audioMaxSec`): every guess is listed here. */
  readonly sources: Readonly<Record<string, Source>>;
}

const MB = 1024 * 1024;
const GB = 1024 * MB;
const DATA_URL_MAX = 10_485_760;

/** API.md "Token accounting": the same patch counts for every model; only the patch side differs. */
const PATCHES = { imageMinPatches: 4, imageMaxPatches: 1280, frameMinPatches: 128, frameMaxPatches: 768, videoTotalPatches: 16_384 } as const;

/** API.md, "bad voice": the 400 lists exactly these for qwen-omni-turbo. */
const turboVoices = ['Cherry', 'Serena', 'Ethan', 'Chelsie'] as const;
/** qwen3-omni-flash-2025-09-15: the 17 voices of the Qwen-Omni guide [3]. */
const qwen3Voices0915 = [
  'Cherry', 'Ethan', 'Nofish', 'Jennifer', 'Ryan', 'Katerina', 'Elias', 'Jada', 'Dylan', 'Sunny',
  'Li', 'Marcus', 'Roy', 'Peter', 'Rocky', 'Kiki', 'Eric',
] as const;
/** qwen3-omni-flash (-2025-12-01): 49 voices [3]; only these names are on hand, so the list is partial. */
const qwen3Voices1201 = [...qwen3Voices0915, 'Serena', 'Chelsie'] as const;

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
  urlFramesMin: 4,
  urlFramesMax: 80,
  dataUrlMaxChars: DATA_URL_MAX,
  urlAudioMaxBytes: 10 * MB,
  urlVideoMaxBytes: 150 * MB,
  uploadMaxBytes: GB,
  mixedMedia: false,
  inputs: ['image', 'audio', 'video'],
  contextTokens: 32_768,
  inputTokens: 30_720,
  inputTokensThinking: 30_720,
  outputTokens: 2_048,
};

const qwen3Limits: ModelLimits = {
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
  urlFramesMin: 2,
  urlFramesMax: 128,
  urlAudioMaxBytes: 100 * MB,
  urlVideoMaxBytes: 256 * MB,
  contextTokens: 65_536,
  inputTokens: 49_152,
  inputTokensThinking: 16_384,
  outputTokens: 16_384,
};

/** Qwen3.5-Omni [10]: about 3 h of audio and 1 h of video, by URL up to 2 GB; mixed media per message [T]. */
const qwen35Limits: ModelLimits = {
  ...qwen3Limits,
  audioMaxBytes: 2 * GB,
  audioMaxSec: 3 * 3600,
  videoMaxBytes: 2 * GB,
  videoMaxSec: 3600,
  framesMin: 2,
  framesMax: 250,
  urlFramesMin: 2,
  urlFramesMax: 2048,
  urlAudioMaxBytes: 2 * GB,
  urlVideoMaxBytes: 2 * GB,
  mixedMedia: true,
  contextTokens: 262_144,
  inputTokens: 245_760,
  inputTokensThinking: 245_760,
  outputTokens: 16_384,
};

const qwen35Sources = {
  'limits.imageMaxBytes': 'assumed: as qwen3-omni-flash',
  'limits.audioMaxBytes': '[10][T] (2 GB by URL)',
  'limits.videoMaxBytes': '[10] (2 GB by URL)',
  'limits.videoMinSec': 'assumed: as qwen3-omni-flash',
  'limits.framesMax': '[10]; conflict: [T] says 2-2,048',
  'limits.mixedMedia': '[T]',
  'limits.contextTokens': '[14]',
  'limits.inputTokens': 'assumed: context minus the output window (max input not found)',
  'limits.inputTokensThinking': 'assumed: no thinking mode documented',
  'limits.outputTokens': 'assumed: as qwen3-omni-flash (max output not found)',
  'tokens.patchPx': '[T]',
  'tokens.audioTokensPerSec': 'conflict: 7 per second [T] vs a 6.25 Hz encoder [14]; the higher is kept',
  'tokens.videoFps': 'assumed: 2 as qwen3-omni-flash (the plugin sends fps 1.0 [10])',
  'tokens.videoTotalPatches': 'assumed: as qwen3-omni-flash',
  'output.voices': '[2] (default voice Tina); the full list was not found',
  thinking: '[T] (thinking is listed for Qwen3-Omni-Flash only)',
  'prices.intl': '[4] (quoted in CNY on the zh page)',
  rateLimits: '[T]',
} as const satisfies Record<string, Source>;

const noThinking: Thinking = { param: undefined, defaultOn: false, efforts: [], withSpeech: true };
const ratePerAccount = { rpm: 60, tpm: 100_000 } as const;

type Entry = Omit<ModelInfo, 'family'>;

const qwen38Flash: Entry = {
  summary: 'Current, Alibaba\'s pick for audio and video understanding; 1M-token window; thinks by default; text answers only.',
  regions: ['cn', 'intl', 'hk', 'tokyo', 'frankfurt', 'virginia'],
  limits: { ...qwen35Limits, mixedMedia: false, contextTokens: 1_000_000, inputTokens: 991_808, inputTokensThinking: 983_616, outputTokens: 131_072 },
  tokens: { patchPx: 32, audioTokensPerSec: 7, videoFps: 2, ...PATCHES },
  output: { audio: false, voices: [], voicesComplete: true },
  thinking: { param: 'reasoning_effort', defaultOn: true, efforts: ['low', 'medium', 'xhigh'], withSpeech: false },
  streamOnly: true,
  prices: {
    cn: { currency: 'CNY', inputText: 0.8, inputAudio: 0.8, inputImageVideo: 0.8, inputCached: null, outputText: 2.7, outputTextAfterMedia: 2.7, outputAudio: null },
    intl: { currency: 'USD', inputText: 0.15, inputAudio: 0.15, inputImageVideo: 0.15, inputCached: 0.016, outputText: 0.47, outputTextAfterMedia: 0.47, outputAudio: null },
  },
  rateLimits: ratePerAccount,
  batch: undefined,
  source: '[1]',
  sources: {
    'limits.audioMaxSec': 'inferred from [10] (as Qwen3.5-Omni)',
    'limits.videoMaxSec': 'inferred from [10] (as Qwen3.5-Omni)',
    'limits.audioMaxBytes': 'assumed: as Qwen3.5-Omni',
    'limits.videoMaxBytes': 'assumed: as Qwen3.5-Omni',
    'limits.imageMaxBytes': 'assumed: as qwen3-omni-flash (not separately documented)',
    'limits.framesMax': 'assumed: as Qwen3.5-Omni (frame list limits not found)',
    'limits.urlFramesMax': 'assumed: as Qwen3.5-Omni',
    'limits.mixedMedia': 'assumed: false, the safe reading (documented for Qwen3.5-Omni only [T])',
    'tokens.patchPx': 'assumed: as Qwen3.5-Omni',
    'tokens.audioTokensPerSec': 'assumed: as Qwen3.5-Omni (not found)',
    'tokens.videoFps': 'assumed: 2 (`fps` parameter [10])',
    'thinking.param': 'inferred: reasoning_effort is documented for qwen3.8-max/flash [12]',
    'thinking.efforts': 'inferred from [12] (low/medium/xhigh; none = off)',
    streamOnly: 'assumed: documented for 3.5, 3 and turbo [2][3]; non-streaming 3.8 calls appear in [T]',
    'prices.cn': 'inferred: equals qwen3.8-flash [4][T]',
    'prices.intl': 'assumed: [13] quotes USD without naming a region; taken as Singapore (intl)',
    rateLimits: 'assumed: 60/100,000 as the other omni models (no number found [1])',
    batch: '[5] (not in Batch)',
  },
};

const qwen35Plus: Entry = {
  summary: 'Current, the strongest 3.5 model and Alibaba\'s pick for spoken answers; hours of audio, an hour of video.',
  regions: ['cn', 'intl'],
  limits: qwen35Limits,
  tokens: { patchPx: 32, audioTokensPerSec: 7, videoFps: 2, ...PATCHES },
  output: { audio: true, voices: ['Tina'], voicesComplete: false },
  thinking: noThinking,
  streamOnly: true,
  prices: {
    cn: { currency: 'CNY', inputText: 7, inputAudio: 53, inputImageVideo: 7, inputCached: null, outputText: 40, outputTextAfterMedia: 40, outputAudio: 213 },
    intl: { currency: 'CNY', inputText: 10.49, inputAudio: 82.44, inputImageVideo: 10.49, inputCached: null, outputText: 62.2, outputTextAfterMedia: 62.2, outputAudio: 329.74 },
  },
  rateLimits: ratePerAccount,
  batch: { regions: ['cn'] },
  source: '[2][4][10]',
  sources: { ...qwen35Sources, batch: '[5] (Beijing only, no speech output in batch)' },
};

const qwen35Flash: Entry = {
  ...qwen35Plus,
  summary: 'Current, the cheaper 3.5 model; hours of audio, an hour of video, spoken answers; a third of plus\'s price.',
  prices: {
    cn: { currency: 'CNY', inputText: 2.2, inputAudio: 18, inputImageVideo: 2.2, inputCached: null, outputText: 13.3, outputTextAfterMedia: 13.3, outputAudio: 72 },
    intl: { currency: 'CNY', inputText: 3, inputAudio: 22.48, inputImageVideo: 3, inputCached: null, outputText: 16.49, outputTextAfterMedia: 16.49, outputAudio: 89.18 },
  },
  batch: undefined,
  sources: { ...qwen35Sources, 'limits.contextTokens': '[14][T]', batch: '[5] (not in Batch)' },
};

const qwen3Flash: Entry = {
  summary: 'The 2025 model: 20 min of audio, 150 s of video, 49 voices, optional thinking (enable_thinking).',
  regions: ['cn', 'intl'],
  limits: qwen3Limits,
  tokens: { patchPx: 32, audioTokensPerSec: 12.5, videoFps: 2, ...PATCHES },
  output: { audio: true, voices: qwen3Voices1201, voicesComplete: false },
  thinking: { param: 'enable_thinking', defaultOn: false, efforts: [], withSpeech: false },
  streamOnly: true,
  prices: {
    cn: { currency: 'CNY', inputText: 1.8, inputAudio: 15.8, inputImageVideo: 3.3, inputCached: null, outputText: 6.9, outputTextAfterMedia: 12.7, outputAudio: 62.6 },
    intl: { currency: 'CNY', inputText: 3.156, inputAudio: 27.962, inputImageVideo: 5.725, inputCached: null, outputText: 12.183, outputTextAfterMedia: 22.458, outputAudio: 110.896 },
  },
  rateLimits: ratePerAccount,
  batch: undefined,
  source: '[3][4][11]',
  sources: {
    'limits.videoMinSec': 'assumed: turbo\'s 2 s (no lower bound documented)',
    'limits.urlFramesMax': 'assumed: as the base64 range',
    'output.voices': '[3]: 49 voices; only 19 names on hand, others are warned about, not refused',
    'limits.uploadMaxBytes': '[9]',
    batch: '[5] (not in Batch)',
  },
};

const turbo: Entry = {
  summary: 'The 2025 entry model, cheapest for text and images: 3 min of audio, 40 s of video, 4 voices; no further updates.',
  regions: ['cn', 'intl'],
  limits: turboLimits,
  tokens: { patchPx: 28, audioTokensPerSec: 25, videoFps: 2, ...PATCHES },
  output: { audio: true, voices: turboVoices, voicesComplete: true },
  thinking: noThinking,
  streamOnly: true,
  prices: {
    cn: { currency: 'CNY', inputText: 0.4, inputAudio: 25, inputImageVideo: 1.5, inputCached: null, outputText: 1.6, outputTextAfterMedia: 4.5, outputAudio: 50 },
    intl: { currency: 'CNY', inputText: 0.514, inputAudio: 32.586, inputImageVideo: 1.541, inputCached: null, outputText: 1.982, outputTextAfterMedia: 4.624, outputAudio: 65.246 },
  },
  rateLimits: ratePerAccount,
  batch: undefined,
  source: 'API.md; [3][4][11]',
  sources: {
    'limits.urlFramesMax': 'assumed: as the base64 range',
    'limits.uploadMaxBytes': '[9]',
    batch: '[5] (not in Batch today; older docs listed it [16])',
  },
};

const qwen25Omni7b: Entry = {
  ...turbo,
  summary: 'Open-weights 7B model hosted by DashScope; turbo\'s limits at a higher price.',
  prices: {
    cn: { currency: 'CNY', inputText: 0.6, inputAudio: 38, inputImageVideo: 2, inputCached: null, outputText: 2.4, outputTextAfterMedia: 6, outputAudio: 76 },
  },
  source: 'API.md; [3][11]',
  sources: { ...turbo.sources, 'prices.intl': 'not found: the cost column stays empty', batch: '[5] (not in Batch)' },
};

const captioner: Entry = {
  ...qwen3Flash,
  summary: 'Open-weights audio captioner: audio in, a detailed text description out; no images or video.',
  limits: { ...qwen3Limits, inputs: ['audio'], contextTokens: 65_536, inputTokens: 32_768, inputTokensThinking: 32_768, outputTokens: 32_768 },
  output: { audio: false, voices: [], voicesComplete: true },
  thinking: noThinking,
  prices: {
    cn: { currency: 'CNY', inputText: 15.8, inputAudio: 15.8, inputImageVideo: 15.8, inputCached: null, outputText: 12.7, outputTextAfterMedia: 12.7, outputAudio: null },
    intl: { currency: 'CNY', inputText: 27.962, inputAudio: 27.962, inputImageVideo: 27.962, inputCached: null, outputText: 22.458, outputTextAfterMedia: 22.458, outputAudio: null },
  },
  source: '[15][11]',
  sources: {
    'limits.audioMaxSec': 'assumed: as qwen3-omni-flash',
    'limits.audioMaxBytes': 'assumed: as qwen3-omni-flash',
    'tokens.audioTokensPerSec': 'assumed: as qwen3-omni-flash',
    'prices.cn': '[15] (one input price for all input)',
    batch: '[5] (not in Batch)',
  },
};

/**
 * The open weights, under the names a vLLM(-Omni) server serves them by (`vllm serve Qwen/Qwen3-Omni-30B-A3B-Instruct
 * --omni`: the Hugging Face name). On your own GPUs the server's flags decide much (`--max-model-len`,
 * `--limit-mm-per-prompt`, `--media-io-kwargs`), so these are the weights' facts with DashScope's media rules kept
 * where the weights say nothing: what fits DashScope fits the processor too. No list price (nothing is billed per
 * token: set `price` in the job file), no account rate limit (concurrency bounds a server of your own).
 */
const openWeights = {
  regions: [] as readonly RegionId[],
  output: { audio: false, voices: [], voicesComplete: true },
  thinking: noThinking,
  streamOnly: false,
  prices: {},
  rateLimits: { rpm: 0, tpm: 0 },
  batch: undefined,
} as const satisfies Partial<Entry>;

/** vLLM's VideoMediaIO keeps the first 32 frames of a `data:video/jpeg` frame list (num_frames, vllm/multimodal/video.py). */
const VLLM_FRAMES = { framesMax: 32, urlFramesMax: 32 } as const;

const openSources = {
  regions: 'your own server: no DashScope region',
  'limits.framesMax': 'vllm/multimodal/video.py: VideoMediaIO num_frames defaults to 32 (raise it with --media-io-kwargs and modelLimits)',
  'limits.urlFramesMax': 'as limits.framesMax',
  'limits.dataUrlMaxChars': "assumed: DashScope's 10 MB cap kept (vLLM documents none; a smaller request is kinder to the server)",
  'limits.audioMaxSec': 'assumed: as the DashScope model of the same family (the model card gives no maximum)',
  'limits.videoMaxSec': 'assumed: as the DashScope model of the same family',
  'limits.contextTokens': "assumed: the weights' max_position_embeddings; the server's --max-model-len decides",
  'limits.inputTokens': 'assumed: the context minus the output window',
  prices: 'none: nothing is billed per token on your own GPUs; set price in the job file',
  rateLimits: 'none: a server of your own has no account limit (concurrency bounds it)',
  thinking: 'the Thinking weights always reason and have no switch; the server returns it as reasoning_content with --reasoning-parser',
} as const;

const qwen3OmniOpen: Entry = {
  ...openWeights,
  summary: 'Open weights on your own GPUs (vLLM-Omni): images, audio, video in, text out.',
  limits: { ...qwen3Limits, ...VLLM_FRAMES, uploadMaxBytes: 0, contextTokens: 65_536, inputTokens: 49_152, inputTokensThinking: 49_152, outputTokens: 16_384 },
  tokens: { patchPx: 32, audioTokensPerSec: 12.5, videoFps: 2, ...PATCHES },
  source: 'vllm-project/vllm-omni examples/online_serving/qwen3_omni; Qwen3-Omni model card',
  sources: { ...openSources, 'tokens.audioTokensPerSec': 'assumed: as qwen3-omni-flash (API.md)' },
};

const qwen25OmniOpen: Entry = {
  ...openWeights,
  summary: 'Open 7B weights on your own GPUs (vLLM-Omni): turbo\'s media rules, 32K context.',
  limits: { ...turboLimits, ...VLLM_FRAMES, uploadMaxBytes: 0, contextTokens: 32_768, inputTokens: 30_720, inputTokensThinking: 30_720, outputTokens: 2_048 },
  tokens: { patchPx: 28, audioTokensPerSec: 25, videoFps: 2, ...PATCHES },
  source: 'vllm-project/vllm-omni examples/online_serving/qwen2_5_omni (vllm serve Qwen/Qwen2.5-Omni-7B --omni); Qwen2.5-Omni model card',
  sources: { ...openSources, 'tokens.audioTokensPerSec': 'assumed: as qwen-omni-turbo (API.md)', 'limits.outputTokens': 'assumed: as qwen-omni-turbo' },
};

/** A dated snapshot: its base's facts, with what differs. */
function snapshot(base: Entry, diff: Partial<Entry> = {}): Entry {
  return { ...base, ...diff, sources: { ...base.sources, ...diff.sources } };
}

/** Every listed name; edit a fact here and every check, estimate and the README's model table follow. */
const ENTRIES = {
  'qwen3.8-omni-flash': qwen38Flash,
  'qwen3.5-omni-plus': qwen35Plus,
  'qwen3.5-omni-plus-2026-03-15': snapshot(qwen35Plus, { summary: 'Dated snapshot of qwen3.5-omni-plus.', batch: undefined, sources: { batch: 'assumed: Batch names the alias only [5]' } }),
  'qwen3.5-omni-flash': qwen35Flash,
  'qwen3.5-omni-flash-2026-03-15': snapshot(qwen35Flash, { summary: 'Dated snapshot of qwen3.5-omni-flash.' }),
  'qwen3-omni-flash': qwen3Flash,
  'qwen3-omni-flash-2025-12-01': snapshot(qwen3Flash, { summary: 'Dated snapshot that qwen3-omni-flash points to (49 voices).' }),
  'qwen3-omni-flash-2025-09-15': snapshot(qwen3Flash, {
    summary: 'The first qwen3-omni-flash snapshot (17 voices).',
    output: { audio: true, voices: qwen3Voices0915, voicesComplete: true },
    sources: { 'output.voices': '[3] (17 voices)' },
  }),
  'qwen-omni-turbo': turbo,
  'qwen-omni-turbo-latest': snapshot(turbo, { summary: 'Alias of the newest qwen-omni-turbo snapshot.' }),
  'qwen-omni-turbo-2025-03-26': snapshot(turbo, { summary: 'Dated snapshot that qwen-omni-turbo points to.' }),
  'qwen-omni-turbo-2025-01-19': snapshot(turbo, { summary: 'The first qwen-omni-turbo snapshot, Beijing only.', regions: ['cn'], sources: { regions: '[3] (Beijing only)' } }),
  'qwen2.5-omni-7b': qwen25Omni7b,
  'qwen3-omni-30b-a3b-captioner': captioner,
  'Qwen/Qwen3-Omni-30B-A3B-Instruct': qwen3OmniOpen,
  'Qwen/Qwen3-Omni-30B-A3B-Thinking': snapshot(qwen3OmniOpen, { summary: 'Open weights that always reason (chain of thought), on your own GPUs; text out.' }),
  'Qwen/Qwen3-Omni-30B-A3B-Captioner': snapshot(qwen3OmniOpen, {
    summary: 'Open audio captioner on your own GPUs: audio in, a detailed description out.',
    limits: { ...qwen3OmniOpen.limits, inputs: ['audio'], inputTokens: 32_768, inputTokensThinking: 32_768, outputTokens: 32_768 },
    sources: { 'limits.inputs': '[15] (audio only, as qwen3-omni-30b-a3b-captioner)' },
  }),
  'Qwen/Qwen2.5-Omni-7B': qwen25OmniOpen,
  'Qwen/Qwen2.5-Omni-3B': snapshot(qwen25OmniOpen, { summary: 'Open 3B weights on your own GPUs (vLLM-Omni): as the 7B, for a smaller GPU.' }),
} as const satisfies Record<string, Entry>;

export type ModelName = keyof typeof ENTRIES;

/** The catalogue: every listed name with its facts. */
export const MODELS: Readonly<Record<ModelName, ModelInfo>> = Object.fromEntries(
  Object.entries(ENTRIES).map(([name, entry]) => [name, { family: name, ...entry }]),
) as Record<ModelName, ModelInfo>;

export const KNOWN_MODELS: readonly ModelName[] = Object.keys(ENTRIES) as ModelName[];

/**
 * Families a name the table does not know falls back to, longest prefix first: a new `qwen3.5-omni-light` runs on
 * qwen3.5-omni-flash's facts, a new dated snapshot on its alias's. A name matching none runs on FALLBACK_MODEL,
 * the most restrictive entry, so that what is sent is what every Omni model takes.
 */
const WILDCARDS: readonly { readonly prefix: string; readonly model: ModelName }[] = [
  { prefix: 'qwen3.8-omni-', model: 'qwen3.8-omni-flash' },
  { prefix: 'qwen3.5-omni-', model: 'qwen3.5-omni-flash' },
  { prefix: 'qwen3-omni-', model: 'qwen3-omni-flash' },
  { prefix: 'qwen2.5-omni-', model: 'qwen2.5-omni-7b' },
  { prefix: 'qwen-omni-', model: 'qwen-omni-turbo' },
];
export const FAMILY_PREFIXES: readonly { readonly prefix: string; readonly model: ModelName }[] = [
  ...KNOWN_MODELS.map((name) => ({ prefix: `${name}-`, model: name })),
  ...WILDCARDS,
].sort((a, b) => b.prefix.length - a.prefix.length);

export const FALLBACK_MODEL: ModelName = 'qwen-omni-turbo';

/** How a name was found: listed, by a family prefix, or not at all (the fallback). */
export type Match = { readonly kind: 'listed' } | { readonly kind: 'family'; readonly prefix: string } | { readonly kind: 'fallback' };

/** The entry a model name runs on, and how it was found. Never undefined: every name runs on some entry. */
export function lookupModel(model: string): { readonly name: ModelName; readonly match: Match } {
  if (Object.hasOwn(ENTRIES, model)) return { name: model as ModelName, match: { kind: 'listed' } };
  const family = FAMILY_PREFIXES.find((f) => model.startsWith(f.prefix));
  if (family) return { name: family.model, match: { kind: 'family', prefix: family.prefix } };
  return { name: FALLBACK_MODEL, match: { kind: 'fallback' } };
}

/** The facts of a listed name, or undefined for a name the table does not list. */
export function modelInfo(model: string): ModelInfo | undefined {
  return Object.hasOwn(ENTRIES, model) ? MODELS[model as ModelName] : undefined;
}

/** The facts a model name runs on (a listed entry, its family's, or the fallback); see lookupModel. */
export function requireModel(model: string): ModelInfo {
  return MODELS[lookupModel(model).name];
}

/**
 * The body fields that ask `info` for thinking `setting` (the config checked that the model takes it): nothing
 * where the model's default already is what is asked, so requests of a run without thinking stay as they were.
 */
export function thinkingFields(t: Thinking, setting: ThinkingSetting): Record<string, string | boolean> {
  if (t.param === 'enable_thinking') {
    if (setting === 'off') return t.defaultOn ? { enable_thinking: false } : {};
    return t.defaultOn ? {} : { enable_thinking: true };
  }
  if (t.param === 'reasoning_effort') {
    // `none` switches it off [12]; `on` is the model's default strength, or the strongest it takes.
    if (setting === 'off') return { reasoning_effort: 'none' };
    if (setting === 'on') return t.defaultOn ? {} : { reasoning_effort: t.efforts.at(-1) ?? 'xhigh' };
    return { reasoning_effort: setting };
  }
  return {};
}

/** The prices of `region`, or undefined when the model has none there (the cost column stays empty). */
export function pricesIn(info: ModelInfo, region: RegionId | undefined): Prices | undefined {
  return region === undefined ? undefined : info.prices[region];
}

/** Whether a fact is a guess (assumed, inferred, conflicting, third-party) rather than documented. */
export function isGuess(source: Source): boolean {
  return /^(assumed|inferred|conflict|not found)|\[T\]/i.test(source);
}

/**
 * The currency a distributed run recorded in Redis (`meta.currency`, '' for none); a run enqueued before regions
 * had prices recorded only its model, and was priced in Beijing.
 */
export function metaCurrency(meta: { readonly currency?: string | undefined; readonly model?: string | undefined }): string | null {
  if (meta.currency !== undefined) return meta.currency === '' ? null : meta.currency;
  return modelInfo(meta.model ?? '')?.prices.cn?.currency ?? null;
}
