#!/usr/bin/env node
/** The command line: parse, validate, call the library, map errors to one line and an exit code. */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DASHBOARD_DEFAULTS } from './commands/dashboard/defaults.js';
import { REVIEW_DEFAULTS } from './commands/review/defaults.js';
import type { DashboardFlags } from './commands/dashboard.js';
import type { DistributedFlags, ScheduleFlags, WorkerFlags } from './commands/distributed.js';
import { displayOptions, LOG_MODES, type LogMode } from './commands/progress.js';
import type { RetryFlags } from './commands/retry.js';
import type { ReviewFlags } from './commands/review.js';
import type { runCommand } from './commands/run.js';
import type { Io } from './commands/io.js';
import { modelHelpText } from './shared/model-reference.js';
import { AUDIO_MODES, DEFAULTS, describeRange, ENGINES, GENERATION_RANGES, OUTPUT_FORMATS, RANGES, readNumber, REGION_NAMES, THINKING_SETTINGS, VIDEO_MODES, type NumberRange } from './shared/config.js';
import { ConfigError, ERROR_CODES, EXIT, OperatorError, type ErrorCode } from './shared/errors.js';
import { packageVersion } from './shared/version.js';
import { API_NAMES } from './shared/dialect.js';
import { SIDECAR_FORMATS, sidecarOptions, type SidecarFlags } from './shared/output/sidecar.js';

// The Redis side (bullmq, ioredis) and the dashboard (express, Bull Board) are loaded by the commands that use
// them: an in-process run, or a mistyped flag, started in 1.0 s of CPU with them loaded up front.
const distributed = () => import('./commands/distributed.js');

const RUN_HELP = `
Examples:
  # caption every image in a folder (the key comes from the environment only)
  export DASHSCOPE_API_KEY=sk-...
  omni-batch run --input ./photos --prompt "Write one caption for {{file.name}}" --out captions.csv

  # the same from a job file, and a dry run that needs no key and sends nothing
  omni-batch run jobs/caption-images.yaml
  omni-batch run jobs/caption-images.yaml --dry-run

  # label rows of a CSV manifest (text only), asking a follow-up question in the same conversation
  omni-batch run --manifest reviews.csv --prompt "Sentiment of: {{row.review}}" \\
    --follow-up "Now in one word." --out labels.jsonl

  # labels as data: one column per schema field, a retry in the same conversation for invalid answers
  omni-batch run jobs/label-dataset-schema.yaml

  # at half price through DashScope Batch (answers within 24h); Ctrl-C leaves the batch running
  omni-batch run jobs/label-dataset.yaml --model qwen3.5-omni-plus --engine batch
  omni-batch batch status out/review-labels.csv      # or the same run command again: collects the finished batches

  # spoken answers: one WAV file per input, its path in the audio_path column
  omni-batch run --input ./photos --prompt "Describe {{file.name}}" --audio-out ./speech --voice Ethan

Structured answers (job file): labels: [a, b, c] (multi: true for several), or schema: <JSON Schema of an
object>. The answer is parsed (fenced blocks and prose around it are fine) and validated; an invalid one is
asked again once, quoting the error; what still fails is failed/invalid_answer with the raw answer kept.

Template variables (only these; an unknown one stops the run before any call):
  {{file.name}} {{file.relPath}} {{file.dir}} {{file.ext}} {{media.kind}} {{media.durationSec}} {{row.<column>}}

Preprocessing (before any token is spent): images are rotated per EXIF, converted to JPEG/PNG, padded when
too small or thin, and downscaled to the model's token ceiling; audio is converted to MP3 and trimmed to the
model's maximum; videos are trimmed (stream copy when possible) or sent as frames. The row's preprocess
column says what was done. Job-file settings: image.fix, video.mode/startSec/windowSec/frames, audio.startSec.

Output: one row per discovered file (status ok, failed or skipped) in CSV or JSONL, written as files finish,
plus <out>.totals.json beside it (out.csv.totals.json). Run the same command again to resume: files with an ok row are not sent
again, failed ones are retried. Ctrl-C once finishes the files in flight; twice stops at once.

Sidecars (--sidecar txt|json): each ok answer is also written next to its file (photos/a.jpg -> photos/a.txt;
follow-up answers after a blank line) or under --sidecar-dir, mirroring the input folders; when two files share a
stem the second gets photos/a.png.txt, with a warning. --skip-captioned leaves out files already captioned by hand;
--caption-prefix/--caption-suffix add trigger words to the sidecars only. An existing sidecar
that omni-batch did not write is never replaced unless --overwrite is given (the summary counts the ones kept);
one it wrote is updated when the answer changes, unless --sidecar-skip-existing. Sidecars are never inputs.

Exit codes: 0 every file has a row (some may be failed or skipped), 2 bad flags/job file/template,
3 the API refused the key (401), the account (403) or the model (404), or its host could not be reached at all,
4 the output cannot be written, 5 no input: the inputs matched no file and the manifest had no row (--allow-empty
makes that 0), 6 rows missing (Redis lost them or went away; the output keeps what it has: run again),
130 interrupted.
`;

