/**
 * The in-process header readers (src/shared/headers/) against ffprobe, the reference: on every committed fixture
 * and on variants made here with real ffmpeg (other containers, codecs and layouts, damaged and cut files), the
 * facts read from a header must equal ffprobe's field for field, and a file no reader is sure of must go to
 * ffprobe (probeAv then answers what ffprobe answers, errors included).
 */
import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { OmniError } from '../src/shared/errors.js';
import { MAX_STEPS } from '../src/shared/headers/facts.js';
import { readAvHeader } from '../src/shared/headers/index.js';
import { crc as oggChecksum } from '../src/shared/headers/ogg.js';
import { ffprobeAv, probeAv, type AvFacts } from '../src/shared/probe.js';
import { bigCorpus, ffmpeg } from './corpus.js';
import { FIXTURES, tempDir } from './helpers.js';

const dir = await tempDir('omni-batch-headers-');

/** The facts, or the message of the OmniError that stands for the file's error row. */
async function factsOrError(probe: Promise<AvFacts>): Promise<AvFacts | string> {
  try {
    return await probe;
  } catch (err) {
    if (err instanceof OmniError) return err.message;
    throw err;
  }
}
const reference = (file: string) => factsOrError(ffprobeAv(file, 'f'));

/** Compares the header reader with ffprobe on one file; returns whether the header was read in-process. */
async function agrees(file: string): Promise<boolean> {
  const header = await readAvHeader(file);
  const fromBytes = (await stat(file)).size < 32 * 1024 * 1024 ? await readAvHeader(file, await readFile(file)) : header;
  assert.deepEqual(fromBytes, header, `${file}: the same facts from the bytes in hand as from the file`);
  const ref = await reference(file);
  if (header) assert.deepEqual(header, ref, `${path.basename(file)}: header facts differ from ffprobe's`);
  // Whatever path it takes, probeAv answers what ffprobe answers.
  const probed = await factsOrError(probeAv(file, 'f'));
  assert.deepEqual(probed, ref, `${path.basename(file)}: probeAv differs from ffprobe`);
  return header !== undefined;
}

describe('header readers agree with ffprobe', () => {
  test('every committed fixture: the same facts, and the common containers read in-process', async () => {
    const inProcess: string[] = [];
    for (const name of (await readdir(FIXTURES)).sort()) {
      if (name.endsWith('.md') || name.endsWith('.sh')) continue;
      if (await agrees(path.join(FIXTURES, name))) inProcess.push(name);
    }
    // Read in-process: every WAV, MP3, FLAC, Ogg, MP4, WebM and AVI fixture. To ffprobe: 16 kHz AAC without video
    // (speech.m4a: maybe HE-AAC), images, text, noise and the cut MP4 (whose index is missing: ffprobe's error row).
    assert.deepEqual(inProcess, [
      'audio-200s.mp3', 'clip-3s.mp4', 'clip-noaudio.mp4', 'clip.webm', 'long-45s.mp4', 'no-extension-video', 'ok-clip-5s.mp4',
      'ok-speech.mp3', 'ok-speech.wav', 'real-alarm.oga', 'real-front-center.wav', 'real-megamind.avi', 'short-1s.mp4', 'speech.flac', 'speech.ogg',
    ]);
  });

  test('the generated big corpus (2-minute 1080p MP4, 10-minute MP3)', async () => {
    const dir = await bigCorpus();
    assert.equal(await agrees(path.join(dir, 'video-2min-1080p.mp4')), true);
    assert.equal(await agrees(path.join(dir, 'audio-10min.mp3')), true);
  });
});

