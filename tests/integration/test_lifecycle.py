#!/usr/bin/python3
"""
test_lifecycle.py - process and schema lifecycle: SIGTERM finishes requests in
flight (exit 0) and refuses new connections; concurrent `effmond migrate` runs
apply each migration once; a re-run is a no-op; an edited applied migration is
an error; /readyz before migrating; audit_events is append-only for the
daemon's role.
"""
import glob
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (EFFMOND, HOST, SOURCE_ROOT, assert_problem, assert_retry_after,  # noqa
                     assert_status)

ME = '/api/v1/auth/me'
TOKEN = '/api/v1/auth/token'
PASSWORD = 'correct horse battery'
LOCK_SQL = 'BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(2); COMMIT;'


def migration_files():
    files = sorted(glob.glob(os.path.join(SOURCE_ROOT, 'migrations', '[0-9][0-9][0-9][0-9]_*.sql')))
    return files


class LifecycleTest(harness.DaemonTestCase):
    start_daemon = False
    _dbn = [0]

    def new_daemon(self, **kw):
        d = harness.Daemon(self.cluster, **kw)
        self.addCleanup(d.destroy)
        self.daemon = d  # for the failure log tail
        return d

    def fresh_db(self):
        self._dbn[0] += 1
        name = 'effmon_t%d' % self._dbn[0]
        return self.cluster.create_database(name), name

    def effmond(self, args, url, timeout=120, popen=False):
        env = {k: v for k, v in os.environ.items() if not k.startswith('EFFMON_')}
        env['EFFMON_DATABASE_URL'] = url
        env['EFFMON_SOURCE_ROOT'] = SOURCE_ROOT
        argv = [EFFMOND] + list(args)
        if popen:
            return subprocess.Popen(argv, env=env, cwd='/tmp', stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True,
                                    stdin=subprocess.DEVNULL)
        return subprocess.run(argv, env=env, cwd='/tmp', capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    # ------------------------------------------------------------ SIGTERM

    def hold_users_lock(self):
        """Start the 2-second ACCESS EXCLUSIVE lock on users; return the psql Popen."""
        p = self.cluster.psql_popen(LOCK_SQL)

        def cleanup():
            if p.poll() is None:
                p.kill()
            p.wait(10)
            p.stdout.close()
            p.stderr.close()
        self.addCleanup(cleanup)
        harness.wait_for(lambda: self.cluster.psql(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'users' AND l.mode = 'AccessExclusiveLock' AND l.granted",
            db='effmon') == '1', 5, 0.02, 'the lock on users')
        return p

    def sigterm_during(self, d, method, path, what, **kw):
        result = {}

        def go():
            try:
                result['r'] = d.request(method, path, timeout=15, **kw)
            except Exception as e:  # reported below
                result['e'] = e

        self.hold_users_lock()
        t = threading.Thread(target=go)
        t0 = time.monotonic()
        t.start()
        # the request is in flight once the daemon's session waits for the lock
        harness.wait_for(lambda: self.cluster.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'effmon' "
            "AND wait_event_type = 'Lock' AND application_name <> 'psql'", db='effmon') != '0',
            5, 0.02, '%s waiting for the lock on users' % what)
        self.assertTrue(t.is_alive(), '%s finished before SIGTERM (the lock did not hold it): %r'
                        % (what, result))
        d.signal(signal.SIGTERM)
        # the listening socket is closed before this line is logged
        harness.wait_for(lambda: 'no longer accepting' in d.log(), 5, 0.01,
                         'the SIGTERM line in the log')
        # a new connection after SIGTERM is refused
        refused = None
        try:
            with socket.create_connection((HOST, d.port), timeout=1) as s:
                s.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
                s.settimeout(1)
                try:
                    got = s.recv(100)
                except OSError:
                    got = b''
                refused = 'accepted a new connection after SIGTERM (answered %r)' % got
        except ConnectionRefusedError:
            pass
        except OSError as e:
            refused = 'new connection after SIGTERM: %s instead of refused' % e
        t.join(15)
        self.assertFalse(t.is_alive(), '%s still waiting 15 s after SIGTERM' % what)
        took = time.monotonic() - t0
        self.assertNotIn('e', result, '%s failed after SIGTERM: %r' % (what, result.get('e')))
        r = result['r']
        assert_status(r, 200, '%s in flight during SIGTERM' % what)
        code = d.wait(15)
        self.assertIsNotNone(code, 'effmond still running 15 s after SIGTERM')
        self.assertEqual(code, 0, 'effmond exit code after SIGTERM:\n' + d.log_tail())
        self.assertIsNone(refused, refused)
        self.assertGreater(took, 1.0, 'the request did not wait for the lock (%.2fs)' % took)
        return r

    def test_sigterm_during_me(self):
        d = self.new_daemon()
        uid = d.create_user('term-me', 'admin', PASSWORD)
        r = self.sigterm_during(d, 'GET', ME, 'GET %s (uncached user)' % ME,
                                token=d.token(uid, 'admin'))
        self.assertEqual(r.json.get('id'), uid, r)

    def test_sigterm_during_login(self):
        d = self.new_daemon()
        d.create_user('term-login', 'admin', PASSWORD)
        r = self.sigterm_during(d, 'POST', TOKEN, 'POST %s (first login)' % TOKEN,
                                body={'login': 'term-login', 'password': PASSWORD})
        self.assertIn('access_token', r.json or {}, r)

    def test_sigterm_idle(self):
        d = self.new_daemon()
        assert_status(d.request('GET', '/healthz'), 200)
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        code = d.wait(10)
        self.assertIsNotNone(code, 'an idle effmond still running 10 s after SIGTERM')
        self.assertEqual(code, 0, d.log_tail())
        self.assertLess(time.monotonic() - t0, 5, 'an idle daemon took long to stop')
        self.assertFalse(harness.port_open(d.port), 'port still open after exit')

    def test_sigterm_idle_keepalive_connections(self):
        # an idle kept-alive client and a half-sent request must not hold up the exit
        d = self.new_daemon()
        idle = socket.create_connection((HOST, d.port), timeout=5)
        half = socket.create_connection((HOST, d.port), timeout=5)
        try:
            idle.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
            self.assertTrue(idle.recv(100).startswith(b'HTTP/1.1 200'))
            half.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\n')
            time.sleep(0.2)
            t0 = time.monotonic()
            d.signal(signal.SIGTERM)
            code = d.wait(30)
            took = time.monotonic() - t0
            self.assertIsNotNone(code, 'effmond still running 30 s after SIGTERM')
            self.assertEqual(code, 0, d.log_tail())
            self.assertLess(took, 3, 'idle connections held the exit up for %.1fs' % took)
        finally:
            idle.close()
            half.close()

    # ------------------------------------------------------------ migrations

    def versions(self, db):
        out = self.cluster.psql('SELECT version FROM schema_migrations ORDER BY version', db=db)
        return [int(x) for x in out.split()]

    def test_concurrent_migrate(self):
        files = migration_files()
        self.assertTrue(files, 'no migrations/NNNN_*.sql under %s' % SOURCE_ROOT)
        expect = [int(os.path.basename(f)[:4]) for f in files]
        url, db = self.fresh_db()
        procs = [self.effmond(['migrate'], url, popen=True) for _ in range(2)]
        outs = []
        try:
            for p in procs:
                try:
                    out, err = p.communicate(timeout=120)
                except subprocess.TimeoutExpired:
                    self.fail('effmond migrate still running after 120 s')
                outs.append((p.returncode, out, err))
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait(5)
        for i, (code, out, err) in enumerate(outs):
            self.assertEqual(code, 0, 'concurrent migrate #%d: exit %d: %s%s' % (i, code, out,
                                                                                  err))
        self.assertEqual(self.versions(db), expect, 'schema_migrations after two concurrent runs')
        rows = self.cluster.psql("SELECT version, name, checksum, applied_at "
                                 "FROM schema_migrations ORDER BY version", db=db)
        for line in rows.splitlines():
            v, name, checksum, applied = line.split('|')
            self.assertTrue(name, line)
            self.assertTrue(checksum, line)
        # a third run is a no-op
        p = self.effmond(['migrate'], url)
        self.assertEqual(p.returncode, 0, 'third migrate: %s%s' % (p.stdout, p.stderr))
        self.assertEqual(self.cluster.psql("SELECT version, name, checksum, applied_at "
                                           "FROM schema_migrations ORDER BY version", db=db),
                         rows, 'a third migrate changed schema_migrations')

    def test_edited_migration_is_an_error(self):
        url, db = self.fresh_db()
        p = self.effmond(['migrate'], url)
        self.assertEqual(p.returncode, 0, p.stderr)
        name = self.cluster.psql('SELECT name FROM schema_migrations WHERE version = 1', db=db)
        self.cluster.psql("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1", db=db)
        p = self.effmond(['migrate'], url)
        self.assertNotEqual(p.returncode, 0, 'migrate with an edited migration 1 succeeded: %r'
                            % (p.stdout + p.stderr))
        files = migration_files()
        stem = os.path.basename(files[0])[:-4] if files else '0001'
        msg = p.stderr + p.stdout
        names = [stem, '0001']
        if name:
            names.append(name)
        self.assertTrue(any(n in msg for n in names),
                        'the error does not name the migration (%r): %r' % (names, msg))
        self.assertEqual(self.cluster.psql('SELECT checksum FROM schema_migrations '
                                           'WHERE version = 1', db=db), 'x')

    def test_readyz_before_migrate(self):
        url, db = self.fresh_db()
        d = self.new_daemon(migrate=False, env={'EFFMON_DATABASE_URL': url})
        assert_status(d.request('GET', '/healthz'), 200, 'GET /healthz on an empty database')
        r = d.request('GET', '/readyz', timeout=5)
        assert_problem(r, 503, 'GET /readyz before migrating')
        assert_retry_after(r, 'GET /readyz before migrating', maximum=60)
        p = self.effmond(['migrate'], url)
        self.assertEqual(p.returncode, 0, p.stderr)
        deadline = time.monotonic() + 5
        while True:
            r = d.request('GET', '/readyz', timeout=5)
            if r.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert_status(r, 200, 'GET /readyz within 5 s after migrating under a running daemon')

    def test_function_files_applied_when_their_text_changes(self):
        files = sorted(glob.glob(os.path.join(SOURCE_ROOT, 'sql', '[0-9][0-9]_*.sql')))
        self.assertTrue(files, 'no sql/NN_*.sql under %s' % SOURCE_ROOT)
        sums = {}
        for f in files:
            with open(f, 'rb') as fh:
                sums[os.path.basename(f)] = hashlib.sha256(fh.read()).hexdigest()
        latest = int(os.path.basename(migration_files()[-1])[:4])
        url, db = self.fresh_db()
        p = self.effmond(['migrate'], url)
        self.assertEqual(p.returncode, 0, p.stderr)
        for name in sums:
            self.assertIn('sql/%s applied' % name, p.stdout + p.stderr)

        def recorded():
            out = self.cluster.psql('SELECT name, checksum, schema_version FROM '
                                    'schema_functions ORDER BY name', db=db)
            return {n: (c, int(v)) for n, c, v in (x.split('|') for x in out.splitlines())}
        self.assertEqual(recorded(), {n: (c, latest) for n, c in sums.items()})
        # nothing changed: nothing applied again
        p = self.effmond(['migrate'], url)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn(' applied', p.stdout + p.stderr)
        d = self.new_daemon(migrate=False, env={'EFFMON_DATABASE_URL': url})
        assert_status(d.request('GET', '/readyz', timeout=5), 200, 'readyz after migrate')

        # a function changed by hand and its file's record out of date (as after an
        # upgrade that changed the file): readyz says so, migrate puts the file's text back
        level = "SELECT em_level(85, 80, 60, 40) || em_level(10, 80, 60, 40)"
        self.assertEqual(self.cluster.psql(level, db=db), 'highcritical')
        self.cluster.psql("CREATE OR REPLACE FUNCTION em_level(total numeric, high numeric, "
                          "sufficient numeric, low numeric) RETURNS text LANGUAGE sql "
                          "IMMUTABLE AS $$ SELECT 'x'::text $$", db=db)
        self.cluster.psql("UPDATE schema_functions SET checksum = 'old' "
                          "WHERE name = '10_scoring.sql'", db=db)
        self.cluster.psql("DELETE FROM schema_functions WHERE name = '30_triggers.sql'", db=db)
        r = d.request('GET', '/readyz', timeout=5)
        doc = assert_problem(r, 503, 'readyz with an out-of-date function file')
        self.assertIn('sql/', doc.get('detail', ''), doc)
        p = self.effmond(['migrate'], url)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout + p.stderr
        self.assertIn('sql/10_scoring.sql applied', out)
        self.assertIn('sql/30_triggers.sql applied', out)
        self.assertNotIn('sql/00_common.sql applied', out)
        self.assertEqual(self.cluster.psql(level, db=db), 'highcritical')
        self.assertEqual(recorded(), {n: (c, latest) for n, c in sums.items()})
        assert_status(d.request('GET', '/readyz', timeout=5), 200, 'readyz after re-applying')

        # recorded by a binary with newer migrations: an older one leaves it alone
        self.cluster.psql("UPDATE schema_functions SET checksum = 'newer', schema_version = "
                          "%d WHERE name = '00_common.sql'" % (latest + 1), db=db)
        p = self.effmond(['migrate'], url)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('sql/00_common.sql was applied by a binary with migration %d'
                      % (latest + 1), p.stdout + p.stderr)
        self.assertEqual(recorded()['00_common.sql'], ('newer', latest + 1))
        assert_status(d.request('GET', '/readyz', timeout=5), 200,
                      'readyz with functions of a newer binary')

    def test_check_statements(self):
        """Every DB_STMT of the sources is registered, and each prepares on a migrated
        database; a schema that no longer fits names the statements it breaks."""
        declared = set()
        for path in glob.glob(os.path.join(SOURCE_ROOT, 'src', '**', '*.c'), recursive=True):
            with open(path, encoding='utf-8') as f:
                text = f.read()
            for var, name in re.findall(r'^DB_STMT\((\w+)\) = \{\s*"([a-z0-9_]+)"', text, re.M):
                self.assertNotIn(name, declared, 'statement name %s used twice' % name)
                declared.add(name)
        self.assertGreater(len(declared), 100)
        url, db = self.fresh_db()
        p = self.effmond(['check-statements'], url)
        self.assertEqual(p.returncode, 1, 'check-statements on an empty database: %r'
                         % (p.stdout + p.stderr))
        p = self.effmond(['migrate'], url)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.effmond(['check-statements'], url)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        m = re.fullmatch(r'(\d+) statements prepared, (\d+) constraints found', p.stdout.strip())
        self.assertTrue(m, p.stdout)
        self.assertEqual(int(m.group(1)), len(declared))
        with open(os.path.join(SOURCE_ROOT, 'src', 'constraints.c'), encoding='utf-8') as f:
            mapped = re.findall(r'^\t\{"([a-z0-9_]+)", "', f.read(), re.M)
        self.assertGreater(len(mapped), 30)
        self.assertEqual(int(m.group(2)), len(mapped))
        # a constraint the field errors name is renamed: check-statements names it
        self.cluster.psql('ALTER TABLE regions RENAME CONSTRAINT regions_code_format '
                          'TO regions_code_shape', db=db)
        p = self.effmond(['check-statements'], url)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn('constraint regions_code_format: no such constraint or index', p.stderr)
        self.assertIn('1 of %d constraints named in errors are not in this database'
                      % len(mapped), p.stderr)
        self.cluster.psql('ALTER TABLE regions RENAME CONSTRAINT regions_code_shape '
                          'TO regions_code_format', db=db)
        # a column the statements use is gone: each statement that reads it is named
        self.cluster.psql('ALTER TABLE organizations RENAME COLUMN inn TO inn_old', db=db)
        p = self.effmond(['check-statements'], url)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        broken = {line.split(':')[0] for line in p.stderr.splitlines()
                  if re.match(r'^[a-z0-9_]+: ', line)
                  and not line.startswith('effmond:')}
        self.assertTrue({'import_check', 'import_write'} <= broken, repr(p.stderr))
        self.assertTrue(broken <= declared, broken - declared)
        self.assertIn('%d of %d statements do not prepare' % (len(broken), len(declared)),
                      p.stderr)
        for name in broken:
            self.assertRegex(p.stderr, r'(?m)^%s: .*inn' % name)

    # ------------------------------------------------------------ audit_events

    def test_audit_events_append_only(self):
        d = self.new_daemon()
        uid = d.create_user('auditor', 'admin', PASSWORD)
        cols = self.cluster.psql(
            "SELECT column_name, data_type, is_nullable, coalesce(column_default, ''), "
            "is_identity FROM information_schema.columns WHERE table_name = 'audit_events' "
            "AND table_schema = current_schema() ORDER BY ordinal_position")
        self.assertTrue(cols, 'no audit_events table')
        names, values = [], []
        for line in cols.splitlines():
            name, typ, nullable, default, ident = line.split('|')
            if ident == 'YES' or default or nullable == 'YES' and name not in ('action',
                                                                               'entity'):
                continue
            names.append(name)
            if typ in ('bigint', 'integer', 'smallint'):
                values.append(str(uid))
            elif typ.startswith('timestamp'):
                values.append('now()')
            elif typ == 'jsonb' or typ == 'json':
                values.append("'{}'")
            elif typ == 'uuid':
                values.append('gen_random_uuid()')
            else:
                values.append("'admin'" if 'role' in name else "'test'")
        insert = 'INSERT INTO audit_events (%s) VALUES (%s)' % (', '.join(names),
                                                               ', '.join(values))
        self.cluster.psql(insert, user='effmon')  # appending is allowed
        before = self.cluster.psql('SELECT count(*) FROM audit_events')
        self.assertNotEqual(before, '0')
        for sql in ("UPDATE audit_events SET action = 'x'",
                    'DELETE FROM audit_events',
                    'TRUNCATE audit_events',
                    insert + "; UPDATE audit_events SET action = 'x'"):
            with self.subTest(sql=sql):
                p = self.cluster.psql_run(sql, user='effmon')
                self.assertNotEqual(p.returncode, 0, 'as effmon, %r succeeded' % sql)
                self.assertIn('ERROR', p.stderr, p.stderr)
        self.assertEqual(self.cluster.psql('SELECT count(*) FROM audit_events'), before)
        self.assertEqual(self.cluster.psql("SELECT count(*) FROM audit_events "
                                           "WHERE action = 'x'"), '0')


if __name__ == '__main__':
    harness.main()
