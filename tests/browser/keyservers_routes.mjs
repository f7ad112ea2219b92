// Keys > Keyservers and Mail > Mail Routes: a keyserver and a route added through the forms
// are listed, and the route's Remove button deletes it. Env: SIGNET_URL, SIGNET_LOGIN,
// SIGNET_PASSPHRASE.
import { env, login, main, open, shot, step } from './harness.mjs';

const url = env('SIGNET_URL');

async function submit(page, form) {
  await Promise.all([page.waitForLoadState('load'), page.locator(`${form} button[type="submit"]`).first().click()]);
}

await main(async () => {
  const { browser, page } = await open();
  await step('log in', async () => {
    await login(page, url, env('SIGNET_LOGIN'), env('SIGNET_PASSPHRASE'));
  });
  await step('add a keyserver', async () => {
    await page.goto(new URL('/keys/keyservers', url).href);
    await page.fill('#ks-name', 'Partner LDAP');
    await page.selectOption('#ks-kind', 'ldap');
    await page.fill('#ks-host', 'keys.partner.test');
    await page.fill('#ks-port', '3389');
    await submit(page, 'form[action="/keys/keyservers"]');
    const rows = await page.locator('table.keyservers tbody').innerText();
    if (!rows.includes('Partner LDAP') || !rows.includes('3389')) throw new Error(`keyservers: ${rows}`);
    await shot(page, 'keys-keyservers');
  });
  await step('add a mail route, then remove another', async () => {
    await page.goto(new URL('/mail/routes', url).href);
    for (const [domain, host] of [['partner.test', 'mx.partner.test'], ['gone.test', 'mx.gone.test']]) {
      await page.fill('#rt-domain', domain);
      await page.fill('#rt-host', host);
      await page.fill('#rt-port', '2525');
      await submit(page, 'form[action="/mail/routes"]');
    }
    let rows = await page.locator('table.routes tbody').innerText();
    if (!rows.includes('mx.partner.test') || !rows.includes('mx.gone.test')) throw new Error(`routes: ${rows}`);
    await submit(page, 'form[action="/mail/routes/gone.test/remove"]');
    rows = await page.locator('table.routes tbody').innerText();
    if (rows.includes('gone.test')) throw new Error(`not removed: ${rows}`);
    await shot(page, 'mail-routes');
  });
  await browser.close();
});