describe('header readers on variants made with ffmpeg', () => {
  const src = (name: string) => path.join(FIXTURES, name);
  const out = (name: string) => path.join(dir, name);

  /** Makes `name` with ffmpeg and returns whether it was read in-process (always checked against ffprobe). */
  async function made(name: string, args: string[]): Promise<boolean> {
    await ffmpeg([...args, out(name)]);
    return agrees(out(name));
  }

  test('containers and layouts read in-process', async () => {
    const speech = ['-i', src('ok-speech.wav')];
    const clip = ['-i', src('ok-clip-5s.mp4')];
    const cases: [string, string[]][] = [
      ['stereo-24bit.wav', [...speech, '-ac', '2', '-c:a', 'pcm_s24le']],
      ['float.wav', [...speech, '-c:a', 'pcm_f32le']],
      ['u8-22k.wav', [...speech, '-ar', '22050', '-c:a', 'pcm_u8']],
      ['mpeg1-stereo.mp3', [...speech, '-ac', '2', '-ar', '44100', '-c:a', 'libmp3lame', '-b:a', '128k']],
      ['vbr.mp3', [...speech, '-c:a', 'libmp3lame', '-q:a', '4']],
      ['tagged.mp3', [...speech, '-c:a', 'libmp3lame', '-metadata', 'title=A title', '-id3v2_version', '3']],
      ['tagged.flac', [...speech, '-ar', '44100', '-ac', '2', '-metadata', 'title=A title']],
      ['stereo.opus', [...speech, '-ac', '2', '-c:a', 'libopus', '-b:a', '32k']],
      ['moov-at-end.mp4', [...clip, '-c', 'copy']],
      ['quicktime.mov', [...clip, '-c', 'copy']],
      ['clip.mkv', [...clip, '-c', 'copy']],
      ['vp8-opus.mkv', [...clip, '-t', '2', '-c:v', 'libvpx', '-c:a', 'libopus']],
      ['vorbis.ogg', [...speech, '-c:a', 'libvorbis']],
      ['stereo-vorbis-44k.ogg', [...speech, '-ac', '2', '-ar', '44100', '-c:a', 'libvorbis', '-q:a', '2']],
      // Stream copies cut from the middle: the first audio page's granule no longer counts from 0.
      ['copy-cut.oga', ['-ss', '2', '-i', src('real-alarm.oga'), '-c', 'copy']],
      ['copy-cut.opus', ['-ss', '1', '-i', src('speech.ogg'), '-c', 'copy']],
      ['remuxed.avi', ['-i', src('real-megamind.avi'), '-c', 'copy']],
      ['xvid-mp3.avi', [...clip, '-c:v', 'mpeg4', '-vtag', 'XVID', '-c:a', 'libmp3lame']],
      ['h264.avi', [...clip, '-c:v', 'copy', '-an']],
      ['stereo-aac.m4a', [...speech, '-ac', '2', '-ar', '48000', '-c:a', 'aac']],
    ];
    const notRead: string[] = [];
    for (const [name, args] of cases) if (!(await made(name, args))) notRead.push(name);
    assert.deepEqual(notRead, []);
  });

  test('what no reader is sure of goes to ffprobe, with the same facts or the same error', async () => {
    const speech = ['-i', src('ok-speech.wav')];
    const clip = ['-i', src('ok-clip-5s.mp4')];
    // MP3 without a Xing/Info tag: ffprobe estimates the duration from the bitrate; the estimate is ffprobe's.
    assert.equal(await made('no-xing.mp3', [...speech, '-c:a', 'libmp3lame', '-b:a', '32k', '-write_xing', '0']), false);
    assert.equal(await made('flac.oga', [...speech, '-c:a', 'flac', '-f', 'ogg']), false);
    // PCM in AVI is counted in bytes (sample size 4), where avidec has more than one way to a duration.
    assert.equal(await made('pcm.avi', [...clip, '-c:v', 'mpeg4', '-c:a', 'pcm_s16le']), false);
    assert.equal(await made('fragmented.mp4', [...clip, '-c', 'copy', '-movflags', 'frag_keyframe+empty_moov']), false);
    assert.equal(await made('adpcm.wav', [...speech, '-c:a', 'adpcm_ms']), false);
    assert.equal(await made('live.webm', [...clip, '-t', '2', '-c:v', 'libvpx', '-c:a', 'libopus', '-live', '1', '-f', 'webm']), false);
  });

  test('cut and damaged files: never facts ffprobe would not give', async () => {
    const damaged: string[] = [];
    for (const name of ['ok-speech.mp3', 'speech.flac', 'speech.ogg', 'real-alarm.oga', 'ok-speech.wav', 'clip.webm', 'ok-clip-5s.mp4', 'speech.m4a', 'real-megamind.avi']) {
      const bytes = await readFile(src(name));
      for (const [how, b] of [
        ['half', bytes.subarray(0, bytes.length >> 1)],
        ['head', bytes.subarray(0, 100)],
        ['flipped', Buffer.from(bytes.map((x, i) => (i > 40 && i % 97 === 0 ? x ^ 0x5a : x)))],
      ] as const) {
        const file = out(`${how}-${name}`);
        await writeFile(file, b);
        if (await agrees(file)) damaged.push(`${how}-${name}`);
      }
    }
    // The first half of an MP4 whose index comes first still has all its header; a cut Ogg has lost its last page,
    // a cut AVI its end (whose index avidec reads).
    assert.ok(damaged.includes('half-ok-clip-5s.mp4'));
    for (const lost of ['half-speech.ogg', 'head-speech.ogg', 'half-real-alarm.oga', 'head-ok-clip-5s.mp4', 'head-speech.flac', 'half-real-megamind.avi']) assert.ok(!damaged.includes(lost), lost);
  });
});

