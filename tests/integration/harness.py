"""
harness.py - what every integration test needs: a throwaway PostgreSQL 15
cluster, the effmond daemon on a free port, HTTP helpers (http.client and
raw sockets for framing tests), token helpers and problem+json assertions.

Stdlib + PyJWT only; run with /usr/bin/python3. Every process started here
is tracked by PID and stopped at exit (atexit; SIGTERM and SIGHUP become a normal exit).
"""
import atexit
import base64
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

import jwt

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get('EFFMON_SOURCE_ROOT') or os.path.dirname(os.path.dirname(HERE))
EFFMOND = os.environ.get('EFFMOND') or os.path.join(SOURCE_ROOT, 'build', 'effmond')
PGBIN = os.environ.get('EFFMON_PGBIN', '/usr/lib/postgresql/15/bin')
HOST = '127.0.0.1'

IS_ROOT = os.geteuid() == 0


def _private_copy(path):
    """Run a private copy of the binary: a rebuild of build/effmond while the tests run
    (ninja relinking it in place) would otherwise crash the daemons under test with SIGBUS."""
    if os.environ.get('EFFMON_TEST_NO_COPY') or not os.access(path, os.X_OK):
        return path
    d = tempfile.mkdtemp(prefix='effmon-bin-', dir='/tmp')
    atexit.register(shutil.rmtree, d, True)
    dst = os.path.join(d, 'effmond')
    shutil.copy2(path, dst)
    os.chmod(dst, 0o755)
    return dst


EFFMOND_SOURCE = EFFMOND
EFFMOND = _private_copy(EFFMOND)

# Every EFFMON_* variable the interface names; --help must list them all.
INTERFACE_ENV = [
    'EFFMON_DATABASE_URL', 'EFFMON_LISTEN', 'EFFMON_THREADS', 'EFFMON_JWT_SECRET',
    'EFFMON_JWT_SECRET_FILE', 'EFFMON_JWT_PUBLIC_KEY_FILE', 'EFFMON_JWT_ALG',
    'EFFMON_JWT_ISSUER', 'EFFMON_JWT_AUDIENCE', 'EFFMON_TOKEN_TTL', 'EFFMON_MAX_BODY',
    'EFFMON_LOG_FORMAT', 'EFFMON_CORS_ORIGINS', 'EFFMON_DATABASE_READ_URL',
    'EFFMON_STATEMENT_TIMEOUT', 'EFFMON_LOGIN_MAX_FAILURES', 'EFFMON_LOGIN_LOCK_SECONDS',
    'EFFMON_READ_MAX_LAG',
]

REQUEST_ID_RE = re.compile(r'^[A-Za-z0-9._-]{1,64}$')

# ---------------------------------------------------------------------------
# cleanup bookkeeping

_live = []  # objects with a _cleanup() method, most recent last

# A daemon built with -Db_sanitize=address,undefined reports on stderr; any
# report fails the test file (main() exits 1 after listing them), whether the
# test that provoked it passed or not.
SANITIZER_MARKERS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:',
                     'ERROR: UndefinedBehaviorSanitizer')
sanitizer_reports = []


def note_sanitizer(text, where):
    if text and any(m in text for m in SANITIZER_MARKERS):
        sanitizer_reports.append('%s:\n%s' % (where, text[-6000:]))


def _cleanup_all():
    while _live:
        obj = _live.pop()
        try:
            obj._cleanup()
        except Exception as e:  # keep cleaning the rest
            print('harness: cleanup of %r failed: %s' % (obj, e), file=sys.stderr)


atexit.register(_cleanup_all)


def _on_signal(signum, frame):
    # turn SIGTERM (meson's timeout) into a normal exit so atexit runs
    raise SystemExit(128 + signum)


