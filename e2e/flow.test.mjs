// End to end, as a person would use it: the local stack (the real handlers, the
// TikTok emulator, the in-memory store) in headless Chromium.
// Run by scripts/e2e (which builds local-api and installs Chromium when missing).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const root = new URL('..', import.meta.url).pathname;
const shots = `${root}artifacts/e2e`;
mkdirSync(shots, { recursive: true });

let server;
let base;
let browser;

before(async () => {
  server = spawn(`${root}target/debug/local-api`, ['--port', '0', '--refresh-every', 'off'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  base = await new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(/dshipit API on (http:\/\/127\.0\.0\.1:\d+)\//);
      if (m) resolve(m[1]);
    });
    server.on('exit', (code) => reject(new Error(`local-api exited with ${code}`)));
    setTimeout(() => reject(new Error('local-api did not start in 30 s')), 30000).unref();
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  server?.kill();
});

async function newPage() {
  const context = await browser.newContext();
  return context.newPage();
}

async function status(page) {
  await page.waitForFunction(() => document.getElementById('status').textContent !== '…');
  return page.textContent('#status');
}

test('connect, search, open a product, disconnect; a replayed callback is refused', async () => {
  const page = await newPage();
  const callbacks = [];
  page.on('request', (r) => { if (r.url().includes('/auth/tiktok/callback')) callbacks.push(r.url()); });

  await page.goto(`${base}/`);
  assert.equal(await status(page), 'Not connected');
  await page.screenshot({ path: `${shots}/01-not-connected.png`, fullPage: true });

  await page.click('#connect');
  await page.waitForSelector('#approve');
  assert.match(page.url(), /\/v2\/auth\/authorize\//);
  await page.screenshot({ path: `${shots}/02-tiktok-consent.png`, fullPage: true });
  await page.click('#approve');
  await page.waitForURL(/tiktok=connected/);
  await page.waitForSelector('#status.connected');
  assert.match(await status(page), /^Connected as /);
  await page.screenshot({ path: `${shots}/03-connected.png`, fullPage: true });

  await page.fill('#shop-name', 'Sunny');
  await page.click('#find-shops');
  await page.waitForSelector('.use-shop');
  await page.click('.use-shop');
  const shopId = await page.inputValue('#shop-id');
  assert.match(shopId, /^\d{16,20}$/);
  await page.click('#search');
  await page.waitForSelector('.product-row');
  const rows = await page.$$('.product-row');
  assert.ok(rows.length > 0);
  await page.screenshot({ path: `${shots}/04-products.png`, fullPage: true });

  // Now a keyword taken from a product's own title must find it.
  const title = (await page.textContent('.product-row td')).trim();
  const keyword = title.split(/\s+/).pop().toLowerCase();
  await page.fill('#query', keyword);
  await page.click('#search');
  await page.waitForFunction((t) => [...document.querySelectorAll('.product-row td:first-child')]
    .some((td) => td.textContent.trim() === t), title);
  const titles = await page.$$eval('.product-row td:first-child', (tds) => tds.map((td) => td.textContent.trim()));
  assert.ok(titles.includes(title), `"${keyword}" finds "${title}"`);

  await page.click('.open-product');
  await page.waitForSelector('#product-title');
  assert.ok((await page.textContent('#product-title')).length > 0);
  await page.screenshot({ path: `${shots}/05-product.png`, fullPage: true });

  await page.click('#disconnect');
  await page.waitForFunction(() => document.getElementById('status').textContent === 'Not connected');
  await page.screenshot({ path: `${shots}/06-disconnected.png`, fullPage: true });

  // The callback URL from the approval, replayed: refused, and nothing stored.
  assert.equal(callbacks.length, 1);
  const replay = await page.goto(callbacks[0]);
  assert.equal(replay.status(), 400);
  const body = JSON.parse(await page.textContent('body'));
  assert.equal(body.error.code, 'bad_request');
  await page.screenshot({ path: `${shots}/07-replayed-callback.png`, fullPage: true });
  await page.goto(`${base}/`);
  assert.equal(await status(page), 'Not connected');
});

test('denying at TikTok comes back with the error and stays disconnected', async () => {
  const page = await newPage();
  await page.goto(`${base}/`);
  assert.equal(await status(page), 'Not connected');
  await page.click('#connect');
  await page.waitForSelector('#deny');
  await page.click('#deny');
  await page.waitForURL(/tiktokError=access_denied/);
  await page.waitForFunction(() => document.getElementById('error').textContent.includes('access_denied'));
  assert.equal(await status(page), 'Not connected');
  await page.screenshot({ path: `${shots}/08-denied.png`, fullPage: true });
});
