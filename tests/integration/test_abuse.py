#!/usr/bin/python3
"""
test_abuse.py - abuse of the API: mass assignment of protected fields on every
writable route (derived from `effmond routes` and the served OpenAPI document), scope and
role escalation through fields a body may carry, and enumeration of ids across scopes
(a foreign id answers exactly like a missing one, on every route with an id and on list
filters). Every refused attempt is checked in the database: no table changed, no audit row.
"""
import json
import os
import re
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem  # noqa: E402
import monitoring_fixtures as mf  # noqa: E402
import test_authz_matrix as mx  # noqa: E402  (its ACTIONS build a valid request per route)
from registry_fixtures import API, assert_fields, error_fields  # noqa: E402

MISSING = 10 ** 12
WRITES = ('POST', 'PUT', 'PATCH')
# Tables whose rows a refused request may legitimately touch (or that it never reads).
UNWATCHED = {'audit_events', 'idempotency_keys', 'login_throttle', 'schema_migrations'}
# Response members that are not object fields of a writable resource (tokens, reports).
NOT_FIELDS = {'access_token', 'expires_in', 'token_type'}
# Names tried on every writable route besides the ones the OpenAPI document yields: what a
# client could hope to set on any object (ids, versions, audit stamps, derived territory,
# workflow state, scores).
GENERIC = ('id', 'version', 'created_at', 'updated_at', 'created_by', 'updated_by', 'status',
           'state', 'region_id', 'municipality_id', 'organization_id', 'manager_id', 'score',
           'total', 'level', 'rank', 'role', 'active', 'deleted_at', 'audit')
# Array members whose items carry fields too: (body member, item request schema, item
# response schema, field name in the errors). The import body is itself the array.
NESTED = {
    ('PUT', '/api/v1/submissions/{id}/values'): ('values', 'SubmissionValueWrite',
                                                 'SubmissionValue', 'values[0].%s'),
    ('POST', '/api/v1/attestations'): ('scores', 'AttestationScoreInput', 'AttestationScore',
                                       'scores[0].%s'),
    ('POST', '/api/v1/campaigns/{id}/imports'): (None, 'ImportRow', 'SubmissionValue',
                                                 'rows[1].%s'),
}
# Routes whose unknown-field answer is not 400: an import reports bad rows as 422.
REFUSAL = {('POST', '/api/v1/campaigns/{id}/imports'): 422}
# The roles that probe foreign ids, and route patterns on objects without a territory.
PROBERS = ('regional_operator', 'municipal_operator', 'head', 'expert')


# --- the OpenAPI document, read with the stdlib (a fixed, regular layout) -------------------

def _indent(line):
    return len(line) - len(line.lstrip(' '))


def parse_openapi(text):
    """({(method, path): {'req': [schema...], 'resp': [schema...], 'params': [name...]}},
    {schema: [property...]}, {parameter component: query name})."""
    ops, raw, params = {}, {}, {}
    top = sub = path = method = section = cur = None
    for line in text.split('\n'):
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        d, s = _indent(line), line.strip()
        if d == 0:
            top = s.rstrip(':')
            continue
        if top == 'paths':
            if d == 2 and s.endswith(':'):
                path, method = s[:-1], None
            elif d == 4 and s[:-1] in ('get', 'post', 'put', 'patch', 'delete'):
                method = s[:-1].upper()
                ops[(method, path)] = {'req': [], 'resp': [], 'params': []}
            elif method and d == 6 and s.endswith(':'):
                section = s[:-1]
            elif method:
                m = re.search(r"\$ref: '#/components/(schemas|parameters)/(\w+)'", s)
                if m and m.group(1) == 'schemas' and section in ('requestBody', 'responses'):
                    ops[(method, path)]['req' if section == 'requestBody' else 'resp'].append(
                        m.group(2))
                elif m and section == 'parameters':
                    ops[(method, path)]['params'].append(m.group(2))
        elif top == 'components':
            if d == 2:
                sub = s.rstrip(':')
            elif d == 4 and s.endswith(':'):
                cur = s[:-1]
                if sub == 'schemas':
                    raw[cur] = []
            elif cur and sub == 'schemas':
                raw[cur].append(line)
            elif cur and sub == 'parameters' and d == 6 and s.startswith('name:'):
                params[cur] = s.split(':', 1)[1].strip()
    return ops, {k: _props(k, raw) for k in raw}, params


def _props(name, raw, seen=()):
    """The top-level properties of a schema (following allOf $refs)."""
    out, block = [], None
    for line in raw.get(name, []):
        d, s = _indent(line), line.strip()
        if s == 'properties:' and d in (6, 10):
            block = d + 2
            continue
        if block is not None and d < block:
            block = None
        if block is not None and d == block and re.match(r'^[a-z_]+:', s):
            out.append(s.split(':')[0])
        m = re.match(r"- \$ref: '#/components/schemas/(\w+)'", s)
        if m and d == 8 and m.group(1) not in seen:
            out += _props(m.group(1), raw, seen + (name,))
    return out


