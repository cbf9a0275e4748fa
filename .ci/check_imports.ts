/**
 * Checks the project's module graph: no import cycles among its own modules (type-only imports
 * and dynamic imports included), and imports under `src/` point one way between the folders:
 *
 *     cli → serve, remote → status → locks → core
 *
 * `serve` and `remote` are peers and may not import each other. Reads the graph from
 * `deno info --json` of every entry point, test, bench and example, and exits 1 naming each cycle
 * or each import against the direction.
 *
 * Run: `deno run --allow-run --allow-read .ci/check_imports.ts` (part of `deno task check`).
 *
 * @module
 */

/** The rank of each folder of `src/`: a module may import only from its own rank or below. */
const RANKS: Record<string, number> = {
  core: 0,
  locks: 1,
  status: 2,
  serve: 3,
  remote: 3,
  cli: 4,
};

const ROOT = new URL("../", import.meta.url);
const ENTRIES = ["mod.ts", "cli.ts", "remote.ts", "src/", "tests/", "bench/", "examples/"];

interface Graph {
  [module: string]: string[];
}

/** The files to start from: the entry points and every `.ts` file in the listed folders. */
function entryFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of Deno.readDirSync(new URL(dir, ROOT))) {
      const rel = dir + e.name;
      if (e.isDirectory) walk(rel + "/");
      else if (e.isFile && e.name.endsWith(".ts")) out.push(rel);
    }
  };
  for (const entry of ENTRIES) {
    if (entry.endsWith("/")) walk(entry);
    else out.push(entry);
  }
  return out.sort();
}

/** The project's own modules and what each imports (local files only), from `deno info`. */
async function moduleGraph(files: string[]): Promise<Graph> {
  const graph: Graph = {};
  const root = ROOT.href;
  for (const file of files) {
    if (new URL(file, ROOT).href in graph) continue;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", file],
      cwd: new URL(".", ROOT),
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`deno info ${file} failed:\n${new TextDecoder().decode(out.stderr)}`);
    }
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      modules: Array<{
        specifier: string;
        dependencies?: Array<{ code?: { specifier?: string }; type?: { specifier?: string } }>;
      }>;
    };
    for (const m of info.modules) {
      if (!m.specifier.startsWith(root)) continue;
      const deps = new Set<string>();
      for (const d of m.dependencies ?? []) {
        for (const s of [d.code?.specifier, d.type?.specifier]) {
          if (s?.startsWith(root)) deps.add(s.slice(root.length));
        }
      }
      graph[m.specifier.slice(root.length)] = [...deps].sort();
    }
  }
  return graph;
}

/** Every elementary cycle found by a depth-first search, each as a list of modules. */
export function findCycles(graph: Graph): string[][] {
  const cycles: string[][] = [];
  const seen = new Set<string>();
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (m: string): void => {
    state.set(m, "open");
    stack.push(m);
    for (const d of graph[m] ?? []) {
      if (state.get(d) === "open") {
        const cycle = stack.slice(stack.indexOf(d));
        const key = [...cycle].sort().join(" ");
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push([...cycle, d]);
        }
      } else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(m, "done");
  };
  for (const m of Object.keys(graph).sort()) if (!state.has(m)) visit(m);
  return cycles;
}

/** Imports under `src/` that point against the folders' direction. */
export function wrongWay(graph: Graph): string[] {
  const folder = (m: string): string | undefined => /^src\/([^/]+)\//.exec(m)?.[1];
  const out: string[] = [];
  for (const [m, deps] of Object.entries(graph)) {
    const from = folder(m);
    if (from === undefined) continue;
    if (!(from in RANKS)) {
      out.push(`${m}: the folder src/${from}/ has no rank in .ci/check_imports.ts`);
      continue;
    }
    for (const d of deps) {
      const to = folder(d);
      if (to === undefined) {
        if (d.startsWith("src/")) continue;
        out.push(`${m} → ${d}: src/ may not import the entry points, tests or benches`);
      } else if (to !== from && (RANKS[to] ?? Infinity) >= RANKS[from]) {
        out.push(
          `${m} → ${d}: src/${from}/ may not import src/${to}/ (cli → serve, remote → ` +
            `status → locks → core)`,
        );
      }
    }
  }
  return out.sort();
}

/** Folders of `src/` that the README's Layout section, the ranks above and the disk disagree on. */
export function layoutMismatches(readme: string, folders: string[]): string[] {
  const section = readme.split(/^## Layout$/m)[1]?.split(/^## /m)[0] ?? "";
  const listed = [...section.matchAll(/^src\/([a-z_]+)\/ /gm)].map((m) => m[1]);
  const out: string[] = [];
  if (section === "") out.push('README.md has no "## Layout" section');
  for (const f of folders) {
    if (!listed.includes(f)) out.push(`src/${f}/ is not in the README's Layout section`);
    if (!(f in RANKS)) out.push(`src/${f}/ has no rank in .ci/check_imports.ts`);
  }
  for (const f of listed) {
    if (!folders.includes(f)) out.push(`the README lists src/${f}/, which is gone`);
  }
  return out;
}

if (import.meta.main) {
  const graph = await moduleGraph(entryFiles());
  const cycles = findCycles(graph);
  const wrong = wrongWay(graph);
  const folders = [...Deno.readDirSync(new URL("src/", ROOT))].filter((e) => e.isDirectory)
    .map((e) => e.name).sort();
  wrong.push(...layoutMismatches(Deno.readTextFileSync(new URL("README.md", ROOT)), folders));
  for (const c of cycles) console.error(`import cycle: ${c.join(" → ")}`);
  for (const w of wrong) console.error(`layout: ${w}`);
  const n = Object.keys(graph).length;
  if (cycles.length > 0 || wrong.length > 0) {
    console.error(
      `check_imports: ${cycles.length} cycle(s), ${wrong.length} wrong-way import(s) or layout mismatch(es)`,
    );
    Deno.exit(1);
  }
  console.log(`check_imports: ${n} modules, no import cycle, every import points one way`);
}
