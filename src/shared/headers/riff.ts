/**
 * WAV (RIFF/WAVE) as libavformat's wav demuxer reads it: the `fmt ` chunk for the codec, rate and channels, the
 * `data` chunk's size for the duration. Only plain PCM is read here; compressed WAV (ADPCM, MP3 in WAV, ...), RF64
 * and a data chunk that claims more than the file holds (a stream written without its final size) go to ffprobe.
 */
import { avFacts, NotSure, steps, sure, type AvFacts } from './facts.js';
import { readExactly, type ByteSource } from './source.js';

/** wFormatTag 1 (integer PCM) and 3 (IEEE float), by bits per sample, as ffmpeg names them. */
const PCM: Record<number, Record<number, string>> = {
  1: { 8: 'pcm_u8', 16: 'pcm_s16le', 24: 'pcm_s24le', 32: 'pcm_s32le' },
  3: { 32: 'pcm_f32le', 64: 'pcm_f64le' },
};

export async function readWav(src: ByteSource): Promise<AvFacts> {
  let pos = 12;
  let fmt: { codec: string; channels: number; sampleRate: number; bits: number } | undefined;
  const step = steps('RIFF chunks');
  while (pos + 8 <= src.size) {
    step();
    const head = await readExactly(src, pos, 8, 'a RIFF chunk header');
    const id = head.toString('latin1', 0, 4);
    const size = head.readUInt32LE(4);
    if (id === 'fmt ') {
      const b = await readExactly(src, pos + 8, Math.min(size, 40), 'the fmt chunk');
      sure(b.length >= 16, 'a short fmt chunk');
      let tag = b.readUInt16LE(0);
      // WAVE_FORMAT_EXTENSIBLE: the real tag is the first two bytes of the sub-format GUID.
      if (tag === 0xfffe && b.length >= 26) tag = b.readUInt16LE(24);
      const bits = b.readUInt16LE(14);
      const codec = PCM[tag]?.[bits];
      sure(codec, `WAV format tag ${tag} at ${bits} bits (not plain PCM)`);
      fmt = { codec, channels: b.readUInt16LE(2), sampleRate: b.readUInt32LE(4), bits };
      sure(fmt.channels > 0 && fmt.sampleRate > 0, 'a fmt chunk without channels or rate');
    } else if (id === 'data') {
      sure(fmt, 'a data chunk before the fmt chunk');
      sure(pos + 8 + size <= src.size, 'a data chunk longer than the file (written without its final size)');
      // As wav_read_header counts them: the data bits over the bits of one sample of every channel.
      const samples = Math.floor((size * 8) / (fmt.channels * fmt.bits));
      return avFacts('wav', samples / fmt.sampleRate, undefined, { codec: fmt.codec, sampleRate: fmt.sampleRate, channels: fmt.channels });
    }
    pos += 8 + size + (size & 1);
  }
  throw new NotSure('no data chunk');
}
