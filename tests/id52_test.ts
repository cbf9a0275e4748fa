/**
 * The id52 codec, and the identity key it names.
 */

import assert from "node:assert/strict";
import { generateKeyPair } from "@libp2p/crypto/keys";
import { peerIdFromString } from "@libp2p/peer-id";
import {
  decodeId52,
  encodeId52,
  id52FromPeerId,
  id52ToPeerId,
  IdentityError,
  InvalidId52Error,
  isId52,
  loadIdentity,
} from "../remote.ts";
import { base32hexDecode, base32hexEncode } from "../src/remote/id52.ts";

/** The error `fn` throws (the test fails when it throws nothing). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error, none was thrown");
}

const SPEC_EXAMPLE = "g1s3mpsms5m5cbl2pi4o2qk2i254d2asumfdidbr48mkfitkc7jg";

Deno.test("base32hex matches the RFC 4648 test vectors, lowercase and without padding", () => {
  const vectors: [string, string][] = [
    ["", ""],
    ["f", "co"],
    ["fo", "cpng"],
    ["foo", "cpnmu"],
    ["foob", "cpnmuog"],
    ["fooba", "cpnmuoj1"],
    ["foobar", "cpnmuoj1e8"],
  ];
  for (const [plain, encoded] of vectors) {
    const bytes = new TextEncoder().encode(plain);
    assert.equal(base32hexEncode(bytes), encoded);
    assert.deepEqual(base32hexDecode(encoded), bytes);
  }
});

Deno.test("an id52 is 52 characters and round-trips any 32-byte key", () => {
  const edges = [new Uint8Array(32), new Uint8Array(32).fill(0xff)];
  const random = Array.from({ length: 200 }, () => crypto.getRandomValues(new Uint8Array(32)));
  for (const key of [...edges, ...random]) {
    const id52 = encodeId52(key);
    assert.equal(id52.length, 52);
    assert.match(id52, /^[0-9a-v]{51}[0g]$/);
    assert.deepEqual(decodeId52(id52), key);
    assert.ok(isId52(id52));
  }
  assert.equal(encodeId52(new Uint8Array(32)), "0".repeat(52));
  assert.equal(encodeId52(new Uint8Array(32).fill(0xff)), "v".repeat(51) + "g");
});

Deno.test("the id52 in the API contract decodes and encodes back to itself", () => {
  assert.equal(encodeId52(decodeId52(SPEC_EXAMPLE)), SPEC_EXAMPLE);
});

Deno.test("a bad character is named with its index", () => {
  const cases: [string, number, string][] = [
    [SPEC_EXAMPLE.slice(0, 5) + "w" + SPEC_EXAMPLE.slice(6), 5, '"w"'],
    ["G" + SPEC_EXAMPLE.slice(1), 0, '"G"'],
    [SPEC_EXAMPLE.slice(0, 51) + "=", 51, '"="'],
    [SPEC_EXAMPLE.slice(0, 20) + "é" + SPEC_EXAMPLE.slice(21), 20, '"é"'],
  ];
  for (const [input, index, shown] of cases) {
    const err = thrown(() => decodeId52(input));
    assert.ok(err instanceof InvalidId52Error);
    assert.equal(err.index, index);
    assert.equal(err.input, input);
    assert.ok(
      err.message.endsWith(
        `character ${shown} at index ${index} is not in the base32hex alphabet 0-9a-v` +
          (shown === '"G"' ? " (an id52 is lowercase)" : ""),
      ),
      err.message,
    );
    assert.ok(!isId52(input));
  }
});

Deno.test("a wrong length is named against 52", () => {
  for (const length of [0, 1, 51, 53, 60]) {
    const input = SPEC_EXAMPLE.repeat(2).slice(0, length);
    const err = thrown(() => decodeId52(input));
    assert.ok(err instanceof InvalidId52Error, `length ${length}`);
    assert.equal(err.index, undefined);
    assert.ok(err.message.endsWith(`it has ${length} characters, an id52 has 52`), err.message);
  }
});

Deno.test("a last character that sets bits past the key is not an id52", () => {
  // 52 characters carry 260 bits; the last 4 must be zero, or two strings would name one key.
  const input = SPEC_EXAMPLE.slice(0, 51) + "h";
  const err = thrown(() => decodeId52(input));
  assert.ok(err instanceof InvalidId52Error);
  assert.equal(err.index, 51);
  assert.match(err.message, /character "h" at index 51 sets bits past the end of the key/);
});

Deno.test("encodeId52 takes exactly 32 bytes", () => {
  assert.throws(() => encodeId52(new Uint8Array(31)), /publicKey must be 32 bytes, got 31 bytes/);
  assert.throws(() => encodeId52(new Uint8Array(33)), RangeError);
});

Deno.test("an id52 and a libp2p peer id convert both ways", async () => {
  const key = await generateKeyPair("Ed25519");
  const id52 = encodeId52(key.publicKey.raw);
  const peerId = id52ToPeerId(id52);
  assert.equal(peerId, key.publicKey.toString());
  assert.equal(id52FromPeerId(peerId), id52);
  assert.equal(id52FromPeerId(peerIdFromString(peerId)), id52); // a PeerId object works too
  assert.throws(() => id52ToPeerId("nope"), InvalidId52Error);
  assert.throws(() => id52FromPeerId("not a peer id"), /not a libp2p peer id: "not a peer id"/);
  // An RSA-style (Qm…) peer id carries no Ed25519 key, hence no id52.
  assert.throws(
    () => id52FromPeerId("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"),
    /has no Ed25519 key: it has no id52/,
  );
});

Deno.test("the identity is made on first use with private modes, then read back", async () => {
  const home = await Deno.makeTempDir();
  try {
    const dir = `${home}/nested/.fastn`;
    const first = await loadIdentity({ home: dir });
    assert.ok(isId52(first.id52));
    assert.equal((await Deno.stat(`${dir}/identity.key`)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    const again = await loadIdentity({ home: dir });
    assert.equal(again.id52, first.id52);
    // Two processes' worth of first uses at once agree on one key.
    const fresh = `${home}/race`;
    const ids = await Promise.all(
      Array.from({ length: 8 }, () => loadIdentity({ home: fresh }).then((i) => i.id52)),
    );
    assert.equal(new Set(ids).size, 1);
    assert.deepEqual([...Deno.readDirSync(fresh)].map((e) => e.name), ["identity.key"]);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("FASTN_HOME is where the identity lives when no home is given", async () => {
  const home = await Deno.makeTempDir();
  const before = Deno.env.get("FASTN_HOME");
  try {
    Deno.env.set("FASTN_HOME", home);
    const id = await loadIdentity();
    assert.equal(id.path, `${home}/identity.key`);
  } finally {
    if (before === undefined) Deno.env.delete("FASTN_HOME");
    else Deno.env.set("FASTN_HOME", before);
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("an identity key that others can read, or that is not a key, is refused", async () => {
  const home = await Deno.makeTempDir();
  try {
    await loadIdentity({ home });
    await Deno.chmod(`${home}/identity.key`, 0o644);
    await assert.rejects(
      loadIdentity({ home }),
      (e) =>
        e instanceof IdentityError &&
        e.message === `${home}/identity.key: is readable by others (mode 644); run chmod 600 on it`,
    );
    await Deno.writeFile(`${home}/identity.key`, new Uint8Array([1, 2, 3]), { mode: 0o600 });
    await Deno.chmod(`${home}/identity.key`, 0o600);
    await assert.rejects(
      loadIdentity({ home }),
      (e) =>
        e instanceof IdentityError &&
        e.message.startsWith(`${home}/identity.key: not a private key`),
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
