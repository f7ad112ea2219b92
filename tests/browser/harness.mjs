// The browser harness for Signet's admin-UI tests: launches Debian's chromium through
// playwright-core (never a downloaded browser), takes screenshots, logs in, and runs named
// steps that fail with a clear message and a screenshot. Scripts import it and are started by
// tests/tests/admin_ui.rs (ui_support::run_browser_script), which passes the node's URL and
// credentials as environment variables.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const SHOTS = process.env.SIGNET_SCREENSHOTS ?? '/tmp/signet-screenshots';
let currentPage = null;

/** A required environment variable, or an error naming it. */
export function env(name) {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`environment variable ${name} is required`);
  }
  return value;
}

/**
 * Starts headless chromium with the flags that work on these machines (closed network: no
 * background connections, no component updates). playwright gives every launch a fresh,
 * throw-away profile. Returns { browser, page }.
 */
export async function open() {
  const browser = await chromium.launch({
    executablePath: process.env.SIGNET_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 900 },
  });
  const page = await context.newPage();
  page.setDefaultTimeout(Number(process.env.SIGNET_STEP_TIMEOUT_MS ?? 20000));
  currentPage = page;
  return { browser, page };
}

/** Writes a full-page screenshot to $SIGNET_SCREENSHOTS/<name>.png and returns its path. */
export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Fills the login form at `url` (the node's base URL) and submits it. */
export async function login(page, url, login, passphrase) {
  await page.goto(new URL('/login', url).href);
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="passphrase"]', passphrase);
  await Promise.all([page.waitForLoadState('load'), page.click('button[type="submit"]')]);
}

/**
 * Runs one named step: prints progress; on failure prints the step, the error and the page's
 * URL, saves a screenshot named after the step, and exits non-zero.
 */
export async function step(name, fn) {
  const started = Date.now();
  process.stdout.write(`step: ${name} ... `);
  try {
    const result = await fn();
    console.log(`ok (${Date.now() - started} ms)`);
    return result;
  } catch (error) {
    console.log('FAILED');
    console.error(`step "${name}" failed: ${error?.stack ?? error}`);
    if (currentPage) {
      try {
        console.error(`  page: ${currentPage.url()}`);
        const file = await shot(currentPage, `FAILED-${name.replace(/[^A-Za-z0-9_-]+/g, '-')}`);
        console.error(`  screenshot: ${file}`);
      } catch (shotError) {
        console.error(`  (no screenshot: ${shotError})`);
      }
    }
    process.exit(1);
  }
}

/** Runs a whole script body; any error outside a step also fails the script. */
export async function main(fn) {
  try {
    await fn();
    console.log('all steps passed');
    process.exit(0);
  } catch (error) {
    console.error(`browser script failed: ${error?.stack ?? error}`);
    process.exit(1);
  }
}
