// Managed domain and internal user through the admin UI: log in, add a managed domain, add an
// internal user in it, and find both in their lists; then visit every data page once and take
// its screenshot; last, a Read Only administrator sees the same pages with their controls
// disabled. Env: SIGNET_URL, SIGNET_LOGIN, SIGNET_PASSPHRASE, SIGNET_DOMAIN, SIGNET_USER,
// SIGNET_READONLY_LOGIN (same passphrase).
import { env, login, main, open, shot, step } from './harness.mjs';

const url = env('SIGNET_URL');
const name = env('SIGNET_LOGIN');
const passphrase = env('SIGNET_PASSPHRASE');
const domain = env('SIGNET_DOMAIN');
const user = env('SIGNET_USER');

const go = async (page, path) => {
  const response = await page.goto(new URL(path, url).href);
  if (!response || response.status() !== 200) {
    throw new Error(`${path} answered ${response?.status()}`);
  }
};

const submit = async (page, selector) => {
  await Promise.all([page.waitForLoadState('load'), page.click(selector)]);
};

const flash = async (page) => {
  const done = page.locator('p.flash.done');
  const error = page.locator('p.flash.error');
  if ((await error.count()) > 0) throw new Error(`error shown: ${await error.innerText()}`);
  if ((await done.count()) === 0) throw new Error('no confirmation shown');
  return done.innerText();
};

await main(async () => {
  const { browser, page } = await open();
  await step('log in', async () => {
    await login(page, url, name, passphrase);
    if (!page.url().includes('/overview')) throw new Error(`landed on ${page.url()}`);
  });

  await step('add a managed domain', async () => {
    await go(page, '/mail/domains');
    await page.fill('#domain', domain);
    await submit(page, 'form[action="/mail/domains"] button[type="submit"]');
    const text = await flash(page);
    if (!text.includes(domain)) throw new Error(`confirmation: ${text}`);
    const cells = await page.locator('table.domains td').allInnerTexts();
    if (!cells.includes(domain)) throw new Error(`${domain} not in the list: ${cells}`);
    await shot(page, 'pages-01-managed-domains');
  });

  await step('add an internal user', async () => {
    await go(page, '/consumers/internal');
    await page.fill('#email', user);
    await page.fill('#display_name', 'UI Test User');
    await submit(page, 'form[action="/consumers/internal/add"] button[type="submit"]');
    const text = await flash(page);
    if (!text.includes(user)) throw new Error(`confirmation: ${text}`);
  });

  await step('the user is in the internal users list, found by search', async () => {
    await go(page, `/consumers/internal?q=${encodeURIComponent(user.split('@')[0])}`);
    const links = await page.locator('table.users td a').allInnerTexts();
    if (!links.includes(user)) throw new Error(`${user} not listed: ${links}`);
    const keys = await page.locator('table.users td .badge').allInnerTexts();
    if (!keys.some((k) => k.startsWith('SKM'))) throw new Error(`no SKM key shown: ${keys}`);
    await shot(page, 'pages-02-internal-users');
  });

  await step("the user's page lists the key", async () => {
    await submit(page, `table.users a:text-is("${user}")`);
    if ((await page.locator('table.keys tbody tr').count()) < 1) throw new Error('no key row');
    await shot(page, 'pages-03-user');
  });

  await step('deleting asks for a confirmation first', async () => {
    await go(page, `/consumers/user/${encodeURIComponent(user)}/delete`);
    if ((await page.locator('input[name="confirmed"]').count()) !== 1) throw new Error('no confirmation form');
    await shot(page, 'pages-04-confirm-delete');
  });

  await step('a form posted without the session\'s CSRF token is refused', async () => {
    const response = await page.request.post(new URL('/mail/domains', url).href, {
      form: { name: 'forged.example' },
      maxRedirects: 0,
    });
    if (response.status() !== 403) throw new Error(`answered ${response.status()}`);
    await go(page, '/mail/domains');
    const cells = await page.locator('table.domains td').allInnerTexts();
    if (cells.includes('forged.example')) throw new Error('the forged domain was added');
  });

  // Every other data page answers 200 and has its title; one screenshot each.
  const pages = [
    ['/consumers/external', 'External users', 'pages-05-external-users'],
    ['/keys/organization', 'Organization keys', 'pages-06-organization-keys'],
    ['/keys/managed?q=' + encodeURIComponent(user), 'Managed keys', 'pages-07-managed-keys'],
    ['/keys/trusted', 'Trusted keys', 'pages-08-trusted-keys'],
    ['/keys/cache', 'Key cache', 'pages-09-key-cache'],
    ['/keys/keyservers', 'Keyservers', 'pages-10-keyservers'],
    ['/mail/policy', 'Mail policy', 'pages-11-mail-policy'],
    ['/mail/policy/Outbound', 'Chain Outbound', 'pages-12-chain'],
    ['/mail/dictionaries', 'Dictionaries', 'pages-13-dictionaries'],
    ['/mail/queue', 'Mail queue', 'pages-14-mail-queue'],
    ['/mail/templates', 'Message templates', 'pages-15-templates'],
    ['/mail/learn-mode', 'Learn Mode', 'pages-16-learn-mode'],
    ['/mail/proxies', 'Proxies', 'pages-17-proxies'],
    ['/mail/routes', 'Mail routes', 'pages-18-mail-routes'],
    ['/services/keyserver', 'Keyserver', 'pages-19-keyserver'],
    ['/services/verified-directory', 'Verified Directory', 'pages-20-verified-directory'],
    ['/services/crl', 'CRL', 'pages-21-crl'],
  ];
  for (const [path, title, file] of pages) {
    await step(`${path} shows ${title}`, async () => {
      await go(page, path);
      const h1 = await page.locator('main h1').innerText();
      if (h1 !== title) throw new Error(`title ${h1}`);
      if ((await page.locator('p.flash.error').count()) > 0) {
        throw new Error(`error on the page: ${await page.locator('p.flash.error').first().innerText()}`);
      }
      await shot(page, file);
    });
  }
  await step('a dictionary page lists its entries', async () => {
    await go(page, '/mail/dictionaries');
    await submit(page, 'table.dictionaries td a >> nth=0');
    if (!(await page.locator('main h1').innerText()).startsWith('Dictionary')) throw new Error('not a dictionary page');
    await shot(page, 'pages-22-dictionary');
  });
  await step('a template opens in its editor', async () => {
    await go(page, '/mail/templates');
    await submit(page, 'table.templates td a >> nth=0');
    if ((await page.locator('textarea#text').count()) !== 1) throw new Error('no text box');
    await shot(page, 'pages-23-template');
  });
  const readonly = env('SIGNET_READONLY_LOGIN');
  await step('a Read Only administrator sees the pages with their controls disabled', async () => {
    await Promise.all([page.waitForLoadState('load'), page.click('form.logout button')]);
    await login(page, url, readonly, passphrase);
    await go(page, '/consumers/internal');
    if (!(await page.locator('section.add button[type="submit"]').isDisabled())) throw new Error('the add form is enabled');
    if ((await page.locator('table.users button:disabled').count()) < 1) throw new Error('delete is enabled');
    await shot(page, 'pages-24-read-only-users');
    await go(page, '/mail/policy/Outbound/rules/Send%20Clear');
    if (!(await page.locator('p.save button').isDisabled())) throw new Error('save is enabled');
    if (!(await page.locator('fieldset.conditions select >> nth=0').isDisabled())) throw new Error('conditions are editable');
    await shot(page, 'pages-25-read-only-rule');
  });
  await browser.close();
});
