#!/usr/bin/python3
"""
test_crash.py - crash safety: creating writes with unique Idempotency-Keys while effmond
is SIGKILLed (20 cycles) and while PostgreSQL stops -m immediate (6); then every acknowledged write
exists once with one audit row, key retries create each once, nothing is unaccounted for, no key is
left in progress. Seeded timing (EFFMON_CRASH_SEED); one summary line per phase for the issue note.
"""
import http.client
import json
import os
import random
import socket
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem, assert_retry_after, inn10  # noqa: E402

API = '/api/v1'
PASSWORD = 'crash-safety-secret'
SEED = int(os.environ.get('EFFMON_CRASH_SEED', '20250608'))
THREADS = 4          # the daemon's worker threads (and pool connections)
WRITERS = 3          # client threads
KILL_CYCLES = 20     # the issue asks for at least 20
PG_CYCLES = 6        # "a handful"
REQ_TIMEOUT = 15.0   # a request that takes longer is a hang
DOWN_ANSWER_LIMIT = 5.0  # 503 + Retry-After within 5 s while PostgreSQL is down
RECOVERY_LIMIT = 5.0     # and back to work within 5 s after it returns
KINDS = ('organization', 'manager', 'recommendation')
TABLE = {'organization': 'organizations', 'manager': 'managers',
         'recommendation': 'recommendations'}


class Op:
    """One creating request: its key and body never change, so a retry is the same request."""

    def __init__(self, kind, key, path, body):
        self.kind, self.key, self.path, self.body = kind, key, path, body
        self.tag = 'Crash %s %s' % (kind, key)
        self.id = None           # the id of the first 2xx answer
        self.ack_body = None     # that answer's bytes (a replay must repeat them)
        self.outcomes = []       # (phase, 'ack' | 'ack-replayed' | '503' | 'abandoned' | 'conn:X')

    def __repr__(self):
        return 'Op(%s %s id=%s %s)' % (self.kind, self.key, self.id, self.outcomes)


