#!/usr/bin/python3
"""
test_ops.py - the operational surface: /healthz, /readyz (schema_version),
/metrics (Prometheus text, route labels are patterns), /api/v1/openapi.yaml,
`effmond version`, `effmond routes`, and the access log (one line per request).
"""
import glob
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import SOURCE_ROOT, assert_problem, assert_status  # noqa: E402

ME = '/api/v1/auth/me'

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*')


def parse_metrics(text):
    """[(name, {label: value}, float)] from Prometheus text format; raises on a bad line."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith('#'):
            if line.startswith('#') and not re.match(r'^# (HELP|TYPE) \S+ ', line) \
                    and not line.startswith('# '):
                raise AssertionError('bad comment line %r' % line)
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise AssertionError('bad sample line %r' % line)
        labels = {}
        if m.group(3):
            pos = 0
            s = m.group(3)
            while pos < len(s):
                lm = LABEL_RE.match(s, pos)
                if not lm:
                    raise AssertionError('bad labels in %r' % line)
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def migration_files():
    return sorted(glob.glob(os.path.join(SOURCE_ROOT, 'migrations', '[0-9][0-9][0-9][0-9]_*.sql')))


class OpsTest(harness.DaemonTestCase):
    daemon_env = {'EFFMON_LOG_FORMAT': 'text'}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.uid = cls.daemon.create_user('root', 'admin', 'correct horse battery')
        cls.tok = cls.daemon.token(cls.uid, 'admin')

    def metrics(self):
        r = self.daemon.request('GET', '/metrics')
        assert_status(r, 200, 'GET /metrics')
        ct = r.headers.get('content-type', '')
        self.assertEqual(ct.replace(' ', '').lower().split(';charset')[0],
                         'text/plain;version=0.0.4', r)
        return r, parse_metrics(r.body.decode('utf-8'))

    def test_healthz(self):
        r = self.daemon.request('GET', '/healthz')
        assert_status(r, 200, 'GET /healthz')
        self.assertTrue(r.headers.get('content-type', '').startswith('application/json'), r)
        self.assertEqual(r.json, {'status': 'ok'}, r)
        self.assertTrue(r.headers.get('x-request-id'), r)

    def test_readyz(self):
        r = self.daemon.request('GET', '/readyz')
        assert_status(r, 200, 'GET /readyz')
        self.assertTrue(r.headers.get('content-type', '').startswith('application/json'), r)
        self.assertEqual(r.json.get('status'), 'ready', r)
        sv = r.json.get('schema_version')
        self.assertIsInstance(sv, int, r)
        files = migration_files()
        if files:
            latest = int(os.path.basename(files[-1])[:4])
            self.assertEqual(sv, latest, 'schema_version vs newest file in migrations/')
        db = int(self.cluster.psql('SELECT max(version) FROM schema_migrations'))
        self.assertEqual(sv, db, 'schema_version vs schema_migrations')

    def test_metrics(self):
        for _ in range(3):
            assert_status(self.daemon.request('GET', ME, token=self.tok), 200)
        assert_status(self.daemon.request('GET', ME), 401)
        r, samples = self.metrics()
        text = r.body.decode('utf-8')

        def find(name, **labels):
            return [(lb, v) for n, lb, v in samples
                    if n == name and all(lb.get(k) == v2 for k, v2 in labels.items())]

        me200 = find('effmon_http_requests_total', route=ME, method='GET', status='200')
        self.assertEqual(len(me200), 1, 'no effmon_http_requests_total{route="%s",method="GET",'
                         'status="200"} in:\n%s' % (ME, text))
        self.assertGreaterEqual(me200[0][1], 3, me200)
        me401 = find('effmon_http_requests_total', route=ME, method='GET', status='401')
        self.assertEqual(len(me401), 1, 'no 401 series for %s:\n%s' % (ME, text))
        self.assertGreaterEqual(me401[0][1], 1)
        for state in ('in_use', 'idle', 'broken'):
            s = find('effmon_db_pool_connections', state=state)
            self.assertEqual(len(s), 1, 'no effmon_db_pool_connections{state="%s"}:\n%s'
                             % (state, text))
        total = sum(v for _, v in find('effmon_db_pool_connections'))
        self.assertLessEqual(total, self.threads, 'pool larger than EFFMON_THREADS')
        self.assertEqual(find('effmon_db_pool_connections', state='broken')[0][1], 0)
        self.assertTrue(find('effmon_db_errors_total'), 'no effmon_db_errors_total:\n' + text)
        buckets = find('effmon_http_request_duration_seconds_bucket')
        self.assertTrue(buckets, 'no duration histogram buckets')
        self.assertTrue(any(lb.get('le') == '+Inf' for lb, _ in buckets), 'no le="+Inf"')
        self.assertTrue(find('effmon_http_request_duration_seconds_sum'))
        count = find('effmon_http_request_duration_seconds_count')
        self.assertTrue(count)
        self.assertIn('# TYPE effmon_http_requests_total counter', text)
        self.assertIn('# TYPE effmon_http_request_duration_seconds histogram', text)

    def test_metrics_route_label_is_pattern(self):
        # unknown paths must not create a series each (unbounded cardinality)
        marker = 'zz-unknown-path-%d' % os.getpid()
        assert_problem(self.daemon.request('GET', '/' + marker), 404)
        assert_problem(self.daemon.request('GET', '/api/v1/' + marker), 404)
        r, samples = self.metrics()
        self.assertNotIn(marker, r.body.decode('utf-8'),
                         'a raw request path became a metric label')

    def test_metrics_counter_grows(self):
        def count():
            _, samples = self.metrics()
            return sum(v for n, lb, v in samples if n == 'effmon_http_requests_total'
                       and lb.get('route') == '/healthz' and lb.get('status') == '200')
        before = count()
        for _ in range(5):
            assert_status(self.daemon.request('GET', '/healthz'), 200)
        # the count may be recorded when the response completes: allow 1 s for it
        deadline = time.monotonic() + 1
        while count() - before < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(count() - before, 5, '/healthz counter did not grow by exactly 5')

    def test_metrics_strict_histograms_per_route(self):
        org = self.cluster.add_scope()['organization']
        one = '/api/v1/organizations/%d' % org
        for _ in range(3):
            assert_status(self.daemon.request('GET', one, token=self.tok), 200)
        assert_problem(self.daemon.request('GET', '/api/v1/organizations/999999999',
                                           token=self.tok), 404)
        r, samples = self.metrics()
        text = r.body.decode('utf-8')
        self.assertNotIn('/organizations/%d' % org, text, 'a raw id path became a label')
        # every family has one TYPE line before its samples, and its samples are together
        types, seen, last = {}, set(), None
        for line in text.splitlines():
            m = re.match(r'^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$', line)
            if m:
                self.assertNotIn(m.group(1), types, 'two TYPE lines for ' + m.group(1))
                types[m.group(1)] = m.group(2)
                continue
            if not line or line.startswith('#'):
                continue
            name = re.match(r'^[a-zA-Z_:][a-zA-Z0-9_:]*', line).group(0)
            family = re.sub(r'_(bucket|sum|count)$', '', name) \
                if re.sub(r'_(bucket|sum|count)$', '', name) in types else name
            self.assertIn(family, types, 'a sample before its TYPE line: %r' % line)
            if family != last:
                self.assertNotIn(family, seen, 'the samples of %s are not together' % family)
                seen.add(family)
                last = family
        self.assertEqual(types.get('effmon_http_request_duration_seconds'), 'histogram')
        series = {}
        for name, lb, v in samples:
            if not name.startswith('effmon_http_request_duration_seconds'):
                continue
            key = (lb.get('route'), lb.get('method'))
            self.assertTrue(all(key), 'a duration sample without route and method: %r' % lb)
            s_ = series.setdefault(key, {'buckets': [], 'sum': None, 'count': None})
            if name.endswith('_bucket'):
                s_['buckets'].append((lb['le'], v))
            elif name.endswith('_sum'):
                s_['sum'] = v
            elif name.endswith('_count'):
                s_['count'] = v
        self.assertIn(('/api/v1/organizations/{id}', 'GET'), series, sorted(series))
        for key, s_ in series.items():
            b = s_['buckets']
            self.assertTrue(b and b[-1][0] == '+Inf', '%r does not end at le="+Inf"' % (key,))
            les = [float(le) for le, _ in b[:-1]]
            self.assertEqual(les, sorted(les), '%r: le not increasing' % (key,))
            self.assertEqual(len(set(les)), len(les), '%r: a repeated le' % (key,))
            counts = [v for _, v in b]
            self.assertEqual(counts, sorted(counts), '%r: buckets not cumulative' % (key,))
            self.assertIsNotNone(s_['sum'], '%r: no _sum' % (key,))
            self.assertEqual(s_['count'], b[-1][1], '%r: _count != le="+Inf"' % (key,))
            self.assertGreaterEqual(s_['sum'], 0)
        org_series = series[('/api/v1/organizations/{id}', 'GET')]
        self.assertGreaterEqual(org_series['count'], 4)
        self.assertIn('0.005', [le for le, _ in org_series['buckets']])

    def test_metrics_process_and_build(self):
        _, samples = self.metrics()
        got = {}
        for name, lb, v in samples:
            got.setdefault(name, []).append((lb, v))
        for name in ('process_resident_memory_bytes', 'process_cpu_seconds_total',
                     'process_open_fds', 'process_start_time_seconds', 'effmon_build_info'):
            self.assertEqual(len(got.get(name, [])), 1, 'no single %s sample' % name)
        self.assertGreater(got['process_resident_memory_bytes'][0][1], 1 << 20)
        self.assertGreaterEqual(got['process_cpu_seconds_total'][0][1], 0)
        self.assertGreater(got['process_open_fds'][0][1], 2)
        start = got['process_start_time_seconds'][0][1]
        self.assertLessEqual(start, time.time() + 1)
        self.assertGreater(start, time.time() - 3600, 'start time %r is not this run' % start)
        lb, v = got['effmon_build_info'][0]
        self.assertEqual(v, 1)
        p = self.daemon.run('--version', timeout=10)
        self.assertIn(lb.get('version'), p.stdout, lb)
        self.assertIn('revision %s,' % lb.get('revision'), p.stdout, lb)
        self.assertIn('build type %s' % lb.get('buildtype'), p.stdout, lb)

    def test_openapi(self):
        r = self.daemon.request('GET', '/api/v1/openapi.yaml')
        assert_status(r, 200, 'GET /api/v1/openapi.yaml')
        ct = r.headers.get('content-type', '')
        self.assertEqual(ct.split(';')[0].strip(), 'application/yaml', r)
        text = r.body.decode('utf-8')
        first = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith('#')][0]
        self.assertRegex(first, r'^openapi: ["\']?3\.1(\.\d+)?["\']?\s*$', text[:200])
        for path in ('/healthz', '/readyz', '/metrics', '/api/v1/auth/token', '/api/v1/auth/me'):
            short = path[len('/api/v1'):] if path.startswith('/api/v1/') else path
            self.assertTrue(re.search(r'^\s+(%s|%s):' % (re.escape(path), re.escape(short)),
                                      text, re.M), 'openapi.yaml lacks the path %s' % path)
        src = os.path.join(SOURCE_ROOT, 'api', 'openapi.yaml')
        if os.path.exists(src):
            with open(src, 'rb') as f:
                self.assertEqual(r.body, f.read(), 'served openapi.yaml != api/openapi.yaml')

    def test_version_command(self):
        p = self.daemon.run('version', timeout=10)
        self.assertEqual(p.returncode, 0, 'effmond version: %r' % p.stderr)
        self.assertRegex(p.stdout.strip(), r'\b\d+\.\d+\.\d+\b', 'effmond version output')

    def test_routes_command(self):
        p = self.daemon.run('routes', timeout=10)
        self.assertEqual(p.returncode, 0, 'effmond routes: %r' % p.stderr)
        rows = {}
        for line in p.stdout.splitlines():
            if not line.strip():
                continue
            parts = line.split()
            self.assertEqual(len(parts), 3, 'routes line %r is not METHOD PATTERN ROLES' % line)
            rows[(parts[0], parts[1])] = parts[2]
        self.assertEqual(rows.get(('GET', '/healthz')), 'public', rows)
        self.assertEqual(rows.get(('GET', '/readyz')), 'public', rows)
        self.assertEqual(rows.get(('GET', '/metrics')), 'public', rows)
        self.assertEqual(rows.get(('GET', '/api/v1/openapi.yaml')), 'public', rows)
        self.assertEqual(rows.get(('POST', '/api/v1/auth/token')), 'public', rows)
        me = rows.get(('GET', '/api/v1/auth/me'), '')
        self.assertEqual(set(me.split(',')), {'admin', 'regional_operator', 'municipal_operator',
                                              'head', 'expert', 'portal'}, rows)

    def test_access_log(self):
        rid = 'ops-log-%d' % os.getpid()
        assert_status(self.daemon.request('GET', ME, token=self.tok,
                                          headers={'X-Request-Id': rid}), 200)
        assert_status(self.daemon.request('GET', '/readyz'), 200)
        lines = [ln for ln in self.daemon.log().splitlines() if rid in ln]
        self.assertEqual(len(lines), 1, 'expected one access line with request id %s, got %r'
                         % (rid, lines))
        line = lines[0]
        self.assertIn('GET', line)
        self.assertIn('200', line)
        self.assertIn(ME, line)
        self.assertNotIn(self.tok, line)
        self.assertNotIn(self.tok.split('.')[2], line)
        self.assertIn(' client=127.0.0.1 ', line)
        self.assertRegex(line, r' \d+us ')
        self.assertIn(' user=%d' % self.uid, line)

    def test_access_log_route_pattern_and_anonymous(self):
        org = self.cluster.add_scope()['organization']
        rid = 'ops-route-%d' % os.getpid()
        assert_status(self.daemon.request('GET', '/api/v1/organizations/%d' % org,
                                          token=self.tok, headers={'X-Request-Id': rid}), 200)
        rid2 = rid + '-anon'
        assert_status(self.daemon.request('GET', '/healthz', headers={'X-Request-Id': rid2}),
                      200)
        log = self.daemon.log()
        line = [ln for ln in log.splitlines() if rid + ']' in ln][0]
        self.assertIn(' GET /api/v1/organizations/{id} 200 ', line)
        self.assertNotIn('/organizations/%d' % org, line)
        self.assertIn(' user=%d' % self.uid, line)
        line = [ln for ln in log.splitlines() if rid2 in ln][0]
        self.assertIn(' GET /healthz 200 ', line)
        self.assertIn(' user=-', line)


class JsonLogTest(harness.DaemonTestCase):
    daemon_env = {'EFFMON_LOG_FORMAT': 'json'}

    def test_json_log_lines(self):
        rid = 'json-log-%d' % os.getpid()
        assert_status(self.daemon.request('GET', '/healthz', headers={'X-Request-Id': rid}),
                      200)
        log = self.daemon.log()
        self.assertTrue(log.strip(), 'nothing logged')
        found = 0
        for line in log.splitlines():
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                self.fail('a log line is not JSON with EFFMON_LOG_FORMAT=json: %r' % line)
            self.assertIsInstance(obj, dict, line)
            if rid in line:
                found += 1
                a = obj.get('access', {})
                self.assertEqual(a.get('route'), '/healthz', obj)
                self.assertEqual(a.get('status'), 200, obj)
                self.assertIsInstance(a.get('usec'), int, obj)
                self.assertEqual(a.get('client'), '127.0.0.1', obj)
                self.assertIsNone(a.get('user_id', 'absent'), obj)
        self.assertEqual(found, 1, 'expected one JSON access line with %s' % rid)

    def test_json_access_line_user_and_route(self):
        uid = self.daemon.create_user('jsonroot', 'admin', 'correct horse battery')
        tok = self.daemon.token(uid, 'admin')
        org = self.cluster.add_scope()['organization']
        rid = 'json-route-%d' % os.getpid()
        assert_status(self.daemon.request('GET', '/api/v1/organizations/%d' % org, token=tok,
                                          headers={'X-Request-Id': rid}), 200)
        lines = [json.loads(ln) for ln in self.daemon.log().splitlines()
                 if rid in ln and '"access"' in ln]
        self.assertEqual(len(lines), 1, lines)
        a = lines[0]['access']
        self.assertEqual(a['route'], '/api/v1/organizations/{id}', a)
        self.assertEqual(a['method'], 'GET')
        self.assertEqual(a['user_id'], uid, a)
        self.assertEqual(a['client'], '127.0.0.1', a)
        self.assertNotIn(tok.split('.')[2], json.dumps(lines[0]))


if __name__ == '__main__':
    harness.main()
