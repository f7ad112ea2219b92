// The setup assistant's Restore from a backup: setup code, the backup file chosen in the file
// field, the Organization Key pasted, then a login with an administrator from the backup shows
// the backup's managed domain. Env: SIGNET_URL, SIGNET_SETUP_CODE, SIGNET_BACKUP_FILE,
// SIGNET_ORG_KEY_FILE, SIGNET_LOGIN, SIGNET_PASSPHRASE, SIGNET_DOMAIN.
import { readFileSync } from 'node:fs';
import { env, login, main, open, shot, step } from './harness.mjs';

const url = env('SIGNET_URL');

await main(async () => {
  const { browser, page } = await open();
  await step('enter the setup code and choose Restore from a backup', async () => {
    await page.goto(new URL('/setup', url).href);
    await page.fill('input[name="code"]', env('SIGNET_SETUP_CODE'));
    await Promise.all([page.waitForURL('**/setup/choose'), page.click('button[type="submit"]')]);
    await Promise.all([page.waitForURL('**/setup/restore'), page.click('text=Restore from a backup')]);
  });
  await step('choose the backup file and paste the Organization Key', async () => {
    await page.setInputFiles('#backup_file', env('SIGNET_BACKUP_FILE'));
    await page.waitForFunction(() => document.getElementById('backup').value.length > 100);
    await page.fill('#organization_key', readFileSync(env('SIGNET_ORG_KEY_FILE'), 'utf8'));
    await shot(page, 'restore-01-form');
    await Promise.all([page.waitForLoadState('load'), page.click('button[type="submit"]')]);
    const text = await page.locator('main').innerText();
    if (!text.includes('restored')) throw new Error(`page: ${text}`);
    await shot(page, 'restore-02-done');
  });
  await step('an administrator from the backup logs in and sees its domain', async () => {
    await login(page, url, env('SIGNET_LOGIN'), env('SIGNET_PASSPHRASE'));
    if (!page.url().includes('/overview')) throw new Error(`landed on ${page.url()}`);
    const domains = await page.locator('#domains').innerText();
    if (!domains.includes(env('SIGNET_DOMAIN'))) throw new Error(`domains: ${domains}`);
    await shot(page, 'restore-03-overview');
  });
  await browser.close();
});
