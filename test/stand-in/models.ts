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
};

/** Minimal entry for the upload work (issue 14 item 3); the catalogue rewrite (branch `models`) replaces it. */
const QWEN35_FLASH: ModelSpec = {
  ...QWEN3,
  voices: ['Tina', 'Cherry', 'Ethan'],
  audioMaxBytes: 2 * 1024 * MB,
  audioMaxSec: 3 * 3600,
  audioTokensPerSec: 7,
  videoMaxBytes: 2 * 1024 * MB,
  videoMaxSec: 3600,
  framesMax: 250,
  maxInputTokens: 253_952,
  maxOutputTokens: 8_192,
};

const DATED = String.raw`-\d{4}-\d{2}-\d{2}`;
const TURBO_NAME = new RegExp(`^qwen-omni-turbo(?:-latest|${DATED})?$`);
const QWEN3_NAME = new RegExp(`^qwen3-omni-flash(?:${DATED})?$`);

export function resolveModel(name: unknown): ModelSpec | null {
  if (typeof name !== 'string') return null;
  if (TURBO_NAME.test(name) || name === 'qwen2.5-omni-7b') return TURBO;
  if (QWEN3_NAME.test(name)) return QWEN3;
  if (new RegExp(`^qwen3\\.5-omni-flash(?:${DATED})?$`).test(name)) return QWEN35_FLASH;
  return null;
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
