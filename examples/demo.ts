/**
 * `deno task demo`: starts `examples/service.ts` (the design's scene, with its stuck
 * `session-output-lock`), waits for it to say it is ready, sends it some HTTP and chat traffic,
 * shows its status with `cli.ts status --pid <pid>` as another process would, then stops it with
 * SIGTERM and reports how it exited.
 *
 * ```sh
 * deno run -A examples/demo.ts          # loads no npm package: nothing is downloaded for it
 * deno task demo                        # the same, after the task runner installs deno.json's npm deps
 * deno run -A examples/demo.ts --calm   # without the stuck lock
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { styleText } from "node:util";

const { values: flags } = parseArgs({ args: Deno.args, options: { calm: { type: "boolean" } } });
const color = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
const say = (text: string): void => {
  console.log(color ? styleText(["bold", "cyan"], text) : text);
};
const root = new URL("..", import.meta.url);
const service = new URL("examples/service.ts", root).pathname;
const cli = new URL("cli.ts", root).pathname;

say(`▶ starting examples/service.ts${flags.calm ? "" : " --stuck"}`);
const child = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", service, "--tick-ms", "250", ...(flags.calm ? [] : ["--stuck"])],
  stdin: "null",
  stdout: "piped",
  stderr: "inherit",
}).spawn();

const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(splitLines());
const reader = lines.getReader();
let ready: { pid: number; http: string } | undefined;
while (ready === undefined) {
  const { value, done } = await reader.read();
  if (done) {
    console.error("the service ended before it was ready");
    Deno.exit((await child.status).code || 1);
  }
  if (value.startsWith("ready ")) ready = JSON.parse(value.slice(6));
}
// Whatever else the service prints goes through.
const rest = (async () => {
  for (let r = await reader.read(); !r.done; r = await reader.read()) console.log(r.value);
})();
say(`✔ ready: pid ${ready.pid}, HTTP proxy on ${ready.http}`);

say(`▶ sending traffic: 20 HTTP requests, 5 chat messages, one slow request left open`);
const slow = fetch(`${ready.http}/slow?ms=60000`).then((r) => r.text()).catch(() => "");
for (let i = 0; i < 20; i++) {
  await (await fetch(`${ready.http}/`)).text();
  if (i % 4 === 0) {
    const from = ["dave", "erin", "frank", "grace", "heidi"][i / 4];
    await (await fetch(`${ready.http}/chat?from=${from}&text=hello+${i}`)).text();
  }
  await new Promise((r) => setTimeout(r, 60)); // spread over ~1.2s, as real traffic would be
}
await (await fetch(`${ready.http}/missing`)).text(); // one failed request too
await new Promise((r) => setTimeout(r, 600)); // let the stuck lock age past its thresholds

say(`▶ deno run -A cli.ts status --pid ${ready.pid}`);
const shown = await new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", cli, "status", "--pid", String(ready.pid), ...(color ? [] : ["--no-color"])],
  stdin: "null",
  stdout: "inherit",
  stderr: "inherit",
}).output();

say(`▶ stopping the service with SIGTERM`);
const t0 = performance.now();
child.kill("SIGTERM");
const { code } = await child.status;
await rest;
await slow;
const took = Math.round(performance.now() - t0);
say(`✔ the service exited with code ${code} after ${took}ms (every task saw the cancellation)`);
Deno.exit(shown.code !== 0 ? shown.code : code);

function splitLines(): TransformStream<string, string> {
  let buffer = "";
  return new TransformStream({
    transform(chunk, controller) {
      buffer += chunk;
      const parts = buffer.split("\n");
      buffer = parts.pop()!;
      for (const line of parts) controller.enqueue(line);
    },
    flush(controller) {
      if (buffer !== "") controller.enqueue(buffer);
    },
  });
}
