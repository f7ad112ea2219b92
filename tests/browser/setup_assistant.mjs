// The setup assistant from a blank node to Learn Mode on: setup code, New server, every step
// (one with a field error first), Finish, and the overview showing Learn Mode on and the
// managed domain, and the Proxies page showing the Unified proxy the assistant made. Env:
// SIGNET_URL, SIGNET_SETUP_CODE, SIGNET_DOMAIN, SIGNET_LOGIN, SIGNET_PASSPHRASE,
// SIGNET_MAIL_SERVER (optional; default mail.<domain>:25).
import { env, main, open, shot, step } from './harness.mjs';

const url = env('SIGNET_URL');
const code = env('SIGNET_SETUP_CODE');
const domain = env('SIGNET_DOMAIN');
const login = env('SIGNET_LOGIN');
const passphrase = env('SIGNET_PASSPHRASE');
const mailServer = process.env.SIGNET_MAIL_SERVER || `mail.${domain}:25`;

async function expectText(page, selector, text) {
  const got = await page.locator(selector).first().innerText();
  if (!got.includes(text)) throw new Error(`${selector}: expected "${text}", got "${got}"`);
}

async function next(page) {
  await Promise.all([page.waitForLoadState('load'), page.click('button[value="next"]')]);
}

await main(async () => {
  const { browser, page } = await open();
  await step('a blank node sends the browser to the setup assistant', async () => {
    await page.goto(url);
    if (!page.url().endsWith('/setup')) throw new Error(`landed on ${page.url()}`);
    await shot(page, 'setup-01-code');
  });
  await step('a wrong setup code is refused by the field', async () => {
    await page.fill('input[name="code"]', 'AAAA-BBBB-CCCC');
    await page.click('button[type="submit"]');
    await expectText(page, '.field-error', 'not the setup code');
  });
  await step('the setup code opens the choices', async () => {
    await page.fill('input[name="code"]', code);
    await page.click('button[type="submit"]');
    await page.waitForURL('**/setup/choose');
    await shot(page, 'setup-02-choose');
    await page.click('text=New server');
    await page.waitForURL('**/setup/new/hostname');
  });
  await step('host name: an invalid one is refused next to the field', async () => {
    await page.fill('input[name="hostname"]', 'not a host!');
    await next(page);
    await expectText(page, '#hostname-error', 'not a host name');
    await shot(page, 'setup-03-hostname-error');
    await page.fill('input[name="hostname"]', `keys.${domain}`);
    await next(page);
    await page.waitForURL('**/setup/new/domains');
  });
  await step('managed domains', async () => {
    await page.fill('input[name="domains"]', domain);
    await shot(page, 'setup-04-domains');
    await next(page);
    await page.waitForURL('**/setup/new/administrator');
  });
  await step('first administrator: passphrases must match', async () => {
    await page.fill('input[name="login"]', login);
    await page.fill('input[name="passphrase"]', passphrase);
    await page.fill('input[name="passphrase2"]', passphrase + 'x');
    await next(page);
    await expectText(page, '#passphrase2-error', 'differ');
    await page.fill('input[name="passphrase"]', passphrase);
    await page.fill('input[name="passphrase2"]', passphrase);
    await page.fill('input[name="email"]', `${login}@${domain}`);
    await shot(page, 'setup-05-administrator');
    await next(page);
    await page.waitForURL('**/setup/new/placement');
  });
  await step('placement', async () => {
    await page.check('input[value="gateway"]');
    await shot(page, 'setup-06-placement');
    await next(page);
    await page.waitForURL('**/setup/new/mail-server');
  });
  await step('mail server', async () => {
    await page.fill('input[name="mail_server"]', mailServer);
    await shot(page, 'setup-07-mail-server');
    await next(page);
    await page.waitForURL('**/setup/new/organization-key');
  });
  await step('Organization Key: generate', async () => {
    await page.check('input[value="generate"]');
    await shot(page, 'setup-08-organization-key');
    await next(page);
    await page.waitForURL('**/setup/new/learn-mode');
  });
  await step('Learn Mode on and finish', async () => {
    if (!(await page.isChecked('input[name="learn_mode"]'))) throw new Error('Learn Mode is not on by default');
    await shot(page, 'setup-09-learn-mode');
    await next(page);
    await page.waitForURL('**/overview*', { timeout: 60000 });
    if (process.env.SIGNET_MAIL_SERVER && page.url().includes('problems')) {
      throw new Error(`setup finished with problems: ${page.url()}`);
    }
  });
  await step('the overview shows Learn Mode on and the managed domain', async () => {
    const state = await page.getAttribute('#learn-mode [data-state]', 'data-state');
    if (state !== 'on') throw new Error(`Learn Mode shows ${state}`);
    await expectText(page, '#domains', domain);
    await shot(page, 'setup-10-overview');
  });
  await step('the Proxies page shows the Unified proxy the assistant made', async () => {
    await page.goto(new URL('/mail/proxies', url).href);
    await expectText(page, 'table.proxies', 'unified');
    await expectText(page, 'table.proxies td.state', 'running');
    await shot(page, 'setup-11-proxies');
  });
  await step('the setup assistant is closed afterwards', async () => {
    await page.goto(new URL('/setup', url).href);
    if (!page.url().endsWith('/overview') && !page.url().endsWith('/login')) {
      throw new Error(`setup still open: ${page.url()}`);
    }
  });
  await browser.close();
});
