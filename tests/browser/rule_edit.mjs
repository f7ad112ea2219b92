// The rule editor without JavaScript tricks: log in, turn Learn Mode off, add a rule at the top
// of the Outbound chain ("Subject contains [signet-ui-test]" -> add header X-Signet-UI: applied,
// then send clear) using the editor's post-back buttons, save it, and see it listed first.
// The Rust test then sends mail through the proxy and checks the header.
// Env: SIGNET_URL, SIGNET_LOGIN, SIGNET_PASSPHRASE, SIGNET_RULE.
import { env, login, main, open, shot, step } from './harness.mjs';

const url = env('SIGNET_URL');
const name = env('SIGNET_LOGIN');
const passphrase = env('SIGNET_PASSPHRASE');
const rule = env('SIGNET_RULE');

const submit = async (page, selector) => {
  await Promise.all([page.waitForLoadState('load'), page.click(selector)]);
};

const noError = async (page) => {
  const error = page.locator('p.flash.error, .field-error');
  if ((await error.count()) > 0) throw new Error(`error shown: ${await error.first().innerText()}`);
};

await main(async () => {
  const { browser, page } = await open();
  await step('log in', async () => {
    await login(page, url, name, passphrase);
    if (!page.url().includes('/overview')) throw new Error(`landed on ${page.url()}`);
  });

  await step('turn Learn Mode off', async () => {
    await page.goto(new URL('/mail/learn-mode', url).href);
    const button = page.locator('form[action="/mail/learn-mode"] button');
    if ((await button.innerText()).includes('off')) await submit(page, 'form[action="/mail/learn-mode"] button');
    const state = await page.locator('p.state').innerText();
    if (!state.includes('off')) throw new Error(`Learn Mode: ${state}`);
  });

  await step('open the Outbound chain and start a rule at the top', async () => {
    await page.goto(new URL('/mail/policy/Outbound', url).href);
    await shot(page, 'rule-01-outbound-chain');
    await submit(page, 'a:text-is("Add rule at the top")');
    if (!page.url().includes('/rules/new?position=1')) throw new Error(`at ${page.url()}`);
  });

  await step('name it and add a condition with the post-back button', async () => {
    await page.fill('#name', rule);
    await page.fill('#description', 'added by the admin-UI browser test');
    await submit(page, 'button[value="add-condition:0"]');
    // The typed name survives the round trip; the new row is there.
    if ((await page.inputValue('#name')) !== rule) throw new Error('the name was lost');
    if ((await page.locator('div.condition').count()) !== 1) throw new Error('no condition row');
    await page.selectOption('select[name="c.0.statement"]', 'All');
    await page.selectOption('select[name="c.0.0.subject"]', 'MessageSubject');
    await page.selectOption('select[name="c.0.0.modifier"]', 'Contains');
    await page.fill('input[name="c.0.0.value"]', '[signet-ui-test]');
  });

  await step('make the first action "Add message header" and show its options', async () => {
    await page.selectOption('select[name="a.0.kind"]', 'AddHeader');
    await submit(page, 'button[value="refresh"] >> nth=0');
    if ((await page.locator('input[name="a.0.header_name"]').count()) !== 1) throw new Error('no header fields');
    // The condition typed before the post-back is still there.
    if ((await page.inputValue('input[name="c.0.0.value"]')) !== '[signet-ui-test]') throw new Error('condition lost');
    await page.fill('input[name="a.0.header_name"]', 'X-Signet-UI');
    await page.fill('input[name="a.0.header_value"]', 'applied');
  });

  await step('add "Send clear" after it', async () => {
    await submit(page, 'button[value="add-action"]');
    if ((await page.locator('li.action').count()) !== 2) throw new Error('no second action');
    await page.selectOption('select[name="a.1.kind"]', 'SendClear');
    await shot(page, 'rule-02-editor');
  });

  await step('save: the API accepts it', async () => {
    await submit(page, 'p.save button[value="save"]');
    await noError(page);
    const done = await page.locator('p.flash.done').innerText();
    if (!done.includes('saved')) throw new Error(`after save: ${done}`);
    await shot(page, 'rule-03-saved');
  });

  await step('the chain lists the rule first, enabled', async () => {
    await page.goto(new URL('/mail/policy/Outbound', url).href);
    const first = page.locator('table.rules tbody tr >> nth=0');
    const text = await first.innerText();
    if (!text.includes(rule) || !text.includes('enabled')) throw new Error(`first row: ${text}`);
    await shot(page, 'rule-04-chain-with-rule');
  });

  await step('a wrong header name is shown next to its field', async () => {
    await page.goto(new URL(`/mail/policy/Outbound/rules/${encodeURIComponent(rule)}`, url).href);
    await page.fill('input[name="a.0.header_name"]', 'Bad Header:');
    await submit(page, 'p.save button[value="save"]');
    const error = await page.locator('li.action .field-error').first().innerText();
    if (!/header name/i.test(error)) throw new Error(`error: ${error}`);
    await shot(page, 'rule-05-field-error');
  });
  await browser.close();
});
