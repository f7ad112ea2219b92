// The setup assistant's Join a cluster: setup code, the waiting page with the token field,
// and the join started with a token from a member of the cluster. Env: SIGNET_URL,
// SIGNET_SETUP_CODE, SIGNET_JOIN_TOKEN.
import { env, main, open, shot, step } from './harness.mjs';

const url = env('SIGNET_URL');

await main(async () => {
  const { browser, page } = await open();
  await step('enter the setup code and choose Join a cluster', async () => {
    await page.goto(new URL('/setup', url).href);
    await page.fill('input[name="code"]', env('SIGNET_SETUP_CODE'));
    await Promise.all([page.waitForURL('**/setup/choose'), page.click('button[type="submit"]')]);
    await Promise.all([page.waitForURL('**/setup/join'), page.click('text=Join a cluster')]);
  });
  await step('the joiner waits for a join token', async () => {
    const waiting = await page.locator('p.waiting').innerText();
    if (!waiting.includes('Waiting')) throw new Error(`status: ${waiting}`);
    await shot(page, 'join-01-waiting');
  });
  await step('a bad token is refused next to the field', async () => {
    await page.fill('textarea[name="token"]', 'not-a-token');
    await Promise.all([page.waitForLoadState('load'), page.click('button[type="submit"]')]);
    if ((await page.locator('.field-error').count()) !== 1) throw new Error('no error by the field');
  });
  await step('the token from the cluster starts the join', async () => {
    await page.fill('textarea[name="token"]', env('SIGNET_JOIN_TOKEN'));
    await Promise.all([page.waitForLoadState('load'), page.click('button[type="submit"]')]);
    const text = await page.locator('main').innerText();
    if (!text.includes('joining the cluster')) throw new Error(`page: ${text}`);
    await shot(page, 'join-02-joining');
  });
  await browser.close();
});
