/**
 * The README's model table and the `--model` help, generated from the catalogue (src/shared/models.ts), so the
 * documentation cannot drift from the facts the code runs on. `npm run docs:job-reference` writes the table;
 * a test fails when it is stale.
 */
import { isGuess, KNOWN_MODELS, MODELS, type ModelInfo, type Prices } from './models.js';

const duration = (sec: number) => (sec >= 3600 ? `${sec / 3600} h` : sec >= 60 ? `${sec / 60} min` : `${sec} s`);
const tokens = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : `${Math.round(n / 1024)}K`);

/** `7 / 53 / 7 -> 40` (input text / audio / image+video -> output text after media), per 1M tokens. */
function priceText(p: Prices | undefined): string {
  if (!p) return 'not known';
  return `${p.currency} ${p.inputText} / ${p.inputAudio} / ${p.inputImageVideo} -> ${p.outputTextAfterMedia}`;
}

function thinkingText(m: ModelInfo): string {
  const t = m.thinking;
  if (t.param === undefined) return 'no';
  return `${t.defaultOn ? 'on' : 'off'} by default (${t.param}${t.efforts.length ? `: ${t.efforts.join('/')}` : ''})`;
}

/** The facts of an entry that are guesses, by field path. */
function guesses(m: ModelInfo): string[] {
  return Object.entries(m.sources)
    .filter(([, s]) => isGuess(s))
    .map(([field]) => field);
}

/** The README table: one row per listed name. */
export function modelTableMarkdown(): string {
  const lines = [
    '| model | what it is for | input: audio / video | context / output | thinking | speech | Beijing price per 1M tokens (text / audio / image+video in -> text out) | international | guessed facts (see src/shared/models.ts) |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const name of KNOWN_MODELS) {
    const m = MODELS[name];
    const l = m.limits;
    const media = l.inputs.includes('video') ? `${duration(l.audioMaxSec)} / ${duration(l.videoMaxSec)}` : `${duration(l.audioMaxSec)} / audio only`;
    const cells = [
      `\`${name}\``,
      m.summary,
      media,
      `${tokens(l.contextTokens)} / ${tokens(l.outputTokens)}`,
      thinkingText(m),
      m.output.audio ? `yes (${m.output.voicesComplete ? m.output.voices.length : `${m.output.voices.join(', ')}, ...`})` : 'no',
      priceText(m.prices.cn),
      priceText(m.prices.intl),
      guesses(m).join(', ') || 'none',
    ];
    lines.push(`| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`);
  }
  return lines.join('\n');
}

/** `--help` lines: the name, what it is for, and its Beijing price. */
export function modelHelpText(): string {
  const names = KNOWN_MODELS.filter((n) => !/\d{4}-\d{2}-\d{2}$|-latest$/.test(n));
  const width = Math.max(...names.map((n) => n.length));
  const rows = names.map((n) => `  ${n.padEnd(width)}  ${MODELS[n].summary} ${priceText(MODELS[n].prices.cn)}${isGuess(MODELS[n].sources['prices.cn'] ?? '') ? ' (inferred)' : ''}`);
  return `\nModels (--model; dated snapshots and -latest too; README "Models" has limits and what is assumed;\nBeijing prices per 1M tokens, text / audio / image+video in -> text out):\n${rows.join('\n')}`;
}