/*
 * Flag values are parsed here, by commander, into numbers, choices and sets: a bad one stops before any command
 * runs, as `error: option '--concurrency <n>' argument '0' is invalid. expected a whole number from 1 to 256`
 * (the flag, what arrived, what was expected) and exit 2. The commands get typed values.
 */

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** A number in `range`. */
function numberIn(range: NumberRange): (value: string) => number {
  return (value) => {
    const n = readNumber(value, range);
    if (n === undefined) throw new InvalidArgumentError(`expected ${describeRange(range)}`);
    return n;
  };
}

/** Error codes separated by commas, each one that rows can carry. */
function errorCodes(value: string): ReadonlySet<ErrorCode> {
  const codes = value
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  const unknown = codes.filter((c) => !(c in ERROR_CODES));
  if (unknown.length || codes.length === 0) {
    throw new InvalidArgumentError(`expected error codes separated by commas (e.g. rate_limited,timeout; see --help)${unknown.length ? `; unknown: ${unknown.join(', ')}` : ''}`);
  }
  return new Set(codes as ErrorCode[]);
}

/** Seconds for the worker's and the schedule's timings. */
const SECONDS: NumberRange = { whole: false, min: 0.001, max: Number.MAX_SAFE_INTEGER };
/** Jobs in flight in one worker: its machine is the limit, not a number chosen here. */
const WORKER_CONCURRENCY: NumberRange = { whole: true, min: 1, max: Number.MAX_SAFE_INTEGER };
const PORT: NumberRange = { whole: true, min: 0, max: 65535 };

const numberOption = (flags: string, description: string, range: NumberRange) => new Option(flags, description).argParser(numberIn(range));
const choiceOption = (flags: string, description: string, values: readonly string[]) => new Option(flags, description).choices(values);
const listOption = (flags: string, description: string) => new Option(flags, description).argParser(collect);

/** The options of a command as commander parsed them, without the ones not given; their types come from the options defined. */
const flagsOf = <T>(opts: Record<string, unknown>): T => Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as T;

/** --log, --quiet and the sidecar flags. */
interface OutputFlags extends SidecarFlags {
  log?: LogMode;
  quiet?: boolean;
}

/** Takes the display and sidecar flags out of a command's flags, into the Io the command gets. */
function withOutputFlags<T>(io: Io, opts: Record<string, unknown>): { flags: T; io: Io } {
  const { log, quiet, sidecar, sidecarDir, sidecarSkipExisting, overwrite, skipCaptioned, captionPrefix, captionSuffix, ...flags } = flagsOf<OutputFlags>(opts);
  const display = displayOptions({ log, quiet }, io.env);
  const sidecars = sidecarOptions({ sidecar, sidecarDir, sidecarSkipExisting, overwrite, skipCaptioned, captionPrefix, captionSuffix }, io.cwd);
  return { flags: flags as T, io: { ...io, display, sidecar: sidecars } };
}

/** What every command's builder needs. */
interface Cli {
  readonly program: Command;
  readonly io: Io;
  readonly setExit: (code: number) => void;
  readonly run: typeof runCommand;
}

