/**
 * Debian's Chromium, driven by playwright-core, for the dashboard test and the README's pictures. The flags are
 * the ones this machine needs: as root no sandbox, and no background connections (the network is closed, and
 * Chromium would otherwise try Google's hosts at every start).
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Why browser tests cannot run here, or false. In CI a missing browser is a failure, not a skip. */
export const NO_CHROMIUM: string | false =
  existsSync(CHROMIUM) || process.env.CI ? false : `no Chromium at ${CHROMIUM}: apt-get install chromium (.ci/run does), or set CHROMIUM_PATH`;

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}
