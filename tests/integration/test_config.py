#!/usr/bin/python3
"""
test_config.py - start-up configuration: a short JWT secret, bad values and
missing required settings stop `effmond serve` at once with a one-line reason
naming the variable, without listening; --help lists every EFFMON_* variable;
boundary values that are fine do start.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import EFFMOND, HOST  # noqa: E402


class ConfigTest(harness.DaemonTestCase):
    start_daemon = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # migrate once so that a daemon that does start would be healthy
        p = subprocess.run([EFFMOND, 'migrate'], env=cls.env_for({}), capture_output=True,
                           text=True, timeout=120, cwd='/tmp')
        if p.returncode != 0:
            raise RuntimeError('migrate failed: %s' % p.stderr)

    @classmethod
    def env_for(cls, overrides, port=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith('EFFMON_')}
        env.update({'EFFMON_DATABASE_URL': cls.cluster.url,
                    'EFFMON_LISTEN': '%s:%d' % (HOST, port or harness.free_port()),
                    'EFFMON_JWT_SECRET': harness.random_secret(48),
                    'EFFMON_THREADS': '2'})
        for k, v in overrides.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def serve_fails(self, overrides, name, args=(), port=None):
        """effmond serve must exit non-zero within 5 s, one stderr line naming `name`."""
        port = port or harness.free_port()
        env = self.env_for(overrides, port)
        proc = subprocess.Popen([EFFMOND, 'serve'] + list(args), env=env, cwd='/tmp',
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
        listening = False
        try:
            deadline = time.monotonic() + 5
            while proc.poll() is None and time.monotonic() < deadline:
                if not listening and harness.port_open(port, timeout=0.1):
                    listening = True
                time.sleep(0.05)
            if proc.poll() is None:
                proc.kill()
                out, err = proc.communicate(timeout=5)
                self.fail('effmond serve with %r still running after 5 s (stderr %r)'
                          % (overrides, err[-500:]))
            out, err = proc.communicate(timeout=5)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        what = 'effmond serve with %r: exit %d, stderr %r' % (overrides, proc.returncode, err)
        self.assertNotEqual(proc.returncode, 0, what)
        self.assertGreater(proc.returncode, 0, 'killed by a signal? ' + what)
        lines = [ln for ln in err.decode('utf-8', 'replace').splitlines() if ln.strip()]
        self.assertEqual(len(lines), 1, 'stderr is not one line: ' + what)
        self.assertIn(name, lines[0], 'stderr does not name %s: %s' % (name, what))
        self.assertFalse(listening, 'it listened on the port before exiting: ' + what)
        self.assertFalse(harness.port_open(port), 'port still open: ' + what)
        return lines[0]

    def serve_starts(self, overrides):
        port = harness.free_port()
        env = self.env_for(overrides, port)
        errf = tempfile.TemporaryFile()
        proc = subprocess.Popen([EFFMOND, 'serve'], env=env, cwd='/tmp',
                                stdout=subprocess.DEVNULL, stderr=errf,
                                stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            ok = False
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if harness.request(port, 'GET', '/healthz', timeout=1).status == 200:
                        ok = True
                        break
                except OSError:
                    pass
                time.sleep(0.05)
            errf.seek(0)
            log = errf.read().decode('utf-8', 'replace')
            self.assertTrue(ok, 'effmond serve with %r did not start (exit %s): %s'
                            % (overrides, proc.poll(), log[-1000:]))
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            errf.close()
        self.assertEqual(proc.returncode, 0, 'exit code after SIGTERM with %r' % overrides)

    # --- the JWT secret

    def test_secret_31_bytes(self):
        self.serve_fails({'EFFMON_JWT_SECRET': 'a' * 31}, 'EFFMON_JWT_SECRET')

    def test_secret_missing(self):
        self.serve_fails({'EFFMON_JWT_SECRET': None}, 'EFFMON_JWT_SECRET')

    def test_secret_empty(self):
        self.serve_fails({'EFFMON_JWT_SECRET': ''}, 'EFFMON_JWT_SECRET')

    def test_secret_32_bytes_starts(self):
        self.serve_starts({'EFFMON_JWT_SECRET': 'b' * 32})

    def test_secret_file(self):
        with tempfile.NamedTemporaryFile('w', prefix='effmon-secret-', dir='/tmp') as f:
            f.write(harness.random_secret(40) + '\n')
            f.flush()
            self.serve_starts({'EFFMON_JWT_SECRET': None, 'EFFMON_JWT_SECRET_FILE': f.name})
        with tempfile.NamedTemporaryFile('w', prefix='effmon-secret-', dir='/tmp') as f:
            f.write('short-secret\n')
            f.flush()
            self.serve_fails({'EFFMON_JWT_SECRET': None, 'EFFMON_JWT_SECRET_FILE': f.name},
                             'EFFMON_JWT_SECRET_FILE')
        self.serve_fails({'EFFMON_JWT_SECRET': None,
                          'EFFMON_JWT_SECRET_FILE': '/nonexistent/effmon-secret'},
                         'EFFMON_JWT_SECRET_FILE')

    # --- bad values

    def test_threads_abc(self):
        self.serve_fails({'EFFMON_THREADS': 'abc'}, 'EFFMON_THREADS')

    def test_threads_negative(self):
        self.serve_fails({'EFFMON_THREADS': '-1'}, 'EFFMON_THREADS')

    def test_threads_trailing_garbage(self):
        self.serve_fails({'EFFMON_THREADS': '2x'}, 'EFFMON_THREADS')

    def test_listen_nonsense(self):
        self.serve_fails({'EFFMON_LISTEN': 'nonsense'}, 'EFFMON_LISTEN')

    def test_listen_bad_port(self):
        self.serve_fails({'EFFMON_LISTEN': '127.0.0.1:70000'}, 'EFFMON_LISTEN')
        self.serve_fails({'EFFMON_LISTEN': '127.0.0.1:'}, 'EFFMON_LISTEN')
        self.serve_fails({'EFFMON_LISTEN': '999.1.1.1:8080'}, 'EFFMON_LISTEN')

    def test_log_format_xml(self):
        self.serve_fails({'EFFMON_LOG_FORMAT': 'xml'}, 'EFFMON_LOG_FORMAT')

    def test_numeric_options_abc(self):
        for name in ('EFFMON_MAX_BODY', 'EFFMON_TOKEN_TTL', 'EFFMON_STATEMENT_TIMEOUT',
                     'EFFMON_LOGIN_MAX_FAILURES', 'EFFMON_LOGIN_LOCK_SECONDS'):
            with self.subTest(name=name):
                self.serve_fails({name: 'abc'}, name)

    def test_read_max_lag_bounds(self):
        for v in ('abc', '0', '-1', '86401', '1.5', ''):
            with self.subTest(value=v):
                self.serve_fails({'EFFMON_READ_MAX_LAG': v}, 'EFFMON_READ_MAX_LAG')

    def test_database_url_missing(self):
        self.serve_fails({'EFFMON_DATABASE_URL': None}, 'EFFMON_DATABASE_URL')

    def test_database_url_malformed(self):
        secret = 'pw-%d-secret' % os.getpid()
        for url in ('host=127.0.0.1 password %s port' % secret,
                    'host=127.0.0.1 password=%s no_such_option=1' % secret,
                    "host=127.0.0.1 password='%s" % secret,
                    'postgresql://effmon:%s@[::1/effmon' % secret,
                    'postgresql://effmon:%s@127.0.0.1/effmon?%s=1' % (secret, secret)):
            with self.subTest(url=url):
                line = self.serve_fails({'EFFMON_DATABASE_URL': url}, 'EFFMON_DATABASE_URL')
                self.assertNotIn(secret, line, 'the start-up error echoes the password')
                self.assertIn('connection string', line)
        for cmd in ('migrate', 'load-demo'):
            p = subprocess.run([EFFMOND, cmd], capture_output=True, text=True, timeout=30,
                               cwd='/tmp', env=self.env_for(
                                   {'EFFMON_DATABASE_URL': 'password %s' % secret}))
            self.assertEqual(p.returncode, 1, '%s with a malformed URL: %r' % (cmd, p.stderr))
            self.assertIn('EFFMON_DATABASE_URL', p.stderr)
            self.assertNotIn(secret, p.stderr)
        self.serve_fails({'EFFMON_DATABASE_READ_URL': 'password %s' % secret},
                         'EFFMON_DATABASE_READ_URL')

    def test_database_url_server_down_starts(self):
        # well-formed, nothing listening: the daemon starts and /readyz is 503
        port = harness.free_port()
        url = 'host=127.0.0.1 port=%d dbname=effmon user=effmon connect_timeout=1' % \
            harness.free_port()
        env = self.env_for({'EFFMON_DATABASE_URL': url}, port)
        errf = tempfile.TemporaryFile()
        proc = subprocess.Popen([EFFMOND, 'serve'], env=env, cwd='/tmp',
                                stdout=subprocess.DEVNULL, stderr=errf,
                                stdin=subprocess.DEVNULL)
        try:
            harness.wait_for(lambda: harness.port_open(port), 10, what='listening')
            r = harness.request(port, 'GET', '/readyz', timeout=10)
            self.assertEqual(r.status, 503, r)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            errf.close()

    def test_fatal_errors_are_json_lines(self):
        import json
        secret = 'pw-%d-json' % os.getpid()
        for overrides, name, args in (
                ({'EFFMON_JWT_SECRET': 'a' * 31}, 'EFFMON_JWT_SECRET', ()),
                ({'EFFMON_THREADS': 'abc'}, 'EFFMON_THREADS', ()),
                ({'EFFMON_DATABASE_URL': 'password %s' % secret}, 'EFFMON_DATABASE_URL', ()),
                ({'EFFMON_DATABASE_URL': None}, 'EFFMON_DATABASE_URL', ()),
                ({}, 'threads', ('--threads', 'abc')),
                ({}, 'no-such-flag', ('--no-such-flag', 'x'))):
            with self.subTest(name=name, args=args):
                overrides = dict(overrides, EFFMON_LOG_FORMAT='json')
                line = self.serve_fails(overrides, name, args=args)
                try:
                    obj = json.loads(line)
                except ValueError:
                    self.fail('a fatal error is not JSON with EFFMON_LOG_FORMAT=json: %r'
                              % line)
                self.assertEqual(obj.get('level'), 'fatal', obj)
                self.assertIn(name, obj.get('msg', ''), obj)
                self.assertTrue(obj.get('ts'), obj)
                self.assertNotIn(secret, line)
        # --log-format json on the command line counts too, and text stays text
        line = self.serve_fails({'EFFMON_THREADS': 'abc'}, 'EFFMON_THREADS',
                                args=('--log-format', 'json'))
        self.assertEqual(json.loads(line).get('level'), 'fatal')
        line = self.serve_fails({'EFFMON_THREADS': 'abc', 'EFFMON_LOG_FORMAT': 'text'},
                                'EFFMON_THREADS')
        self.assertTrue(line.startswith('effmond: '), line)

    def test_version_flag(self):
        for argv in (['--version'], ['version'], ['serve', '--version']):
            p = subprocess.run([EFFMOND] + argv, capture_output=True, text=True, timeout=10,
                               cwd='/tmp', env=self.env_for({}))
            self.assertEqual(p.returncode, 0, 'effmond %s: %r' % (argv, p.stderr))
            self.assertRegex(p.stdout, r'^effmond \d+\.\d+\.\d+ ', p.stdout)
            self.assertRegex(p.stdout, r'revision \S+, build type (plain|debug|debugoptimized|'
                             r'release|minsize|custom)\b', p.stdout)

    def test_port_in_use(self):
        self.port_in_use(reuse_port=False)

    def test_port_in_use_with_reuseport(self):
        # A listener that allows SO_REUSEPORT (as a second effmond would if the daemon set
        # it) must still keep effmond out: two daemons silently sharing a port is an error.
        self.port_in_use(reuse_port=True)

    def port_in_use(self, reuse_port):
        s = socket.socket()
        if reuse_port:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind((HOST, 0))
        s.listen(1)
        port = s.getsockname()[1]
        try:
            env = self.env_for({}, port)
            p = subprocess.run([EFFMOND, 'serve'], env=env, cwd='/tmp', capture_output=True,
                               text=True, timeout=10, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            self.fail('effmond serve on a port in use still running after 10 s')
        finally:
            s.close()
        self.assertNotEqual(p.returncode, 0, 'serve on a busy port: %r' % p.stderr)
        self.assertTrue(p.stderr.strip(), 'no reason on stderr')

    def test_good_values_start(self):
        self.serve_starts({'EFFMON_LOG_FORMAT': 'json', 'EFFMON_THREADS': '1',
                           'EFFMON_CORS_ORIGINS': 'https://a.example'})
        self.serve_starts({'EFFMON_READ_MAX_LAG': '86400'})

    # --- commands

    def test_help_lists_every_variable(self):
        p = subprocess.run([EFFMOND, '--help'], capture_output=True, text=True, timeout=10,
                           cwd='/tmp', env=self.env_for({}))
        self.assertEqual(p.returncode, 0, 'effmond --help exit %d: %s' % (p.returncode,
                                                                           p.stderr))
        text = p.stdout + p.stderr
        missing = [v for v in harness.INTERFACE_ENV if v not in text]
        self.assertEqual(missing, [], 'effmond --help does not list %s' % missing)
        for cmd in ('serve', 'migrate', 'create-user', 'routes', 'version'):
            self.assertIn(cmd, text, 'effmond --help does not mention the %s command' % cmd)

    def test_unknown_command(self):
        p = subprocess.run([EFFMOND, 'frobnicate'], capture_output=True, text=True, timeout=10,
                           cwd='/tmp', env=self.env_for({}))
        self.assertNotEqual(p.returncode, 0, 'effmond frobnicate: exit 0')
        self.assertTrue(p.stderr.strip(), 'effmond frobnicate: nothing on stderr')

    def test_unknown_flag(self):
        p = subprocess.run([EFFMOND, 'serve', '--no-such-flag', 'x'], capture_output=True,
                           text=True, timeout=10, cwd='/tmp', env=self.env_for({}))
        self.assertNotEqual(p.returncode, 0, 'effmond serve --no-such-flag: exit 0')
        self.assertIn('no-such-flag', p.stderr)

    def test_flag_overrides_env(self):
        p = subprocess.run([EFFMOND, 'serve', '--threads', 'abc'], capture_output=True,
                           text=True, timeout=10, cwd='/tmp', env=self.env_for({}))
        self.assertNotEqual(p.returncode, 0, 'serve --threads abc: exit 0: %r' % p.stderr)
        # and a good flag beats a bad environment value
        port = harness.free_port()
        env = self.env_for({'EFFMON_LOG_FORMAT': 'xml'}, port)
        proc = subprocess.Popen([EFFMOND, 'serve', '--log-format', 'text'], env=env,
                                cwd='/tmp', stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            ok = False
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    ok = harness.request(port, 'GET', '/healthz', timeout=1).status == 200
                except OSError:
                    pass
                if ok:
                    break
                time.sleep(0.05)
            self.assertTrue(ok, '--log-format text did not override EFFMON_LOG_FORMAT=xml '
                            '(exit %s)' % proc.poll())
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            proc.stderr.close()


if __name__ == '__main__':
    harness.main()
