/** Replaced at bundle time by esbuild's define; the fallback serves tests run from source. */
declare const GEAR_VERSION: string | undefined;
export const VERSION: string = typeof GEAR_VERSION === 'string' ? GEAR_VERSION : '0.0.0-dev';
