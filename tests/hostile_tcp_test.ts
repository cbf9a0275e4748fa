/**
 * Hostile input at the TCP door: the listener of `main(fn, { http })`. A real process serves its
 * status on a TCP port of 127.0.0.1 (`tests/fixtures/hostile_target.ts --tcp`, with a token from
 * `FASTN_CONTEXT_TOKEN` and a 1 s deadline for a request head); the tests send it requests
 * without the token, with a wrong or malformed one, for a host that is not loopback (DNS
 * rebinding), then the attacks of the Unix-socket door (`tests/fixtures/hostile_client.ts`):
 * slow clients, hundreds of connections at once, huge heads, malformed HTTP, other methods,
 * clients that vanish mid-stream. Each is refused with a clear answer (or closed), a client with
 * the token is served while the attack runs, and afterwards the target's heap (measured by the
 * target right after a collection), its RSS and its open sockets are back where they were.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type Answer,
  attackTests,
  DOOR_ATTACKS,
  doorCounts,
  figuresTest,
  type Target,
} from "./fixtures/hostile_client.ts";

const TOKEN = "hostile-tcp-test-token-0123456789";
/** The TCP listener of the target, with a token. */
const WITH_TOKEN = { tcp: { token: TOKEN } };
/** The TCP listener of the target on loopback, without a token. */
const WITHOUT_TOKEN = { tcp: { token: undefined } };

/** How many hostile requests and connections the tests sent, by kind; the last test says. */
const sent = {
  "without the right token": 0,
  "for a foreign host": 0,
  ...doorCounts(),
};

/** The routes that hold data: all but the page. */
const ROUTES = ["/status", "/status/text", "/status/stream", "/metrics", "/info"];

/** `GET route` with `fields`, without the fields of a normal client. */
function get(route: string, fields: string[]): string {
  return [`GET ${route} HTTP/1.1`, "Host: localhost", ...fields, "", ""].join("\r\n");
}

/** Asserts that `r` is a 401 that says why and how to authenticate. */
function assertUnauthorized(r: Answer, why: RegExp, invalidToken: boolean, what: string): void {
  assert.equal(r.code, 401, `${what}: ${r.text.slice(0, 200)}`);
  assert.match(r.body, why, what);
  const challenge = /\r\nwww-authenticate: ([^\r]*)\r\n/.exec(r.text)?.[1] ?? "";
  assert.equal(
    challenge,
    `Bearer realm="fastn-context"${invalidToken ? ', error="invalid_token"' : ""}`,
    what,
  );
}

// ---- the token --------------------------------------------------------------------------------

/** Authorization fields that are not a bearer token: told how to give one. */
const MALFORMED_AUTHORIZATION: Array<[string, string[]]> = [
  ["no Authorization", []],
  ["Basic credentials", [`Authorization: Basic ${btoa(`user:${TOKEN}`)}`]],
  ["an empty Authorization", ["Authorization:"]],
  ["the scheme alone", ["Authorization: Bearer"]],
  ["no space after the scheme", [`Authorization: Bearer${TOKEN}`]],
  ["another scheme", [`Authorization: Token ${TOKEN}`]],
  ["two tokens", [`Authorization: Bearer ${TOKEN} ${TOKEN}`]],
  ["the token and trailing junk", [`Authorization: Bearer ${TOKEN} junk`]],
  ["two Authorization fields", [`Authorization: Bearer ${TOKEN}`, `Authorization: Bearer x`]],
];

/** Bearer tokens that are not the token: `invalid_token`. */
const WRONG_TOKENS: Array<[string, string]> = [
  ["one character more", `${TOKEN}x`],
  ["one character less", TOKEN.slice(0, -1)],
  ["the last character changed", `${TOKEN.slice(0, -1)}8`],
  ["another case", TOKEN.toUpperCase()],
  ["junk glued on", `${TOKEN},junk`],
  ["a short one", "x"],
  ["an 8 KB one", "t".repeat(8 * 1024)],
];

/**
 * One round: every route but the page refuses each bad Authorization, one by one, while a client
 * with the token is served; the page itself needs no token.
 */
