// The inference service's page, as a person uses it: a real headless Chromium (Debian's,
// driven by playwright-core; nothing downloaded) opens GET /, draws digits on the canvas
// with the mouse, and reads back the prediction and the probability bars, which come from
// POST /classify (@batched @cpuBound, ONNX in a pool thread).
//
// Without a Chromium on the machine this file says so and skips, except in CI (CI=true),
// where .ci/run installs Debian's chromium and a missing browser is a failure.

import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, ServiceRunner, webServerAddress } from '../src/index.js';
import { InferenceService } from '../services/inference/inference.js';

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p): p is string => !!p && existsSync(p));
if (!CHROMIUM && process.env.CI) throw new Error('no Chromium at /usr/bin/chromium: .ci/run installs Debian\'s chromium package');
if (!CHROMIUM) console.warn('inference-page.test.ts: no Chromium found (/usr/bin/chromium, or CHROMIUM_PATH): the browser test is skipped. apt-get install chromium');

const config = loadConfig({ AMQP_URI: 'memory://inference-page', WEB_SERVER_ADDRESS: '127.0.0.1:0', LOGGING: { level: 'warn' }, POOL: { threads: 2 } });
let runner: ServiceRunner;
let browser: Browser;
let page: Page;

/** Strokes in pad coordinates (0..280), one polyline each. */
const DIGITS: Record<string, Array<Array<[number, number]>>> = {
  '1': [[[140, 40], [140, 240]]],
  '7': [
    [[70, 50], [210, 50]],
    [[210, 50], [120, 240]],
  ],
  '0': [
    Array.from({ length: 33 }, (_, i): [number, number] => {
      const a = (i / 32) * 2 * Math.PI;
      return [140 + 60 * Math.sin(a), 140 - 95 * Math.cos(a)];
    }),
  ],
};

async function draw(strokes: Array<Array<[number, number]>>): Promise<void> {
  const box = (await page.locator('#pad').boundingBox())!;
  for (const stroke of strokes) {
    const [first, ...rest] = stroke;
    await page.mouse.move(box.x + first![0], box.y + first![1]);
    await page.mouse.down();
    for (const [x, y] of rest) await page.mouse.move(box.x + x, box.y + y, { steps: 8 });
    await page.mouse.up();
  }
}

describe.skipIf(!CHROMIUM)('the inference page in a browser', () => {
  beforeAll(async () => {
    runner = new ServiceRunner(config);
    runner.add(InferenceService, { module: new URL('../services/inference/inference.ts', import.meta.url).href });
    await runner.start();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
    page = await browser.newPage({ viewport: { width: 900, height: 700 } });
    const { port } = webServerAddress(config)!;
    await page.goto(`http://127.0.0.1:${port}/`);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await runner?.stop();
  });

  it('serves the page with an empty pad and ten empty bars', async () => {
    await expect(page.title()).resolves.toContain('draw a digit');
    expect(await page.locator('.bar').count()).toBe(10);
    expect(await page.locator('#answer').textContent()).toBe('');
  });

  for (const [digit, strokes] of Object.entries(DIGITS)) {
    it(`reads a drawn ${digit} and shows its probability as the longest bar`, async () => {
      await page.click('#clear');
      await draw(strokes);
      await page.waitForFunction(`document.querySelector('#answer')?.textContent === ${JSON.stringify(digit)}`, undefined, { timeout: 10_000 });
      const best = await page.locator('.bar.best').getAttribute('data-digit');
      expect(best).toBe(digit);
      const widths = await page.locator('.bar .fill').evaluateAll((els) => els.map((el) => parseFloat((el as unknown as { style: { width: string } }).style.width)));
      expect(widths).toHaveLength(10);
      expect(Math.max(...widths)).toBe(widths[Number(digit)]);
      expect(widths.reduce((a, b) => a + b, 0)).toBeCloseTo(100, 0);
      // The README's picture of the page: ENOKI_PAGE_SCREENSHOT=docs/inference-page.png.
      if (digit === '7' && process.env.ENOKI_PAGE_SCREENSHOT) await page.screenshot({ path: process.env.ENOKI_PAGE_SCREENSHOT, clip: { x: 60, y: 0, width: 780, height: 560 } });
    }, 30_000);
  }
});
