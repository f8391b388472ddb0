/** Where `omni-batch review` listens unless told otherwise (apart, so that cli.ts can name them without loading the server). */
export const REVIEW_DEFAULTS = { port: 7071, host: '127.0.0.1' } as const;
