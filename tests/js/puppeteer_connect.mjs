// Connects Puppeteer to a Browserplane session, loads a page, prints what it saw as JSON.
//   node puppeteer_connect.mjs ws <browserWSEndpoint> <pageUrl>
//   node puppeteer_connect.mjs url <browserURL> <pageUrl>
import puppeteer from "puppeteer-core";

const [mode, endpoint, pageUrl] = process.argv.slice(2);
const options = mode === "url" ? { browserURL: endpoint } : { browserWSEndpoint: endpoint };
const browser = await puppeteer.connect({ ...options, defaultViewport: null });
const pages = await browser.pages();
const page = pages[0] ?? (await browser.newPage());
await page.goto(pageUrl, { waitUntil: "load" });
const result = {
  title: await page.title(),
  version: await browser.version(),
  pages: (await browser.pages()).length,
};
await browser.disconnect();
console.log(JSON.stringify(result));