class CrashTest(harness.DaemonTestCase):
    threads = THREADS
    ops = []        # every Op of every phase, in creation order
    inn_seq = [0]
    summary = []

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d, c = cls.daemon, cls.cluster
        cls.uid = d.create_user('crash-admin', 'admin', PASSWORD)
        cls.token = d.token(cls.uid, 'admin')
        cls.scope = c.add_scope()
        cls.campaign = int(c.psql(
            "INSERT INTO campaigns (region_id, year, title, opens_at, closes_at, status) "
            "VALUES (%d, 2024, 'Crash campaign', '2024-01-10T00:00:00+03', "
            "'2024-03-01T00:00:00+03', 'closed') RETURNING id" % cls.scope['region']))
        cls.lock = threading.Lock()

    @classmethod
    def tearDownClass(cls):
        for line in cls.summary:
            print(line, flush=True)
        super().tearDownClass()

    # ------------------------------------------------------------------ requests

    def new_op(self, phase, who, n, rng):
        kind = KINDS[rng.randrange(len(KINDS))]
        key = '%s-%s-%05d' % (phase, who, n)
        muni = self.scope['municipality']
        tag = 'Crash %s %s' % (kind, key)
        if kind == 'organization':
            with self.lock:
                self.inn_seq[0] += 1
                inn = inn10('99%07d' % self.inn_seq[0])
            path, body = API + '/organizations', {
                'municipality_id': muni, 'full_name': tag, 'short_name': tag, 'inn': inn,
                'kind': 'school', 'settlement': 'urban'}
        elif kind == 'manager':
            path, body = API + '/managers', {'municipality_id': muni, 'full_name': tag}
        else:
            path, body = API + '/recommendations', {
                'campaign_id': self.campaign, 'addressee_municipality_id': muni,
                'text': tag, 'due_on': '2030-06-30'}
        op = Op(kind, key, path, body)
        with self.lock:
            self.ops.append(op)
        return op

    def post(self, op, timeout=REQ_TIMEOUT):
        return harness.request(self.daemon.port, 'POST', op.path, body=op.body,
                               headers={'Idempotency-Key': op.key}, token=self.token,
                               timeout=timeout)

    def abandon(self, op, phase, rng):
        """Sends op and closes the connection without reading the answer: the client's own
        lost acknowledgement (its timeout, its crash). The daemon may or may not commit it."""
        data = json.dumps(op.body).encode('utf-8')
        head = ('POST %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n'
                'Content-Type: application/json\r\nIdempotency-Key: %s\r\n'
                'Content-Length: %d\r\nConnection: close\r\n\r\n'
                % (op.path, harness.HOST, self.daemon.port, self.token, op.key, len(data)))
        try:
            with socket.create_connection((harness.HOST, self.daemon.port), timeout=2) as s:
                s.sendall(head.encode('ascii') + data)
                time.sleep(rng.uniform(0.0, 0.004))
        except OSError as e:
            op.outcomes.append((phase, 'conn:' + type(e).__name__))
            return
        op.outcomes.append((phase, 'abandoned'))

    def post_settled(self, op):
        """POST op as a patient client does after the faults: a 503 (a worker whose connection
        is still in its reconnect backoff) is retried until RECOVERY_LIMIT has passed."""
        deadline = time.monotonic() + RECOVERY_LIMIT
        while True:
            r = self.post(op)
            if r.status != 503 or time.monotonic() > deadline:
                return r
            time.sleep(0.1)

    def check_created(self, op, r, what):
        """r is a 201 for op: a body with an id, a Location naming it; returns the id."""
        if r.status != 201 or not isinstance(r.json, dict) or not isinstance(r.json.get('id'),
                                                                              int):
            raise AssertionError('%s: not a 201 with an id: %r' % (what, r))
        loc = r.headers.get('location', '')
        if loc != '%s/%d' % (op.path, r.json['id']):
            raise AssertionError('%s: Location %r does not name id %d: %r'
                                 % (what, loc, r.json['id'], r))
        return r.json['id']

    def attempt(self, op, phase, failures, conn_ok):
        """One try of op under faults; returns 'ack', '503' or 'conn'. Anything else (a 500,
        a 4xx, a hang, a different id for the same key) goes to failures."""
        what = 'POST %s key %s (%s)' % (op.path, op.key, phase)
        t0 = time.monotonic()
        try:
            r = self.post(op)
        except socket.timeout:
            failures.append('%s: no answer within %.0f s (a hang)' % (what, REQ_TIMEOUT))
            op.outcomes.append((phase, 'hang'))
            return 'conn'
        except (OSError, http.client.HTTPException) as e:
            op.outcomes.append((phase, 'conn:' + type(e).__name__))
            if not conn_ok:
                failures.append('%s: connection failed with the daemon up: %r' % (what, e))
            return 'conn'
        try:
            if r.status == 503:
                assert_problem(r, 503, what)
                assert_retry_after(r, what, maximum=60)
                if time.monotonic() - t0 > DOWN_ANSWER_LIMIT:
                    raise AssertionError('%s: 503 after %.1f s' % (what, time.monotonic() - t0))
                op.outcomes.append((phase, '503'))
                return '503'
            got = self.check_created(op, r, what)
            if op.id is not None and got != op.id:
                raise AssertionError('%s: id %d, but this key was acknowledged as %d'
                                     % (what, got, op.id))
            first = op.id is None
            if first:
                op.id, op.ack_body = got, r.body
            # the first 2xx of a key is a replay: an earlier try committed, its answer was lost
            replayed = first and r.headers.get('idempotent-replayed') == 'true'
            op.outcomes.append((phase, 'ack-replayed' if replayed else 'ack'))
            return 'ack'
        except AssertionError as e:
            failures.append(str(e))
            op.outcomes.append((phase, 'bad:%d' % r.status))
            return 'bad'

    def writer(self, phase, wid, stop, failures, stats, conn_ok):
        try:
            self.write_loop(phase, wid, stop, failures, stats, conn_ok)
        except Exception:  # a broken writer must fail the test, not vanish with its thread
            failures.append('writer %d died:\n%s' % (wid, traceback.format_exc()))

    def write_loop(self, phase, wid, stop, failures, stats, conn_ok):
        """Creates and (sometimes at once) retries until stop; bounded by the caller."""
        rng = random.Random(SEED * 31 + wid + (1000 if phase == 'pg' else 0))
        pending, n = [], 0
        while not stop.is_set():
            # a client keeps a few unanswered writes and retries them (at most 8 pending, so
            # the final retry pass stays short); the rest of the time it makes new ones
            if pending and (len(pending) >= 8 or rng.random() < 0.3):
                op = pending[rng.randrange(len(pending))]
                with self.lock:
                    stats['inloop_retries'] += 1
            else:
                n += 1
                op = self.new_op(phase, 'w%d' % wid, n, rng)
                if rng.random() < 0.05:
                    self.abandon(op, phase, rng)
                    pending.append(op)
                    continue
            out = self.attempt(op, phase, failures, conn_ok)
            if out == 'ack':
                if op in pending:
                    pending.remove(op)
            elif out in ('503', 'conn'):
                if op not in pending:
                    pending.append(op)
                time.sleep(rng.uniform(0.01, 0.05))
            else:
                time.sleep(0.05)

    def run_writers(self, phase, faults, conn_ok):
        """Runs WRITERS writer threads while faults() injects; returns (failures, stats)."""
        stop = threading.Event()
        failures = []
        stats = {'inloop_retries': 0}
        threads = [threading.Thread(target=self.writer, name='writer-%d' % i,
                                    args=(phase, i, stop, failures, stats, conn_ok),
                                    daemon=True) for i in range(WRITERS)]
        for t in threads:
            t.start()
        try:
            faults()
        finally:
            stop.set()
            for t in threads:
                t.join(REQ_TIMEOUT + 10)
        stuck = [t.name for t in threads if t.is_alive()]
        self.assertEqual(stuck, [], 'writer threads did not finish (a hang)')
        return failures, stats

    # ------------------------------------------------------------------ database truth

    def db_objects(self):
        """{tag: [(kind, id), ...]} of every object a test tag names."""
        rows = self.cluster.psql(
            "SELECT 'organization', id, full_name FROM organizations WHERE full_name LIKE "
            "'Crash %' UNION ALL SELECT 'manager', id, full_name FROM managers WHERE full_name "
            "LIKE 'Crash %' UNION ALL SELECT 'recommendation', id, text FROM recommendations "
            "WHERE text LIKE 'Crash %'")
        out = {}
        for line in rows.splitlines():
            kind, oid, tag = line.split('|', 2)
            out.setdefault(tag, []).append((kind, int(oid)))
        return out

    def verify(self, phase, phase_ops, stats, failures):
        """The exactly-once checks over every op so far; returns the summary counts."""
        acked = [op for op in phase_ops if op.id is not None]
        unacked = [op for op in phase_ops if op.id is None]
        before = self.db_objects()

        # 1. every acknowledged write exists exactly once, with the acknowledged id
        for op in acked:
            got = before.get(op.tag, [])
            if got != [(op.kind, op.id)]:
                failures.append('acknowledged %r: the database holds %r' % (op, got))

        # 2. each unacknowledged one exists at most once (committed, the answer lost) ...
        committed = {}
        for op in unacked:
            got = before.get(op.tag, [])
            if len(got) > 1:
                failures.append('unacknowledged %r: %d objects %r' % (op, len(got), got))
            if got:
                committed[op.key] = got[0][1]

        # ... and its retry with the same key replays the committed answer or creates it once;
        # a second retry replays the same id
        retried = 0
        for op in unacked:
            what = 'retry of %s %s' % (op.kind, op.key)
            r = self.post_settled(op)
            retried += 1
            try:
                oid = self.check_created(op, r, what)
                replayed = r.headers.get('idempotent-replayed') == 'true'
                if op.key in committed:
                    if not replayed or oid != committed[op.key]:
                        raise AssertionError('%s: committed as %d before the retry, the retry '
                                             'answered %s (replayed %s)'
                                             % (what, committed[op.key], oid, replayed))
                elif replayed:
                    raise AssertionError('%s: replayed an answer whose object is not in the '
                                         'database: %r' % (what, r))
                op.id, op.ack_body = oid, r.body
                r2 = self.post_settled(op)
                retried += 1
                oid2 = self.check_created(op, r2, what + ' (second)')
                if oid2 != oid or r2.headers.get('idempotent-replayed') != 'true':
                    raise AssertionError('%s: the second retry answered id %s (replayed %r), '
                                         'the first %d' % (what, oid2, r2.headers.get(
                                             'idempotent-replayed'), oid))
            except AssertionError as e:
                failures.append(str(e))

        # 3. a sample of acknowledged keys replays the very answer that was acknowledged
        rng = random.Random(SEED + len(phase))
        for op in rng.sample(acked, min(30, len(acked))):
            r = self.post_settled(op)
            retried += 1
            if (r.status != 201 or r.headers.get('idempotent-replayed') != 'true'
                    or r.body != op.ack_body):
                failures.append('replay of acknowledged %r answered %r, acknowledged %r'
                                % (op, r, op.ack_body[:300]))

        # 4. over every op so far: exactly one object per key, none that no key accounts for
        after = self.db_objects()
        with self.lock:
            all_ops = list(self.ops)
        by_tag = {op.tag: op for op in all_ops}
        for tag, got in after.items():
            if tag not in by_tag:
                failures.append('object(s) %r named %r: no request made it' % (got, tag))
        for op in all_ops:
            if op.id is None:
                continue  # never reached the daemon with the database up: checked below
            got = after.get(op.tag, [])
            if got != [(op.kind, op.id)]:
                failures.append('%r: the database holds %r' % (op, got))
        never = [op for op in all_ops if op.id is None]
        for op in never:
            if op.tag in after:
                failures.append('%r was never answered 2xx yet exists: %r' % (op, after[op.tag]))

        # 5. one audit row (action create) per object, and none for an object that is not there
        expect = {(op.kind, op.id): 1 for op in all_ops if op.id is not None}
        audit = {}
        for line in self.cluster.psql(
                "SELECT entity, entity_id, count(*) FROM audit_events WHERE action = 'create' "
                "AND actor_user_id = %d AND entity IN ('organization', 'manager', "
                "'recommendation') GROUP BY 1, 2" % self.uid).splitlines():
            kind, oid, n = line.split('|')
            audit[(kind, int(oid))] = int(n)
        for k in sorted(set(expect) | set(audit)):
            if audit.get(k, 0) != expect.get(k, 0):
                failures.append('audit create rows for %s %d: %d, expected %d'
                                % (k[0], k[1], audit.get(k, 0), expect.get(k, 0)))

        # 6. idempotency_keys: one finished row per answered key, none in progress, no other
        keys = {}
        for line in self.cluster.psql(
                "SELECT key, coalesce(status::text, 'in-progress'), coalesce(location, '') "
                "FROM idempotency_keys WHERE user_id = %d" % self.uid).splitlines():
            key, status, loc = line.split('|', 2)
            keys[key] = (status, loc)
        stuck = sorted(k for k, (st, _) in keys.items() if st == 'in-progress')
        if stuck:
            failures.append('%d idempotency keys left in progress: %s' % (len(stuck), stuck[:10]))
        want = {op.key: ('201', '%s/%d' % (op.path, op.id)) for op in all_ops
                if op.id is not None}
        for k in sorted(set(want) | set(keys)):
            if keys.get(k) != want.get(k):
                failures.append('idempotency key %s: stored %r, expected %r'
                                % (k, keys.get(k), want.get(k)))

        checked = len([op for op in phase_ops if op.id is not None])
        abandoned = {op.key for op in unacked if any(o == 'abandoned' for _, o in op.outcomes)}
        # lost answers of committed writes: replayed by a retry in the loop or in step 2
        lost = {op.key for op in phase_ops if any(o == 'ack-replayed' for _, o in op.outcomes)}
        lost |= set(committed)
        lost_abandoned = {op.key for op in phase_ops if op.key in lost and any(
            o == 'abandoned' for _, o in op.outcomes)}
        return {'acked': len(acked), 'unacked': len(unacked), 'committed': len(lost),
                'abandoned': len(abandoned),
                'committed_by_fault': len(lost - lost_abandoned),
                'cut': sum(1 for op in phase_ops for _, o in op.outcomes
                           if o.startswith('conn:') and o != 'conn:ConnectionRefusedError'),
                'refused': sum(1 for op in phase_ops for _, o in op.outcomes
                               if o == 'conn:ConnectionRefusedError'),
                'n503': sum(1 for op in phase_ops for _, o in op.outcomes if o == '503'),
                'retried': retried + stats['inloop_retries'], 'checked': checked}

    def backends(self):
        return int(self.cluster.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'effmon'", db='postgres'))

    def report(self, phase, cycles, counts, failures):
        line = ('crash summary [%s]: seed %d, %d cycles, writes acknowledged %d, '
                'unacknowledged %d (%d abandoned by the client; answers: %d refused, %d cut '
                'in flight, %d x 503), committed with the answer lost and replayed on retry %d '
                '(%d by a fault, the rest abandoned), '
                'retried %d, checked %d'
                % (phase, SEED, cycles, counts['acked'], counts['unacked'], counts['abandoned'],
                   counts['refused'], counts['cut'], counts['n503'], counts['committed'],
                   counts['committed_by_fault'], counts['retried'], counts['checked']))
        self.summary.append(line)
        self.assertEqual(failures, [], '%d failure(s):\n%s' % (len(failures),
                                                              '\n'.join(failures[:40])))

    # ------------------------------------------------------------------ the tests

    def test_1_kill9(self):
        d = self.daemon
        rng = random.Random(SEED)
        first = len(self.ops)
        kills = []

        def faults():
            for cycle in range(KILL_CYCLES):
                time.sleep(rng.uniform(0.05, 0.6))
                pid = d.pid
                code = d.kill()
                kills.append((pid, code))
                time.sleep(rng.uniform(0.0, 0.15))   # refused connections meanwhile
                d.start(wait=False)
                d.wait_healthy(30.0)

        failures, stats = self.run_writers('kill', faults, conn_ok=True)
        self.assertEqual(len(kills), KILL_CYCLES)
        for pid, code in kills:
            self.assertEqual(code, -9, 'daemon %d was not ended by SIGKILL: %s' % (pid, code))
        self.assertTrue(d.alive())
        # the killed daemons' sessions end; none is left holding a key's lock
        harness.wait_for(lambda: self.backends() <= THREADS, 10, 0.1,
                         'the killed daemons\' sessions to end')
        with self.lock:
            phase_ops = self.ops[first:]
        counts = self.verify('kill', phase_ops, stats, failures)
        self.assertGreaterEqual(counts['acked'], KILL_CYCLES, 'too few writes to prove much')
        self.assertGreater(counts['unacked'], 0, 'no kill interrupted a write')
        self.report('daemon kill -9', KILL_CYCLES, counts, failures)

    def test_2_postgres_immediate(self):
        d, c = self.daemon, self.cluster
        rng = random.Random(SEED + 1)
        first = len(self.ops)
        probe_failures = []
        probes = [0]
        recoveries = []

        def probe():
            probes[0] += 1
            op = self.new_op('pg', 'probe', probes[0], rng)
            return op, self.attempt(op, 'pg', probe_failures, conn_ok=False)

        def faults():
            for cycle in range(PG_CYCLES):
                time.sleep(rng.uniform(0.2, 0.8))
                c.stop('immediate')
                try:
                    # down: a creating write is refused with 503 + Retry-After, promptly
                    time.sleep(rng.uniform(0.0, 0.3))
                    op, out = probe()
                    if out != '503':
                        probe_failures.append('cycle %d, PostgreSQL down: %r answered %s'
                                              % (cycle, op, out))
                    time.sleep(rng.uniform(0.1, 0.6))
                finally:
                    c.start()
                # up again: writes succeed within RECOVERY_LIMIT without touching the daemon
                t0 = time.monotonic()
                while True:
                    op, out = probe()
                    if out == 'ack':
                        recoveries.append(time.monotonic() - t0)
                        break
                    if time.monotonic() - t0 > RECOVERY_LIMIT:
                        probe_failures.append('cycle %d: no write succeeded within %.0f s of '
                                              'PostgreSQL\'s restart' % (cycle, RECOVERY_LIMIT))
                        break
                    time.sleep(0.05)

        pid = d.pid
        failures, stats = self.run_writers('pg', faults, conn_ok=False)
        failures += probe_failures
        self.assertEqual(d.pid, pid)
        self.assertTrue(d.alive(), 'effmond died:\n' + d.log_tail())
        harness.wait_for(lambda: self.backends() <= THREADS, 10, 0.1,
                         'no more sessions than EFFMON_THREADS')
        with self.lock:
            phase_ops = self.ops[first:]
        counts = self.verify('pg', phase_ops, stats, failures)
        n503 = counts['n503']
        self.assertGreaterEqual(n503, PG_CYCLES, 'fewer 503s than outages')
        self.summary.append('crash summary [postgres -m immediate]: 503 answers %d, first write '
                            'after a restart within max %.2f s'
                            % (n503, max(recoveries) if recoveries else -1))
        self.report('postgres -m immediate', PG_CYCLES, counts, failures)


if __name__ == '__main__':
    harness.main()
