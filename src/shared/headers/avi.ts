/**
 * AVI as libavformat's avi demuxer reads it: per stream its header (strh: type, scale, rate, length) and format
 * (strf: the picture's codec and size, the sound's codec, rate and channels); a stream lasts length x scale / rate
 * and the file as long as its longest stream. Only what is unambiguous is read here: streams counted in chunks
 * (sample size 0: video, and audio such as AC-3 or VBR MP3), starting at 0, of the codecs listed; an OpenDML
 * frame count that disputes the video's length, a cut file, other stream types (subtitles) and anything else go
 * to ffprobe.
 */
import { avFacts, steps, sure, type AudioTrack, type AvFacts, type VideoTrack } from './facts.js';
import { readExactly, type ByteSource } from './source.js';

/** Picture codecs by BITMAPINFOHEADER compression FourCC (upper-cased), in ffmpeg's names. */
const VIDEO: Record<string, string> = { XVID: 'mpeg4', DIVX: 'mpeg4', DX50: 'mpeg4', FMP4: 'mpeg4', MP4V: 'mpeg4', H264: 'h264', X264: 'h264', AVC1: 'h264' };
/** Sound codecs by WAVEFORMATEX format tag. */
const AUDIO: Record<number, string> = { 0x2000: 'ac3', 0x55: 'mp3' };
/** The header list is read whole; a few KB in practice. */
const MAX_HDRL = 1024 * 1024;

interface Chunk {
  readonly id: string;
  /** LIST type, for lists. */
  readonly list: string | undefined;
  readonly body: number;
  readonly end: number;
}

function chunks(b: Buffer, from: number, to: number): Chunk[] {
  const out: Chunk[] = [];
  const step = steps('AVI chunks in one list');
  for (let pos = from; pos + 8 <= to; ) {
    step();
    const id = b.toString('latin1', pos, pos + 4);
    const size = b.readUInt32LE(pos + 4);
    sure(pos + 8 + size <= to, 'an AVI chunk past its list');
    const list = id === 'LIST' ? b.toString('latin1', pos + 8, pos + 12) : undefined;
    out.push({ id, list, body: pos + (list ? 12 : 8), end: pos + 8 + size });
    pos += 8 + size + (size & 1);
  }
  return out;
}

export async function readAvi(src: ByteSource): Promise<AvFacts> {
  const riff = await readExactly(src, 0, 24, 'the AVI header');
  sure(riff.readUInt32LE(4) + 8 <= src.size, 'a cut AVI file');
  sure(riff.toString('latin1', 12, 16) === 'LIST' && riff.toString('latin1', 20, 24) === 'hdrl', 'no AVI header list first');
  const size = riff.readUInt32LE(16);
  sure(size <= MAX_HDRL, 'an AVI header list over 1 MB');
  const b = await readExactly(src, 12, 8 + size, 'the AVI header list');
  const hdrl = chunks(b, 12, b.length);
  let seconds = 0;
  let video: VideoTrack | undefined;
  let audio: AudioTrack | undefined;
  let videoFrames: number | undefined;
  for (const strl of hdrl.filter((c) => c.list === 'strl')) {
    const s = stream(b, strl);
    seconds = Math.max(seconds, s.seconds);
    if (s.video) {
      video ??= s.video;
      videoFrames ??= s.length;
    }
    if (s.audio) audio ??= s.audio;
  }
  const odml = hdrl.find((c) => c.list === 'odml');
  const dmlh = odml && chunks(b, odml.body, odml.end).find((c) => c.id === 'dmlh');
  sure(!dmlh || b.readUInt32LE(dmlh.body) === videoFrames, 'an OpenDML frame count other than the video stream length');
  sure(video || audio, 'an AVI without audio or video streams');
  return avFacts('avi', seconds, video, audio);
}

function stream(b: Buffer, strl: Chunk): { seconds: number; length: number; video?: VideoTrack; audio?: AudioTrack } {
  const parts = chunks(b, strl.body, strl.end);
  const strh = parts.find((c) => c.id === 'strh');
  const strf = parts.find((c) => c.id === 'strf');
  sure(strh && strf && strh.end - strh.body >= 48, 'an AVI stream without a header or format');
  const type = b.toString('latin1', strh.body, strh.body + 4);
  const [scale, rate, start, length] = [20, 24, 28, 32].map((o) => b.readUInt32LE(strh.body + o)) as [number, number, number, number];
  sure(scale > 0 && rate > 0 && start === 0 && b.readUInt32LE(strh.body + 44) === 0, 'an AVI stream counted in bytes, or not from 0');
  sure(length > 0, 'an AVI stream of length 0 (avidec then counts its chunks in the index)');
  const seconds = (length * scale) / rate;
  if (type === 'vids') {
    sure(strf.end - strf.body >= 20, 'a short BITMAPINFOHEADER');
    const codec = VIDEO[b.toString('latin1', strf.body + 16, strf.body + 20).toUpperCase()];
    sure(codec, 'an AVI picture codec not read here');
    return { seconds, length, video: { codec, width: b.readInt32LE(strf.body + 4), height: Math.abs(b.readInt32LE(strf.body + 8)) } };
  }
  sure(type === 'auds' && strf.end - strf.body >= 16, `an AVI stream of type ${JSON.stringify(type)}`);
  const codec = AUDIO[b.readUInt16LE(strf.body)];
  sure(codec, 'an AVI sound codec not read here');
  return { seconds, length, audio: { codec, channels: b.readUInt16LE(strf.body + 2), sampleRate: b.readUInt32LE(strf.body + 4) } };
}
