// Mail > Proxies: add a Unified proxy through the form (a bad Designated Source IP is refused
// next to its field first), see it running in the list, move it to another port, save the
// mail settings, and delete the proxy. Env: SIGNET_URL, SIGNET_LOGIN, SIGNET_PASSPHRASE,
// SIGNET_PORT, SIGNET_PORT2.
import { env, login, main, open, shot, step } from './harness.mjs';

const url = env('SIGNET_URL');
const name = env('SIGNET_LOGIN');
const passphrase = env('SIGNET_PASSPHRASE');
const port = env('SIGNET_PORT');
const port2 = env('SIGNET_PORT2');

const submit = async (page, selector) => {
  await Promise.all([page.waitForLoadState('load'), page.click(selector)]);
};

async function expectText(page, selector, text) {
  const got = await page.locator(selector).first().innerText();
  if (!got.includes(text)) throw new Error(`${selector}: expected "${text}", got "${got}"`);
}

await main(async () => {
  const { browser, page } = await open();
  await step('log in', async () => {
    await login(page, url, name, passphrase);
    if (!page.url().includes('/overview')) throw new Error(`landed on ${page.url()}`);
  });
  await step('a bad Designated Source IP is refused next to its field', async () => {
    await page.goto(new URL('/mail/proxies/new', url).href);
    await page.selectOption('select[name="kind"]', 'unified');
    await page.fill('textarea[name="connectors"]', `127.0.0.1:${port} allow`);
    await page.fill('textarea[name="designated"]', '10.0.0.0/33');
    await submit(page, 'button:has-text("Save proxy")');
    await expectText(page, '#designated_source_ips-error', 'prefix length');
    await shot(page, 'proxies-01-field-error');
  });
  await step('a good one is added and runs', async () => {
    await page.fill('textarea[name="designated"]', '127.0.0.1');
    await submit(page, 'button:has-text("Save proxy")');
    await page.waitForURL('**/mail/proxies?*');
    await expectText(page, 'p.flash.done', 'saved');
    await expectText(page, 'table.proxies', `127.0.0.1:${port}`);
    await expectText(page, 'table.proxies td.state', 'running');
    await shot(page, 'proxies-02-listed');
  });
  await step('the proxy moves to another port', async () => {
    await submit(page, 'table.proxies a:has-text("Edit")');
    await page.fill('textarea[name="connectors"]', `127.0.0.1:${port2} allow`);
    await submit(page, 'button:has-text("Save proxy")');
    await page.waitForURL('**/mail/proxies?*');
    await expectText(page, 'table.proxies', `127.0.0.1:${port2}`);
  });
  await step('the mail settings are saved', async () => {
    await page.fill('input[name="hostname"]', 'ui.example.com');
    await submit(page, 'button:has-text("Save mail settings")');
    await expectText(page, 'p.flash.done', 'saved');
    const value = await page.inputValue('input[name="hostname"]');
    if (value !== 'ui.example.com') throw new Error(`hostname shows ${value}`);
  });
  await step('the proxy is deleted', async () => {
    await submit(page, 'table.proxies button:has-text("Delete")');
    await expectText(page, 'p.flash.done', 'deleted');
    if ((await page.locator('table.proxies').count()) !== 0) throw new Error('still listed');
    await shot(page, 'proxies-03-deleted');
  });
  await browser.close();
});
