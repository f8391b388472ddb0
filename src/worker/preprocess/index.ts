/**
 * Preprocessing, on the worker side: a local file is made to fit the model's limits before any token is spent.
 * One concern per file: image.ts, audio.ts, video.ts (file mode), frames.ts (frame lists), ffmpeg.ts.
 * URLs, manifest frame lists and text files pass through untouched.
 */
import type { Job } from '../../shared/job.js';
import { chooseVideoMode, segmentsOf } from '../../shared/media-plan.js';
import { jobModel } from '../../shared/model-overrides.js';
import { DIALECTS } from '../../shared/dialect.js';
import { prepareAudio } from './audio.js';
import { prepareFrames } from './frames.js';
import { prepareImage } from './image.js';
import { withTransport, type Prepared, type WorkDir } from './prepared.js';
import { prepareSegments } from './segments.js';
import { prepareVideoFile } from './video.js';

export type { Prepared, PreparedPart } from './prepared.js';

/**
 * Fits the job's media, writing what it makes into `dir` (the job's own temp folder, made on first use; the
 * caller removes it). `content`: the local file's bytes, when planning kept them.
 */
export async function preprocess(job: Job, dir: WorkDir, signal: AbortSignal, content?: Buffer): Promise<Prepared> {
  const m = job.media;
  const info = jobModel(job);
  const untouched: Prepared = { media: m, facts: job.facts, note: '' };
  if (!m || m.type === 'text_file' || m.type === 'frames' || !('file' in m.source)) return untouched;
  const { upload } = job.options;
  const input = { file: m.source.file, facts: job.facts, info, dir, signal, label: job.path, upload };
  const fit = (p: Prepared): Prepared => (p.parts ? { ...p, parts: p.parts.map((part) => ({ ...withTransport(part, info.limits, upload), window: part.window, label: part.label })) } : withTransport(p, info.limits, upload));
  switch (m.type) {
    case 'image':
      return prepareImage({ ...input, opts: job.options.image, content });
    case 'audio': {
      const audio = { ...input, opts: job.options.audio, formats: DIALECTS[job.api ?? 'dashscope'].audioFormats };
      const parts = segmentsOf('audio', job.facts, job.options, info.limits);
      return fit(parts ? await prepareSegments('audio', audio, parts) : await prepareAudio(audio));
    }
    case 'video_file': {
      const parts = segmentsOf('video', job.facts, job.options, info.limits);
      if (parts) return fit(await prepareSegments('video', { ...input, opts: job.options.video, why: 'video.mode segments' }, parts));
      const { mode, why } = chooseVideoMode(job.facts, job.options.video, info.limits);
      const video = { ...input, opts: job.options.video, why };
      return mode === 'file' ? fit(await prepareVideoFile(video)) : prepareFrames(video);
    }
  }
}