for _sig in (signal.SIGTERM, signal.SIGHUP):
    try:
        signal.signal(_sig, _on_signal)
    except (ValueError, OSError):
        pass


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child counts as dead
    try:
        with open('/proc/%d/stat' % pid) as f:
            if f.read().split(')')[-1].split()[0] == 'Z':
                return False
    except OSError:
        return False
    return True


def kill_pid(pid, sig=signal.SIGKILL, wait=5.0):
    """Send sig to pid and wait (bounded) until it is gone."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def port_open(port, host=HOST, timeout=0.5):
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def random_secret(n=48):
    alphabet = string.ascii_letters + string.digits
    return ''.join(secrets.choice(alphabet) for _ in range(n))


def wait_for(pred, timeout, interval=0.1, what='condition'):
    """Poll pred() until truthy; return its value or raise AssertionError."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError('timed out after %.1fs waiting for %s' % (timeout, what))
        time.sleep(interval)


# ---------------------------------------------------------------------------
# PostgreSQL

def inn10(prefix9):
    """A valid 10-digit legal-entity INN (the last digit is the checksum)."""
    weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    total = sum(int(c) * w for c, w in zip(prefix9, weights))
    return prefix9 + str(total % 11 % 10)


class Cluster:
    """A private PostgreSQL 15 cluster on 127.0.0.1:<free port>."""

    def __init__(self, max_connections=40):
        self.dir = tempfile.mkdtemp(prefix='effmon-pg-', dir='/tmp')
        self.port = free_port()
        self.logfile = os.path.join(self.dir, 'postgres.log')
        self.running = False
        _live.append(self)
        try:
            self._init(max_connections)
        except BaseException:
            self.destroy()
            raise

    def _init(self, max_connections):
        if IS_ROOT:
            shutil.chown(self.dir, user='postgres', group='postgres')
        self._pg('initdb', '-D', self.dir, '-A', 'trust', '-U', 'postgres', '--no-sync',
                 '-E', 'UTF8', '--locale=C.UTF-8', timeout=120)
        with open(os.path.join(self.dir, 'postgresql.conf'), 'a') as f:
            f.write("\n# effmon integration tests\n"
                    "listen_addresses = '127.0.0.1'\n"
                    "port = %d\n"
                    "unix_socket_directories = '%s'\n"
                    "fsync = off\n"
                    "max_connections = %d\n"
                    "shared_buffers = 32MB\n" % (self.port, self.dir, max_connections))
        self.start()
        self.psql("CREATE ROLE effmon LOGIN", db='postgres')
        self.psql("CREATE DATABASE effmon OWNER effmon", db='postgres')
        self.url = self.url_for('effmon')

    def __repr__(self):
        return 'Cluster(%s, port %d)' % (self.dir, self.port)

    def url_for(self, db, user='effmon'):
        return 'host=%s port=%d dbname=%s user=%s' % (HOST, self.port, db, user)

    def _cmd(self, argv):
        if IS_ROOT:
            return ['runuser', '-u', 'postgres', '--'] + argv
        return argv

    def _pg(self, tool, *args, timeout=60, check=True, input=None):
        argv = self._cmd([os.path.join(PGBIN, tool)] + list(args))
        p = subprocess.run(argv, cwd='/tmp', input=input, capture_output=True, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError('%s failed (%d): %s%s' % (' '.join(argv), p.returncode,
                                                          p.stdout, p.stderr))
        return p

    def start(self):
        self._pg('pg_ctl', '-D', self.dir, '-l', self.logfile, '-w', '-t', '60', 'start',
                 timeout=90)
        self.running = True

    def stop(self, mode='fast'):
        self._pg('pg_ctl', '-D', self.dir, '-m', mode, '-w', '-t', '60', 'stop', timeout=90)
        self.running = False

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.dir, 'postmaster.pid')) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def psql_run(self, sql, db='effmon', user='postgres', timeout=60):
        """Run sql with psql; return the CompletedProcess (no check)."""
        argv = self._cmd([os.path.join(PGBIN, 'psql'), '-X', '-q', '-A', '-t',
                          '-v', 'ON_ERROR_STOP=1', '-h', self.dir, '-p', str(self.port),
                          '-U', user, '-d', db, '-c', sql])
        return subprocess.run(argv, cwd='/tmp', capture_output=True, text=True, timeout=timeout)

    def psql(self, sql, db='effmon', user='postgres', timeout=60):
        """Run sql with psql; return stdout (stripped); raise on error."""
        p = self.psql_run(sql, db=db, user=user, timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError('psql -U %s -d %s -c %r failed (%d): %s' % (
                user, db, sql, p.returncode, p.stderr.strip()))
        return p.stdout.strip()

    def psql_popen(self, sql, db='effmon', user='postgres'):
        """Start psql in the background; caller waits on / kills the Popen by PID."""
        argv = self._cmd([os.path.join(PGBIN, 'psql'), '-X', '-q', '-A', '-t',
                          '-v', 'ON_ERROR_STOP=1', '-h', self.dir, '-p', str(self.port),
                          '-U', user, '-d', db, '-c', sql])
        return subprocess.Popen(argv, cwd='/tmp', stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    _scope_seq = [0]

    def add_scope(self, db='effmon'):
        """Insert a region, a municipality in it, a school in that and its manager (as the
        superuser, straight into the registry tables); return their ids as a dict with the
        keys region, municipality, organization, manager."""
        self._scope_seq[0] += 1
        n = self._scope_seq[0]
        sql = (
            "WITH r AS (INSERT INTO regions (code, name) VALUES ('%02d', 'Test region %d') "
            "RETURNING id), "
            "m AS (INSERT INTO municipalities (region_id, name, oktmo) "
            "SELECT id, 'Test municipality %d', '%08d' FROM r RETURNING id, region_id), "
            "o AS (INSERT INTO organizations (municipality_id, region_id, full_name, short_name, "
            "inn, kind, settlement) SELECT id, region_id, 'Test school %d', 'School %d', '%s', "
            "'school', 'urban' FROM m RETURNING id, municipality_id, region_id), "
            "g AS (INSERT INTO managers (full_name, municipality_id, region_id, organization_id) "
            "SELECT 'Test manager %d', municipality_id, region_id, id FROM o "
            "RETURNING id, organization_id, municipality_id, region_id) "
            "SELECT region_id, municipality_id, organization_id, id FROM g"
            % (n, n, n, 10000000 + n, n, n, inn10('77%07d' % n), n))
        out = self.psql(sql, db=db)
        ids = [int(x) for x in out.split('|')]
        return dict(zip(('region', 'municipality', 'organization', 'manager'), ids))

    def create_database(self, name, owner='effmon'):
        self.psql('CREATE DATABASE %s OWNER %s' % (name, owner), db='postgres')
        return self.url_for(name)

    def destroy(self):
        self._cleanup()
        if self in _live:
            _live.remove(self)

    def _cleanup(self):
        if os.path.isdir(self.dir):
            pid = self.postmaster_pid()
            try:
                self._pg('pg_ctl', '-D', self.dir, '-m', 'immediate', '-w', '-t', '10', 'stop',
                         timeout=20, check=False)
            except Exception:
                pass
            if pid and pid_alive(pid):
                kill_pid(pid, signal.SIGKILL)
            shutil.rmtree(self.dir, ignore_errors=True)
        self.running = False


class Standby(Cluster):
    """A hot standby of a running Cluster, streaming from it: pg_basebackup -R over the
    primary's socket (initdb's pg_hba.conf trusts local replication; wal_level=replica and
    max_wal_senders are PostgreSQL's defaults), on its own free port and socket dir."""

    def __init__(self, primary):
        self.primary = primary
        super().__init__()

    def _init(self, max_connections):
        if IS_ROOT:
            shutil.chown(self.dir, user='postgres', group='postgres')
        self._pg('pg_basebackup', '-D', self.dir, '-h', self.primary.dir,
                 '-p', str(self.primary.port), '-U', 'postgres', '-R', '-X', 'stream',
                 '-c', 'fast', '--no-sync', timeout=120)
        # The copied postgresql.conf names the primary's port and socket: later lines win.
        with open(os.path.join(self.dir, 'postgresql.conf'), 'a') as f:
            f.write("\n# effmon standby\n"
                    "port = %d\n"
                    "unix_socket_directories = '%s'\n"
                    "hot_standby = on\n" % (self.port, self.dir))
        self.start()
        self.url = self.url_for('effmon')

    def __repr__(self):
        return 'Standby(%s, port %d, of port %d)' % (self.dir, self.port, self.primary.port)

    def replayed(self, lsn):
        """True when this standby has replayed the WAL up to lsn (a pg_lsn string)."""
        return self.psql("SELECT pg_last_wal_replay_lsn() >= '%s'::pg_lsn" % lsn) == 't'

    def wait_replayed(self, timeout=30.0):
        """Waits until everything the primary has written so far is replayed here."""
        lsn = self.primary.psql('SELECT pg_current_wal_lsn()')
        wait_for(lambda: self.replayed(lsn), timeout, what='standby replay to %s' % lsn)


# ---------------------------------------------------------------------------
# HTTP

class Response:
    """status, headers (lowercase keys), body bytes, json (or None); unpacks as a 4-tuple."""

    def __init__(self, status, headers, body, header_list=None, elapsed=None, raw=None,
                 reason=''):
        self.status = status
        self.headers = headers
        self.body = body
        self.header_list = header_list or []
        self.elapsed = elapsed
        self.raw = raw
        self.reason = reason
        self.json = None
        ctype = headers.get('content-type', '')
        if body and ('json' in ctype):
            try:
                self.json = json.loads(body.decode('utf-8'))
            except (ValueError, UnicodeDecodeError):
                self.json = None

    def __iter__(self):
        return iter((self.status, self.headers, self.body, self.json))

    def header_values(self, name):
        name = name.lower()
        return [v for k, v in self.header_list if k.lower() == name]

    def __repr__(self):
        body = self.body[:600]
        return '<HTTP %s %s headers=%s body=%r%s>' % (
            self.status, self.reason, self.headers, body,
            '' if self.elapsed is None else ' in %.3fs' % self.elapsed)


def _headers_dict(pairs):
    d = {}
    for k, v in pairs:
        k = k.lower()
        d[k] = v if k not in d else d[k] + ', ' + v
    return d


def request(port, method, path, body=None, headers=None, token=None, timeout=10.0, host=HOST):
    """One request on a fresh connection. body: dict/list (sent as JSON), str or bytes."""
    hdrs = dict(headers or {})
    lower = {k.lower() for k in hdrs}
    if token is not None and 'authorization' not in lower:
        hdrs['Authorization'] = 'Bearer ' + token
    data = None
    if body is not None:
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode('utf-8')
            if 'content-type' not in lower:
                hdrs['Content-Type'] = 'application/json'
        elif isinstance(body, str):
            data = body.encode('utf-8')
        else:
            data = bytes(body)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    t0 = time.monotonic()
    try:
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        payload = r.read()
        pairs = r.getheaders()
        return Response(r.status, _headers_dict(pairs), payload, pairs,
                        time.monotonic() - t0, reason=r.reason)
    finally:
        conn.close()


def _parse_head(buf):
    head, _, rest = buf.partition(b'\r\n\r\n')
    lines = head.split(b'\r\n')
    parts = lines[0].decode('latin-1').split(' ', 2)
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ''
    pairs = []
    for line in lines[1:]:
        k, _, v = line.decode('latin-1').partition(':')
        pairs.append((k.strip(), v.strip()))
    return status, reason, pairs, rest


def _dechunk(data):
    """Return (body, complete) for a chunked body."""
    out = b''
    while True:
        line, sep, rest = data.partition(b'\r\n')
        if not sep:
            return out, False
        try:
            size = int(line.split(b';')[0].strip(), 16)
        except ValueError:
            return out, False
        if size == 0:
            return out, rest.find(b'\r\n') >= 0
        if len(rest) < size + 2:
            return out, False
        out += rest[:size]
        data = rest[size + 2:]


def raw(port, data, timeout=5.0, head=False, host=HOST, chunks=None, chunk_delay=0.0,
        until_close=False):
    """Send exact bytes on a fresh socket; read one response (until complete, close or timeout).

    chunks: optional list of further byte strings sent one by one after data (with chunk_delay
    between them); a send error (the server closed early) stops sending but still reads.
    until_close: ignore the framing and read until the server closes (or the timeout).
    Returns a Response (raw= all bytes read) or None when nothing came back before the timeout.
    """
    s = socket.create_connection((host, port), timeout=timeout)
    t0 = time.monotonic()
    buf = b''
    closed = False
    try:
        try:
            s.sendall(data)
            for c in chunks or []:
                if chunk_delay:
                    time.sleep(chunk_delay)
                s.sendall(c)
        except OSError:
            pass
        deadline = t0 + timeout
        while True:
            if not until_close and b'\r\n\r\n' in buf:
                status, reason, pairs, rest = _parse_head(buf)
                hd = _headers_dict(pairs)
                if head or status in (204, 304) or 100 <= status < 200:
                    if 100 <= status < 200 and status != 101:
                        # skip an interim response
                        buf = rest
                        continue
                    break
                if 'chunked' in hd.get('transfer-encoding', '').lower():
                    body, done = _dechunk(rest)
                    if done:
                        break
                elif 'content-length' in hd:
                    try:
                        if len(rest) >= int(hd['content-length'].split(',')[0]):
                            break
                    except ValueError:
                        pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            s.settimeout(remaining)
            try:
                got = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not got:
                closed = True
                break
            buf += got
    finally:
        s.close()
    elapsed = time.monotonic() - t0
    if b'\r\n\r\n' not in buf:
        if buf:
            raise AssertionError('incomplete response head: %r' % buf[:500])
        return None
    status, reason, pairs, rest = _parse_head(buf)
    hd = _headers_dict(pairs)
    if 'chunked' in hd.get('transfer-encoding', '').lower():
        body, _ = _dechunk(rest)
    elif 'content-length' in hd and not head:
        body = rest[:int(hd['content-length'].split(',')[0])]
    else:
        body = rest
    r = Response(status, hd, body, pairs, elapsed, raw=buf, reason=reason)
    r.trailing = rest
    r.closed = closed
    return r


# ---------------------------------------------------------------------------
# tokens

def http_bytes(method, path, headers=(), body=b'', port=None, close=True):
    """An HTTP/1.1 request as bytes: headers is a list of (name, value), sent as given."""
    lines = ['%s %s HTTP/1.1' % (method, path), 'Host: %s:%s' % (HOST, port or 80)]
    lines += ['%s: %s' % (k, v) for k, v in headers]
    if close:
        lines.append('Connection: close')
    return ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1') + body


def b64url(data):
    if isinstance(data, str):
        data = data.encode('utf-8')
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode('ascii')


def b64url_json(obj):
    return b64url(json.dumps(obj, separators=(',', ':')).encode('utf-8'))


def b64url_decode(s):
    s += '=' * (-len(s) % 4)
    return base64.urlsafe_b64decode(s.encode('ascii'))


def default_claims(sub, role, scope=None, ttl=300, iss='effmon', aud='effmon'):
    now = int(time.time())
    claims = {'sub': str(sub), 'role': role, 'iss': iss, 'aud': aud,
              'iat': now, 'exp': now + ttl, 'jti': uuid.uuid4().hex}
    claims.update(scope or {})
    return claims


def make_token(secret, sub, role, /, alg='HS256', scope=None, headers=None, **overrides):
    """A token for user sub/role with valid claims; overrides replace claims (None removes one)."""
    claims = default_claims(sub, role, scope)
    for k, v in overrides.items():
        if v is None:
            claims.pop(k, None)
        else:
            claims[k] = v
    return jwt.encode(claims, secret, algorithm=alg, headers=headers)


def unsigned_token(claims, alg='none'):
    return b64url_json({'alg': alg, 'typ': 'JWT'}) + '.' + b64url_json(claims) + '.'


# ---------------------------------------------------------------------------
# the daemon

class Daemon:
    """effmond serve on 127.0.0.1:<free port> against a Cluster."""

    def __init__(self, cluster, env=None, migrate=True, threads=2, wait=True, args=()):
        self.cluster = cluster
        self.port = free_port()
        self.secret = random_secret(48)
        self.tmp = tempfile.mkdtemp(prefix='effmon-d-', dir='/tmp')
        self.stderr_path = os.path.join(self.tmp, 'stderr.log')
        self.stdout_path = os.path.join(self.tmp, 'stdout.log')
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith('EFFMON_') and k != 'EFFMON_SOURCE_ROOT':
                del self.env[k]
        self.env.update({
            'EFFMON_DATABASE_URL': cluster.url if cluster else '',
            'EFFMON_LISTEN': '%s:%d' % (HOST, self.port),
            'EFFMON_JWT_SECRET': self.secret,
            'EFFMON_THREADS': str(threads),
        })
        self.env.update(env or {})
        if 'EFFMON_JWT_SECRET' in self.env and (env or {}).get('EFFMON_JWT_SECRET') is not None:
            self.secret = self.env['EFFMON_JWT_SECRET']
        for k, v in list(self.env.items()):
            if v is None:
                del self.env[k]
        self.args = list(args)
        self.proc = None
        self.returncode = None
        _live.append(self)
        try:
            if migrate:
                self.migrate(check=True)
            self.start(wait=wait)
        except BaseException:
            self.destroy()
            raise

    def __repr__(self):
        return 'Daemon(port %d, pid %s)' % (self.port, self.proc.pid if self.proc else None)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def run(self, *args, input=None, timeout=60, env=None):
        """Run `effmond args...` to completion with this daemon's environment."""
        e = dict(self.env)
        e.update(env or {})
        for k, v in list(e.items()):
            if v is None:
                del e[k]
        p = subprocess.run([EFFMOND] + list(args), env=e, input=input, capture_output=True,
                           text=True, timeout=timeout, cwd='/tmp')
        note_sanitizer(p.stderr, 'effmond ' + ' '.join(args[:1]))
        return p

    def migrate(self, check=True, env=None):
        p = self.run('migrate', env=env, timeout=120)
        if check and p.returncode != 0:
            raise RuntimeError('effmond migrate failed (%d): %s%s' % (p.returncode, p.stdout,
                                                                      p.stderr))
        return p

    def start(self, wait=True):
        self._err = open(self.stderr_path, 'ab')
        self._out = open(self.stdout_path, 'ab')
        self.returncode = None
        self.proc = subprocess.Popen([EFFMOND, 'serve'] + self.args, env=self.env,
                                     stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL, cwd='/tmp')
        if wait:
            self.wait_healthy(10.0)

    def wait_healthy(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('effmond serve exited with %s before /healthz answered:\n%s'
                                   % (self.proc.returncode, self.log_tail()))
            try:
                r = self.request('GET', '/healthz', timeout=1.0)
                if r.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError('effmond serve did not answer /healthz within %.0fs:\n%s'
                           % (timeout, self.log_tail()))

    def log(self):
        try:
            with open(self.stderr_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def log_tail(self, n=40):
        return '\n'.join(self.log().splitlines()[-n:])

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30.0):
        """SIGTERM, wait (bounded); returns the exit code (SIGKILL and raise on timeout)."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError('effmond did not exit within %.0fs of SIGTERM' % timeout)
        return self._reap()

    def wait(self, timeout):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self._reap()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                kill_pid(self.proc.pid)
        return self._reap()

    def _reap(self):
        self.returncode = self.proc.returncode
        for f in (getattr(self, '_err', None), getattr(self, '_out', None)):
            if f and not f.closed:
                f.close()
        return self.returncode

    def destroy(self):
        self._cleanup()
        if self in _live:
            _live.remove(self)

    def _cleanup(self):
        # a graceful stop first, so that a sanitizer build checks for leaks at exit
        try:
            if self.alive():
                self.signal(signal.SIGTERM)
                self.proc.wait(10)
        except Exception:
            pass
        try:
            self.kill()
        except Exception:
            pass
        try:
            with open(self.stderr_path, errors='replace') as f:
                note_sanitizer(f.read(), 'effmond serve (%s)' % self.stderr_path)
        except OSError:
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- helpers bound to this daemon

    def request(self, method, path, body=None, headers=None, token=None, timeout=10.0):
        return request(self.port, method, path, body=body, headers=headers, token=token,
                       timeout=timeout)

    def raw(self, data, **kw):
        return raw(self.port, data, **kw)

    def create_user(self, login, role, password, **scope):
        """effmond create-user; scope keys: region, municipality, organization, manager."""
        args = ['create-user', '--login', login, '--role', role]
        for k, v in scope.items():
            args += ['--' + k.replace('_id', ''), str(v)]
        args.append('--password-stdin')
        p = self.run(*args, input=password + '\n', timeout=60)
        if p.returncode != 0:
            raise RuntimeError('effmond %s failed (%d): %s%s' % (' '.join(args), p.returncode,
                                                                 p.stdout, p.stderr))
        out = p.stdout.strip()
        m = re.search(r'\d+', out)
        if not m:
            raise RuntimeError('create-user printed no id: %r' % out)
        return int(m.group(0))

    def login_response(self, login, password, **kw):
        return self.request('POST', '/api/v1/auth/token',
                            body={'login': login, 'password': password}, **kw)

    def login(self, login, password):
        r = self.login_response(login, password)
        if r.status != 200 or not r.json or 'access_token' not in r.json:
            raise AssertionError('login %r failed: %r' % (login, r))
        return r.json['access_token']

    def token(self, sub, role, /, alg='HS256', scope=None, secret=None, **overrides):
        return make_token(secret or self.secret, sub, role, alg=alg, scope=scope, **overrides)


# ---------------------------------------------------------------------------
# assertions

def describe(r, what=''):
    return '%s -> %r' % (what, r)


def assert_problem(r, status, what=''):
    """r is a problem+json response with the given status and the mandatory members."""
    ctx = describe(r, what)
    if r.status != status:
        raise AssertionError('expected status %d, got %d: %s' % (status, r.status, ctx))
    ctype = r.headers.get('content-type', '')
    if ctype.split(';')[0].strip().lower() != 'application/problem+json':
        raise AssertionError('expected Content-Type application/problem+json, got %r: %s'
                             % (ctype, ctx))
    try:
        doc = json.loads(r.body.decode('utf-8'))
    except (ValueError, UnicodeDecodeError) as e:
        raise AssertionError('problem body is not JSON (%s): %s' % (e, ctx))
    if not isinstance(doc, dict):
        raise AssertionError('problem body is not an object: %s' % ctx)
    for k, typ in (('type', str), ('title', str), ('status', int), ('detail', str)):
        if k not in doc:
            raise AssertionError('problem body lacks %r: %s' % (k, ctx))
        if not isinstance(doc[k], typ) or isinstance(doc[k], bool):
            raise AssertionError('problem member %r is not a %s: %s' % (k, typ.__name__, ctx))
    if doc['status'] != status:
        raise AssertionError('problem status %r != HTTP status %d: %s' % (doc['status'], status,
                                                                           ctx))
    if not doc['type'].startswith('/problems/'):
        raise AssertionError('problem type %r does not start with /problems/: %s' % (doc['type'],
                                                                                      ctx))
    rid = r.headers.get('x-request-id')
    if not rid:
        raise AssertionError('no X-Request-Id header: %s' % ctx)
    if 'request_id' in doc and doc['request_id'] != rid:
        raise AssertionError('body request_id %r != X-Request-Id %r: %s' % (doc['request_id'],
                                                                             rid, ctx))
    return doc


def assert_status(r, status, what=''):
    if r is None:
        raise AssertionError('%s: no response (timeout)' % what)
    if r.status != status:
        raise AssertionError('expected status %d, got %d: %s' % (status, r.status,
                                                                 describe(r, what)))
    return r


def assert_retry_after(r, what='', maximum=None):
    ra = r.headers.get('retry-after')
    if ra is None:
        raise AssertionError('no Retry-After header: %s' % describe(r, what))
    if not re.fullmatch(r'[0-9]+', ra.strip()):
        raise AssertionError('Retry-After %r is not delay-seconds: %s' % (ra, describe(r, what)))
    if maximum is not None and int(ra) > maximum:
        raise AssertionError('Retry-After %s > %d: %s' % (ra, maximum, describe(r, what)))
    return int(ra)


# ---------------------------------------------------------------------------
# test-case base: one cluster + one daemon per class

class DaemonTestCase(unittest.TestCase):
    """setUpClass starts a cluster and a daemon (env: cls.daemon_env); cleanup always runs."""

    daemon_env = {}
    threads = 2
    start_daemon = True

    @classmethod
    def setUpClass(cls):
        if not os.access(EFFMOND, os.X_OK):
            if os.environ.get('EFFMOND'):
                raise RuntimeError('EFFMOND=%s is not an executable' % EFFMOND_SOURCE)
            raise unittest.SkipTest('no effmond binary at %s (set EFFMOND)' % EFFMOND_SOURCE)
        cls.cluster = Cluster()
        cls.addClassCleanup(cls.cluster.destroy)
        cls.daemon = None
        if cls.start_daemon:
            cls.daemon = Daemon(cls.cluster, env=cls.daemon_env, threads=cls.threads)
            cls.addClassCleanup(cls.daemon.destroy)

    def run(self, result=None):
        # On a failure, show the daemon's last log lines next to it.
        before = (len(result.failures) + len(result.errors)) if result else 0
        out = super().run(result)
        if result is not None and len(result.failures) + len(result.errors) > before:
            d = getattr(self, 'daemon', None)
            if d is not None and d.proc is not None:
                state = 'running' if d.proc.poll() is None else 'exited with %s' % d.proc.returncode
                sys.stderr.write('\n--- effmond (pid %d, %s) stderr tail for %s ---\n%s\n---\n'
                                 % (d.proc.pid, state, self.id(), d.log_tail(30)))
        return out

    def assertProblem(self, r, status, what=''):
        return assert_problem(r, status, what)

    def assertStatus(self, r, status, what=''):
        return assert_status(r, status, what)

    def assertHealthy(self, what=''):
        d = self.daemon
        if not d.alive():
            self.fail('effmond died (exit %s) %s:\n%s' % (d.proc.returncode, what,
                                                          d.log_tail()))
        r = d.request('GET', '/healthz', timeout=5)
        assert_status(r, 200, 'GET /healthz after ' + what)


def main():
    prog = unittest.main(verbosity=2, exit=False)
    _cleanup_all()
    if sanitizer_reports:
        print('\n%d sanitizer report(s):' % len(sanitizer_reports), file=sys.stderr)
        for r in sanitizer_reports:
            print(r, file=sys.stderr)
        sys.exit(1)
    sys.exit(0 if prog.result.wasSuccessful() else 1)
