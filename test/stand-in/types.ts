// Shared shapes of the stand-in. Kept in a leaf module so every other file can import them
// without import cycles.

export type ModelFamily = 'turbo' | 'qwen3' | 'qwen35' | 'qwen38' | 'captioner' | 'open' | 'custom';

/** One media input found in a user message, after inspection. */
export interface MediaSummary {
  kind: 'image' | 'audio' | 'video' | 'frames';
  messageIndex: number;
  source: 'data' | 'url' | 'oss';
  /** The http(s) or oss:// URL; null for data URLs (never echoed: they are huge). */
  url: string | null;
  /** Decoded size in bytes; null when not known (URLs are not fetched). */
  bytes: number | null;
  /** Pixel size of the image, of the first frame of a frame list, or of a video file's picture. */
  width: number | null;
  height: number | null;
  /** Duration of an audio or video file in seconds. */
  durationSec: number | null;
  /** Number of items of a frame list. */
  frames: number | null;
  /** Whether a video file carries a soundtrack (billed as audio tokens). */
  hasAudio: boolean | null;
  /** input_audio.format, or the subtype of an image data URL. */
  format: string | null;
}

export interface PromptTokenDetails {
  text_tokens: number;
  image_tokens: number;
  audio_tokens: number;
  video_tokens: number;
  /** Part of text_tokens served from the implicit cache (models with one); reported as cached_tokens. */
  cached_tokens?: number;
}

/** What the stand-in understood of a valid request; handed to `answer` and to fault plans. */
export interface ChatRequestSummary {
  model: string;
  family: ModelFamily;
  modalities: Array<'text' | 'audio'>;
  /** audio.voice when audio output was requested. */
  voice: string | null;
  includeUsage: boolean;
  /** Whether the model thinks for this request (its parameter asked for it, or it thinks by default). */
  enableThinking: boolean;
  /** max_tokens / max_completion_tokens when given. */
  maxTokens: number | null;
  /** Number of user messages in the request. */
  turn: number;
  /** Text parts of the last user message, joined with a space. */
  lastUserText: string;
  messageCount: number;
  media: MediaSummary[];
  promptTokens: PromptTokenDetails;
  /** The dialect the request came in (by its path); absent: DashScope's. */
  dialect?: 'dashscope' | 'vllm-omni' | 'openai-compatible';
  /** vllm-omni: mm_processor_kwargs.use_audio_in_video was asked for. */
  useAudioInVideo?: boolean;
}