/** A command that takes a job file and the flags that override its fields: run, enqueue, schedule. */
function jobCommand({ program }: Cli, name: string, description: string): Command {
  return program
    .command(name)
    .description(description)
    .argument('[job-file]', 'a YAML job file (see jobs/); flags override its fields')
    .addOption(listOption('-i, --input <dir|glob>', 'folder, file or glob to scan (repeatable)'))
    .addOption(listOption('--include <glob>', 'only files matching this glob, relative to each input folder (repeatable)'))
    .addOption(listOption('--exclude <glob>', 'leave out files matching this glob (repeatable)'))
    .addOption(choiceOption('--sort <input>', 'rewrite the finished output in input order (by its index column)', ['input']))
    .addOption(listOption('--keep <column>', 'carry this manifest column into the output as row_<column> (repeatable; "*" for all)'))
    .option('--case-sensitive', 'match globs case-sensitively (by default *.jpg also matches IMG_0001.JPG)')
    .option('-m, --manifest <file>', 'CSV or JSONL manifest: a path, url or frames column per row, other columns for {{row.*}}')
    .option('--manifest-root <dir>', "the folder a manifest's local paths must stay inside (default: the manifest's folder)")
    .option('--allow-empty', 'exit 0 when the inputs match no file and the manifest has no row (default: say so and exit 5)')
    .option('-p, --prompt <text>', 'prompt template for each file')
    .option('--prompt-file <file>', 'read the prompt template from a file')
    .option('--system <text>', 'system prompt (a template too)')
    .addOption(listOption('--follow-up <text>', 'a further question in the same conversation (repeatable)'))
    .option('-o, --out <file>', `output file, .csv or .jsonl, or - for JSONL rows on stdout (run only; default ${DEFAULTS.out})`)
    .addOption(choiceOption('--format <csv|jsonl>', 'output format (default: from the extension)', OUTPUT_FORMATS))
    .option('--csv-raw', "CSV: write cells as they are (by default a cell starting with = + - @ gets a leading ', so spreadsheets do not run it)")
    .option('--model <name>', `model (default ${DEFAULTS.model}; the list is below; another name runs on its family's limits, with a warning)`)
    .addOption(choiceOption('--region <name>', 'DashScope region, for the base URL and the prices: cn Beijing (default), intl Singapore, us; hk, tokyo, frankfurt, virginia need --base-url', REGION_NAMES))
    .option('--batch-chat', "send to Beijing's Batch Chat endpoint: synchronous, at the batch price (half), for the models Batch serves in cn")
    .option('--base-url <url>', 'API base URL (overrides --region; env DASHSCOPE_BASE_URL too)')
    .addOption(choiceOption('--api <dialect>', "the endpoint's dialect: dashscope, openai-compatible, vllm-omni (your own GPUs; key from OMNI_API_KEY); default from --base-url", API_NAMES))
    .addOption(
      new Option('-c, --concurrency <n>', `requests in flight at once (default ${DEFAULTS.concurrency}); auto: raised while the latency per token stays flat, settled at the knee (in-process runs)`).argParser((v) =>
        v === 'auto' ? 'auto' : numberIn(RANGES.concurrency)(v),
      ),
    )
    .addOption(numberOption('--max-files <n>', 'stop discovering after n files', RANGES.maxFiles))
    .addOption(numberOption('--idle-timeout <sec>', `abort and retry a stream that sends nothing for this long (default ${DEFAULTS.idleTimeoutSec})`, RANGES.idleTimeoutSec))
    .addOption(numberOption('--retries <n>', `retries for rate limits, 5xx, timeouts and cut streams (default ${DEFAULTS.retries})`, RANGES.retries))
    .addOption(numberOption('--rpm <n>', `requests per minute to pace at, all workers together, 0 for none (default ${DEFAULTS.rpm}; env OMNI_BATCH_RPM)`, RANGES.rpm))
    .addOption(numberOption('--tpm <n>', `tokens per minute to pace at, all workers together, 0 for none (default ${DEFAULTS.tpm}; env OMNI_BATCH_TPM)`, RANGES.tpm))
    .addOption(numberOption('--cpu-concurrency <n>', `preprocessing jobs at once: image resizing, ffmpeg (default: one per core, ${DEFAULTS.cpuConcurrency} here)`, RANGES.cpuConcurrency))
    .addOption(choiceOption('--video-mode <auto|file|frames|segments>', `send videos as the file (the model hears it), as frames, pick per file, or ask each model-sized part (default ${DEFAULTS.videoMode})`, VIDEO_MODES))
    .addOption(choiceOption('--audio-mode <trim|segments>', `audio longer than the model takes: trim it, or ask each model-sized part and join the answers (default ${DEFAULTS.audioMode})`, AUDIO_MODES))
    // The positive flag first: commander then leaves `upload` unset unless a flag is given, so the job file's
    // `upload:` is not overridden by a default.
    .addOption(new Option('--upload').hideHelp())
    .option('--no-upload', "send local audio and video as data URLs only (trimmed, re-encoded to fit 10 MB), not by DashScope's temporary upload")
    .option('--audio-out <dir>', 'spoken answers: ask for speech too and write one WAV file (24 kHz, 16-bit mono) per input into this folder')
    .option('--voice <name>', `voice of the spoken answers (default ${DEFAULTS.voice}; turbo: Cherry, Serena, Ethan, Chelsie)`)
    .addOption(choiceOption('--thinking [mode]', "thinking: off, on (alone: on) or a strength low|medium|high|xhigh, sent as the model's parameter; the reasoning goes to a reasoning column (default: the model's; qwen3.8-omni-flash thinks)", THINKING_SETTINGS).preset('on'))
    .addOption(numberOption('--temperature <t>', 'sampling temperature, 0 to under 2', GENERATION_RANGES.temperature))
    .addOption(numberOption('--top-p <p>', 'nucleus sampling, over 0 up to 1', GENERATION_RANGES.top_p))
    .addOption(numberOption('--max-tokens <n>', "longest answer per turn (thinking included), at most the model's output window; the estimate assumes it", GENERATION_RANGES.max_tokens))
    .addOption(numberOption('--seed <n>', 'sampling seed, 0 to 2^31-1', GENERATION_RANGES.seed))
    .addOption(numberOption('--presence-penalty <x>', 'penalty for repeating, -2 to 2', GENERATION_RANGES.presence_penalty))
    .option('--redis <url>', 'Redis for the distributed engine (env OMNI_BATCH_REDIS_URL; redis+cluster://h:p,h:p for Redis Cluster; env OMNI_BATCH_REDIS_GIVE_UP: seconds to wait for a Redis that went away, default 300)')
    .option('--run-id <id>', 'name the distributed run (default: from the output path)');
}

