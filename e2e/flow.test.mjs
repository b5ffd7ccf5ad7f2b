// End to end, as a person would use it: the local stack (the real handlers, the
// TikTok emulator, the in-memory store) in headless Chromium.
// Run by scripts/e2e (which builds local-api and installs Chromium when missing).
//
// As deployed, the dshipit site and the API are on different sites: here the
// demo page is served on http://localhost:<port> and the API on
// http://127.0.0.1:<port2> (CORS allows the page's origin), and Chromium blocks
// third-party cookies (checked below), so nothing may depend on a cookie the
// API sets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const root = new URL('..', import.meta.url).pathname;
const shots = `${root}artifacts/e2e`;
mkdirSync(shots, { recursive: true });

let server;
let base;
let site;
let browser;
const profiles = [];

// A Chromium profile whose cookie setting blocks third-party cookies (Chrome's
// "Block third-party cookies", `cookie_controls_mode` 1, plus the
// third-party-cookie phase-out Chrome is rolling out), or allows them (the
// control that shows the probe below can succeed).
function launch(blockThirdPartyCookies) {
  const dir = mkdtempSync(join(tmpdir(), 'dshipit-e2e-'));
  profiles.push(dir);
  mkdirSync(join(dir, 'Default'));
  writeFileSync(join(dir, 'Default', 'Preferences'), JSON.stringify({
    profile: { cookie_controls_mode: blockThirdPartyCookies ? 1 : 0, block_third_party_cookies: blockThirdPartyCookies },
  }));
  return chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ...(blockThirdPartyCookies ? ['--test-third-party-cookie-phaseout'] : [])],
  });
}

