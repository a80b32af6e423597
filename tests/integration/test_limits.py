#!/usr/bin/python3
"""
test_limits.py - resource exhaustion against a daemon with its DEFAULT limits:
1 000 slow connections (slowloris and slow bodies) from 127.0.0.2 while a normal
client on 127.0.0.1 keeps p99 < 1 s; oversized header/URL (431/414) answered
without reading the body; login floods of one login and of many logins from one
address (429 + Retry-After); open descriptors back to the baseline afterwards;
a daemon started before its PostgreSQL cluster exists (/readyz 503 until then).
The body cap (413 before the body is sent) is tested in test_http.py
(test_huge_content_length_413_before_body, test_expect_100_huge_413).
"""
import errno
import http.client
import json
import math
import os
import resource
import selectors
import socket
import sys
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import HOST, assert_problem, assert_retry_after, assert_status, http_bytes  # noqa

ME = '/api/v1/auth/me'
TOKEN = '/api/v1/auth/token'
PASSWORD = 'correct horse battery'

# The daemon's defaults (src/config.c); the test does not override them, except
# EFFMON_LOGIN_IP_MAX_FAILURES (default 50).
PER_IP_LIMIT = 256
HTTP_TIMEOUT = 30
LOGIN_MAX_FAILURES = 5
LOGIN_IP_MAX_FAILURES = 20
THREADS = 2

SLOW_ADDR = '127.0.0.2'
SPRAY_ADDR = '127.0.0.20'
SLOW_CONNECTIONS = 1000
SLOW_DRIP = 2.0         # seconds between two bytes of one slow connection
NORMAL_SECONDS = 16.0   # how long the normal client measures under the slow ones
P99_LIMIT = 1.0


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < need:
        raise unittest.SkipTest('RLIMIT_NOFILE hard limit %d < %d' % (soft, need))


