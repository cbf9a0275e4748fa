import assert from "node:assert/strict";
import { configure, Context, counters, Metric, type MetricValue } from "../mod.ts";
import { internals } from "../src/core/context.ts";
import { BAD_AMOUNTS } from "./fixtures/bad_amounts.ts";

// Casts for calls TypeScript would refuse: these tests are about what JavaScript callers pass.
// deno-lint-ignore no-explicit-any
type Any = any;

const BAD_NAMES: Array<[unknown, ErrorConstructor, RegExp]> = [
  ["", RangeError, /must not be empty/],
  ["x".repeat(257), RangeError, /at most 256 characters, got 257/],
  ["tab\there", TypeError, /control characters \(found U\+0009 at index 3\)/],
  ["nul\u0000", TypeError, /U\+0000/],
  ["del\u007f", TypeError, /U\+007f/],
  [42, TypeError, /must be a string, got 42/],
  [undefined, TypeError, /got undefined/],
  [null, TypeError, /got null/],
  [{}, TypeError, /got an object/],
];

Deno.test("a bad context name is refused with an error naming `name`, and no child appears", () => {
  const root = Context.root("global");
  for (const [name, type, message] of BAD_NAMES) {
    assert.throws(() => root.child(name as Any), (e: Error) => {
      assert.ok(e instanceof type, `${String(name)}: ${e}`);
      assert.match(e.message, /^name /);
      assert.match(e.message, message);
      return true;
    });
    assert.throws(() => Context.root(name as Any), type);
  }
  assert.equal(internals.firstChild(root), undefined);
  assert.ok(root.child("x".repeat(256)).create(), "256 characters are fine");
});

Deno.test("a name with a dot, a percent, an emoji or spaces is fine", () => {
  const root = Context.root("global");
  for (const name of ["a.b", "100%", "alice@bv478gen", "🔒 lock", "Remote Access Listener"]) {
    assert.equal(root.child(name).create().name, name);
  }
});

Deno.test("bad counter names are refused and change nothing", () => {
  const root = Context.root("global");
  for (const [name, type] of BAD_NAMES) {
    assert.throws(() => root.incrementTotal(name as Any), type);
    assert.throws(() => root.incrementLive(name as Any), type);
    assert.throws(() => root.decrementLive(name as Any), type);
    assert.throws(() => root.getTotal(name as Any), type);
    assert.throws(() => root.getLive(name as Any, { deep: true }), type);
  }
  assert.deepEqual(counters("", { root }), {});
});

Deno.test("an amount that is negative, fractional, not a number or unsafe is refused", () => {
  const root = Context.root("global");
  root.incrementTotal("bytes", 10);
  for (const [amount, type] of BAD_AMOUNTS) {
    assert.throws(() => root.incrementTotal("bytes", amount as Any), (e: Error) => {
      assert.ok(e instanceof type);
      assert.match(e.message, /^amount must be/);
      return true;
    });
  }
  assert.equal(root.getTotal("bytes"), 10);
  root.incrementTotal("bytes", 0);
  assert.equal(root.getTotal("bytes"), 10);
});

Deno.test("non-JSON data is refused with where the problem is, and the old value stays", () => {
  const root = Context.root("global");
  root.setData("k", "old");
  const cycle: Record<string, unknown> = { a: 1 };
  cycle.self = cycle;
  let deep: unknown = 1;
  for (let i = 0; i < 70; i++) deep = [deep];
  const bad: Array<[unknown, RegExp]> = [
    [1n, /value must be a JSON value, got 1n \(a bigint\)/],
    [undefined, /got undefined/],
    [() => 1, /got a function/],
    [Symbol("s"), /got a symbol/],
    [NaN, /NaN is not a finite number/],
    [
      { when: new Date(0) },
      /value\.when must be a JSON value: an object \(Date\) is not a plain object/,
    ],
    [new Map(), /not a plain object/],
    [cycle, /contains a cycle/],
    [[1, , 3], /value\[1\] must be a JSON value: the array has a hole/],
    [{ list: [1, { x: 2n }] }, /value\.list\[1\]\.x must be a JSON value/],
    [deep, /nested at most 64 deep/],
  ];
  for (const [value, message] of bad) {
    assert.throws(() => root.setData("k", value as Any), (e: Error) => {
      assert.ok(e instanceof TypeError);
      assert.match(e.message, message);
      return true;
    });
    assert.throws(() => root.child("c").withData("k", value as Any), TypeError);
  }
  assert.equal(root.getData("k"), "old");
  assert.throws(() => root.setData("", 1), /^RangeError: key must not be empty/);
  assert.throws(() => root.getData(1 as Any), /key must be a string/);
  // A value reached twice without a cycle is fine.
  const shared = { x: 1 };
  root.setData("twice", { a: shared, b: shared });
  assert.deepEqual(root.getData("twice"), { a: { x: 1 }, b: { x: 1 } });
});

