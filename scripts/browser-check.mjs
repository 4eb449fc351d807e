// Opens a run directory's `report.html` and `evolution.html` in headless Chromium, the
// way a reader would, and checks what they show: every inline SVG plot and cell diagram
// renders with a non-zero size, no request leaves the page (no network, no other file),
// the script runs without errors, and the evolution page's buttons, slider and arrow
// keys step through one frame per epoch. Writes screenshots beside the pages
// (`report.png`, `evolution-first.png`, `evolution-last.png`) and exits 1 on the first
// failed check, naming it.
//
// Not part of CI (it needs a browser). Set-up, once:
//   apt-get install -y chromium
//   npm install --prefix /tmp/pw playwright-core@1
// Usage:
//   NODE_PATH=/tmp/pw/node_modules node scripts/browser-check.mjs RUN_DIR [CHROMIUM]
// (CHROMIUM defaults to /usr/bin/chromium.) For a train run directory only
// `report.html` is checked.

import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

const [runDir, executable = "/usr/bin/chromium"] = process.argv.slice(2);
if (!runDir) {
  console.error("usage: node scripts/browser-check.mjs RUN_DIR [CHROMIUM]");
  process.exit(2);
}
const dir = resolve(runDir);

function fail(what) {
  console.error(`FAIL: ${what}`);
  process.exit(1);
}

/** Opens `file` and records console errors, page errors and every request. */
async function open(browser, file) {
  const path = join(dir, file);
  if (!existsSync(path)) fail(`${path} does not exist`);
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const problems = [];
  const url = pathToFileURL(path).href;
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`script error: ${e.message}`));
  page.on("request", (r) => {
    if (r.url() !== url && !r.url().startsWith("data:")) {
      problems.push(`request to ${r.url()}`);
    }
  });
  await page.goto(url, { waitUntil: "load" });
  return { page, problems, path };
}

/** Sizes of every rendered `svg` element of the page. */
async function svgSizes(page) {
  return page.$$eval("svg", (svgs) =>
    svgs.map((s) => {
      const r = s.getBoundingClientRect();
      return [r.width, r.height, s.querySelectorAll("*").length];
    }),
  );
}

const browser = await chromium.launch({ executablePath: executable });
try {
  // report.html: curves and cells.
  {
    const { page, problems, path } = await open(browser, "report.html");
    const sizes = await svgSizes(page);
    if (sizes.length === 0) fail(`${path}: no SVG rendered`);
    const empty = sizes.filter(([w, h, n]) => !(w > 0 && h > 0 && n > 0));
    if (empty.length > 0) fail(`${path}: ${empty.length} SVGs render empty`);
    const lines = await page.$$eval("svg polyline, svg path", (e) => e.length);
    await page.screenshot({ path: join(dir, "report.png"), fullPage: true });
    if (problems.length > 0) fail(`${path}: ${problems.join("; ")}`);
    console.log(`ok: report.html: ${sizes.length} SVGs rendered (${lines} lines/paths), no requests, no errors`);
  }
  // evolution.html: one frame per epoch, stepped by the controls.
  if (existsSync(join(dir, "evolution.html"))) {
    const { page, problems, path } = await open(browser, "evolution.html");
    const epochs = readFileSync(join(dir, "history.jsonl"), "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "").length;
    const frames = await page.$$eval(".frame", (f) => f.length);
    if (frames !== epochs) fail(`${path}: ${frames} frames for ${epochs} epochs`);
    const visible = async () =>
      page.$$eval(".frame", (f) =>
        f.map((x, i) => [i, x.getBoundingClientRect().height > 0]).filter(([, v]) => v).map(([i]) => i),
      );
    const label = async () => page.textContent("#label");
    const expectShown = async (k, how) => {
      const v = await visible();
      if (v.length !== 1 || v[0] !== k) fail(`${path}: after ${how} frames ${JSON.stringify(v)} shown, expected [${k}]`);
      const shown = await label();
      const wanted = await page.getAttribute(`#frame-${k}`, "data-label");
      if (shown !== wanted) fail(`${path}: after ${how} the label reads "${shown}", expected "${wanted}"`);
      const cells = await page.$$eval(`#frame-${k} svg`, (s) => s.filter((x) => x.getBoundingClientRect().width > 0).length);
      if (cells === 0) fail(`${path}: frame ${k} shows no cell diagram`);
    };
    await expectShown(0, "loading");
    await page.screenshot({ path: join(dir, "evolution-first.png") });
    if (frames > 1) {
      await page.click("#next");
      await expectShown(1, "next");
      await page.click("#prev");
      await expectShown(0, "previous");
      await page.keyboard.press("ArrowRight");
      await expectShown(1, "the right arrow key");
      await page.click("#last");
      await expectShown(frames - 1, "last");
      await page.fill("#slider", "0");
      await expectShown(0, "the slider");
      await page.click("#last");
    }
    await page.screenshot({ path: join(dir, "evolution-last.png") });
    if (problems.length > 0) fail(`${path}: ${problems.join("; ")}`);
    console.log(`ok: evolution.html: ${frames} frames for ${epochs} epochs; next, previous, arrow key, last and slider step through them; no requests, no errors`);
  }
} finally {
  await browser.close();
}
