// The model catalogue: every entry is complete and says where its facts come from; a name the catalogue does not
// list runs on its family's facts (or a job file's modelLimits) with one warning; the settings a model does not
// take are refused before any call.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { resolveConfig } from '../src/shared/config.js';
import { KNOWN_MODELS, MODELS, isGuess, thinkingFields } from '../src/shared/models.js';
import { ROOT, tempDir } from './helpers.js';

describe('the model catalogue', () => {
  test('every entry has prices in a named currency, windows that fit, and a source for its facts', () => {
    for (const name of KNOWN_MODELS) {
      const m = MODELS[name];
      assert.ok(m.source.length > 0, `${name}: no source`);
      assert.ok(m.limits.inputTokens <= m.limits.contextTokens, `${name}: input window over the context`);
      assert.ok(m.limits.framesMin <= m.limits.framesMax && m.limits.urlFramesMax >= m.limits.framesMax, `${name}: frame ranges`);
      if (m.regions.length === 0) {
        // The open weights on a server of your own: no DashScope region, no list price, no account limit.
        assert.deepEqual([m.prices, m.rateLimits], [{}, { rpm: 0, tpm: 0 }], `${name}: open weights have no price or account limit`);
      } else {
        assert.ok(m.regions.includes('cn'), `${name}: every Omni model DashScope hosts is in Beijing`);
        assert.ok(m.prices.cn, `${name}: no Beijing price`);
      }
      for (const p of Object.values(m.prices)) assert.match(p.currency, /^(CNY|USD)$/);
      if (!m.output.audio) assert.equal(m.output.voices.length, 0, `${name}: voices without speech`);
    }
    assert.deepEqual(MODELS['qwen3.5-omni-plus'].batch, { regions: ['cn'] });
    assert.equal(MODELS['qwen3.5-omni-flash'].batch, undefined);
    assert.equal(MODELS['qwen3-omni-flash-2025-09-15'].output.voices.length, 17);
    assert.deepEqual(MODELS['qwen3-omni-30b-a3b-captioner'].limits.inputs, ['audio']);
    assert.equal(MODELS['qwen3.5-omni-flash'].limits.uploadMaxBytes, 1024 ** 3);
    assert.equal(MODELS['qwen3.5-omni-flash'].limits.urlVideoMaxBytes, 2 * 1024 ** 3);
    assert.ok(isGuess(MODELS['qwen3.8-omni-flash'].sources['thinking.param'] ?? ''));
    assert.ok(!isGuess('[3]'));
  });

  test('thinking is asked with each model\'s own parameter, and nothing is sent where the default already holds', () => {
    assert.deepEqual(thinkingFields(MODELS['qwen3-omni-flash'].thinking, 'on'), { enable_thinking: true });
    assert.deepEqual(thinkingFields(MODELS['qwen3-omni-flash'].thinking, 'off'), {});
    assert.deepEqual(thinkingFields(MODELS['qwen3.8-omni-flash'].thinking, 'off'), { reasoning_effort: 'none' });
    assert.deepEqual(thinkingFields(MODELS['qwen3.8-omni-flash'].thinking, 'on'), {});
    assert.deepEqual(thinkingFields(MODELS['qwen3.8-omni-flash'].thinking, 'low'), { reasoning_effort: 'low' });
  });
});