describe('header readers give up where ffprobe reads otherwise, or where a walk would not end', () => {
  const src = (name: string) => path.join(FIXTURES, name);
  const out = (name: string) => path.join(dir, name);

  test('MP3s concatenated: ffprobe drops the Xing frame count and estimates, so the reader gives up', async () => {
    const one = await readFile(src('ok-speech.mp3'));
    await writeFile(out('thrice.mp3'), Buffer.concat([one, one, one]));
    assert.equal(await agrees(out('thrice.mp3')), false);
    // Within 1/16 of the tag's byte count (a trailing tag, say) the count still holds, as in mp3_parse_info_tag.
    await writeFile(out('trailing.mp3'), Buffer.concat([one, Buffer.alloc(one.length >> 5)]));
    assert.equal(await agrees(out('trailing.mp3')), true);
  });

  /** `n` copies of `piece` put in `b` at `at`. */
  const insert = (b: Buffer, at: number, piece: Buffer, n: number) => Buffer.concat([b.subarray(0, at), ...Array<Buffer>(n).fill(piece), b.subarray(at)]);
  const riffSized = (b: Buffer, lists: number[]) => {
    for (const at of [4, ...lists]) b.writeUInt32LE(b.length - at - 4, at);
    return b;
  };
  /** An empty Ogg page (no segments) of the stream `serial`, with its checksum. */
  const emptyPage = (serial: number) => {
    const p = Buffer.alloc(27);
    p.write('OggS', 0, 'latin1');
    p.writeUInt32LE(serial, 14);
    p.writeUInt32LE(oggChecksum(p), 22);
    return p;
  };

  test('a walk of more than MAX_STEPS boxes, elements, chunks, blocks or pages gives up to ffprobe', async () => {
    await ffmpeg(['-i', src('ok-clip-5s.mp4'), '-c', 'copy', out('walk-base.mp4')]);
    const mp4 = await readFile(out('walk-base.mp4'));
    const moovAt = mp4.lastIndexOf('moov') - 4; // after the media data: offsets into it stay right
    const webm = await readFile(src('clip.webm'));
    const segment = webm.indexOf(Buffer.from([0x18, 0x53, 0x80, 0x67]));
    assert.equal(webm.readUInt8(segment + 4), 0x01, 'an 8-byte segment size');
    const ogg = await readFile(src('speech.ogg'));
    const idEnd = 27 + ogg.readUInt8(26) + [...ogg.subarray(27, 27 + ogg.readUInt8(26))].reduce((a, x) => a + x, 0);
    const wav = await readFile(src('ok-speech.wav'));
    const avi = await readFile(src('real-megamind.avi'));
    const flac = await readFile(src('speech.flac'));
    assert.equal(flac.readUInt8(4) & 0x80, 0, 'STREAMINFO is not the last block');
    const junk = Buffer.from('JUNK\0\0\0\0', 'latin1');
    const variants: [string, (n: number) => Buffer][] = [
      ['mp4', (n) => insert(mp4, moovAt, Buffer.from('\0\0\0\x08free', 'latin1'), n)],
      ['webm', (n) => {
        const b = insert(webm, segment + 12, Buffer.from([0xec, 0x80]), n); // Void elements of 2 bytes
        b.writeUIntBE(webm.readUIntBE(segment + 6, 6) + 2 * n, segment + 6, 6);
        return b;
      }],
      ['wav', (n) => riffSized(insert(wav, 12, junk, n), [])],
      ['avi', (n) => riffSized(insert(avi, 24, junk, n), [16])],
      ['flac', (n) => insert(flac, 42, Buffer.from([1, 0, 0, 0]), n)], // empty PADDING blocks
      ['ogg', (n) => insert(ogg, idEnd, emptyPage(ogg.readUInt32LE(14)), n)],
    ];
    for (const [ext, make] of variants) {
      await writeFile(out(`few-steps.${ext}`), make(100));
      assert.equal(await agrees(out(`few-steps.${ext}`)), true, `${ext} with 100 padding steps is read in-process`);
      await writeFile(out(`many-steps.${ext}`), make(MAX_STEPS + 100));
      assert.equal(await agrees(out(`many-steps.${ext}`)), false, `${ext} with ${MAX_STEPS + 100} padding steps goes to ffprobe`);
    }
  });

  /** Ogg pages of `serial` carrying `packets` whole (the first page not a continuation), checksummed. */
  function oggPages(serial: number, packets: Buffer[]): Buffer {
    const lacing = packets.flatMap((p) => [...Array<number>(Math.floor(p.length / 255)).fill(255), p.length % 255]);
    const data = Buffer.concat(packets);
    const pages: Buffer[] = [];
    for (let seg = 0, at = 0, continued = false; seg < lacing.length; ) {
      const mine = lacing.slice(seg, seg + 255);
      const bytes = mine.reduce((a, x) => a + x, 0);
      const page = Buffer.concat([Buffer.alloc(27), Buffer.from(mine), data.subarray(at, at + bytes)]);
      page.write('OggS', 0, 'latin1');
      page.writeUInt8(continued ? 1 : 0, 5);
      page.writeUInt32LE(serial, 14);
      page.writeUInt8(mine.length, 26);
      page.writeUInt32LE(oggChecksum(page), 22);
      pages.push(page);
      continued = mine[mine.length - 1] === 255;
      seg += mine.length;
      at += bytes;
    }
    return Buffer.concat(pages);
  }

  test('a Vorbis setup header over 1 MB is not joined in memory: ffprobe decides', async () => {
    await ffmpeg(['-i', src('ok-speech.wav'), '-c:a', 'libvorbis', out('setup-base.ogg')]);
    const ogg = await readFile(out('setup-base.ogg'));
    // The pages: the identification page, then the comment and setup packets, then audio from a page of its own.
    const packets: Buffer[] = [];
    let current: Buffer[] = [];
    let pos = 0;
    let idEnd = 0;
    while (packets.length < 3) {
      const n = ogg.readUInt8(pos + 26);
      let at = pos + 27 + n;
      for (const l of ogg.subarray(pos + 27, pos + 27 + n)) {
        current.push(ogg.subarray(at, at + l));
        at += l;
        if (l < 255) {
          packets.push(Buffer.concat(current));
          current = [];
        }
      }
      pos = at;
      idEnd ||= pos;
    }
    const [, comment, setup] = packets as [Buffer, Buffer, Buffer];
    const serial = ogg.readUInt32LE(14);
    // vorbis_parser reads the modes from the setup's end: bytes put in after its signature leave them as they are.
    const bigger = (n: number) => Buffer.concat([ogg.subarray(0, idEnd), oggPages(serial, [comment, Buffer.concat([setup.subarray(0, 7), Buffer.alloc(n, 0x55), setup.subarray(7)])]), ogg.subarray(pos)]);
    await writeFile(out('setup-plus-1k.ogg'), bigger(1024));
    assert.notEqual(await readAvHeader(out('setup-plus-1k.ogg')), undefined, 'the crafted file is one the reader reads');
    await writeFile(out('setup-plus-2m.ogg'), bigger(2 * 1024 * 1024));
    assert.equal(await readAvHeader(out('setup-plus-2m.ogg')), undefined);
  });

  test('a header that counts no duration (WAV data size 0, AVI stream length 0) goes to ffprobe', async () => {
    const wav = Buffer.from(await readFile(src('ok-speech.wav')));
    wav.writeUInt32LE(0, wav.indexOf('data') + 4); // as a stream written without seeking back: to the end of the file
    await writeFile(out('data-size-0.wav'), wav);
    assert.equal(await agrees(out('data-size-0.wav')), false);
    const avi = await readFile(src('real-megamind.avi'));
    const strh = [...avi.subarray(0, 8192).toString('latin1').matchAll(/strh/g)].map((m) => m.index);
    assert.ok(strh.length >= 2, 'a video and an audio stream');
    for (const [name, which] of [['audio-length-0.avi', strh.slice(1)], ['all-length-0.avi', strh]] as const) {
      const b = Buffer.from(avi);
      for (const at of which) b.writeUInt32LE(0, at + 8 + 32);
      await writeFile(out(name), b);
      assert.equal(await agrees(out(name)), false, name);
    }
  });

  /** An EBML element: its ID's bytes, a size of 1 byte (or 8 for bodies of 127 bytes and more), its body. */
  function ebml(id: number[], body: Buffer | number[]): Buffer {
    const b = Buffer.from(body);
    const size = b.length < 127 ? Buffer.from([0x80 | b.length]) : Buffer.concat([Buffer.from([0x01, 0, 0]), Buffer.from([0, 0, 0, 0])]).fill(0, 1);
    if (b.length >= 127) size.writeUIntBE(b.length, 2, 6);
    return Buffer.concat([Buffer.from(id), size, b]);
  }
  const f64 = (x: number) => {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(x);
    return b;
  };

  test('Matroska integers of 7 and 8 bytes are read whole', async () => {
    const opusHead = Buffer.from('OpusHead\x01\x02\x38\x01\x80\xbb\0\0\0\0\0', 'latin1');
    const head = ebml([0x1a, 0x45, 0xdf, 0xa3], Buffer.concat([ebml([0x42, 0x86], [1]), ebml([0x42, 0xf7], [1]), ebml([0x42, 0xf2], [4]), ebml([0x42, 0xf3], [8]), ebml([0x42, 0x82], Buffer.from('matroska')), ebml([0x42, 0x87], [4]), ebml([0x42, 0x85], [2])]));
    // TimestampScale 1 ms written in 8 bytes (the first 6 of them are 0), Duration 2000 of it.
    const info = ebml([0x15, 0x49, 0xa9, 0x66], Buffer.concat([ebml([0x2a, 0xd7, 0xb1], [0, 0, 0, 0, 0, 0x0f, 0x42, 0x40]), ebml([0x44, 0x89], f64(2000)), ebml([0x4d, 0x80], Buffer.from('test')), ebml([0x57, 0x41], Buffer.from('test'))]));
    const audio = ebml([0xe1], Buffer.concat([ebml([0xb5], f64(48_000)), ebml([0x9f], [0, 0, 0, 0, 0, 0, 2])]));
    const entry = ebml([0xae], Buffer.concat([ebml([0xd7], [1]), ebml([0x73, 0xc5], [1]), ebml([0x83], [2]), ebml([0x86], Buffer.from('A_OPUS')), ebml([0x63, 0xa2], opusHead), audio]));
    // One cluster of empty 20 ms Opus frames (a TOC byte each) at 0, 20, 40 ms: ffprobe wants a packet to read.
    const blocks = [0, 20, 40].map((t) => ebml([0xa3], [0x81, 0, t, 0x80, 0xfc]));
    const cluster = ebml([0x1f, 0x43, 0xb6, 0x75], Buffer.concat([ebml([0xe7], [0]), ...blocks]));
    const segment = Buffer.concat([Buffer.from([0x18, 0x53, 0x80, 0x67, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), info, ebml([0x16, 0x54, 0xae, 0x6b], entry), cluster]);
    await writeFile(out('wide-ints.mka'), Buffer.concat([head, segment]));
    const facts = await readAvHeader(out('wide-ints.mka'));
    assert.equal(facts?.durationSec, 2);
    assert.equal(facts.channels, 2);
    assert.equal(await agrees(out('wide-ints.mka')), true);
  });

  test('a stream claimed without a picture size (AVI biWidth 0 or negative) goes to ffprobe', async () => {
    const avi = await readFile(src('real-megamind.avi'));
    const strf = avi.indexOf('strf');
    for (const [name, width] of [['width-0.avi', 0], ['width-negative.avi', -avi.readInt32LE(strf + 12)]] as const) {
      const b = Buffer.from(avi);
      b.writeInt32LE(width, strf + 12); // the first strf is the video's BITMAPINFOHEADER
      await writeFile(out(name), b);
      assert.equal(await agrees(out(name)), false, name);
    }
  });

  test('MP4 with a chapter track or a subtitle track goes to ffprobe', async () => {
    await writeFile(out('chapters.txt'), ';FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=2000\ntitle=One\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=2000\nEND=5000\ntitle=Two\n');
    await writeFile(out('subs.srt'), '1\n00:00:00,000 --> 00:00:02,000\nHello\n');
    const clip = ['-i', src('ok-clip-5s.mp4')];
    await ffmpeg([...clip, '-c', 'copy', out('plain-copy.mp4')]);
    assert.equal(await agrees(out('plain-copy.mp4')), true, 'the same clip without them is read in-process');
    await ffmpeg([...clip, '-i', out('chapters.txt'), '-map', '0', '-map_chapters', '1', '-c', 'copy', out('chapters.mp4')]);
    assert.equal(await agrees(out('chapters.mp4')), false, 'chapters');
    await ffmpeg([...clip, '-i', out('subs.srt'), '-map', '0', '-map', '1', '-c', 'copy', '-c:s', 'mov_text', out('subtitles.mp4')]);
    assert.equal(await agrees(out('subtitles.mp4')), false, 'subtitles');
  });
});
