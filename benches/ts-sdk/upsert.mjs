// Upserts every customer of a JSONL file through Plain's official TypeScript SDK and prints one
// JSON line with the wall time and CPU the Node.js process spent on it.
//
// usage: node upsert.mjs --endpoint URL --api-key KEY --input FILE.jsonl --concurrency N
//
// Exit codes: 0 all records ok, 1 some record failed, 2 bad usage or unreadable input.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { PlainClient } from "@team-plain/typescript-sdk";

const USAGE =
  "usage: node upsert.mjs --endpoint URL --api-key KEY --input FILE.jsonl --concurrency N";

function die(message) {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

function sdkVersion() {
  const require = createRequire(import.meta.url);
  const main = require.resolve("@team-plain/typescript-sdk");
  const pkg = JSON.parse(readFileSync(join(dirname(main), "..", "package.json"), "utf8"));
  return pkg.version;
}

function parseOptions() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        endpoint: { type: "string" },
        "api-key": { type: "string" },
        input: { type: "string" },
        concurrency: { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    die(err.message);
  }
  for (const name of ["endpoint", "api-key", "input", "concurrency"]) {
    if (values[name] === undefined || values[name] === "") die(`missing --${name}`);
  }
  try {
    new URL(values.endpoint);
  } catch {
    die(`--endpoint is not a URL: ${values.endpoint}`);
  }
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    die(`--concurrency must be a positive integer, got ${values.concurrency}`);
  }
  return {
    endpoint: values.endpoint,
    apiKey: values["api-key"],
    input: values.input,
    concurrency,
  };
}

function readInputs(path) {
  let text;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    die(`cannot read ${path}: ${err.message}`);
  }
  const inputs = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    try {
      inputs.push(JSON.parse(line));
    } catch (err) {
      die(`${path}:${i + 1}: not JSON: ${err.message}`);
    }
  }
  if (inputs.length === 0) die(`${path}: no records`);
  return inputs;
}

function describeFailure(index, input, failure) {
  const who = JSON.stringify(input?.identifier ?? null);
  if (failure instanceof Error) {
    return `record ${index + 1} ${who}: threw ${failure.stack ?? failure.message}`;
  }
  const { err, ...rest } = failure;
  let text = `record ${index + 1} ${who}: ${JSON.stringify(rest)}`;
  if (err !== undefined) {
    const cause = err?.cause ? ` (cause: ${err.cause.message ?? err.cause})` : "";
    text += `\n  underlying error: ${err?.stack ?? err}${cause}`;
  }
  return text;
}

const seconds = (micros) => Number((micros / 1e6).toFixed(6));

const options = parseOptions();
const sdk = sdkVersion();
const inputs = readInputs(options.input);
const client = new PlainClient({ apiKey: options.apiKey, apiUrl: options.endpoint });

let ok = 0;
let failed = 0;
let firstFailure = null; // { index, failure } with the lowest record index
let next = 0;

function recordFailure(index, failure) {
  failed++;
  if (firstFailure === null || index < firstFailure.index) firstFailure = { index, failure };
}

async function worker() {
  while (next < inputs.length) {
    const index = next++;
    try {
      const result = await client.upsertCustomer(inputs[index]);
      if (result.error) recordFailure(index, result.error);
      else ok++;
    } catch (err) {
      // The SDK throws (rather than returning an error) when a 200 answer lacks the data it
      // expects, e.g. a GraphQL error document without `data`.
      recordFailure(index, err);
    }
  }
}

const workers = Math.min(options.concurrency, inputs.length);
const cpuBefore = process.cpuUsage();
const wallBefore = process.hrtime.bigint();
await Promise.all(Array.from({ length: workers }, worker));
const wallAfter = process.hrtime.bigint();
const loopCpu = process.cpuUsage(cpuBefore);

if (firstFailure !== null) {
  process.stderr.write(
    `${failed} of ${inputs.length} upserts failed; first failure:\n` +
      `${describeFailure(firstFailure.index, inputs[firstFailure.index], firstFailure.failure)}\n`,
  );
}

const processCpu = process.cpuUsage();
const report = {
  sdk,
  node: process.version,
  records: inputs.length,
  ok,
  failed,
  wall_s: Number((Number(wallAfter - wallBefore) / 1e9).toFixed(6)),
  loop_cpu_s: seconds(loopCpu.user + loopCpu.system),
  process_cpu_s: seconds(processCpu.user + processCpu.system),
  max_rss_bytes: process.resourceUsage().maxRSS * 1024,
};
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exitCode = failed === 0 ? 0 : 1;