describe('model names and settings in the configuration', () => {
  test('a name the catalogue does not list runs on its family with one warning, and modelLimits patches it', async () => {
    const dir = await tempDir();
    const light = await resolveConfig(undefined, { input: [dir], prompt: 'p', model: 'qwen3.5-omni-light' }, {}, dir);
    assert.equal(light.warnings.length, 1);
    assert.match(light.warnings[0] ?? '', /"qwen3\.5-omni-light" is not in the catalogue .* the limits of its family qwen3\.5-omni-\* \(qwen3\.5-omni-flash\), no price/);
    assert.equal(light.modelInfo.limits.audioMaxSec, 3 * 3600);
    assert.equal(light.prices, undefined);
    const snapshot = await resolveConfig(undefined, { input: [dir], prompt: 'p', model: 'qwen-omni-turbo-2026-01-01' }, {}, dir);
    assert.equal(snapshot.prices?.inputAudio, 25, 'a new snapshot keeps its alias\'s prices');
    const job = path.join(dir, 'nano.yaml');
    await writeFile(job, 'inputs: [.]\nprompt: p\nmodel: qwen9-omni-nano\nmodelLimits:\n  like: qwen3.5-omni-flash\n  limits: { audioMaxSec: 600 }\n  prices: { cn: { currency: CNY, inputText: 1, inputAudio: 2, inputImageVideo: 1, outputText: 3, outputTextAfterMedia: 3 } }\n');
    const nano = await resolveConfig(job, {}, {}, dir);
    assert.equal(nano.modelInfo.limits.audioMaxSec, 600);
    assert.equal(nano.modelInfo.limits.videoMaxSec, 3600);
    assert.equal(nano.prices?.inputAudio, 2);
    assert.equal(nano.modelInfo.sources['limits.audioMaxSec'], 'job file (modelLimits)');
    await writeFile(job, 'inputs: [.]\nprompt: p\nmodel: qwen9-omni-nano\nmodelLimits:\n  limits: { audioMaxSec: -1, audioMaxSecs: 3 }\n');
    await assert.rejects(resolveConfig(job, {}, {}, dir), /field "modelLimits\.limits\.audioMaxSec": Too small: expected number to be >0, received -1[\s\S]*unknown field "modelLimits\.limits\.audioMaxSecs"/);
  });

  test('speech, thinking and max_tokens are checked against the model before any call', async () => {
    const dir = await tempDir();
    const base = { input: [dir], prompt: 'p' };
    await assert.rejects(resolveConfig(undefined, { ...base, model: 'qwen3.8-omni-flash', audioOut: dir }, {}, dir), /--audio-out: qwen3\.8-omni-flash answers in text only \(no speech output\); models with spoken answers: qwen3\.5-omni-plus/);
    const flash38 = await resolveConfig(undefined, { ...base, model: 'qwen3.8-omni-flash' }, {}, dir);
    assert.equal(flash38.answer.thinking, 'on', 'qwen3.8-omni-flash thinks by default');
    await assert.rejects(resolveConfig(undefined, { ...base, model: 'qwen3.8-omni-flash', thinking: 'high' }, {}, dir), /--thinking: qwen3\.8-omni-flash takes low, medium, xhigh \(reasoning_effort\), received "high"/);
    await assert.rejects(resolveConfig(undefined, { ...base, model: 'qwen3.5-omni-plus', thinking: 'on' }, {}, dir), /--thinking: qwen3\.5-omni-plus has no thinking mode/);
    const plus = await resolveConfig(undefined, { ...base, model: 'qwen3.5-omni-plus', maxTokens: 400, temperature: 0.2, region: 'intl' }, {}, dir);
    assert.deepEqual(plus.generation, { temperature: 0.2, max_tokens: 400 });
    assert.equal(plus.estimateAnswerTokens, 400);
    assert.equal(plus.prices?.inputAudio, 82.44);
  });
});

describe('the generated model documentation', () => {
  test('the README model table is what the catalogue generates, one row per listed name (npm run docs:job-reference)', async () => {
    const { readFile } = await import('node:fs/promises');
    const { modelTableMarkdown, modelHelpText } = await import('../src/shared/model-reference.js');
    const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
    assert.ok(readme.includes(modelTableMarkdown()), 'README.md model table is stale: run npm run docs:job-reference');
    for (const name of KNOWN_MODELS) assert.match(readme, new RegExp(`^\\| \`${name.replaceAll('.', '\\.')}\` \\|`, 'm'), name);
    assert.match(modelHelpText(), /qwen3\.8-omni-flash +Current.* CNY 0\.8 /);
  });
});

describe('per-model planning reads the catalogue', () => {
  test('a 50-minute lecture is whole for qwen3.5-omni-flash and cut to the 3 minutes qwen-omni-turbo takes; a 20-minute video is a file for 3.5 and frames for turbo', async () => {
    const { audioWindow, chooseVideoMode } = await import('../src/shared/media-plan.js');
    const { audioTokens } = await import('../src/shared/estimate.js');
    const lecture = { durationSec: 50 * 60 };
    const opts = { startSec: 0 };
    const flash = MODELS['qwen3.5-omni-flash'];
    const turbo = MODELS['qwen-omni-turbo'];
    assert.equal(audioWindow(lecture, opts, flash.limits).durationSec, 3000);
    assert.ok(audioWindow(lecture, opts, turbo.limits).durationSec <= 180);
    assert.equal(audioTokens(3000, flash.tokens), 21_000);
    const video = { durationSec: 20 * 60, width: 640, height: 360 };
    const vopts = { mode: 'auto', startSec: 0, windowSec: null, frames: null, autoMaxTrimSec: 10 } as const;
    assert.equal(chooseVideoMode(video, vopts, flash.limits).mode, 'file');
    assert.equal(chooseVideoMode(video, vopts, turbo.limits).mode, 'frames');
  });
});