before(async () => {
  server = spawn(`${root}target/debug/local-api`, ['--port', '0', '--refresh-every', 'off'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  [site, base] = await new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (chunk) => {
      out += chunk;
      const page = out.match(/dshipit site \(demo page\) on (http:\/\/localhost:\d+)\//);
      const api = out.match(/dshipit API on (http:\/\/127\.0\.0\.1:\d+)\//);
      if (page && api) resolve([page[1], api[1]]);
    });
    server.on('exit', (code) => reject(new Error(`local-api exited with ${code}`)));
    setTimeout(() => reject(new Error('local-api did not start in 30 s')), 30000).unref();
  });
  browser = await launch(true);
});

after(async () => {
  await browser?.close();
  server?.kill();
  for (const dir of profiles) rmSync(dir, { recursive: true, force: true });
});

// Whether a cookie the API sets on a cross-site fetch from the page comes back
// on the next one (`SameSite=None; Secure`, the only kind that could).
async function thirdPartyCookieComesBack(context) {
  const page = await context.newPage();
  await page.goto(`${site}/`);
  const sentBack = await page.evaluate(async (api) => {
    const probe = () => fetch(`${api}/__local/cookie-probe`, { credentials: 'include' }).then((r) => r.json());
    await probe();
    return (await probe()).cookieSentBack;
  }, base);
  await page.close();
  return sentBack;
}

async function newPage() {
  return browser.newPage();
}

async function status(page) {
  await page.waitForFunction(() => document.getElementById('status').textContent !== '…');
  return page.textContent('#status');
}

test('the page and the API are on different sites, and third-party cookies are blocked', async () => {
  assert.equal(new URL(site).hostname, 'localhost');
  assert.equal(new URL(base).hostname, '127.0.0.1');
  // The same probe in a browser that allows third-party cookies gets its cookie
  // back, so the blocking browser's "no" is the blocking, not the probe.
  const allowing = await launch(false);
  try {
    assert.equal(await thirdPartyCookieComesBack(allowing), true, 'control: cookies allowed');
  } finally {
    await allowing.close();
  }
  assert.equal(await thirdPartyCookieComesBack(browser), false, 'third-party cookies are blocked');
});

test('connect across sites, search, open a product, disconnect; a replayed callback is refused', async () => {
  const page = await newPage();
  const callbacks = [];
  const apiCalls = new Set();
  page.on('request', (r) => {
    if (r.url().includes('/auth/tiktok/callback')) callbacks.push(r.url());
    if (r.url().startsWith(base) && r.resourceType() === 'fetch') apiCalls.add(new URL(r.url()).pathname);
  });

  await page.goto(`${site}/`);
  assert.equal(await status(page), 'Not connected');
  await page.screenshot({ path: `${shots}/01-not-connected.png`, fullPage: true });

  await page.click('#connect');
  await page.waitForSelector('#approve');
  assert.match(page.url(), /\/v2\/auth\/authorize\//);
  await page.screenshot({ path: `${shots}/02-tiktok-consent.png`, fullPage: true });
  await page.click('#approve');
  // Back on the site (another site than the API) with a completion id, which the
  // page completes with the user's JWT and then removes from the address bar.
  await page.waitForURL((u) => u.origin === site);
  await page.waitForSelector('#status.connected');
  assert.match(await status(page), /^Connected as /);
  assert.ok(apiCalls.has('/auth/tiktok/complete'), [...apiCalls].join(' '));
  assert.ok(!page.url().includes('tiktokCompletion'), page.url());
  assert.deepEqual(await page.context().cookies(base), [], 'the API set no cookie');
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
  await page.goto(`${site}/`);
  assert.equal(await status(page), 'Not connected');
});

test('denying at TikTok comes back with the error and stays disconnected', async () => {
  const page = await newPage();
  await page.goto(`${site}/`);
  assert.equal(await status(page), 'Not connected');
  await page.click('#connect');
  await page.waitForSelector('#deny');
  await page.click('#deny');
  await page.waitForURL(/tiktokError=access_denied/);
  await page.waitForFunction(() => document.getElementById('error').textContent.includes('access_denied'));
  assert.equal(await status(page), 'Not connected');
  await page.screenshot({ path: `${shots}/08-denied.png`, fullPage: true });
});

// The same page with TIKTOK_PROVIDER=shop: the emulator plays the TikTok Shop
// Partner API (seller authorization page, signed calls), page and API again on
// different sites.
test('shop mode: a seller connects, lists shops, searches, opens a product with its image', async () => {
  const shopServer = spawn(`${root}target/debug/local-api`, ['--port', '0', '--refresh-every', 'off', '--provider', 'shop'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const [shopSite, shopApi] = await new Promise((resolve, reject) => {
      let out = '';
      shopServer.stdout.on('data', (chunk) => {
        out += chunk;
        const page = out.match(/dshipit site \(demo page\) on (http:\/\/localhost:\d+)\//);
        const api = out.match(/dshipit API on (http:\/\/127\.0\.0\.1:\d+)\//);
        if (page && api) resolve([page[1], api[1]]);
      });
      shopServer.on('exit', (code) => reject(new Error(`local-api --provider shop exited with ${code}`)));
      setTimeout(() => reject(new Error('local-api --provider shop did not start in 30 s')), 30000).unref();
    });
    assert.notEqual(new URL(shopSite).host, new URL(shopApi).host);
    const page = await newPage();
    await page.goto(`${shopSite}/`);
    assert.equal(await status(page), 'Not connected');

    await page.click('#connect');
    await page.waitForSelector('#approve');
    assert.match(page.url(), /\/open\/authorize\?service_id=/);
    assert.ok(!page.url().includes('redirect_uri'), page.url());
    await page.screenshot({ path: `${shots}/11-shop-seller-authorization.png`, fullPage: true });
    await page.click('#approve');
    await page.waitForURL((u) => u.origin === shopSite);
    await page.waitForSelector('#status.connected');
    assert.match(await status(page), /^Connected as Sunny Seller Ltd \(GB, 5 shops\)/);

    // An empty name lists the seller's shops.
    await page.fill('#shop-name', '');
    await page.click('#find-shops');
    await page.waitForSelector('.use-shop');
    assert.equal((await page.$$('.use-shop')).length, 5);
    await page.click('tr:has-text("Saigon Crafts") .use-shop');
    await page.fill('#query', 'lamp');
    await page.click('#search');
    await page.waitForSelector('.product-row');
    const first = await page.textContent('.product-row');
    assert.match(first, /Desk Lamp/);
    assert.match(first, /VND/);
    await page.screenshot({ path: `${shots}/12-shop-products.png`, fullPage: true });

    await page.click('.open-product');
    await page.waitForSelector('#product-image');
    await page.waitForFunction(() => {
      const img = document.getElementById('product-image');
      return img.complete && img.naturalWidth > 0;
    });
    const description = await page.textContent('#product-description');
    assert.match(description, /Handmade/);
    // One line a block: the words of two paragraphs or list items do not run together.
    assert.match(description, /Crafts\.\n+Handmade\n+Ships in 2 days/);
    assert.equal(await page.$('#product-description b'), null, 'the seller HTML is shown as text, never run');
    // The Partner API has no ratings or sales counts: no empty "rating · sold".
    const price = await page.textContent('#product-price');
    assert.match(price, /VND/);
    assert.doesNotMatch(price, /rating|sold/);
    await page.screenshot({ path: `${shots}/13-shop-product.png`, fullPage: true });

    await page.click('#disconnect');
    await page.waitForFunction(() => document.getElementById('status').textContent === 'Not connected');
  } finally {
    shopServer.kill();
  }
});

// The same page with TIKTOK_PROVIDER=creator: the emulator plays the TikTok Shop
// Affiliate Creator API (the creator authorization page, the marketplace of
// open-collaboration products), page and API again on different sites.
test('creator mode: a creator connects, searches the marketplace best-selling, pages on, opens a product; a seller account is refused', async () => {
  const creatorServer = spawn(`${root}target/debug/local-api`, ['--port', '0', '--refresh-every', 'off', '--provider', 'creator'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const [creatorSite, creatorApi] = await new Promise((resolve, reject) => {
      let out = '';
      creatorServer.stdout.on('data', (chunk) => {
        out += chunk;
        const page = out.match(/dshipit site \(demo page\) on (http:\/\/localhost:\d+)\//);
        const api = out.match(/dshipit API on (http:\/\/127\.0\.0\.1:\d+)\//);
        if (page && api) resolve([page[1], api[1]]);
      });
      creatorServer.on('exit', (code) => reject(new Error(`local-api --provider creator exited with ${code}`)));
      setTimeout(() => reject(new Error('local-api --provider creator did not start in 30 s')), 30000).unref();
    });
    assert.notEqual(new URL(creatorSite).host, new URL(creatorApi).host);
    const page = await newPage();
    await page.goto(`${creatorSite}/`);
    assert.equal(await status(page), 'Not connected');
    assert.equal(await page.isVisible('#shop-form'), false, 'no shop search in creator mode');

    await page.click('#connect');
    await page.waitForSelector('#approve');
    assert.match(page.url(), /\/alliance\/creator\/auth\?app_key=/);
    assert.ok(!page.url().includes('redirect_uri') && !page.url().includes('service_id'), page.url());
    await page.screenshot({ path: `${shots}/21-creator-authorization.png`, fullPage: true });
    await page.click('#approve');
    await page.waitForURL((u) => u.origin === creatorSite);
    await page.waitForSelector('#status.connected');
    assert.match(await status(page), /^Connected as @fitwithjo \(US\)/);

    // "yoga mat", best-selling: thumbnails, price ranges, units sold, commission.
    await page.fill('#query', 'yoga mat');
    await page.selectOption('#sort', 'best_selling');
    await page.click('#search');
    await page.waitForSelector('.product-row');
    const rows = await page.$$eval('.product-row', (trs) => trs.map((tr) => ({
      text: tr.textContent,
      sold: tr.querySelector('.sold').textContent,
      commission: tr.querySelector('.commission').textContent,
      id: tr.querySelector('.open-product').dataset.id,
    })));
    assert.equal(rows.length, 20);
    assert.match(await page.textContent('#summary'), /^48 products · more available/);
    for (const row of rows) {
      assert.match(row.text, /yoga/i);
      assert.match(row.commission, /^\d+(\.\d+)?%/);
    }
    const sold = rows.map((r) => r.sold).filter((s) => s !== '–').map(Number);
    assert.deepEqual(sold, [...sold].sort((a, b) => b - a), 'best-selling first');
    await page.waitForFunction(() => [...document.querySelectorAll('img.thumb')].every((img) => img.complete && img.naturalWidth > 0));
    await page.screenshot({ path: `${shots}/22-creator-search.png`, fullPage: true });

    // The next page continues: none of the first page's products again.
    await page.click('#more');
    await page.waitForFunction((first) => document.querySelector('.open-product')?.dataset.id !== first, rows[0].id);
    const next = await page.$$eval('.open-product', (bs) => bs.map((b) => b.dataset.id));
    assert.equal(next.length, 20);
    assert.ok(next.every((id) => !rows.some((r) => r.id === id)), 'no product twice');
    await page.screenshot({ path: `${shots}/23-creator-next-page.png`, fullPage: true });

    // A price range: every price shown starts within it.
    await page.fill('#min-price', '10');
    await page.fill('#max-price', '30');
    await page.click('#search');
    await page.waitForFunction(() => document.querySelectorAll('.product-row').length > 0
      && !document.getElementById('summary').textContent.startsWith('48 '));
    const prices = await page.$$eval('.product-row .price', (tds) => tds.map((td) => parseFloat(td.textContent)));
    assert.ok(prices.length > 0);
    assert.ok(prices.every((p) => p >= 10 && p < 30), `prices ${prices}`);

    await page.click('.open-product');
    await page.waitForSelector('#product-commission');
    assert.match(await page.textContent('#product-price'), /USD/);
    await page.waitForFunction(() => {
      const img = document.getElementById('product-image');
      return img && img.complete && img.naturalWidth > 0;
    });
    await page.screenshot({ path: `${shots}/24-creator-product.png`, fullPage: true });

    await page.click('#disconnect');
    await page.waitForFunction(() => document.getElementById('status').textContent === 'Not connected');

    // A seller account on the creator page is refused, with an error the site shows.
    await page.click('#connect');
    await page.waitForSelector('#approve');
    await page.check('#as-seller');
    await page.click('#approve');
    await page.waitForURL(/tiktokError=not_a_creator/);
    await page.waitForFunction(() => document.getElementById('error').textContent.includes('not_a_creator'));
    assert.equal(await status(page), 'Not connected');
    await page.screenshot({ path: `${shots}/25-creator-seller-refused.png`, fullPage: true });
  } finally {
    creatorServer.kill();
  }
});
