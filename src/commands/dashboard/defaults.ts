/** Where `omni-batch dashboard` listens unless told otherwise (apart from the server, so --help loads no express). */
export const DASHBOARD_DEFAULTS = { port: 7070, host: '127.0.0.1' } as const;