function withSidecarFlags(cmd: Command): Command {
  return cmd
    .addOption(choiceOption('--sidecar <txt|json>', 'also write each ok answer next to its file (photos/a.jpg -> photos/a.txt), the layout training tools read', SIDECAR_FORMATS))
    .option('--sidecar-dir <dir>', 'write the sidecars into this folder instead, mirroring the input folders (and URLs by host/path)')
    .option('--sidecar-skip-existing', 'leave every existing sidecar alone, even one omni-batch wrote')
    .option('--overwrite', 'replace existing sidecars omni-batch did not write (by default they are kept and counted in the summary)')
    .option('--skip-captioned', 'leave out (a skipped row, already_captioned) files whose sidecar exists and was not written by omni-batch: nothing is sent for them')
    .option('--caption-prefix <text>', 'put this before each answer in its sidecar, e.g. trigger words "ohwx, " (not in the output; job file: captionPrefix)')
    .option('--caption-suffix <text>', 'put this after each answer in its sidecar (not in the output; job file: captionSuffix)');
}

const logOption = (description: string) => choiceOption('--log <text|json>', description, LOG_MODES);

function addRun(cli: Cli): void {
  withSidecarFlags(jobCommand(cli, 'run', 'process every file of the inputs (or every manifest row), resumably; in this process, as DashScope Batch jobs (--engine batch), or on BullMQ workers with --redis'))
    .addOption(choiceOption('--engine <in-process|batch|auto>', `in-process: each file now; batch: DashScope Batch at half price, within --completion-window; auto: batch when the model supports it and --deadline allows it (default ${DEFAULTS.engine})`, ENGINES))
    .option('--completion-window <hours>', `batch: how long DashScope may take, 24h to 14d (default ${DEFAULTS.completionWindow})`)
    .option('--deadline <hours>', 'how long the answers may take (36h, 2d): with --engine auto, batch when its window fits')
    .addOption(numberOption('--max-cost <amount>', 'refuse to start when the estimated cost of the files not yet done is over this (price table currency, CNY)', RANGES.maxCost))
    .option('--dry-run', 'estimate tokens and cost per kind, write out.estimate.csv for out.csv (status planned); needs no key, sends nothing')
    .addOption(logOption('text: a live progress line on a terminal, a plain line every 10 s otherwise; json: one JSON line per finished file and per note (default text)'))
    .option('-q, --quiet', 'print only the final summary (and an error that ends the run)')
    .addHelpText('after', RUN_HELP + modelHelpText())
    .action(async (jobFile: string | undefined, opts: Record<string, unknown>) => {
      const { flags, io } = withOutputFlags<DistributedFlags>(cli.io, opts);
      if (flags.redis !== undefined && flags.out === '-') throw new ConfigError('--out -: rows go to stdout only in an in-process run; with --redis give an output file');
      cli.setExit(await (flags.redis !== undefined ? (await distributed()).runDistributed(jobFile, flags, io) : cli.run(jobFile, flags, io)));
    });
}

