import assert from "node:assert/strict";
import { findCycles, layoutMismatches, wrongWay } from "../.ci/check_imports.ts";

Deno.test("the import check names every cycle, type-only imports included", () => {
  const graph = {
    "src/core/a.ts": ["src/core/b.ts"],
    "src/core/b.ts": ["src/core/c.ts"],
    "src/core/c.ts": ["src/core/a.ts"],
    "src/core/d.ts": [],
  };
  assert.deepEqual(findCycles(graph), [[
    "src/core/a.ts",
    "src/core/b.ts",
    "src/core/c.ts",
    "src/core/a.ts",
  ]]);
  assert.deepEqual(findCycles({ "src/core/a.ts": ["src/core/d.ts"], "src/core/d.ts": [] }), []);
});

Deno.test("the import check refuses an import from a lower folder to a higher one", () => {
  const graph = {
    "src/core/tree.ts": ["src/status/types.ts"],
    "src/status/types.ts": ["src/core/tree.ts"],
    "src/cli/io.ts": ["src/status/format.ts", "src/serve/socket_dir.ts"],
    "src/serve/main.ts": ["src/remote/server.ts"],
    "src/status/format.ts": [],
  };
  assert.deepEqual(wrongWay(graph), [
    "src/core/tree.ts → src/status/types.ts: src/core/ may not import src/status/ " +
    "(cli → serve, remote → status → locks → core)",
    "src/serve/main.ts → src/remote/server.ts: src/serve/ may not import src/remote/ " +
    "(cli → serve, remote → status → locks → core)",
  ]);
});

Deno.test("the README's Layout section must name exactly the folders of src/", () => {
  const readme =
    "# x\n## Layout\n```text\nsrc/core/   the core\nsrc/gone/   old\n```\n## License\n";
  assert.deepEqual(layoutMismatches(readme, ["core", "locks"]), [
    "src/locks/ is not in the README's Layout section",
    "the README lists src/gone/, which is gone",
  ]);
  const real = Deno.readTextFileSync(new URL("../README.md", import.meta.url));
  const folders = [...Deno.readDirSync(new URL("../src/", import.meta.url))]
    .filter((e) => e.isDirectory).map((e) => e.name);
  assert.deepEqual(layoutMismatches(real, folders), []);
});
