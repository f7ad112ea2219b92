// The System pages for a SuperUser and for a read-only administrator: every page renders, the
// SuperUser adds an administrator through the form and issues a join token, and the new
// read-only administrator must change the temporary passphrase first and then sees the
// controls disabled. Env: SIGNET_URL, SIGNET_LOGIN, SIGNET_PASSPHRASE.
import { env, login, main, open, shot, step } from './harness.mjs';

const url = env('SIGNET_URL');
const passphrase = env('SIGNET_PASSPHRASE');
const PAGES = [
  ['/overview', 'System overview'],
  ['/system/administrators', 'Administrators'],
  ['/system/administration', 'Administration settings'],
  ['/system/cluster', 'Clustering'],
  ['/system/backups', 'Backups'],
  ['/system/ignition-keys', 'Ignition Keys'],
  ['/system/network', 'Network'],
  ['/system/certificates', 'Certificates'],
  ['/system/logs', 'Logs'],
];

async function visit(page, path, title) {
  const answer = await page.goto(new URL(path, url).href);
  if (!answer.ok()) throw new Error(`${path}: HTTP ${answer.status()}`);
  const h1 = await page.locator('main h1').innerText();
  if (h1 !== title) throw new Error(`${path}: heading "${h1}"`);
}

async function submit(page, form) {
  await Promise.all([page.waitForLoadState('load'), page.locator(`${form} button[type="submit"]`).first().click()]);
}

await main(async () => {
  const { browser, page } = await open();
  await step('log in as the SuperUser', async () => {
    await login(page, url, env('SIGNET_LOGIN'), passphrase);
    if (!page.url().includes('/overview')) throw new Error(`landed on ${page.url()}`);
  });
  for (const [path, title] of PAGES) {
    await step(`${title} renders`, async () => {
      await visit(page, path, title);
      await shot(page, `system-${path.split('/').pop()}`);
    });
  }
  await step('the certificate page shows the fingerprint', async () => {
    await visit(page, '/system/certificates', 'Certificates');
    const text = await page.locator('#admin-certificate').innerText();
    if (!/[0-9a-f]{64}/.test(text)) throw new Error(`no fingerprint: ${text}`);
  });
  await step('issue a join token', async () => {
    await visit(page, '/system/cluster', 'Clustering');
    await submit(page, 'form[action="/system/cluster/token"]');
    const token = await page.locator('#join-token textarea').inputValue();
    if (token.length < 40) throw new Error(`token: ${token}`);
  });
  await step('back up now', async () => {
    await visit(page, '/system/backups', 'Backups');
    await page.fill('#name', 'from-the-ui');
    await submit(page, 'form[action="/system/backups"]');
    const rows = await page.locator('#backups tbody').innerText();
    if (!rows.includes('from-the-ui')) throw new Error(`backups: ${rows}`);
  });
  await step('add a read-only administrator with a temporary passphrase', async () => {
    await visit(page, '/system/administrators', 'Administrators');
    await page.fill('#new-login', 'rita');
    await page.selectOption('form[action="/system/administrators"] select[name="role"]', 'read-only');
    await page.fill('#new-passphrase', 'Temp-pass-42!');
    await submit(page, 'form[action="/system/administrators"]');
    const flash = await page.locator('p.flash').innerText();
    if (!flash.includes('rita')) throw new Error(`flash: ${flash}`);
    if ((await page.locator('tr[data-login="rita"]').count()) !== 1) throw new Error('rita not listed');
    await shot(page, 'system-administrator-added');
    await Promise.all([page.waitForLoadState('load'), page.click('form.logout button')]);
  });
  await step('the temporary passphrase must be changed first', async () => {
    await login(page, url, 'rita', 'Temp-pass-42!');
    if (!page.url().includes('/system/passphrase')) throw new Error(`landed on ${page.url()}`);
    await page.goto(new URL('/overview', url).href);
    if (!page.url().includes('/system/passphrase')) throw new Error('other pages were open');
    await page.fill('#current', 'Temp-pass-42!');
    await page.fill('#new', 'Rita-own-pass-77!');
    await page.fill('#new2', 'Rita-own-pass-77!');
    await submit(page, 'form[action="/system/passphrase"]');
    if (!page.url().includes('/overview')) throw new Error(`after the change: ${page.url()}`);
  });
  await step('a read-only administrator sees every page with the controls disabled', async () => {
    await visit(page, '/system/administrators', 'Administrators');
    if (!(await page.locator('form[action="/system/administrators"] button[type="submit"]').isDisabled())) {
      throw new Error('Add administrator is enabled for read-only');
    }
    await visit(page, '/system/cluster', 'Clustering');
    if (!(await page.locator('form[action="/system/cluster/token"] button').isDisabled())) {
      throw new Error('Issue a join token is enabled for read-only');
    }
    await shot(page, 'system-read-only-cluster');
  });
  await browser.close();
});