def daemon_routes(daemon):
    """{(method, pattern): [roles]} from `effmond routes`."""
    p = daemon.run('routes', timeout=30)
    if p.returncode != 0:
        raise AssertionError('effmond routes failed (%d): %s' % (p.returncode, p.stderr))
    out = {}
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            out[(parts[0], parts[1])] = parts[2].split(',')
    return out


def fill(pattern, ids):
    path = pattern
    for i in ids:
        path = re.sub(r'\{[a-z_]+\}', str(i), path, count=1)
    return path


def comparable(r, ids):
    """A response as an enumeration probe compares it: status and body, without the request
    id and instance, and with the probed ids written as {id}."""
    doc = r.json if r.json is not None else r.body.decode('utf-8', 'replace')
    if isinstance(doc, dict):
        doc = {k: v for k, v in doc.items() if k not in ('request_id', 'instance')}
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False)
    for i in sorted({str(x) for x in ids}, key=len, reverse=True):
        text = re.sub(r'(?<![0-9])%s(?![0-9])' % re.escape(i), '{id}', text)
    return r.status, r.headers.get('content-type', '').split(';')[0], text


class Psql:
    """One psql session kept open for the many table checks (a psql per check costs more
    than the requests it checks); stopped by its PID at the end of the class."""

    MARK = '__abuse_end__'

    def __init__(self, cluster):
        argv = cluster._cmd([os.path.join(harness.PGBIN, 'psql'), '-X', '-q', '-A', '-t',
                             '-v', 'ON_ERROR_STOP=1', '-h', cluster.dir, '-p',
                             str(cluster.port), '-U', 'postgres', '-d', 'effmon'])
        self.proc = subprocess.Popen(argv, cwd='/tmp', stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def query(self, sql, timeout=60.0):
        """The rows of sql as psql -A -t prints them (raises on an error or no answer)."""
        self.proc.stdin.write(('%s;\n\\echo %s\n' % (sql.rstrip().rstrip(';'), self.MARK))
                              .encode('utf-8'))
        self.proc.stdin.flush()
        buf, deadline = b'', time.monotonic() + timeout
        mark = (self.MARK + '\n').encode()
        while not (buf == mark or buf.endswith(b'\n' + mark)):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise AssertionError('psql gave no answer within %.0fs to %s' % (timeout, sql))
            got = os.read(self.proc.stdout.fileno(), 65536)
            if not got:  # ON_ERROR_STOP: an error ends the session
                raise AssertionError('psql exited: %s' % buf.decode('utf-8', 'replace'))
            buf += got
        return buf[:-len(mark)].decode('utf-8').strip('\n')

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            harness.kill_pid(self.proc.pid)


class AbuseTest(harness.DaemonTestCase):
    threads = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        t0 = time.monotonic()
        cls.w = w = mf.World(cls.daemon, cls.cluster)
        print('the world: %.1fs' % (time.monotonic() - t0))
        r = w.get(API + '/directions', token=w.admin.token)
        harness.assert_status(r, 200, 'GET /directions')
        w.direction = r.json['items'][0]['id']
        r = w.get(API + '/openapi.yaml')
        harness.assert_status(r, 200, 'GET /openapi.yaml')
        cls.ops, cls.schemas, cls.params = parse_openapi(r.body.decode('utf-8'))
        cls.routes = daemon_routes(cls.daemon)
        tables = [t for t in w.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                   "ORDER BY 1").split() if t not in UNWATCHED]
        cls.psql = Psql(cls.cluster)
        cls.addClassCleanup(cls.psql.close)
        cls.snapshot_sql = ' UNION ALL '.join(
            "SELECT '%s', md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "
            "FROM %s x" % (t, t) for t in tables)
        cls.n = 0
        # Objects in region A outside a municipal operator's municipality (A2) and outside a
        # head's organization (A1b, the other school of A1).
        w.sub_a1b = int(w.sql('SELECT id FROM submissions WHERE campaign_id = %d AND '
                              'organization_id = %d' % (w.camp_a, w.org_a1b)))
        cls.foreign = {
            'region_id': w.region_b, 'municipality_id': w.muni_b1, 'organization_id': w.org_b1,
            'manager_id': w.mgr_b1, 'addressee_manager_id': w.mgr_b1,
            'addressee_municipality_id': w.muni_b1, 'issuer_municipality_id': w.muni_b1,
            'campaign_id': w.camp_b, 'monitoring_campaign_id': w.camp_b,
            'previous_campaign_id': w.camp_b, 'catalog_source_id': w.camp_b,
            'campaign': w.camp_b, 'roadmap_id': w.rm_b, 'milestone_id': w.ms_b,
            'revokes_decision_id': w.dec_b, 'basis_attestation_id': w.att_b,
            'indicator_id': w.ind_b, 'submission_id': w.sub_b1, 'direction_id': w.direction,
            'created_by': w.user('regional_operator', 'B').id,
            'issued_by': w.user('regional_operator', 'B').id,
            'added_by': w.user('regional_operator', 'B').id,
            'actor_user_id': w.user('regional_operator', 'B').id,
        }

    # --- helpers

    def rid(self, prefix='ab'):
        type(self).n += 1
        return '%s-%d' % (prefix, self.n)

    def snapshot(self):
        out = self.psql.query(self.snapshot_sql)
        return dict(line.split('|', 1) for line in out.split('\n') if line)

    def changed(self, before):
        after = self.snapshot()
        return sorted(t for t in before if before[t] != after.get(t))

    def audit_rows(self, prefix):
        return int(self.psql.query("SELECT count(*) FROM audit_events WHERE request_id LIKE '%s-%%'"
                              % prefix))

    def value_for(self, name):
        """A plausible value for a protected field: an id of region B's objects for ids,
        a date or timestamp for dates, and so on (the name decides, never the server)."""
        if name in self.foreign:
            return self.foreign[name]
        if name == 'id':
            return 1
        if name.endswith('_id') or name.endswith('_by'):
            return 1
        if name == 'version':
            return 1000
        if name.endswith('_at'):
            return '2001-02-03T04:05:06+00:00'
        if name.endswith('_on') or name.endswith('_until'):
            return '2001-02-03'
        if name in ('active', 'valid', 'overdue', 'revoked', 'generated', 'dry_run',
                    'values_valid'):
            return True
        if name in ('status', 'state'):
            return 'approved'
        if name == 'role':
            return 'admin'
        if name == 'level':
            return 'high'
        if name in ('items', 'errors', 'scores', 'values', 'milestones', 'goals', 'executors',
                    'directions', 'indicators', 'evidence'):
            return []
        if name in ('revocation', 'thresholds', 'audit'):
            return {}
        if name in ('score', 'total', 'rank', 'amount', 'score_total', 'score_max', 'rows',
                    'monitoring_total', 'basis_score', 'participant_count', 'indicator_count',
                    'created', 'skipped') or name.endswith('_count'):
            return 100
        return 'подмена'

    def protected(self, method, pattern):
        """Every field a body of this route must not carry: the response's members that
        the request schema lacks, and the GENERIC names it lacks."""
        op = self.ops[(method, pattern)]
        req = set(self.schemas[op['req'][0]])
        resp = set(self.schemas[op['resp'][0]]) if op['resp'] else set()
        return sorted((resp | set(GENERIC)) - req - NOT_FIELDS)

    def nested_protected(self, key):
        _, req_schema, resp_schema, _ = NESTED[key]
        req = set(self.schemas[req_schema])
        return sorted((set(self.schemas[resp_schema]) | set(GENERIC)) - req)

    def send(self, method, pattern, spec, role, body, prefix):
        ids = spec.get('ids') or ([spec['id']] if 'id' in spec else [])
        path = fill(pattern, ids)
        if spec.get('query'):
            path += '?' + spec['query']
        headers = {'X-Request-Id': self.rid(prefix)}
        if spec.get('etag'):
            headers['If-Match'] = spec['etag']
        r = self.w.call(method, path, body=body, token=self.w.token(role), headers=headers)
        return r, path

    def prepare(self, method, pattern, role):
        spec = mx.ACTIONS[(method, pattern)](self.w, role, 'in')
        if spec.get('if_match'):
            ids = spec.get('ids') or [spec['id']]
            spec['etag'] = self.w.etag(pattern.split('{id}')[0] + str(ids[0]))
        return spec

    # --- 1. coverage

    def test_1_cases_cover_every_writable_route(self):
        writable = {k for k in self.routes if k[0] in WRITES}
        self.assertTrue(writable, 'effmond routes printed no writable route')
        documented = {k for k in self.ops if k[0] in WRITES}
        self.assertEqual(sorted(writable - documented), [],
                         'writable routes the OpenAPI document does not describe')
        self.assertEqual(sorted(documented - writable), [],
                         'documented writes the daemon does not route')
        self.assertEqual(sorted(writable - set(mx.ACTIONS)), [],
                         'writable routes without a valid request to build on')
        for key in sorted(writable):
            op = self.ops[key]
            self.assertTrue(op['req'], '%s %s: no request schema' % key)
            self.assertTrue(self.schemas.get(op['req'][0]),
                            '%s %s: request schema %s has no properties' % (key + (op['req'][0],)))
            self.assertTrue(self.protected(*key), '%s %s: nothing protected?' % key)
        for key, (_, req, resp, _) in NESTED.items():
            self.assertIn(key, writable)
            self.assertTrue(self.schemas.get(req) and self.schemas.get(resp),
                            'NESTED %s: schemas %s/%s unknown' % (key, req, resp))

    # --- 2. mass assignment

    def test_2_mass_assignment(self):
        """Every writable route x every protected field, one at a time as the admin and all
        at once as the route's least privileged role: 400 naming the field (422 for an
        import row), nothing written, no audit row; then the same body without the field
        succeeds (the body was valid) and its write shows in the tables."""
        t0 = time.monotonic()
        failures, tried, sent = [], 0, 0
        # PUT first: the head's values go into its own draft, which its transition submits.
        writable = sorted((k for k in self.routes if k[0] in WRITES),
                          key=lambda k: (k[0] != 'PUT', k))
        for method, pattern in writable:
            allowed = self.routes[(method, pattern)]
            roles = ['admin']
            if allowed != ['public']:
                for r in ('head', 'expert', 'municipal_operator', 'regional_operator'):
                    if r in allowed:
                        roles.append(r)
                        break
            for role in roles:
                what = '%s %s as %s' % (method, pattern, role)
                try:
                    spec = self.prepare(method, pattern, role)
                except AssertionError as e:
                    failures.append('%s: preparing failed: %s' % (what, e))
                    continue
                base = spec.get('body')
                attempts = []  # (body, the fields named in the errors)
                if isinstance(base, dict):
                    for f in self.protected(method, pattern):
                        body = dict(base)
                        body[f] = self.value_for(f)
                        attempts.append((body, [f]))
                nested = NESTED.get((method, pattern))
                if nested:
                    for f in self.nested_protected((method, pattern)):
                        body = json.loads(json.dumps(base))
                        items = body if nested[0] is None else body[nested[0]]
                        items[0][f] = self.value_for(f)
                        attempts.append((body, [nested[3] % f]))
                if role != 'admin' and attempts:
                    # The admin tried each field alone; the other role sends them all at once,
                    # and the errors must name every one (the validators report them all).
                    body = json.loads(json.dumps(base))
                    for one, _ in attempts:
                        if isinstance(body, dict):
                            body.update({k: v for k, v in one.items() if k not in base})
                    if nested:
                        items = body if nested[0] is None else body[nested[0]]
                        for f in self.nested_protected((method, pattern)):
                            items[0][f] = self.value_for(f)
                    attempts = [(body, [f for _, fs in attempts for f in fs])]
                expect = REFUSAL.get((method, pattern), 400)
                before = self.snapshot()
                for body, fields in attempts:
                    tried += len(fields)
                    sent += 1
                    r, path = self.send(method, pattern, spec, role, body, 'ma')
                    try:
                        assert_fields(r, expect, fields, '%s + %s' % (what, ', '.join(fields)))
                    except AssertionError as e:
                        failures.append(str(e)[:600])
                bad = self.changed(before)
                if bad:
                    failures.append('%s: refused attempts changed the tables %s' % (what, bad))
                # The control: the body without the extra field is accepted, and the check
                # of the tables sees its write (so it could see a refused attempt's).
                r, path = self.send(method, pattern, spec, role, base, 'ok')
                if not 200 <= r.status < 300:
                    failures.append('%s: the base body itself is refused: %r' % (what, r))
                elif (method, pattern) not in mx.NOT_AUDITED and \
                        mx.AUDIT_ROWS.get((method, pattern), lambda r: 1)(r) and \
                        not self.changed(before):
                    failures.append('%s: the accepted base body changed no table' % what)
        n_audit = self.audit_rows('ma')
        print('mass assignment: %d routes, %d route x role x field attempts in %d requests '
              'in %.1fs' % (len(writable), tried, sent, time.monotonic() - t0))
        if n_audit:
            failures.append('%d audit rows written by refused attempts' % n_audit)
        if failures:
            self.fail('%d failures:\n  %s' % (len(failures), '\n  '.join(failures)))
        self.assertHealthy('the mass-assignment sweep')

    # --- 3. fields accepted by design cannot leave the caller's scope

    def scope_cases(self):
        w = self.w
        fresh_mgr = w.new_manager(w.muni_a1)['id']
        ms = w.new_milestone('A')['id']
        return [
            # (role, method, path, body, If-Match of, the fields that must be named on a 400)
            ('regional_operator', 'POST', '/municipalities',
             w.municipality_body(w.region_b), None, ['region_id']),
            ('regional_operator', 'POST', '/organizations',
             w.organization_body(w.muni_b1), None, ['municipality_id']),
            ('municipal_operator', 'POST', '/organizations',
             w.organization_body(w.muni_a2), None, ['municipality_id']),
            ('municipal_operator', 'POST', '/organizations',
             w.organization_body(w.muni_b1), None, ['municipality_id']),
            ('regional_operator', 'POST', '/managers', w.manager_body(w.muni_b1), None,
             ['municipality_id']),
            ('municipal_operator', 'POST', '/managers', w.manager_body(w.muni_a2), None,
             ['municipality_id']),
            ('regional_operator', 'POST', '/reserve', w.reserve_body(w.muni_b1), None,
             ['municipality_id']),
            ('municipal_operator', 'POST', '/reserve', w.reserve_body(w.muni_a2), None,
             ['municipality_id']),
            ('municipal_operator', 'POST', '/managers/%d/appointments' % fresh_mgr,
             {'organization_id': w.org_a2, 'started_on': mf.rf.TODAY},
             '/managers/%d' % fresh_mgr, ['organization_id']),
            ('regional_operator', 'POST', '/managers/%d/appointments' % fresh_mgr,
             {'organization_id': w.org_b1, 'started_on': mf.rf.TODAY},
             '/managers/%d' % fresh_mgr, ['organization_id']),
            ('regional_operator', 'POST', '/campaigns', w.campaign_body(w.region_b), None,
             ['region_id']),
            ('regional_operator', 'POST', '/campaigns',
             w.campaign_body(w.region_a, catalog_from=w.camp_b), None, ['catalog_from']),
            ('regional_operator', 'POST', '/roadmaps',
             w.roadmap_body('A', organization_id=w.org_b1), None, ['organization_id']),
            ('municipal_operator', 'POST', '/roadmaps',
             w.roadmap_body('A', organization_id=w.org_a2), None, ['organization_id']),
            ('regional_operator', 'POST', '/roadmaps',
             {'level': 'regional', 'region_id': w.region_b, 'title': 'Чужая карта',
              'period_from': '2024-01-01', 'period_to': '2024-12-31'}, None, ['region_id']),
            ('municipal_operator', 'POST', '/roadmaps',
             {'level': 'municipal', 'municipality_id': w.muni_a2, 'title': 'Чужая карта',
              'period_from': '2024-01-01', 'period_to': '2024-12-31'}, None,
             ['municipality_id']),
            ('municipal_operator', 'POST', '/milestones/%d/participants' % ms,
             {'manager_id': w.mgr_b1}, None, ['manager_id']),
            ('municipal_operator', 'POST', '/milestones/%d/participants' % ms,
             {'manager_id': w.mgr_a2}, None, ['manager_id']),
            ('regional_operator', 'POST', '/attestations', w.attestation_body(w.mgr_b1), None,
             ['manager_id']),
            ('expert', 'POST', '/attestations', w.attestation_body(w.mgr_b1), None,
             ['manager_id']),
            ('regional_operator', 'POST', '/recommendations', w.recommendation_body('B'), None,
             ['campaign_id']),
            ('regional_operator', 'POST', '/recommendations',
             w.recommendation_body('A', addressee_manager_id=w.mgr_b1), None,
             ['addressee_manager_id']),
            ('municipal_operator', 'POST', '/recommendations',
             w.recommendation_body('A', addressee_manager_id=w.mgr_a2), None,
             ['addressee_manager_id']),
            ('regional_operator', 'POST', '/recommendations',
             w.recommendation_body('A', addressee_manager_id=None,
                                   addressee_municipality_id=w.muni_b1), None,
             ['addressee_municipality_id']),
            ('regional_operator', 'POST', '/decisions', w.decision_body('B'), None,
             ['manager_id']),
            ('regional_operator', 'POST', '/decisions',
             w.decision_body('A', campaign_id=w.camp_b), None, ['campaign_id']),
            ('regional_operator', 'POST', '/decisions',
             w.decision_body('A', basis_attestation_id=w.att_b), None,
             ['basis_attestation_id']),
            ('municipal_operator', 'POST', '/decisions',
             w.decision_body('A', manager_id=w.mgr_a2), None, ['manager_id']),
            ('regional_operator', 'POST', '/users',
             w.user_body('expert', region_id=w.region_b), None, ['region_id']),
            ('municipal_operator', 'POST', '/users',
             w.user_body('head', organization_id=w.org_b1), None, ['organization_id']),
            ('municipal_operator', 'POST', '/users',
             w.user_body('head', organization_id=w.org_a2), None, ['organization_id']),
            ('municipal_operator', 'POST', '/users',
             w.user_body('head', organization_id=w.org_a1, manager_id=w.mgr_b1), None,
             ['manager_id']),
        ]

    def test_3_scope_fields(self):
        """A field the request schema accepts (a parent, a scope, an addressee) naming an
        object outside the caller's scope: 400 naming it, or 404 - never a write."""
        t0 = time.monotonic()
        w = self.w
        failures = []
        cases = self.scope_cases()
        # An import row naming an organization of region B, into campaign A: a bad row.
        inn_b = w.sql('SELECT inn FROM organizations WHERE id = %d' % w.org_b1)
        before = self.snapshot()
        for role, method, path, body, etag_of, fields in cases:
            headers = {'X-Request-Id': self.rid('sc')}
            if etag_of:
                headers['If-Match'] = w.etag(API + etag_of)
            r = w.call(method, API + path, body=body, token=w.token(role), headers=headers)
            what = '%s %s as %s with %s' % (method, path, role,
                                            {f: body.get(f) for f in fields})
            try:
                if r.status == 400:
                    assert_fields(r, 400, fields, what)
                else:
                    assert_problem(r, 404, what)
            except AssertionError as e:
                failures.append(str(e)[:600])
        r = w.call('POST', '%s/campaigns/%d/imports' % (API, w.camp_a),
                   body=[{'organization_inn': inn_b, 'indicator_code': 'R1', 'value': 5}],
                   token=w.token('regional_operator'), headers={'X-Request-Id': self.rid('sc')})
        try:
            assert_problem(r, 422, 'import of an organization of region B into campaign A')
            if not any(f and f.startswith('rows[1]') for f in error_fields(r)):
                raise AssertionError('the import report does not name rows[1]: %r' % r)
        except AssertionError as e:
            failures.append(str(e)[:600])
        # A head writing values that are not its own to write (municipal, regional sources).
        for code in ('M1', 'R1'):
            r = w.call('PUT', '%s/submissions/%d/values' % (API, w.sub_a1),
                       body={'values': [{'indicator': code, 'value': 1}]},
                       token=w.token('head'), headers={
                           'X-Request-Id': self.rid('sc'),
                           'If-Match': w.etag('%s/submissions/%d' % (API, w.sub_a1))})
            if r.status not in (400, 403):
                failures.append('head writing %s of its own submission: %r' % (code, r))
        bad = self.changed(before)
        if bad:
            failures.append('refused scope escapes changed the tables %s' % bad)
        n_audit = self.audit_rows('sc')
        if n_audit:
            failures.append('%d audit rows written by refused scope escapes' % n_audit)
        print('scope fields: %d attempts in %.1fs' % (len(cases) + 3, time.monotonic() - t0))
        if failures:
            self.fail('%d failures:\n  %s' % (len(failures), '\n  '.join(failures)))

    # --- 4. role escalation through users and the head's own organization

    def test_4_role_escalation(self):
        t0 = time.monotonic()
        w = self.w
        failures = []
        head_a = w.user('head', 'A')
        reg_a = w.user('regional_operator', 'A')
        muni_a = w.user('municipal_operator', 'A')
        cases = [
            # (role, method, path, body, If-Match of, acceptable statuses, fields on a 400)
            ('regional_operator', 'POST', '/users', w.user_body('admin'), None, (403,), []),
            ('municipal_operator', 'POST', '/users',
             w.user_body('regional_operator', region_id=w.region_a), None, (403,), []),
            ('municipal_operator', 'POST', '/users',
             w.user_body('municipal_operator', municipality_id=w.muni_a1), None, (403,), []),
            ('municipal_operator', 'POST', '/users',
             w.user_body('expert', region_id=w.region_a), None, (403,), []),
            ('regional_operator', 'PATCH', '/users/%d' % head_a.id, {'role': 'admin'},
             '/users/%d' % head_a.id, (400,), ['role']),
            ('regional_operator', 'PATCH', '/users/%d' % head_a.id,
             {'organization_id': w.org_b1}, '/users/%d' % head_a.id, (400,),
             ['organization_id']),
            ('regional_operator', 'PATCH', '/users/%d' % reg_a.id,
             {'active': True, 'role': 'admin'}, '/users/%d' % reg_a.id, (400,), ['role']),
            ('regional_operator', 'PATCH', '/users/%d' % reg_a.id,
             {'active': True, 'region_id': w.region_b}, '/users/%d' % reg_a.id, (400,),
             ['region_id']),
            ('municipal_operator', 'PATCH', '/users/%d' % muni_a.id,
             {'municipality_id': w.muni_a2}, '/users/%d' % muni_a.id, (400,),
             ['municipality_id']),
            ('regional_operator', 'PATCH', '/users/%d' % w.admin.id, {'active': False},
             '/users/%d' % w.admin.id, (403, 404), []),
            ('regional_operator', 'PATCH', '/users/%d' % w.user('head', 'B').id,
             {'active': False}, '/users/%d' % w.user('head', 'B').id, (404,), []),
            ('municipal_operator', 'PATCH', '/users/%d' % reg_a.id, {'active': False},
             '/users/%d' % reg_a.id, (403, 404), []),
            ('head', 'PATCH', '/users/%d' % head_a.id, {'role': 'admin'},
             '/users/%d' % head_a.id, (403,), []),
            ('head', 'POST', '/users', w.user_body('head', organization_id=w.org_a1), None,
             (403,), []),
        ]
        for f, v in (('status', 'closed'), ('students', 1), ('municipality_id', w.muni_b1),
                     ('region_id', w.region_b), ('version', 99),
                     ('short_name', 'Моя школа')):
            cases.append(('head', 'PATCH', '/organizations/%d' % w.org_a1, {f: v},
                          '/organizations/%d' % w.org_a1, (403,), []))
        # A head changes only the progress of its organization's milestone.
        for f, v in (('title', 'Своё мероприятие'), ('due_on', '2030-01-01'),
                     ('number', '99')):
            cases.append(('head', 'PATCH', '/milestones/%d' % w.ms_a,
                          {'progress_report': 'Сделано', f: v}, '/milestones/%d' % w.ms_a,
                          (403,), []))
        before = self.snapshot()
        for role, method, path, body, etag_of, statuses, fields in cases:
            headers = {'X-Request-Id': self.rid('re')}
            if etag_of:
                headers['If-Match'] = w.etag(API + etag_of)
            r = w.call(method, API + path, body=body, token=w.token(role), headers=headers)
            what = '%s %s as %s with %s' % (method, path, role, body)
            try:
                if r.status not in statuses:
                    raise AssertionError('expected %s: %r' % (statuses, r))
                if fields:
                    assert_fields(r, r.status, fields, what)
                else:
                    assert_problem(r, r.status, what)
            except AssertionError as e:
                failures.append('%s: %s' % (what, str(e)[:600]))
        bad = self.changed(before)
        if bad:
            failures.append('refused escalations changed the tables %s' % bad)
        if self.audit_rows('re'):
            failures.append('refused escalations wrote audit rows')
        # The tokens of the users tried above still carry their own role.
        for u in (head_a, reg_a, muni_a):
            r = w.get(API + '/auth/me', token=u.token)
            harness.assert_status(r, 200, 'GET /auth/me as %s' % u.login)
            if r.json.get('role') != u.role:
                failures.append('%s is now %r' % (u.login, r.json.get('role')))
        print('role escalation: %d attempts in %.1fs' % (len(cases), time.monotonic() - t0))
        if failures:
            self.fail('%d failures:\n  %s' % (len(failures), '\n  '.join(failures)))

    # --- 5. enumeration of ids across scopes

    def probes(self):
        """(role, method, pattern, spec) with spec['ids'] foreign: every route on one scoped
        object x every probing role, on the matrix's object of region B, plus objects of
        region A that lie outside a municipal operator's or a head's own scope."""
        w = self.w
        out = []
        for (method, pattern), roles in sorted(self.routes.items()):
            if '{id}' not in pattern or pattern in mx.GLOBAL_OBJECTS:
                continue
            for role in PROBERS:
                spec = mx.ACTIONS[(method, pattern)](w, role, 'out')
                spec.setdefault('ids', [spec.get('id')])
                out.append((role, method, pattern, spec))
        near = {
            'municipal_operator': [('/api/v1/municipalities/{id}', w.muni_a2),
                                   ('/api/v1/organizations/{id}', w.org_a2),
                                   ('/api/v1/managers/{id}', w.mgr_a2),
                                   ('/api/v1/managers/{id}/appointments', w.mgr_a2),
                                   ('/api/v1/managers/{id}/scores', w.mgr_a2),
                                   ('/api/v1/managers/{id}/attestations', w.mgr_a2),
                                   ('/api/v1/reserve/{id}', w.res_a2),
                                   ('/api/v1/reserve/{id}/transitions', w.res_a2)],
            'head': [('/api/v1/organizations/{id}', w.org_a1b),
                     ('/api/v1/organizations/{id}', w.org_a2),
                     ('/api/v1/municipalities/{id}', w.muni_a2),
                     ('/api/v1/managers/{id}', w.mgr_a1b),
                     ('/api/v1/managers/{id}/appointments', w.mgr_a1b),
                     ('/api/v1/managers/{id}/scores', w.mgr_a1b),
                     ('/api/v1/managers/{id}/attestations', w.mgr_a1b),
                     ('/api/v1/submissions/{id}', w.sub_a1b),
                     ('/api/v1/submissions/{id}/history', w.sub_a1b)],
        }
        for role, items in near.items():
            for pattern, oid in items:
                out.append((role, 'GET', pattern, {'ids': [oid]}))
        # Writes on the near objects: the municipal operator changing A2's organization and
        # manager, the head its neighbour's submission.
        out.append(('municipal_operator', 'PATCH', '/api/v1/organizations/{id}',
                    {'ids': [w.org_a2], 'body': {'students': 7}, 'if_match': True}))
        out.append(('municipal_operator', 'PATCH', '/api/v1/managers/{id}',
                    {'ids': [w.mgr_a2], 'body': {'phone': '+7 831 000-00-00'},
                     'if_match': True}))
        out.append(('head', 'PUT', '/api/v1/submissions/{id}/values',
                    {'ids': [w.sub_a1b], 'body': {'values': [{'indicator': 'S1', 'value': 1}]},
                     'if_match': True}))
        out.append(('head', 'POST', '/api/v1/submissions/{id}/transitions',
                    {'ids': [w.sub_a1b], 'body': {'to': 'submitted'}, 'if_match': True}))
        return out

    def test_5_enumeration_by_id(self):
        """A foreign id and a missing one (10**12) answer with the same status and the same
        problem (but for the request id, the instance and the id itself), for reads, writes
        with a valid body and the object's real ETag, and transitions; nothing is written."""
        t0 = time.monotonic()
        w = self.w
        failures = []
        probes = self.probes()
        stale = []
        for role, method, pattern, spec in probes:
            if spec.get('if_match'):
                spec['etag'] = w.etag(pattern.split('{id}')[0] + str(spec['ids'][0]))
                # The same write with a stale ETag: a version checked before the scope
                # would answer 412 for the foreign object and 404 for the missing one.
                stale.append((role, method, pattern, dict(spec, etag='"987654"')))
        probes += stale
        before = self.snapshot()
        for role, method, pattern, spec in probes:
            ids = spec['ids']
            got = []
            for probe in (ids, [MISSING] + ids[1:]):
                headers = {'X-Request-Id': self.rid('en')}
                if spec.get('etag'):
                    headers['If-Match'] = spec['etag']
                r = w.call(method, fill(pattern, probe), body=spec.get('body'),
                           token=w.token(role), headers=headers)
                got.append(r)
            what = '%s %s as %s%s: foreign %s vs missing' % (
                method, pattern, role, ' (If-Match %s)' % spec['etag'] if spec.get('etag')
                else '', ids[0])
            foreign, missing = got
            if not 400 <= foreign.status < 500:
                failures.append('%s: the foreign object answered %r' % (what, foreign))
                continue
            try:
                assert_problem(foreign, foreign.status, what)
            except AssertionError as e:
                failures.append(str(e)[:600])
                continue
            a = comparable(foreign, [ids[0]])
            b = comparable(missing, [MISSING])
            if a != b:
                failures.append('%s differ:\n    %s\n    %s' % (what, a, b))
        bad = self.changed(before)
        if bad:
            failures.append('probes changed the tables %s' % bad)
        if self.audit_rows('en'):
            failures.append('probes wrote audit rows')
        print('enumeration: %d probes (x2 requests) in %.1fs'
              % (len(probes), time.monotonic() - t0))
        if failures:
            self.fail('%d failures:\n  %s' % (len(failures), '\n  '.join(failures)))

    # --- 6. list filters naming foreign ids

    def test_6_list_filters(self):
        """Every list route x every id filter it documents x every probing role it allows:
        a foreign id answers exactly like a missing one (an empty page, or the same
        problem); region A's objects outside a municipal operator's or a head's scope too."""
        t0 = time.monotonic()
        w = self.w
        failures, n = [], 0
        near = {'municipal_operator': {'municipality_id': w.muni_a2, 'organization_id': w.org_a2,
                                       'manager_id': w.mgr_a2, 'addressee_manager_id': w.mgr_a2},
                'head': {'organization_id': w.org_a1b, 'manager_id': w.mgr_a1b,
                         'municipality_id': w.muni_a2, 'addressee_manager_id': w.mgr_a1b}}
        for (method, pattern), roles in sorted(self.routes.items()):
            if method != 'GET' or '{' in pattern or (method, pattern) not in self.ops:
                continue
            names = [self.params.get(p) for p in self.ops[(method, pattern)]['params']]
            names = [x for x in names if x and (x.endswith('_id') or x == 'campaign')]
            for name in names:
                for role in PROBERS:
                    if role not in roles and roles != ['public']:
                        continue
                    values = [self.foreign[name]] if name in self.foreign else []
                    if name in near.get(role, {}):
                        values.append(near[role][name])
                    extra = ''
                    if name == 'entity_id':
                        values, extra = [w.org_b1], 'entity=organization&'
                    if pattern.endswith('/aggregates'):
                        extra = 'group_by=municipality&'
                    for v in values:
                        n += 1
                        got = [w.get('%s?%s%s=%d' % (pattern, extra, name, x),
                                     token=w.token(role)) for x in (v, MISSING)]
                        what = 'GET %s?%s%s= as %s: foreign %d vs missing' % (
                            pattern, extra, name, role, v)
                        a, b = comparable(got[0], [v]), comparable(got[1], [MISSING])
                        if got[0].status >= 500 or a != b:
                            failures.append('%s differ:\n    %s\n    %s' % (what, a, b))
                        elif got[0].status == 200 and got[0].json and got[0].json.get('items'):
                            failures.append('%s: foreign items %s' % (what, got[0].body[:300]))
        print('list filters: %d foreign filters in %.1fs' % (n, time.monotonic() - t0))
        self.assertGreater(n, 20, 'the OpenAPI document yielded almost no id filters')
        if failures:
            self.fail('%d failures:\n  %s' % (len(failures), '\n  '.join(failures)))
        self.assertHealthy('the enumeration probes')


if __name__ == '__main__':
    harness.main()
