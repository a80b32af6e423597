#!/usr/bin/env python3
"""EFFMON_TRUSTED_PROXIES: X-Forwarded-For is believed from a trusted TCP peer only, and the
per-address login cap (EFFMON_LOGIN_IP_MAX_FAILURES) then counts each forwarded client on
its own; a bad list stops the daemon at start. Also EFFMON_DATABASE_PASSWORD_FILE's errors."""
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import harness

TOKEN = '/api/v1/auth/token'
CAP = 3
# Failures are counted per login too (EFFMON_LOGIN_MAX_FAILURES): each attempt here uses a
# login of its own, so only the per-address cap can answer 429.
_n = [0]


def fresh_login():
    _n[0] += 1
    return 'nobody-%d' % _n[0]


def login_from(port, source, xff=None, login=None, password='wrong-password'):
    """One login attempt on a fresh connection from source address source."""
    login = login or fresh_login()
    conn = http.client.HTTPConnection(harness.HOST, port, timeout=30, source_address=(source, 0))
    try:
        hdrs = {'Content-Type': 'application/json'}
        if xff is not None:
            hdrs['X-Forwarded-For'] = xff
        conn.request('POST', TOKEN, body=json.dumps({'login': login, 'password': password}),
                     headers=hdrs)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


class TrustedProxiesTest(harness.DaemonTestCase):
    daemon_env = {'EFFMON_TRUSTED_PROXIES': '127.0.0.1, ::1',
                  'EFFMON_LOGIN_IP_MAX_FAILURES': str(CAP)}

    def fail_until_capped(self, port, source, xff):
        statuses = [login_from(port, source, xff) for _ in range(CAP)]
        self.assertEqual(statuses, [401] * CAP, 'the first %d failures from %s (XFF %s)'
                         % (CAP, source, xff))
        self.assertEqual(login_from(port, source, xff), 429,
                         'failure %d from %s (XFF %s)' % (CAP + 1, source, xff))

    def test_1_each_forwarded_client_has_its_own_cap(self):
        d = self.daemon
        d.create_user('proxied-ok', 'admin', 'a-long-password')
        self.fail_until_capped(d.port, '127.0.0.1', '198.51.100.1')
        # Another client behind the same proxy is not locked out, its right password works,
        # and the first client stays capped even with the right password.
        self.assertEqual(login_from(d.port, '127.0.0.1', '198.51.100.2', 'proxied-ok',
                                    'a-long-password'), 200)
        self.assertEqual(login_from(d.port, '127.0.0.1', '198.51.100.1', 'proxied-ok',
                                    'a-long-password'), 429)
        self.fail_until_capped(d.port, '127.0.0.1', '198.51.100.2')
        # The client is the rightmost untrusted entry: a forged left part changes nothing.
        self.assertEqual(login_from(d.port, '127.0.0.1', '203.0.113.9, 198.51.100.1'), 429)
        # Trusted hops on the right are skipped.
        self.assertEqual(login_from(d.port, '127.0.0.1', '198.51.100.2, 127.0.0.1'), 429)
        # The proxy itself (no header) was never counted.
        self.assertEqual(login_from(d.port, '127.0.0.1', None, 'proxied-ok',
                                    'a-long-password'), 200)

    def test_3_access_line_names_the_forwarded_client(self):
        d = self.daemon
        login_from(d.port, '127.0.0.1', '198.51.100.77')
        login_from(d.port, '127.0.0.7', '198.51.100.78')
        lines = [l for l in d.log().splitlines() if ' /api/v1/auth/token ' in l]
        self.assertTrue(any('client=198.51.100.77 ' in l for l in lines),
                        'no access line names the forwarded client:\n' + '\n'.join(lines[-5:]))
        # an untrusted peer's header is not believed in the log either
        self.assertFalse(any('client=198.51.100.78 ' in l for l in lines), lines[-5:])
        self.assertTrue(any('client=127.0.0.7 ' in l for l in lines), lines[-5:])

    def test_2_untrusted_peer_header_is_ignored(self):
        d = self.daemon
        # 127.0.0.7 is not trusted: every header it sends is ignored, so varying it does
        # not buy fresh budgets, and naming a fresh client does not unlock it.
        statuses = [login_from(d.port, '127.0.0.7', '192.0.2.%d' % i) for i in range(CAP)]
        self.assertEqual(statuses, [401] * CAP)
        self.assertEqual(login_from(d.port, '127.0.0.7', '192.0.2.200'), 429)
        self.assertEqual(login_from(d.port, '127.0.0.7', None), 429)
        # ... nor can it lock out the client it names.
        self.assertEqual(login_from(d.port, '127.0.0.1', '192.0.2.1'), 401)


