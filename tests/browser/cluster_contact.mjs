// Joining by contact, as the guide describes it: the new server's setup assistant waits
// ("Join a cluster"); an administrator of the cluster opens System → Clustering, gives the
// waiting server's admin address and setup code, and presses Contact. Env: SIGNET_URL (the
// sponsor), SIGNET_LOGIN, SIGNET_PASSPHRASE, SIGNET_JOINER_URL, SIGNET_JOINER_ADDRESS,
// SIGNET_SETUP_CODE.
import { env, login, main, open, shot, step } from './harness.mjs';

const sponsor = env('SIGNET_URL');
const joiner = env('SIGNET_JOINER_URL');
const code = env('SIGNET_SETUP_CODE');

await main(async () => {
  const { browser, page } = await open();
  await step('the new server waits to be contacted', async () => {
    await page.goto(new URL('/setup', joiner).href);
    await page.fill('input[name="code"]', code);
    await Promise.all([page.waitForURL('**/setup/choose'), page.click('button[type="submit"]')]);
    await Promise.all([page.waitForURL('**/setup/join'), page.click('text=Join a cluster')]);
    const waiting = await page.locator('p.waiting').innerText();
    if (!waiting.includes('Waiting to be contacted')) throw new Error(`status: ${waiting}`);
  });
  await step('a wrong setup code is refused on the cluster page', async () => {
    await login(page, sponsor, env('SIGNET_LOGIN'), env('SIGNET_PASSPHRASE'));
    await page.goto(new URL('/system/cluster', sponsor).href);
    await page.fill('#contact-address', env('SIGNET_JOINER_ADDRESS'));
    await page.fill('#contact-code', 'AAAA-BBBB-CCCC');
    await Promise.all([page.waitForLoadState('load'), page.click('button:has-text("Contact")')]);
    const error = await page.locator('p.flash.error').innerText();
    if (!error.includes('refused the setup code')) throw new Error(`flash: ${error}`);
  });
  await step('Contact with the right code starts the join', async () => {
    await page.fill('#contact-address', env('SIGNET_JOINER_ADDRESS'));
    await page.fill('#contact-code', code);
    await Promise.all([page.waitForLoadState('load'), page.click('button:has-text("Contact")')]);
    const done = await page.locator('p.flash.done').innerText();
    if (!done.includes('Contacted')) throw new Error(`flash: ${done}`);
    await shot(page, 'cluster-contact');
  });
  await browser.close();
});