function addEnqueue(cli: Cli): void {
  jobCommand(cli, 'enqueue', 'put one job per file into the Redis queue and print the run id (files with an ok row are left alone)').action(
    async (jobFile: string | undefined, opts: Record<string, unknown>) => cli.setExit(await (await distributed()).enqueueCommand(jobFile, flagsOf<DistributedFlags>(opts), cli.io)),
  );
}

function addSchedule(cli: Cli): void {
  jobCommand(cli, 'schedule', 're-enqueue a job file on a cron pattern or an interval; workers run it; only new or changed files are sent')
    .option('--cron <pattern>', 'cron pattern, e.g. "0 3 * * *" (every night at 3)')
    .addOption(numberOption('--every <sec>', 'interval in seconds', SECONDS))
    .option('--remove', 'remove the schedule of this job file')
    .action(async (jobFile: string | undefined, opts: Record<string, unknown>) => cli.setExit(await (await distributed()).scheduleCommand(jobFile, flagsOf<ScheduleFlags>(opts), cli.io)));
}

function addRetry(cli: Cli): void {
  withSidecarFlags(
    cli.program
      .command('retry')
      .description('re-run only the failed rows of an output, with the settings its run recorded in <out>.run.json; every other row is kept')
      .argument('<output>', 'the CSV/JSONL output of an earlier run (in process, run --redis or collect)')
      .addOption(new Option('--codes <list>', 'only rows failed with these error codes, comma-separated (e.g. rate_limited,timeout,server_error)').argParser(errorCodes))
      .addOption(numberOption('-c, --concurrency <n>', 'requests in flight at once (default: as the run had it; in process only)', RANGES.concurrency))
      .option('--redis <url>', 'retry through the queue: re-enqueue the failed rows into the run that made the output, follow, collect (workers do the work)')
      .addOption(choiceOption('--engine <in-process|batch|auto>', 'the engine of the retry (default: as the run had it)', ENGINES))
      .addOption(logOption('as for run (default text)'))
      .option('-q, --quiet', 'print only the final summary'),
  )
    .addHelpText(
      'after',
      '\nThe retried rows are replaced in place (ok rows are not sent again, skipped rows are left alone); the summary\nat the end shows what is still failed. Without --redis the retry runs in this process, also for an output\nof a distributed run. Exit codes as for run.',
    )
    .action(async (output: string, opts: Record<string, unknown>) => {
      const { flags, io } = withOutputFlags<RetryFlags>(cli.io, opts);
      cli.setExit(await (await import('./commands/retry.js')).retryOutput(output, flags, io));
    });
}

function addWorker(cli: Cli): void {
  cli.program
    .command('worker')
    .description("process queued jobs (start one per machine; DASHSCOPE_API_KEY comes from this machine's environment)")
    .option('--redis <url>', 'Redis URL (env OMNI_BATCH_REDIS_URL; redis+cluster://h:p,h:p for Redis Cluster; env OMNI_BATCH_REDIS_GIVE_UP: seconds to wait for a Redis that went away, default 300)')
    .addOption(numberOption('-c, --concurrency <n>', 'jobs in flight at once in this worker (default 4)', WORKER_CONCURRENCY))
    .addOption(numberOption('--lock-duration <sec>', 'a job whose worker stops renewing its lock for this long goes to another worker (default 60)', SECONDS))
    .addOption(numberOption('--drain-timeout <sec>', 'on Ctrl-C / SIGTERM, how long to wait for the jobs in hand (default 120)', SECONDS))
    .addOption(listOption('--allow-base-url <url>', "an API base URL this worker sends its key to (repeatable; with --region and env DASHSCOPE_BASE_URL; default: DashScope's documented endpoints). A job naming another host gets a failed row, base_url_not_allowed"))
    .addOption(choiceOption('--region <cn|intl|us>', "allow DashScope's endpoint of this region (the key's own)", REGION_NAMES))
    .addOption(logOption('text: notes, failed files and a totals line every 30 s; json: pino lines, one per finished job (default text)'))
    .action(async (opts: Record<string, unknown>) => cli.setExit(await (await distributed()).workerCommand(flagsOf<WorkerFlags>(opts), cli.io)));
}

