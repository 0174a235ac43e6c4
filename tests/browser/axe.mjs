// The accessibility audit the browser tests share (issue 16): axe-core on a page as a visitor's
// browser renders it, in light and dark mode, failing on serious or critical violations.
import assert from 'node:assert/strict';
import { readFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

const ARTIFACTS = process.env.OSTIARY_ARTIFACTS || '';
const AXE = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
// What fails the test: axe's two worst impact levels (https://github.com/dequelabs/axe-core/blob/develop/doc/issue_impact.md).
const FAILING = new Set(['serious', 'critical']);

/** Collects every serious or critical violation of every page a test audits. */
export class Audit {
  constructor(lang) {
    this.lang = lang;
    this.pages = [];
    this.problems = [];
  }

  /** Runs axe on the page as it is now, in light and then in dark mode. */
  async check(page, label) {
    await page.waitForLoadState('load');
    if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE);
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      const lang = await page.evaluate(() => document.documentElement.lang);
      assert.equal(lang, this.lang, `${label}: <html lang> is the visitor's language`);
      const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
      for (const v of result.violations.filter((x) => FAILING.has(x.impact))) {
        const where = v.nodes.map((n) => `      ${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`);
        this.problems.push(`${this.lang} ${scheme} — ${label} (${new URL(page.url()).pathname}): ${v.id} (${v.impact}) ${v.help}\n${where.join('\n')}`);
      }
      if (ARTIFACTS) {
        await mkdir(ARTIFACTS, { recursive: true });
        const name = `a11y-${this.lang}-${scheme}-${label.replace(/[^A-Za-z0-9]+/g, '-')}.png`;
        await page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });
      }
    }
    await page.emulateMedia({ colorScheme: null });
    this.pages.push(label);
  }

  done(expected) {
    assert.deepEqual(this.problems, [], `serious or critical accessibility violations:\n${this.problems.join('\n')}`);
    assert.ok(this.pages.length >= expected, `${this.pages.length} pages audited: ${this.pages.join(', ')}`);
  }
}
