/** What probing an audio or video container tells, in ffprobe's names (container, codecs) and units. */
export interface AvFacts {
  durationSec: number | undefined;
  hasVideo: boolean;
  hasAudio: boolean;
  width: number | undefined;
  height: number | undefined;
  format: string | undefined;
  videoCodec: string | undefined;
  audioCodec: string | undefined;
  sampleRate: number | undefined;
  channels: number | undefined;
  /** ffprobe read the file as a single still image (`image2`, `bmp_pipe`, ...). */
  still: boolean;
}

/** One stream as a header reader found it. */
export interface VideoTrack {
  readonly codec: string;
  readonly width: number;
  readonly height: number;
}
export interface AudioTrack {
  readonly codec: string;
  readonly sampleRate: number;
  readonly channels: number;
}

/**
 * Facts from a header reader: the container's duration in ffprobe's precision (whole microseconds, as libavformat
 * keeps it) and the first video and audio stream, as ffprobe's first streams of each type.
 */
export function avFacts(format: string, seconds: number, video: VideoTrack | undefined, audio: AudioTrack | undefined): AvFacts {
  // HE-AAC may be signalled only inside the stream (implicit SBR): ffprobe decodes a frame, finds it and reports
  // twice the rate of the config (and stereo for PS). It is used at core rates up to 24 kHz; there the rate of an
  // audio file decides its conversion, so ffprobe decides. (In a video the audio's rate decides nothing.)
  sure(video || audio?.codec !== 'aac' || audio.sampleRate > 24_000, 'AAC at 24 kHz or less without video: maybe HE-AAC');
  const us = Math.round(seconds * 1e6);
  // A header that counts nothing (a WAV data size of 0, an AVI stream of length 0) is one libavformat reads in
  // some other way (to the end of the file, from the index): ffprobe's to read.
  sure(us > 0, 'a header that gives no duration');
  // A stream the container claims without a picture size, rate or channels: ffprobe reads them from the stream.
  sure(!video || (video.width > 0 && video.height > 0), 'a video stream without a picture size');
  sure(!audio || (audio.sampleRate > 0 && audio.channels > 0), 'an audio stream without a rate or channels');
  return {
    durationSec: us / 1e6,
    hasVideo: video !== undefined,
    hasAudio: audio !== undefined,
    width: video?.width,
    height: video?.height,
    format,
    videoCodec: video?.codec,
    audioCodec: audio?.codec,
    sampleRate: audio?.sampleRate,
    channels: audio?.channels,
    still: false,
  };
}

/**
 * Thrown (and caught in index.ts) when a header is not one a reader is sure of: damaged, truncated, a variant it
 * does not read, or a value ffprobe would estimate rather than read. The file then goes to ffprobe.
 */
export class NotSure extends Error {}

export function sure(condition: unknown, why: string): asserts condition {
  if (!condition) throw new NotSure(why);
}

/**
 * The most boxes, elements, chunks, blocks or pages one walk of a reader takes (real files take tens); a file of
 * more (say, megabytes of empty padding boxes) is read by ffprobe, so a reader never spends long on one.
 */
export const MAX_STEPS = 4096;

/** A step counter for one walk: call it once a step; past MAX_STEPS it gives up. */
export function steps(what: string): () => void {
  let n = 0;
  return () => sure(++n <= MAX_STEPS, `more than ${MAX_STEPS} ${what}`);
}