class WithoutTrustedProxiesTest(harness.DaemonTestCase):
    daemon_env = {'EFFMON_LOGIN_IP_MAX_FAILURES': str(CAP)}

    def test_header_is_ignored(self):
        d = self.daemon
        statuses = [login_from(d.port, '127.0.0.1', '198.51.100.%d' % i) for i in range(CAP)]
        self.assertEqual(statuses, [401] * CAP)
        self.assertEqual(login_from(d.port, '127.0.0.1', '198.51.100.99'), 429)
        self.assertEqual(login_from(d.port, '127.0.0.1', None), 429)


class StartupTest(harness.DaemonTestCase):
    start_daemon = False

    def run_cmd(self, env, *args):
        """effmond args... with a clean EFFMON_ environment plus env."""
        e = {k: v for k, v in os.environ.items()
             if not k.startswith('EFFMON_') or k == 'EFFMON_SOURCE_ROOT'}
        e.pop('PGPASSWORD', None)
        e.update({'EFFMON_DATABASE_URL': self.cluster.url,
                  'EFFMON_JWT_SECRET': harness.random_secret(48)})
        e.update(env)
        p = subprocess.run([harness.EFFMOND] + list(args), env=e, capture_output=True,
                           text=True, timeout=120, cwd='/tmp')
        harness.note_sanitizer(p.stderr, 'effmond ' + args[0])
        return p

    def test_bad_lists_stop_the_daemon(self):
        for bad, why in (('nginx', '"nginx" is not an IPv4 or IPv6 address'),
                         ('127.0.0.1,', 'an empty entry'),
                         ('10.0.0.0/33', 'longer than 32 bits')):
            p = self.run_cmd({'EFFMON_TRUSTED_PROXIES': bad}, 'serve')
            self.assertNotEqual(p.returncode, 0, bad)
            self.assertIn('EFFMON_TRUSTED_PROXIES: ', p.stderr, bad)
            self.assertIn(why, p.stderr, bad)

    def test_database_password_file(self):
        tmp = tempfile.mkdtemp(prefix='effmon-pw-', dir='/tmp')
        self.addCleanup(shutil.rmtree, tmp, True)
        pw = os.path.join(tmp, 'db_password')
        with open(pw, 'w') as f:
            f.write('not-checked-by-trust-auth\n')
        p = self.run_cmd({'EFFMON_DATABASE_PASSWORD_FILE': pw}, 'migrate')
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.run_cmd({'EFFMON_DATABASE_PASSWORD_FILE': pw, 'PGPASSWORD': 'x'}, 'migrate')
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('EFFMON_DATABASE_PASSWORD_FILE and PGPASSWORD are both set', p.stderr)
        p = self.run_cmd({'EFFMON_DATABASE_PASSWORD_FILE': pw + '.missing'}, 'migrate')
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('EFFMON_DATABASE_PASSWORD_FILE: cannot read', p.stderr)
        self.assertNotIn('not-checked-by-trust-auth', p.stderr + p.stdout)


if __name__ == '__main__':
    unittest.main(verbosity=2)
