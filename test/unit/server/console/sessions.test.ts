/** Console sessions: idle and absolute expiry, bounded memory, CSRF tokens compared whole. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { csrfTokenMatches, sessionCookie, sessionIdFromCookies, SessionStore } from '#server/console/sessions.js';

const limits = { idleMs: 1_000, absoluteMs: 5_000, max: 3, maxVisitors: 2 };

test('a session ends after its idle time, and after its absolute time however busy', () => {
  const store = new SessionStore(limits);
  const idle = store.open('alice', undefined, 0);
  assert.ok(store.get(idle.id, 999));
  assert.is(store.get(idle.id, 2_000), undefined, 'idle for more than 1 s');
  const busy = store.open('alice', undefined, 0);
  for (let t = 900; t < 5_000; t += 900) assert.ok(store.get(busy.id, t), `in use at ${t}`);
  assert.is(store.get(busy.id, 5_001), undefined, 'past 5 s in all');
});

test('at most `max` sessions: the least recently used go first', () => {
  const store = new SessionStore(limits);
  const [a, b, c] = [store.open('a', undefined, 0), store.open('b', undefined, 0), store.open('c', undefined, 0)];
  store.get(a.id, 1); // a is now the most recently used
  store.open('d', undefined, 2);
  assert.ok(store.get(a.id, 3));
  assert.is(store.get(b.id, 3), undefined);
  assert.ok(store.get(c.id, 3));
});

test('a flood of visitors (login page) evicts only visitors, never a logged-in session', () => {
  const store = new SessionStore(limits);
  const admin = store.open('alice', undefined, 0);
  const first = store.open(undefined, undefined, 0);
  for (let i = 0; i < 100; i += 1) store.open(undefined, undefined, 1);
  assert.ok(store.get(admin.id, 2));
  assert.is(store.get(first.id, 2), undefined);
});

test("the CSRF token must be the session's, whole; cookies are read strictly", () => {
  const store = new SessionStore(limits);
  const s = store.open(undefined, undefined, 0);
  assert.ok(csrfTokenMatches(s, s.csrfToken));
  for (const sent of [null, '', s.csrfToken.slice(1), `${s.csrfToken}x`, store.open('bob', undefined, 0).csrfToken]) {
    assert.not.ok(csrfTokenMatches(s, sent), String(sent));
  }
  const cookie = sessionCookie(s).split(';')[0]!;
  assert.is(sessionIdFromCookies(`other=1; ${cookie}`), s.id);
  assert.is(sessionIdFromCookies(`${cookie}x`), undefined);
  assert.is(sessionIdFromCookies('x'.repeat(9000)), undefined);
});

test.run();