Deno.test("the five metric kinds are accepted; wrong kinds and values are refused", () => {
  const root = Context.root("global");
  root.addMetric("c", Metric.counter(3));
  root.addMetric("g", Metric.gauge(-0.5));
  root.addMetric("d", Metric.duration(12.5));
  root.addMetric("t", Metric.text("bash"));
  root.addMetric("b", Metric.bytes(15_200_000));
  const metrics = internals.metrics(root)!;
  assert.deepEqual([...metrics.keys()], ["c", "g", "d", "t", "b"]);
  assert.ok(Object.isFrozen(metrics.get("c")));

  assert.throws(() => Metric.counter(-1), /^RangeError: n must be a non-negative safe integer/);
  assert.throws(() => Metric.counter(1.5), RangeError);
  assert.throws(() => Metric.bytes("1" as Any), /^TypeError: n must be a number/);
  assert.throws(() => Metric.gauge(Infinity), /^RangeError: x must be a finite number/);
  assert.throws(() => Metric.duration(-1), /^RangeError: ms must be a non-negative/);
  assert.throws(() => Metric.text(5 as Any), /^TypeError: s must be a string/);
  assert.throws(() => Metric.text("x".repeat(1025)), RangeError);
  const hand: Array<[unknown, RegExp]> = [
    [{ kind: "histogram", value: 1 }, /metric\.kind must be one of/],
    [{ kind: "counter", value: "1" }, /metric\.value must be a number/],
    [{ kind: "bytes", value: -5 }, /metric\.value must be a non-negative/],
    [5, /metric must be a MetricValue/],
    [null, /metric must be a MetricValue/],
  ];
  for (const [m, message] of hand) {
    assert.throws(() => root.addMetric("c", m as MetricValue), message);
    assert.throws(() => root.child("x").withMetric("c", m as MetricValue), message);
  }
  assert.deepEqual(metrics.get("c"), { kind: "counter", value: 3 }, "unchanged");
});

Deno.test("spawn() of something that is not a function is a TypeError and starts nothing", () => {
  const root = Context.root("global");
  assert.throws(() => root.spawn(42 as Any), /^TypeError: task must be a function, got 42/);
  assert.throws(() => root.child("job").spawn("x" as Any), /task must be a function/);
  assert.equal(internals.firstChild(root), undefined);
  assert.equal(internals.running(root), 0);
});

Deno.test("Context.root() with a clock that is not a function is a TypeError", () => {
  assert.throws(() => Context.root("g", { now: 5 as Any }), /options\.now must be a function/);
});

Deno.test("configure() checks every field before applying any", () => {
  const before = configure();
  assert.throws(() => configure({ stuckWaiterMs: -1 }), RangeError);
  assert.throws(() => configure({ nope: 1 } as Any), /options\.nope is not a setting/);
  assert.throws(() => configure({ stuckWaiterMs: "5" as Any }), TypeError);
  assert.throws(() => configure({ maxCounterKeys: 1.5 }), RangeError);
  assert.throws(
    () => configure({ stuckWaiterMs: 1, longHeldLockMs: 100_000 }),
    /criticalHeldLockMs \(60000\) must not be below longHeldLockMs \(100000\)/,
  );
  assert.deepEqual(configure(), before, "nothing changed");
});

Deno.test("a context keeps at most 1,024 data keys and 1,024 metric keys", () => {
  const root = Context.root("global");
  for (let i = 0; i < 1024; i++) root.setData(`k${i}`, i);
  assert.throws(() => root.setData("one-more", 1), RangeError);
  root.setData("k0", "replacing is fine");
  for (let i = 0; i < 1024; i++) root.addMetric(`m${i}`, Metric.counter(i));
  assert.throws(() => root.addMetric("one-more", Metric.counter(1)), RangeError);
});
