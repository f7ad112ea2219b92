// The Logs page finds a message's mail log line by sender and by Message-ID. Env: SIGNET_URL,
// SIGNET_LOGIN, SIGNET_PASSPHRASE, SIGNET_SENDER, SIGNET_MESSAGE_ID.
import { env, login, main, open, shot, step } from './harness.mjs';

const url = env('SIGNET_URL');
const sender = env('SIGNET_SENDER');
const messageId = env('SIGNET_MESSAGE_ID');

async function search(page, text, component) {
  await page.goto(new URL('/system/logs', url).href);
  await page.fill('input[name="q"]', text);
  if (component) await page.selectOption('select[name="component"]', component);
  await Promise.all([page.waitForLoadState('load'), page.click('form.filters button[type="submit"]')]);
  return page.locator('#log-entries tbody').innerText();
}

await main(async () => {
  const { browser, page } = await open();
  await step('log in', async () => {
    await login(page, url, env('SIGNET_LOGIN'), env('SIGNET_PASSPHRASE'));
    if (!page.url().includes('/overview')) throw new Error(`landed on ${page.url()}`);
  });
  await step('search by sender in the mail component', async () => {
    const rows = await search(page, sender, 'mail');
    if (!rows.includes(messageId)) throw new Error(`no line with ${messageId} for ${sender}:\n${rows}`);
    await shot(page, 'logs-01-by-sender');
  });
  await step('search by Message-ID', async () => {
    const rows = await search(page, messageId);
    if (!rows.includes(sender)) throw new Error(`no line from ${sender} for ${messageId}:\n${rows}`);
    await shot(page, 'logs-02-by-message-id');
  });
  await step('the export link downloads the same lines as text', async () => {
    const href = await page.getAttribute('a[download]', 'href');
    const answer = await page.request.get(new URL(href, url).href);
    const text = await answer.text();
    if (!answer.ok() || !text.includes(messageId)) throw new Error(`export ${answer.status()}: ${text.slice(0, 300)}`);
  });
  await step('a search that matches nothing shows no lines', async () => {
    const rows = await search(page, 'no-such-sender-xyzzy@nowhere.test');
    if (rows.trim() !== '') throw new Error(`unexpected rows: ${rows}`);
  });
  await browser.close();
});