function addStatus(cli: Cli): void {
  cli.program
    .command('status')
    .description('progress of a distributed run: rows, failures, tokens, cost, ETA')
    .argument('<run-id>')
    .option('--redis <url>', 'Redis URL (env OMNI_BATCH_REDIS_URL)')
    .action(async (runId: string, opts: Record<string, unknown>) => cli.setExit(await (await distributed()).statusCommand(runId, flagsOf<DistributedFlags>(opts), cli.io)));
}

function addCollect(cli: Cli): void {
  withSidecarFlags(
    cli.program
      .command('collect')
      .description('write the rows of a distributed run to CSV/JSONL plus the totals and settings files (the same files run writes), and the summary')
      .argument('<run-id>')
      .option('--redis <url>', 'Redis URL (env OMNI_BATCH_REDIS_URL)')
      .option('-o, --out <file>', 'output file (default: the one the run was enqueued with)')
      .addOption(choiceOption('--format <csv|jsonl>', 'output format (default: from the extension)', OUTPUT_FORMATS)),
  ).action(async (runId: string, opts: Record<string, unknown>) => {
    const { flags, io } = withOutputFlags<DistributedFlags>(cli.io, opts);
    cli.setExit(await (await distributed()).collectCommand(runId, flags, io));
  });
}

function addBatch(cli: Cli): void {
  const batch = cli.program.command('batch').description('the DashScope Batch jobs of an output made with --engine batch');
  const commands = () => import('./commands/batch.js');
  batch
    .command('status')
    .description("each batch's status and request counts; the rows of every batch that has finished are written (as a rerun would)")
    .argument('<output>')
    .action(async (output: string) => cli.setExit(await (await commands()).batchStatusCommand(output, cli.io)));
  batch
    .command('cancel')
    .description('cancel the running batches of an output (answered requests are kept and billed; `batch status` writes the rows)')
    .argument('<output>')
    .action(async (output: string) => cli.setExit(await (await commands()).batchCancelCommand(output, cli.io)));
}

function addDashboard(cli: Cli): void {
  cli.program
    .command('dashboard')
    .description('serve a web page of the distributed runs (progress, tokens, cost, failures, latest rows) and of the queues (Bull Board)')
    .option('--redis <url>', 'Redis URL (env OMNI_BATCH_REDIS_URL)')
    .addOption(numberOption('--port <n>', `port to listen on, 0 for a free one (default ${DASHBOARD_DEFAULTS.port})`, PORT))
    .option('--host <address>', `address to listen on (default ${DASHBOARD_DEFAULTS.host}: this machine only; the page has no login)`)
    .addOption(listOption('--allow-host <name>', "another Host name the page may be opened under, e.g. a reverse proxy's (repeatable; loopback and this machine's names always work)"))
    .addHelpText('after', '\nOpen the printed URL: / lists the runs and follows one live (it refreshes every 2 s), /queues is Bull Board,\nread-only. The page reads Redis only; the API key is never in Redis. Ctrl-C / SIGTERM stops it (exit 0).')
    .action(async (opts: Record<string, unknown>) => cli.setExit(await (await import('./commands/dashboard.js')).dashboardCommand(flagsOf<DashboardFlags>(opts), cli.io)));
}

const REVIEW_HELP = `
Open the printed URL: a card per row (thumbnails of images and frames, players for audio and video, the text of
text rows) beside its answer, filters by status, error code, label and reviewed (with counts over the whole file),
and a Save button under each answer. Saving rewrites the output in place (every other row byte for byte as it
was) with reviewed=true on the row (an edited failed row becomes ok), and writes its sidecar again when the run
wrote sidecars (by the same rules: only one omni-batch wrote, unless --overwrite; none that exists when the run had
--sidecar-skip-existing). A reviewed row is never asked
again: run, retry and collect keep it. A save is refused while a run writes the output or after it changed on disk
since the page read it (reload). Ctrl-C / SIGTERM stops it (exit 0); exit 2 when OUTPUT is missing or not an output.
`;