async function badTokens(target: Target): Promise<number> {
  let n = 0;
  for (const route of ROUTES) {
    for (const [what, fields] of MALFORMED_AUTHORIZATION) {
      n++;
      const r = await target.exchange(get(route, fields));
      const why = /^this listener needs Authorization: Bearer <token>/;
      assertUnauthorized(r, why, false, `${route}, ${what}`);
    }
    for (const [what, token] of WRONG_TOKENS) {
      n++;
      const r = await target.exchange(get(route, [`Authorization: Bearer ${token}`]));
      assertUnauthorized(r, /^wrong token/, true, `${route}, ${what}`);
    }
    // Meanwhile, a client with the token is served at once.
    const t0 = performance.now();
    await target.status();
    assert.ok(performance.now() - t0 < 1_000, "a client with the token waited too long");
  }
  // The scheme is case-insensitive, and the routes answer with the token.
  for (const route of ROUTES.filter((r) => r !== "/status/stream")) {
    const r = await target.exchange(get(route, [`Authorization: bearer ${TOKEN}`]));
    assert.equal(r.code, 200, route);
  }
  // The page holds no data: it loads without the token, then asks for it.
  const page = await target.exchange(get("/", []));
  assert.equal(page.code, 200);
  assert.match(page.text, /\r\ncontent-type: text\/html; charset=utf-8\r\n/);
  return n;
}

// ---- DNS rebinding ----------------------------------------------------------------------------

/** Host fields a web page could make a browser send after rebinding its name to 127.0.0.1. */
const FOREIGN_HOSTS: Array<[string, string[]]> = [
  ["a rebound name", ["Host: rebound.example.com"]],
  ["a rebound name with the port", ["Host: rebound.example.com:9464"]],
  ["a name that starts like loopback", ["Host: 127.0.0.1.nip.io"]],
  ["a name that starts with localhost", ["Host: localhost.example.com"]],
  ["a private address", ["Host: 10.0.0.1"]],
  ["an IPv6 address that is not loopback", ["Host: [::2]:9464"]],
  ["an empty Host", ["Host:"]],
  ["no Host", []],
  ["a second Host", ["Host: localhost", "Host: rebound.example.com"]],
];

/** Host fields of loopback names: served. */
const LOOPBACK_HOSTS = [
  "localhost",
  "localhost:9464",
  "127.0.0.1:9464",
  "[::1]:9464",
  "a.localhost",
];

/** One round: requests for a foreign host are refused (403), those for loopback served. */
async function foreignHosts(target: Target): Promise<number> {
  for (const route of ["/", ...ROUTES]) {
    for (const [what, fields] of FOREIGN_HOSTS) {
      const r = await target.exchange([`GET ${route} HTTP/1.1`, ...fields, "", ""].join("\r\n"));
      assert.equal(r.code, 403, `${route}, ${what}: ${r.text.slice(0, 200)}`);
      assert.match(
        r.body,
        /^host ".*" refused: without a token this listener answers only requests for a loopback/,
      );
    }
  }
  for (const host of LOOPBACK_HOSTS) {
    const r = await target.exchange(`GET /info HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    assert.equal(r.code, 200, host);
  }
  return (ROUTES.length + 1) * FOREIGN_HOSTS.length;
}

// ---- the tests --------------------------------------------------------------------------------

attackTests(WITH_TOKEN, sent, [
  [
    "without the token, or with a wrong or malformed one, every route but the page answers 401, " +
    "while a client with the token is served",
    "without the right token",
    badTokens,
    3,
  ],
]);

attackTests(WITHOUT_TOKEN, sent, [
  [
    "without a token, a loopback listener refuses requests for any host but a loopback name " +
    "(DNS rebinding) with 403",
    "for a foreign host",
    foreignHosts,
    3,
  ],
]);

// The attacks of every door, as at the Unix socket, here with the token.
attackTests(WITH_TOKEN, sent, DOOR_ATTACKS);

figuresTest("the figures of the hostile TCP clients", sent);
