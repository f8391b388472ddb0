/**
 * The floors of src/, from the top: cli.ts -> commands/ -> engine/ -> producer/ | worker/ -> shared/.
 * An import only ever points down a floor (producer and worker never import each other), and nothing imports in
 * a circle. `npm run lint` runs this; a violation fails it.
 */
const floor = (name, mayNotImport, comment) => ({
  name: `${name}-imports-down-only`,
  comment,
  severity: 'error',
  from: { path: `^src/${name}` },
  to: { path: mayNotImport.map((f) => `^src/${f}`) },
});

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'an import circle: split out what both sides need', from: {}, to: { circular: true } },
    floor('shared/', ['producer/', 'worker/', 'engine/', 'commands/', 'cli\\.ts'], 'shared/ is the ground floor: what producer and worker both use'),
    floor('producer/', ['worker/', 'engine/', 'commands/', 'cli\\.ts'], 'the producer plans jobs; it knows neither the worker nor the engines'),
    floor('worker/', ['producer/', 'engine/', 'commands/', 'cli\\.ts'], 'the worker turns a job into a row; it knows neither the producer nor the engines'),
    floor('engine/', ['commands/', 'cli\\.ts'], 'an engine schedules producer and worker; commands wire engines to the command line'),
    floor('commands/', ['cli\\.ts'], 'commands are called by cli.ts, never the other way round'),
    {
      name: 'engines-apart',
      comment: 'one engine never imports another: what they share lives in engine/common',
      severity: 'error',
      from: { path: '^src/engine/in-process' },
      to: { path: '^src/engine/bullmq/' },
    },
    {
      name: 'engines-apart-bullmq',
      severity: 'error',
      from: { path: '^src/engine/bullmq/' },
      to: { path: '^src/engine/in-process' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