def open_fds(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def percentile(values, p):
    s = sorted(values)
    return s[max(0, math.ceil(p / 100.0 * len(s)) - 1)]


def refused_from(addr, port, timeout=3.0):
    """None when a GET /healthz from addr is closed unanswered (the per-address
    limit), else what came back."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout,
                                      source_address=(addr, 0)) as s:
            s.sendall(http_bytes('GET', '/healthz', port=port))
            got = s.recv(4096)
    except (ConnectionResetError, BrokenPipeError, ConnectionRefusedError):
        return None
    except socket.timeout:
        return 'no answer and no close within %.0fs' % timeout
    return got or None


def request_from(addr, port, method, path, body=None, timeout=15.0):
    """One JSON request on a fresh connection from source address addr."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout, source_address=(addr, 0))
    try:
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {'Content-Type': 'application/json'} if body is not None else {}
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        payload = r.read()
        pairs = r.getheaders()
        return harness.Response(r.status, harness._headers_dict(pairs), payload, pairs)
    finally:
        conn.close()


class _Slow:
    __slots__ = ('sock', 'kind', 'state', 'next_drip', 'last_sent', 'closed_at', 'received',
                 'sent')

    def __init__(self, sock, kind):
        self.sock = sock
        self.kind = kind
        self.state = 'connecting'
        self.next_drip = 0.0
        self.last_sent = None
        self.closed_at = None
        self.received = b''
        self.sent = 0


class SlowClient:
    """n non-blocking sockets from one source address, all held by one thread:
    half send a request head one header line at a time (slowloris), half send a
    whole head announcing a 4 KiB body and then the body one byte at a time.
    Each drips every `drip` seconds while `dripping` is set; a connection the
    server closes (EOF, reset, broken pipe) is noted with its time."""

    def __init__(self, port, n, addr=SLOW_ADDR, drip=SLOW_DRIP):
        self.port, self.n, self.addr, self.drip = port, n, addr, drip
        self.conns = []
        self.connect_errors = []
        self.dripping = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='slow-client', daemon=True)
        self.error = None

    # --- the owner's view
    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(10)
        for c in self.conns:
            try:
                c.sock.close()
            except OSError:
                pass

    def held(self):
        return [c for c in self.conns if c.state == 'open']

    def closed_by_server(self):
        return [c for c in self.conns if c.state == 'closed']

    def settled(self):
        return all(c.state != 'connecting' for c in self.conns) and len(self.conns) == self.n

    # --- the thread
    def _first_bytes(self, c):
        host = 'Host: %s:%d\r\n' % (HOST, self.port)
        if c.kind == 'head':
            return ('GET /healthz HTTP/1.1\r\n' + host).encode()
        return ('POST %s HTTP/1.1\r\n%sContent-Type: application/json\r\n'
                'Content-Length: 4096\r\n\r\n{' % (TOKEN, host)).encode()

    def _drip_bytes(self, c):
        return b'X-Slow-%d: x\r\n' % c.sent if c.kind == 'head' else b' '

    def _send(self, c, data, now):
        try:
            c.sock.send(data)
        except BlockingIOError:
            return
        except OSError:
            self._closed(c, now)
            return
        c.sent += 1
        c.last_sent = now

    def _closed(self, c, now):
        if c.state in ('open', 'connecting'):
            c.state = 'closed'
            c.closed_at = now
            try:
                self.sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass

    def _run(self):
        try:
            self._loop()
        except Exception as e:  # reported by the test
            self.error = e

    def _loop(self):
        self.sel = selectors.DefaultSelector()
        for i in range(self.n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.bind((self.addr, 0))
            err = s.connect_ex((HOST, self.port))
            if err not in (0, errno.EINPROGRESS):
                self.connect_errors.append(os.strerror(err))
                s.close()
                continue
            c = _Slow(s, 'head' if i % 2 == 0 else 'body')
            self.conns.append(c)
            self.sel.register(s, selectors.EVENT_WRITE, c)
        while not self._stop.is_set():
            now = time.monotonic()
            for key, mask in self.sel.select(timeout=0.05):
                c = key.data
                if c.state == 'connecting':
                    err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        self.connect_errors.append(os.strerror(err))
                        self._closed(c, now)
                        continue
                    c.state = 'open'
                    self.sel.modify(c.sock, selectors.EVENT_READ, c)
                    self._send(c, self._first_bytes(c), now)
                    # spread the drips over the interval
                    c.next_drip = now + self.drip * (id(c) % 97) / 97.0
                    continue
                try:
                    got = c.sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    got = b''
                if got:
                    c.received += got
                else:
                    self._closed(c, now)
            if self.dripping:
                for c in self.conns:
                    if c.state == 'open' and c.next_drip <= now:
                        self._send(c, self._drip_bytes(c), now)
                        c.next_drip = now + self.drip


class LimitsTest(harness.DaemonTestCase):
    """One daemon with the default limits (threads=2) but a per-address login budget of
    20 (default 50: 30 fewer password hashes to wait for); tests run in name order and
    the last one checks the daemon's descriptors against the first one's baseline."""
    threads = THREADS
    daemon_env = {'EFFMON_LOGIN_IP_MAX_FAILURES': str(LOGIN_IP_MAX_FAILURES)}

    @classmethod
    def setUpClass(cls):
        raise_fd_limit(SLOW_CONNECTIONS + 256)
        super().setUpClass()
        d = cls.daemon
        cls.uid = d.create_user('normal', 'admin', PASSWORD)
        d.create_user('flooded', 'admin', PASSWORD)
        d.create_user('bystander', 'admin', PASSWORD)
        cls.tok = d.login('normal', PASSWORD)
        # warm up: every worker has its database connection before the baseline
        with ThreadPoolExecutor(8) as ex:
            for r in ex.map(lambda i: d.request('GET', ME, token=cls.tok), range(40)):
                assert_status(r, 200, 'warm-up GET %s' % ME)
        time.sleep(0.3)
        cls.fd_baseline = open_fds(d.pid)

    def tearDown(self):
        self.assertHealthy(self.id())

    # ------------------------------------------------------------ slow clients

    def normal_client(self, seconds):
        """GET /healthz and GET /me alternately on fresh connections for `seconds`;
        returns (latencies, failures)."""
        lat, failures = [], []
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            path, tok = ('/healthz', None) if i % 2 == 0 else (ME, self.tok)
            i += 1
            t0 = time.monotonic()
            try:
                r = self.daemon.request('GET', path, token=tok, timeout=5)
                if r.status != 200:
                    failures.append('%s -> %r' % (path, r))
            except OSError as e:
                failures.append('%s -> %s after %.2fs' % (path, e, time.monotonic() - t0))
            lat.append(time.monotonic() - t0)
        return lat, failures

    def test_1_slow_connections(self):
        d = self.daemon
        slow = SlowClient(d.port, SLOW_CONNECTIONS)
        self.addCleanup(slow.stop)
        slow.start()
        # the daemon accepts them all, keeps PER_IP_LIMIT and closes the rest at once
        harness.wait_for(lambda: slow.settled() and len(slow.held()) <= PER_IP_LIMIT, 15, 0.1,
                         'the slow connections to be held or refused')
        self.assertIsNone(slow.error, slow.error)
        self.assertEqual(slow.connect_errors, [], 'connect errors from %s' % SLOW_ADDR)
        time.sleep(1.0)

        lat, failures = self.normal_client(NORMAL_SECONDS)

        held = slow.held()
        fds_during = open_fds(d.pid)
        answered = [c for c in slow.conns if c.received]
        p99 = percentile(lat, 99)
        sys.stderr.write('\nslow clients: %d opened from %s, %d held, %d closed by the daemon; '
                         'daemon fds %d (baseline %d)\nnormal client: %d requests in %.0fs, '
                         'p50 %.1f ms, p99 %.1f ms, max %.1f ms, %d failures\n'
                         % (len(slow.conns), SLOW_ADDR, len(held), len(slow.closed_by_server()),
                            fds_during, self.fd_baseline, len(lat), NORMAL_SECONDS,
                            1000 * percentile(lat, 50), 1000 * p99, 1000 * max(lat),
                            len(failures)))
        self.assertEqual(failures, [], 'the normal client failed under the slow ones')
        self.assertLess(p99, P99_LIMIT, 'normal client p99 %.3fs under %d slow connections'
                        % (p99, SLOW_CONNECTIONS))
        self.assertGreater(len(lat), 100, 'too few normal requests to measure a p99')
        # the slow address holds exactly its per-address share, the rest were refused
        self.assertEqual(len(held), PER_IP_LIMIT,
                         'slow connections held: %d (per-address limit %d)'
                         % (len(held), PER_IP_LIMIT))
        self.assertEqual(len(slow.closed_by_server()), SLOW_CONNECTIONS - PER_IP_LIMIT)
        self.assertEqual(answered, [], 'a slow connection got an answer: %r'
                         % (answered[:1] and answered[0].received[:200]))
        self.assertGreaterEqual(fds_during - self.fd_baseline, PER_IP_LIMIT,
                                'the daemon does not hold the slow connections?')
        self.assertLess(fds_during - self.fd_baseline, PER_IP_LIMIT + 16,
                        'the daemon holds more descriptors than the per-address limit allows')
        # one more connection from the slow address is refused while it is at its limit
        got = refused_from(SLOW_ADDR, d.port)
        self.assertIsNone(got, 'a new connection from %s at its limit was answered: %r'
                          % (SLOW_ADDR, got))

        # silence: the idle timeout (default 30 s) frees every held slot, not earlier
        slow.dripping = False
        t_silent = time.monotonic()
        harness.wait_for(lambda: not slow.held(), HTTP_TIMEOUT + 15, 0.2,
                         'the daemon to close the silent slow connections')
        idle = [c.closed_at - c.last_sent for c in held]
        sys.stderr.write('silent slow connections closed by the daemon after %.1f-%.1f s idle '
                         '(all within %.1fs of going silent)\n'
                         % (min(idle), max(idle), time.monotonic() - t_silent))
        self.assertGreaterEqual(min(idle), HTTP_TIMEOUT - 2,
                                'a slow connection was closed before the idle timeout')
        self.assertLessEqual(max(idle), HTTP_TIMEOUT + 5,
                             'a silent connection outlived the idle timeout')
        # the slow address is served again
        r = request_from(SLOW_ADDR, d.port, 'GET', '/healthz')
        assert_status(r, 200, 'GET /healthz from %s after its connections timed out' % SLOW_ADDR)
        self.assertIsNone(slow.error, slow.error)

    # ------------------------------------------------------------ oversized requests

    def raw_timed(self, data, what):
        t0 = time.monotonic()
        r = self.daemon.raw(data, until_close=True, timeout=5)
        took = time.monotonic() - t0
        self.assertIsNotNone(r, 'no answer to %s' % what)
        self.assertTrue(r.closed, '%s: the connection was not closed' % what)
        self.assertLess(took, 2.0, '%s answered after %.2fs (waited for the body?)'
                        % (what, took))
        return r

    def test_2_header_field_too_large_431(self):
        # a POST announcing a 1 MB body that is never sent: the answer must not wait for it
        for method, path, extra in (('GET', '/healthz', []),
                                    ('POST', TOKEN, [('Content-Type', 'application/json'),
                                                     ('Content-Length', '1000000')])):
            data = http_bytes(method, path, [('X-Big', 'a' * 100000)] + extra,
                              port=self.daemon.port)
            r = self.raw_timed(data, '%s %s with one 100 kB header' % (method, path))
            assert_status(r, 431, '%s %s with one 100 kB header' % (method, path))

    def test_3_many_headers_431(self):
        headers = [('X-Many-%04d' % i, 'v' * 12) for i in range(3000)]
        r = self.raw_timed(http_bytes('POST', TOKEN, headers + [
            ('Content-Type', 'application/json'), ('Content-Length', '1000000')],
            port=self.daemon.port), '3 000 headers')
        assert_status(r, 431, '3 000 headers (~70 kB)')

    def test_4_url_too_long_414(self):
        for method, extra in (('GET', []), ('POST', [('Content-Type', 'application/json'),
                                                     ('Content-Length', '1000000')])):
            path = '/api/v1/organizations?q=' + 'a' * 100000
            r = self.raw_timed(http_bytes(method, path, extra, port=self.daemon.port),
                               '%s with a 100 kB URL' % method)
            assert_status(r, 414, '%s with a 100 kB URL' % method)

    # ------------------------------------------------------------ login flood

    def test_5_login_flood_one_login(self):
        """200 wrong passwords for one login from eight addresses, 100 at a time, with a
        correct login of another user in the middle: at most LOGIN_MAX_FAILURES password
        checks, 429 + Retry-After for the rest, the bystander served."""
        d = self.daemon
        addrs = ['127.0.0.%d' % i for i in range(2, 10)]

        def attempt(i):
            if i == 100:
                return 'bystander', request_from('127.0.0.1', d.port, 'POST', TOKEN,
                                                 {'login': 'bystander', 'password': PASSWORD})
            return 'flood', request_from(addrs[i % len(addrs)], d.port, 'POST', TOKEN,
                                         {'login': 'flooded', 'password': 'bad-%d' % i})

        t0 = time.monotonic()
        with ThreadPoolExecutor(100) as ex:
            results = list(ex.map(attempt, range(201)))
        took = time.monotonic() - t0
        flood = [r for who, r in results if who == 'flood']
        statuses = sorted(r.status for r in flood)
        sys.stderr.write('\nlogin flood: %d attempts in %.1fs: %d x 401, %d x 429\n'
                         % (len(flood), took, statuses.count(401), statuses.count(429)))
        self.assertEqual(len(flood), 200)
        for r in flood:
            self.assertIn(r.status, (401, 429), r)
            if r.status == 429:
                assert_problem(r, 429, 'flooded login')
                self.assertGreater(assert_retry_after(r, 'flooded login', maximum=900), 0, r)
        self.assertLessEqual(statuses.count(401), LOGIN_MAX_FAILURES,
                             'password checks under the flood: %r' % statuses)
        self.assertGreaterEqual(statuses.count(429), 200 - LOGIN_MAX_FAILURES)
        bystander = [r for who, r in results if who == 'bystander'][0]
        assert_status(bystander, 200, 'a correct login of another user during the flood')
        # locked for the right password too; others still log in
        assert_problem(d.login_response('flooded', PASSWORD), 429, 'right password after flood')
        d.login('bystander', PASSWORD)

    def test_6_login_flood_many_logins(self):
        """100 different unknown logins from one address, 40 at a time (spraying): each is
        a password check until the address has LOGIN_IP_MAX_FAILURES failures, then
        429 + Retry-After before any hashing, for every login from that address; other
        addresses log in as before."""
        d = self.daemon
        t0 = time.monotonic()
        with ThreadPoolExecutor(40) as ex:
            rs = list(ex.map(lambda i: request_from(
                SPRAY_ADDR, d.port, 'POST', TOKEN,
                {'login': 'sprayed-%d' % i, 'password': 'guess'}, timeout=60), range(100)))
        took = time.monotonic() - t0
        statuses = [r.status for r in rs]
        sys.stderr.write('\nspraying: 100 unknown logins from %s in %.1fs: %d x 401, %d x 429\n'
                         % (SPRAY_ADDR, took, statuses.count(401), statuses.count(429)))
        for r in rs:
            self.assertIn(r.status, (401, 429), r)
            if r.status == 429:
                assert_problem(r, 429, 'login from a spraying address')
                ra = assert_retry_after(r, 'login from a spraying address', maximum=900)
                self.assertGreater(ra, 0, r)
            else:
                assert_problem(r, 401, 'one attempt for an unknown login')
        # a check and its count are not atomic: each worker may have one in between
        self.assertGreaterEqual(statuses.count(401), LOGIN_IP_MAX_FAILURES, statuses)
        self.assertLessEqual(statuses.count(401), LOGIN_IP_MAX_FAILURES + THREADS, statuses)
        r = request_from(SPRAY_ADDR, d.port, 'POST', TOKEN,
                         {'login': 'bystander', 'password': PASSWORD})
        assert_problem(r, 429, 'a correct login from the spraying address')
        t1 = time.monotonic()
        d.login('bystander', PASSWORD)
        self.assertLess(time.monotonic() - t1, 5.0, 'login from another address after the spray')

    def test_7_login_address_cap_off(self):
        """EFFMON_LOGIN_IP_MAX_FAILURES=0 (a daemon behind a reverse proxy, where every client
        has the proxy's address): a spray past the default's count gets 401s only."""
        d = harness.Daemon(self.cluster, migrate=False, threads=THREADS,
                           env={'EFFMON_LOGIN_IP_MAX_FAILURES': '0'})
        self.addCleanup(d.destroy)
        n = LOGIN_IP_MAX_FAILURES + 5
        with ThreadPoolExecutor(4) as ex:
            rs = list(ex.map(lambda i: request_from(
                '127.0.0.21', d.port, 'POST', TOKEN,
                {'login': 'proxied-%d' % i, 'password': 'guess'}, timeout=60), range(n)))
        for r in rs:
            assert_problem(r, 401, 'failed login with the address cap off')
        d.destroy()

    # ------------------------------------------------------------ descriptors

    def test_9_fds_back_to_baseline(self):
        d = self.daemon
        # the connections of the tests above are closed; give the daemon a moment
        deadline = time.monotonic() + 5
        while True:
            now_fds = open_fds(d.pid)
            if now_fds <= self.fd_baseline or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        sys.stderr.write('\ndaemon fds: baseline %d, after the limit tests %d\n'
                         % (self.fd_baseline, now_fds))
        # the baseline had every worker's database connection open; allow no more
        self.assertLessEqual(now_fds, self.fd_baseline,
                             'descriptors leaked: %d after, %d before; /proc/%d/fd: %r'
                             % (now_fds, self.fd_baseline, d.pid,
                                sorted(os.readlink('/proc/%d/fd/%s' % (d.pid, f))
                                       for f in os.listdir('/proc/%d/fd' % d.pid))))


class LateCluster(harness.Cluster):
    """A cluster created on a port chosen before it exists."""

    def __init__(self, port):
        self._wanted_port = port
        super().__init__()

    def _init(self, max_connections):
        self.port = self._wanted_port
        super()._init(max_connections)


class NoClusterYetTest(unittest.TestCase):
    """effmond serve started while nothing listens on its database port."""

    def run(self, result=None):
        before = (len(result.failures) + len(result.errors)) if result else 0
        out = super().run(result)
        d = getattr(self, 'daemon', None)
        if result is not None and len(result.failures) + len(result.errors) > before and d:
            sys.stderr.write('\n--- effmond stderr tail ---\n%s\n---\n' % d.log_tail(30))
        return out

    def expect_503(self, d, method, path, what, **kw):
        r = d.request(method, path, timeout=10, **kw)
        self.assertLess(r.elapsed, 5.0, '%s took %.2fs' % (what, r.elapsed))
        assert_problem(r, 503, what)
        assert_retry_after(r, what, maximum=60)

    def test_daemon_before_cluster(self):
        if not os.access(harness.EFFMOND, os.X_OK):
            raise unittest.SkipTest('no effmond binary at %s' % harness.EFFMOND_SOURCE)
        port = harness.free_port()
        url = 'host=%s port=%d dbname=effmon user=effmon' % (HOST, port)
        d = harness.Daemon(None, migrate=False, env={'EFFMON_DATABASE_URL': url})
        self.daemon = d
        self.addCleanup(d.destroy)
        tok = d.token(1, 'admin')
        for i in range(3):
            assert_status(d.request('GET', '/healthz'), 200, 'GET /healthz with no cluster')
            self.expect_503(d, 'GET', '/readyz', 'GET /readyz with no cluster (%d)' % i)
            self.expect_503(d, 'GET', ME, 'GET %s with no cluster' % ME, token=tok)
            self.expect_503(d, 'POST', TOKEN, 'POST %s with no cluster' % TOKEN,
                            body={'login': 'x', 'password': 'y'})

        cluster = LateCluster(port)
        self.addCleanup(cluster.destroy)
        # the cluster answers, the schema is not there yet
        self.expect_503(d, 'GET', '/readyz', 'GET /readyz before migrating')
        p = d.migrate(check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        t0 = time.monotonic()
        while True:
            r = d.request('GET', '/readyz', timeout=5)
            if r.status == 200 or time.monotonic() - t0 > 5:
                break
            time.sleep(0.1)
        assert_status(r, 200, 'GET /readyz within 5 s of the cluster being migrated')
        sys.stderr.write('\n/readyz 200 %.2fs after the migration\n' % (time.monotonic() - t0))
        d.create_user('late', 'admin', PASSWORD)
        tok = d.login('late', PASSWORD)
        assert_status(d.request('GET', ME, token=tok), 200, 'GET %s once the cluster is up' % ME)
        self.assertTrue(d.alive())


if __name__ == '__main__':
    harness.main()
