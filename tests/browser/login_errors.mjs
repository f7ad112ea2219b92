// Login errors: a wrong passphrase is reported next to the form; after three failures the
// form shows a CAPTCHA. Env: SIGNET_URL, SIGNET_LOGIN, SIGNET_PASSPHRASE (the right one).
import { env, login, main, open, shot, step } from './harness.mjs';

const url = env('SIGNET_URL');
const name = env('SIGNET_LOGIN');
const passphrase = env('SIGNET_PASSPHRASE');

await main(async () => {
  const { browser, page } = await open();
  await step('the right passphrase logs in and lands on the overview', async () => {
    await login(page, url, name, passphrase);
    if (!page.url().includes('/overview')) throw new Error(`landed on ${page.url()}`);
    await shot(page, 'login-01-overview');
    await Promise.all([page.waitForLoadState('load'), page.click('form.logout button')]);
    if (!page.url().endsWith('/login')) throw new Error(`logout went to ${page.url()}`);
  });
  for (let i = 1; i <= 3; i++) {
    await step(`wrong passphrase ${i} is reported next to the form`, async () => {
      await login(page, url, name, `wrong-${i}`);
      const error = page.locator('form.login .field-error');
      const text = await error.innerText();
      if (!/passphrase|login/i.test(text)) throw new Error(`error text: ${text}`);
      if (page.url().includes('/overview')) throw new Error('logged in with a wrong passphrase');
      if (i === 1) await shot(page, 'login-02-wrong-passphrase');
    });
  }
  await step('after three failures the form shows a CAPTCHA', async () => {
    const svg = page.locator('.captcha-image svg');
    if ((await svg.count()) !== 1) throw new Error('no CAPTCHA image after the third failure');
    if ((await page.locator('input[name="captcha_answer"]').count()) !== 1) throw new Error('no CAPTCHA field');
    await shot(page, 'login-03-captcha');
  });
  await step('the right passphrase without the CAPTCHA answer is refused', async () => {
    await page.fill('input[name="passphrase"]', passphrase);
    await Promise.all([page.waitForLoadState('load'), page.click('button[type="submit"]')]);
    if (page.url().includes('/overview')) throw new Error('logged in without answering the CAPTCHA');
    if ((await page.locator('.captcha-image svg').count()) !== 1) throw new Error('no new CAPTCHA');
    await shot(page, 'login-04-captcha-needed');
  });
  await browser.close();
});
