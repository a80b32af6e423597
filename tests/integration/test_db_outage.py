#!/usr/bin/python3
"""
test_db_outage.py - PostgreSQL goes away under a running daemon: requests that
need it answer 503 + Retry-After promptly (never hang, never 500), /readyz is
503, /healthz stays 200; when it comes back the daemon reconnects by itself,
with at most EFFMON_THREADS connections.
"""
import os
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem, assert_retry_after, assert_status  # noqa: E402

ME = '/api/v1/auth/me'
TOKEN = '/api/v1/auth/token'
PASSWORD = 'correct horse battery'
THREADS = 2


class DbOutageTest(harness.DaemonTestCase):
    threads = THREADS

    def connections(self):
        return int(self.cluster.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'effmon'", db='postgres'))

    def timed(self, method, path, limit=5.0, **kw):
        t0 = time.monotonic()
        try:
            r = self.daemon.request(method, path, timeout=limit + 5, **kw)
        except OSError as e:
            self.fail('%s %s during the outage: %s after %.1fs' % (method, path, e,
                                                                   time.monotonic() - t0))
        self.assertLess(r.elapsed, limit, '%s %s took %.2fs: %r' % (method, path, r.elapsed, r))
        self.assertNotEqual(r.status, 500, '%s %s: %r' % (method, path, r))
        return r

    def expect_503(self, method, path, what, **kw):
        r = self.timed(method, path, **kw)
        assert_problem(r, 503, what)
        assert_retry_after(r, what, maximum=60)
        return r

    def test_outage_and_recovery(self):
        d, c = self.daemon, self.cluster
        users = {}
        for name in ('warm', 'cold1', 'cold2', 'cold3', 'cold4', 'login1', 'login2'):
            users[name] = d.create_user(name, 'admin', PASSWORD)
        warm = d.login('warm', PASSWORD)
        for _ in range(4):
            assert_status(d.request('GET', ME, token=warm), 200, 'before the outage')
        self.assertLessEqual(self.connections(), THREADS, 'connections before the outage')

        c.stop('immediate')
        try:
            # a token whose user row no cache holds: the database is needed
            for name in ('cold1', 'cold2', 'cold3'):
                self.expect_503('GET', ME, 'GET %s (%s, uncached) with the DB down' % (ME, name),
                                token=d.token(users[name], 'admin'))
            for i in range(3):
                self.expect_503('POST', TOKEN, 'POST %s with the DB down (%d)' % (TOKEN, i),
                                body={'login': 'login1', 'password': PASSWORD})
            # an unknown login needs the database just as much
            self.expect_503('POST', TOKEN, 'POST %s unknown login, DB down' % TOKEN,
                            body={'login': 'nobody', 'password': PASSWORD})
            for i in range(3):
                self.expect_503('GET', '/readyz', 'GET /readyz with the DB down (%d)' % i)
            for i in range(3):
                r = self.timed('GET', '/healthz')
                assert_status(r, 200, 'GET /healthz with the DB down')
            # a cached user may be served from the cache, or 503; never 500 or a hang
            for _ in range(4):
                r = self.timed('GET', ME, token=warm)
                self.assertIn(r.status, (200, 503), 'cached token, DB down: %r' % r)
                if r.status == 503:
                    assert_problem(r, 503)
                    assert_retry_after(r, 'cached token, DB down', maximum=60)
            # nothing answered 4xx for a database problem, and the daemon lives
            self.assertTrue(d.alive(), 'effmond died during the outage:\n' + d.log_tail())
            r = self.timed('GET', '/metrics')
            assert_status(r, 200, 'GET /metrics during the outage')
            pool = {}
            for line in r.body.decode('utf-8').splitlines():
                if line.startswith('effmon_db_pool_connections{state="'):
                    state = line.split('"')[1]
                    pool[state] = float(line.split()[-1])
            self.assertGreaterEqual(pool.get('broken', 0), 1,
                                    'no broken connection in the metrics during the outage: %r'
                                    % pool)
            self.assertLessEqual(sum(pool.values()), THREADS, pool)
        finally:
            c.start()

        # recovery without restarting the daemon: within 5 s ...
        t0 = time.monotonic()
        deadline = t0 + 5
        history = []

        def round_trip():
            r1 = d.request('GET', ME, token=d.token(users['cold4'], 'admin'), timeout=5)
            r2 = d.request('POST', TOKEN, body={'login': 'login2', 'password': PASSWORD},
                           timeout=5)
            r3 = d.request('GET', '/readyz', timeout=5)
            history.append((round(time.monotonic() - t0, 2), r1.status, r2.status, r3.status))
            for r in (r1, r2, r3):
                self.assertIn(r.status, (200, 503), 'after the restart: %r' % r)
            return (r1.status, r2.status, r3.status) == (200, 200, 200)

        recovered = False
        while time.monotonic() < deadline:
            if round_trip():
                recovered = True
                break
            time.sleep(0.1)
        self.assertTrue(recovered, 'not recovered within 5 s of the restart: %r' % history)
        # ... and steadily: every worker thread has its connection back
        for i in range(10):
            self.assertTrue(round_trip(), 'a failure after recovery: %r' % history)
        self.assertEqual(d.pid, self.daemon.pid)
        self.assertTrue(d.alive())
        assert_status(d.request('GET', ME, token=d.token(users['cold1'], 'admin')), 200)
        n = self.connections()
        self.assertLessEqual(n, THREADS, 'effmon has %d connections, EFFMON_THREADS=%d'
                             % (n, THREADS))

    def test_zz_second_outage_fast_stop(self):
        # a clean shutdown (terminating backends politely) is handled the same way
        d, c = self.daemon, self.cluster
        uid = d.create_user('second', 'admin', PASSWORD)
        c.stop('fast')
        try:
            self.expect_503('GET', ME, 'GET %s after pg_ctl stop -m fast' % ME,
                            token=d.token(uid, 'admin'))
            self.expect_503('GET', '/readyz', 'GET /readyz after pg_ctl stop -m fast')
        finally:
            c.start()
        deadline = time.monotonic() + 5
        ok = False
        while time.monotonic() < deadline:
            r = d.request('GET', ME, token=d.token(uid, 'admin'), timeout=5)
            self.assertIn(r.status, (200, 503), r)
            if r.status == 200:
                ok = True
                break
            time.sleep(0.1)
        self.assertTrue(ok, 'no recovery within 5 s after the second outage')
        self.assertLessEqual(self.connections(), THREADS)


class DbTroubleTest(harness.DaemonTestCase):
    """The database is up but a statement is slow or a connection is cut."""
    threads = THREADS
    daemon_env = {'EFFMON_STATEMENT_TIMEOUT': '1000'}

    def connections(self):
        return int(self.cluster.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'effmon'", db='postgres'))

    def test_statement_timeout_503(self):
        d, c = self.daemon, self.cluster
        uid = d.create_user('slow', 'admin', PASSWORD)
        p = c.psql_popen('BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE; '
                         'SELECT pg_sleep(3); COMMIT;')
        try:
            harness.wait_for(lambda: c.psql(
                "SELECT count(*) FROM pg_locks l JOIN pg_class k ON k.oid = l.relation "
                "WHERE k.relname = 'users' AND l.mode = 'AccessExclusiveLock' AND l.granted")
                == '1', 5, 0.02, 'the lock on users')
            r = d.request('GET', ME, token=d.token(uid, 'admin'), timeout=10)
            assert_problem(r, 503, 'GET %s blocked past EFFMON_STATEMENT_TIMEOUT=1000' % ME)
            assert_retry_after(r, 'statement timeout', maximum=60)
            self.assertLess(r.elapsed, 2.5, 'the statement timeout did not cut it: %r' % r)
        finally:
            p.wait(10)
            p.stdout.close()
            p.stderr.close()
        assert_status(d.request('GET', ME, token=d.token(uid, 'admin')), 200,
                      'after the lock is gone')

    def test_terminated_connections(self):
        # the server stays up, the daemon's sessions are killed (failover, idle timeout)
        d, c = self.daemon, self.cluster
        uids = [d.create_user('cut%d' % i, 'admin', PASSWORD) for i in range(12)]
        for i in range(4):
            assert_status(d.request('GET', ME, token=d.token(uids[i], 'admin')), 200)
        killed = c.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE usename = 'effmon'", db='postgres')
        self.assertGreaterEqual(int(killed), 1)
        time.sleep(0.2)
        statuses = []
        t0 = time.monotonic()
        for i in range(4, 12):  # uncached users: each needs the database
            r = d.request('GET', ME, token=d.token(uids[i], 'admin'), timeout=5)
            self.assertIn(r.status, (200, 503), r)
            statuses.append((round(time.monotonic() - t0, 3), r.status))
            time.sleep(0.05)
        failed = [st for _, st in statuses if st != 200]
        # the server said goodbye on each idle connection before it closed it: the daemon
        # notices before it sends a statement, reconnects at once and loses no request
        self.assertEqual(failed, [],
                         '%d requests failed after %s idle backends were terminated with the '
                         'server up: %r' % (len(failed), killed, statuses))
        self.assertEqual(statuses[-1][1], 200, statuses)
        self.assertLessEqual(self.connections(), THREADS)

    def test_zz_concurrency_pool_bound(self):
        d = self.daemon
        uids = [d.create_user('par%d' % i, 'admin', PASSWORD) for i in range(5)]
        toks = [d.token(uids[i % 5], 'admin') for i in range(200)]
        with ThreadPoolExecutor(40) as ex:
            res = list(ex.map(lambda t: d.request('GET', ME, token=t, timeout=20).status, toks))
        self.assertEqual(Counter(res), Counter({200: 200}), 'under 40 concurrent clients')
        n = self.connections()
        self.assertLessEqual(n, THREADS, '%d connections with EFFMON_THREADS=%d' % (n, THREADS))


if __name__ == '__main__':
    harness.main()