function addReview(cli: Cli): void {
  cli.program
    .command('review')
    .description('serve a web page to look through an output (media beside each answer, filters) and correct answers in place')
    .argument('<output>', 'the CSV/JSONL output of a run (in process, run --redis or collect)')
    .addOption(numberOption('--port <n>', `port to listen on, 0 for a free one (default ${REVIEW_DEFAULTS.port})`, PORT))
    .option('--host <address>', `address to listen on (default ${REVIEW_DEFAULTS.host}: this machine only; the page has no login)`)
    .addOption(listOption('--allow-host <name>', "another Host name the page may be opened under, e.g. a reverse proxy's (repeatable)"))
    .addOption(choiceOption('--sidecar <txt|json>', 'the sidecars an edit rewrites (default: as the run that wrote the output had them)', SIDECAR_FORMATS))
    .option('--sidecar-dir <dir>', 'with --sidecar: the folder they are in (default: next to the files)')
    .option('--overwrite', "an edit also replaces a sidecar omni-batch did not write (by default it is kept)")
    .addHelpText('after', REVIEW_HELP)
    .action(async (output: string, opts: Record<string, unknown>) => {
      const { sidecar, sidecarDir, ...flags } = flagsOf<ReviewFlags & SidecarFlags>(opts);
      const io = { ...cli.io, sidecar: sidecarOptions({ sidecar, sidecarDir }, cli.io.cwd) };
      cli.setExit(await (await import('./commands/review.js')).reviewCommand(output, flags, io));
    });
}

const helpHint = (command: string) => `(run omni-batch ${command} --help for its flags${command === 'run' ? ' and examples' : ''})`;

export function buildProgram(run: typeof runCommand, io: Io, setExit: (code: number) => void): Command {
  const program = new Command()
    .name('omni-batch')
    .description("Send folders of images, audio, video and text through Alibaba's Qwen-Omni models; one result row per file.")
    .version(packageVersion(), '-V, --version', 'print the version of omni-batch')
    .showHelpAfterError('(run omni-batch --help for the commands, omni-batch run --help for the flags and examples)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, '')), writeErr: (s) => io.err(s.replace(/\n$/, '')) });
  const cli: Cli = { program, io, setExit, run };
  for (const add of [addRun, addEnqueue, addSchedule, addRetry, addWorker, addStatus, addCollect, addBatch, addDashboard, addReview]) add(cli);
  // A mistake in a subcommand's flags points to that subcommand's own help, not to run's.
  for (const cmd of program.commands) cmd.showHelpAfterError(helpHint(cmd.name()));
  return program;
}

/**
 * `run` as the program calls it: the engine, the SDK, sharp and the scanner are loaded when a run starts, so that
 * `--version`, `--help` and a mistyped flag start in a fraction of the CPU (issue 16: <= 0.25 s).
 */
const lazyRun: typeof runCommand = async (...args) => (await import('./commands/run.js')).runCommand(...args);

export async function main(argv: string[], io: Io): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(lazyRun, io, (c) => (code = c));
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return EXIT.config;
    }
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.config;
    if (err instanceof OperatorError) {
      io.err(`omni-batch: ${err.message}`);
      return err.exitCode;
    }
    io.err(`omni-batch: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return EXIT.internal;
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === (await import('node:url')).pathToFileURL((await import('node:fs')).realpathSync(process.argv[1])).href;
if (isMain) {
  const code = await main(process.argv.slice(2), {
    out: (t) => process.stdout.write(`${t}\n`),
    err: (t) => process.stderr.write(`${t}\n`),
    env: process.env,
    cwd: process.cwd(),
    get outColumns() {
      return process.stdout.isTTY ? process.stdout.columns : undefined;
    },
    terminal: {
      write: (t) => process.stderr.write(t),
      isTTY: process.stderr.isTTY === true,
      get columns() {
        return process.stderr.columns;
      },
    },
    onSignal: (handler) => {
      let count = 0;
      const wrapped = () => {
        // A third signal while the second is still winding down (compacting a big output, an ffprobe that
        // hangs) ends the process: every line already written is whole.
        if (++count >= 3) process.exit(EXIT.interrupted);
        handler();
      };
      process.on('SIGINT', wrapped);
      process.on('SIGTERM', wrapped);
      return () => {
        process.off('SIGINT', wrapped);
        process.off('SIGTERM', wrapped);
      };
    },
  });
  process.exitCode = code;
  // The command is done: what a library left armed (BullMQ's stalled checker and lock timers of a worker whose Redis
  // is gone, waiting for it to come back) must not keep the process alive. Unref'd: a clean exit is not delayed.
  setTimeout(() => process.exit(code), 2_000).unref();
}
