#!/usr/bin/python3
"""
test_scores.py - scores and ranks against an independent recomputation.

A random catalog (booleans, polarity down, weights 0 for some kinds, missing values,
out-of-range values that clamp) and random submissions are seeded by SQL; part of the
current campaign is then filled, submitted, verified and approved THROUGH THE API
(PUT /submissions/{id}/values, POST /submissions/{id}/transitions) when those routes
exist. Every indicator, direction and total score, level, completeness and dense rank
(region and municipality) is recomputed here from DESIGN §3 with decimal arithmetic and
compared with GET /campaigns/{id}/scores to the second decimal. Plus: scores change at
once after a value change and after a transition; GET /managers/{id}/scores dynamics;
outliers on planted values; the role and scope rules of these routes.

ScoresWorld is shared with test_aggregates.py.
"""
import base64
import decimal
import os
import random
import sys
import time
import urllib.parse
from decimal import Decimal as D, ROUND_HALF_UP

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem, assert_status, inn10  # noqa: E402

decimal.getcontext().prec = 60
API = '/api/v1'
KINDS = ('school', 'preschool', 'additional', 'special')
DIRECTIONS = ('network', 'management', 'student_results', 'reserve', 'objectivity',
              'conditions', 'individualization', 'career_guidance',
              'management_qualification', 'teacher_development')
LEVELS = ('high', 'sufficient', 'low', 'critical')
CENT = D('0.01')


def r2(x):
    return None if x is None else x.quantize(CENT, rounding=ROUND_HALF_UP)


def dec(v):
    """A JSON number (parsed as Decimal) or None."""
    return None if v is None else D(str(v))


def url(path, **params):
    items = [(k, v) for k, v in params.items() if v is not None]
    return path + ('?' + urllib.parse.urlencode(items) if items else '')


def sql_lit(v):
    if v is None:
        return 'NULL'
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, (int, D, float)):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def dense_ranks(pairs):
    """{key: dense rank by value descending} for (key, value) pairs; None values unranked."""
    values = sorted({v for _, v in pairs if v is not None}, reverse=True)
    pos = {v: i + 1 for i, v in enumerate(values)}
    return {k: (pos[v] if v is not None else None) for k, v in pairs}


def quantile(sorted_vals, p):
    """Linear interpolation between closest ranks (statistics.quantiles 'inclusive')."""
    n = len(sorted_vals)
    h = (n - 1) * D(p)
    lo = int(h)  # floor: h >= 0
    hi = lo if h == lo else lo + 1
    return sorted_vals[lo] + (h - lo) * (sorted_vals[hi] - sorted_vals[lo])


def level_of(total, th):
    if total is None:
        return None
    if total >= th['high']:
        return 'high'
    if total >= th['sufficient']:
        return 'sufficient'
    if total >= th['low']:
        return 'low'
    return 'critical'


def far_value(ind, v):
    """A value of a numeric indicator whose score differs from that of v (missing: 0)."""
    if v is None:
        return ind['max'] if ind['polarity'] == 'up' else ind['min']
    t = min(D(1), max(D(0), (v - ind['min']) / (ind['max'] - ind['min'])))
    return ind['min'] if t >= D('0.5') else ind['max']


class ScoresWorld:
    """Region A (municipalities A1, A2 and the small A3) with a previous (published) and a
    current campaign, region B with one campaign; organizations of several kinds with their
    heads; a random catalog and random submissions, seeded by SQL. Users of every role."""

    def __init__(self, daemon, cluster, seed=20240601):
        self.d = daemon
        self.c = cluster
        self.rng = random.Random(seed)
        self.dir_ids = dict((code, int(i)) for i, code in (
            line.split('|') for line in self.sql('SELECT id, code FROM directions').split()))
        self.dir_codes = {v: k for k, v in self.dir_ids.items()}
        self._seq = 0
        self.build_registry()
        self.build_users()
        self.prev = self.new_campaign(self.region_a, 2023, 'published', (80, 60, 40))
        self.cur = self.new_campaign(self.region_a, 2024, 'open', (75, 55, 35))
        self.camp_b = self.new_campaign(self.region_b, 2024, 'open', (80, 60, 40))
        self.catalog = {}
        for camp in (self.prev, self.cur, self.camp_b):
            self.catalog[camp] = self.new_catalog(camp)
        self.seed_submissions(self.prev, all_approved=True)
        self.seed_submissions(self.cur)
        self.seed_submissions(self.camp_b, all_approved=True)
        for camp in (self.prev, self.cur, self.camp_b):
            self.sql('SELECT em_rescore_campaign(%d)' % camp)

    # --- plumbing

    def sql(self, q):
        return self.c.psql(q)

    def rows(self, q):
        out = self.sql(q)
        return [line.split('|') for line in out.splitlines() if line]

    def seq(self):
        self._seq += 1
        return self._seq

    def get(self, path, token, headers=None):
        return self.d.request('GET', path, token=token, headers=headers, timeout=30)

    def call(self, method, path, token, body=None, headers=None):
        return self.d.request(method, path, body=body, token=token, headers=headers, timeout=30)

    def json(self, r):
        import json
        return json.loads(r.body.decode('utf-8'), parse_float=D)

    # --- the registry

    def new_region(self, code, name):
        return int(self.sql("INSERT INTO regions (code, name) VALUES ('%s', '%s') RETURNING id"
                            % (code, name)))

    def new_muni(self, region, name):
        return int(self.sql("INSERT INTO municipalities (region_id, name, oktmo) VALUES "
                            "(%d, '%s', '%08d') RETURNING id" % (region, name,
                                                                 30000000 + self.seq())))

    def new_org(self, muni, region, kind):
        n = self.seq()
        org = int(self.sql(
            "INSERT INTO organizations (municipality_id, region_id, full_name, short_name, inn, "
            "kind, settlement) VALUES (%d, %d, 'Организация %d', 'ОО №%d', '%s', '%s', 'urban') "
            "RETURNING id" % (muni, region, n, n, inn10('66%07d' % n), kind)))
        mgr = int(self.sql(
            "INSERT INTO managers (full_name, municipality_id, region_id, organization_id) "
            "VALUES ('Руководитель Тестовый %d', %d, %d, %d) RETURNING id" % (n, muni, region,
                                                                            org)))
        self.orgs[org] = {'id': org, 'muni': muni, 'region': region, 'kind': kind,
                          'manager': mgr, 'name': 'ОО №%d' % n,
                          'manager_name': 'Руководитель Тестовый %d' % n}
        return org

    def build_registry(self):
        self.orgs = {}
        self.region_a = self.new_region('66', 'Свердловская область (тест)')
        self.region_b = self.new_region('52', 'Нижегородская область (тест)')
        self.muni_a1 = self.new_muni(self.region_a, 'Арамиль')
        self.muni_a2 = self.new_muni(self.region_a, 'Берёзовский')
        self.muni_a3 = self.new_muni(self.region_a, 'Верхотурье')
        self.muni_b1 = self.new_muni(self.region_b, 'Саров')
        layout = [(self.muni_a1, self.region_a, ['school'] * 9 + ['preschool'] * 4 +
                   ['additional'] * 2),
                  (self.muni_a2, self.region_a, ['school'] * 7 + ['preschool'] * 3 +
                   ['special'] * 2),
                  (self.muni_a3, self.region_a, ['school'] * 2),
                  (self.muni_b1, self.region_b, ['school'] * 4)]
        for muni, region, kinds in layout:
            for k in kinds:
                self.new_org(muni, region, k)
        # The head user's organization: the first school of A1.
        self.head_org = min(o for o, v in self.orgs.items()
                            if v['muni'] == self.muni_a1 and v['kind'] == 'school')

    # --- users: inserted by SQL, tokens minted with the daemon's secret

    def user(self, role, region=None, muni=None, org=None, manager=None):
        login = 'u%d-%s' % (self.seq(), role.split('_')[0])
        uid = int(self.sql(
            "INSERT INTO users (login, password_hash, role, region_id, municipality_id, "
            "organization_id, manager_id) VALUES ('%s', 'x', '%s', %s, %s, %s, %s) RETURNING id"
            % (login, role, sql_lit(region), sql_lit(muni), sql_lit(org), sql_lit(manager))))
        scope = {}
        for k, v in (('region_id', region), ('municipality_id', muni),
                     ('organization_id', org)):
            if v is not None:
                scope[k] = v
        return self.d.token(uid, role, scope=scope, exp=int(time.time()) + 7200)

    def build_users(self):
        self.tok = {
            'admin': self.user('admin'),
            'regional_operator': self.user('regional_operator', region=self.region_a),
            'municipal_operator': self.user('municipal_operator', muni=self.muni_a1),
            'municipal_operator_a2': self.user('municipal_operator', muni=self.muni_a2),
            'head': self.user('head', org=self.head_org,
                              manager=self.orgs[self.head_org]['manager']),
            'expert': self.user('expert', region=self.region_a),
            'portal': self.user('portal', region=self.region_a),
            'regional_b': self.user('regional_operator', region=self.region_b),
            'anonymous': None,
        }
        self._head_tokens = {}

    def head_token(self, org):
        if org not in self._head_tokens:
            o = self.orgs[org]
            self._head_tokens[org] = self.user('head', org=org, manager=o['manager'])
        return self._head_tokens[org]

    # --- campaigns, catalog, submissions

    def new_campaign(self, region, year, status, th):
        cid = int(self.sql(
            "INSERT INTO campaigns (region_id, year, title, opens_at, closes_at, threshold_high, "
            "threshold_sufficient, threshold_low, status, opened_at, published_at) VALUES "
            "(%d, %d, 'Мониторинг %d', now() - interval '10 days', now() + interval '20 days', "
            "%d, %d, %d, '%s', now() - interval '10 days', %s) RETURNING id"
            % (region, year, year, th[0], th[1], th[2], status,
               'now()' if status == 'published' else 'NULL')))
        self.thresholds = getattr(self, 'thresholds', {})
        self.thresholds[cid] = {'high': D(th[0]), 'sufficient': D(th[1]), 'low': D(th[2])}
        return cid

    def new_catalog(self, camp):
        rng = self.rng
        specs = []
        dirs = list(DIRECTIONS[:7])  # three directions stay without indicators (null)
        for i in range(12):
            vt = ['number', 'percent', 'boolean', 'integer'][i % 4]
            direction = dirs[i % len(dirs)]
            if vt == 'boolean':
                lo = hi = None
            elif vt == 'percent':
                lo, hi = D(0), D(100)
            elif vt == 'integer':
                lo, hi = D(0), D(rng.choice([5, 10, 20]))
            else:
                lo = D(rng.choice([0, 1, 10]))
                hi = lo + D(rng.choice(['2.5', '40', '7']))
            weights = {}
            for k in KINDS:
                w = rng.choice([0, 1, 1, 2, 3, D('0.5')])
                if w:
                    weights[k] = w
            if i == 0:
                weights['preschool'] = 0  # explicitly 0: not applicable
            source = 'self' if i % 5 != 4 else ('municipal' if i % 2 else 'regional_import')
            polarity = 'down' if i % 3 == 1 and vt != 'boolean' else 'up'
            code = 'I%02d' % (i + 1)
            wjson = '{' + ', '.join('"%s": %s' % (k, v) for k, v in weights.items()) + '}'
            iid = int(self.sql(
                "INSERT INTO indicators (campaign_id, code, name, direction_id, value_type, "
                "min_value, max_value, polarity, source, weights, position) VALUES "
                "(%d, '%s', 'Показатель %s', %d, '%s', %s, %s, '%s', '%s', '%s', %d) RETURNING id"
                % (camp, code, code, self.dir_ids[direction], vt, sql_lit(lo), sql_lit(hi),
                   polarity, source, wjson, i)))
            specs.append({'id': iid, 'code': code, 'direction': direction, 'type': vt,
                          'min': lo, 'max': hi, 'polarity': polarity, 'source': source,
                          'weights': {k: D(str(w)) for k, w in weights.items()}})
        return specs

    def random_value(self, ind, clamp_test=True):
        rng = self.rng
        if ind['type'] == 'boolean':
            return D(rng.choice([0, 1]))
        lo, hi = ind['min'], ind['max']
        if ind['type'] == 'integer':
            return D(rng.randint(int(lo), int(hi)))
        span = hi - lo
        if clamp_test and rng.random() < 0.1:
            # Outside the bounds (seeded by SQL only): the score clamps.
            return (hi + span / 5) if rng.random() < 0.5 else (lo - span / 5)
        v = lo + span * D(rng.randint(0, 1000)) / 1000
        if ind['type'] == 'percent':
            v = v.quantize(D('0.1'))
        return v

    def seed_submissions(self, camp, all_approved=False):
        region = int(self.sql('SELECT region_id FROM campaigns WHERE id = %d' % camp))
        statuses = ['approved'] * 5 + ['verified', 'submitted', 'draft', 'returned']
        values = []
        for org, o in sorted(self.orgs.items()):
            if o['region'] != region:
                continue
            st = 'approved' if all_approved else self.rng.choice(statuses)
            if org == self.head_org:
                st = 'approved'
            first = {'draft': 'NULL'}.get(st, "now() - interval '%d hours'" % self.rng.randint(1, 50))
            if st != 'draft' and self.rng.random() < 0.2:
                first = "now() + interval '30 days'"  # after closes_at: late
            sid = int(self.sql(
                "INSERT INTO submissions (campaign_id, organization_id, region_id, municipality_id, "
                "kind, manager_id, status, first_submitted_at) VALUES (%d, %d, %d, %d, '%s', %d, "
                "'%s', %s) RETURNING id" % (camp, org, o['region'], o['muni'], o['kind'],
                                             o['manager'], st, first)))
            for ind in self.catalog[camp]:
                if self.rng.random() < 0.15:
                    continue  # missing
                values.append('(%d, %d, %s)' % (sid, ind['id'], self.random_value(ind)))
        if values:
            self.sql('INSERT INTO submission_values (submission_id, indicator_id, value) VALUES '
                     + ', '.join(values))

    # --- the database's current inputs, and the recomputation (DESIGN §3)

    def load(self, camp):
        """{submission id: {...}} with values {indicator id: Decimal}."""
        subs = {}
        for sid, org, muni, kind, mgr, status, on_time in self.rows(
                "SELECT s.id, s.organization_id, s.municipality_id, s.kind, s.manager_id, "
                "s.status, coalesce(s.first_submitted_at <= c.closes_at, false) "
                "FROM submissions s JOIN campaigns c ON c.id = s.campaign_id "
                "WHERE s.campaign_id = %d" % camp):
            subs[int(sid)] = {'id': int(sid), 'org': int(org), 'muni': int(muni), 'kind': kind,
                              'manager': int(mgr) if mgr else None, 'status': status,
                              'on_time': on_time == 't', 'values': {}}
        for sid, iid, v in self.rows(
                "SELECT v.submission_id, v.indicator_id, v.value FROM submission_values v "
                "JOIN submissions s ON s.id = v.submission_id WHERE s.campaign_id = %d" % camp):
            subs[int(sid)]['values'][int(iid)] = D(v)
        return subs

    def expected_scores(self, camp):
        """Every submission's scores from the formula: totals and direction scores rounded
        half-up to 2 decimals, level, completeness."""
        th = self.thresholds[camp]
        out = {}
        for sid, s in self.load(camp).items():
            num = den = D(0)
            per_dir = {}
            applicable = filled = 0
            for ind in self.catalog[camp]:
                w = ind['weights'].get(s['kind'], D(0))
                if w <= 0:
                    continue
                applicable += 1
                v = s['values'].get(ind['id'])
                if v is None:
                    sc = D(0)
                else:
                    filled += 1
                    if ind['type'] == 'boolean':
                        sc = D(1) if v != 0 else D(0)
                    else:
                        t = (v - ind['min']) / (ind['max'] - ind['min'])
                        t = min(D(1), max(D(0), t))
                        sc = t if ind['polarity'] == 'up' else 1 - t
                num += w * sc
                den += w
                dn, dd = per_dir.get(ind['direction'], (D(0), D(0)))
                per_dir[ind['direction']] = (dn + w * sc, dd + w)
            total = r2(100 * num / den) if den else None
            out[sid] = dict(s, total=total, level=level_of(total, th),
                            completeness=(D(filled) / D(applicable)).quantize(
                                D('0.0001'), rounding=ROUND_HALF_UP) if applicable else None,
                            directions={code: (r2(100 * per_dir[code][0] / per_dir[code][1])
                                               if code in per_dir else None)
                                        for code in DIRECTIONS})
        return out

    def expected_ranks(self, scores, counted):
        rows = [s for s in scores.values() if s['status'] in counted]
        region, muni = {}, {}
        for k in KINDS:
            region.update(dense_ranks([(s['id'], s['total']) for s in rows if s['kind'] == k]))
            for m in {s['muni'] for s in rows}:
                muni.update(dense_ranks([(s['id'], s['total']) for s in rows
                                         if s['kind'] == k and s['muni'] == m]))
        return region, muni

    def all_scores(self, camp, token, **params):
        """Every row of GET /campaigns/{id}/scores, page by page (bounded)."""
        items, cursor = [], None
        for _ in range(100):
            r = self.get(url('%s/campaigns/%d/scores' % (API, camp), limit=7, cursor=cursor,
                             **params), token)
            assert_status(r, 200, 'GET scores %r' % params)
            doc = self.json(r)
            items += doc['items']
            cursor = doc['next']
            if cursor is None:
                return items, doc
        raise AssertionError('too many pages')


class ScoresTest(harness.DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.w = ScoresWorld(cls.daemon, cls.cluster)

    def has_route(self, method, pattern):
        p = self.daemon.run('routes')
        return any(line.split()[:2] == [method, pattern] for line in p.stdout.splitlines())

    def compare_campaign(self, camp, token='admin', include=None):
        w = self.w
        counted = ('approved', 'submitted', 'verified') if include else ('approved',)
        exp = w.expected_scores(camp)
        region, muni = w.expected_ranks(exp, counted)
        items, _ = w.all_scores(camp, w.tok[token], include=include)
        want = {sid for sid, s in exp.items() if s['status'] in counted}
        got = {it['submission_id']: it for it in items}
        self.assertEqual(set(got), want, 'rows of campaign %d (include=%s)' % (camp, include))
        for sid, it in got.items():
            e = exp[sid]
            what = 'submission %d' % sid
            self.assertEqual(dec(it['total']), e['total'], what + ' total')
            self.assertEqual(it['level'], e['level'], what + ' level')
            self.assertEqual(dec(it['completeness']), e['completeness'], what + ' completeness')
            self.assertEqual(set(it['directions']), set(DIRECTIONS), what)
            for code in DIRECTIONS:
                self.assertEqual(dec(it['directions'][code]), e['directions'][code],
                                 '%s direction %s' % (what, code))
            self.assertEqual(it['rank_region'], region[sid], what + ' rank_region')
            self.assertEqual(it['rank_municipality'], muni[sid], what + ' rank_municipality')
            self.assertEqual(it['kind'], e['kind'])
            self.assertEqual(it['municipality_id'], e['muni'])
            self.assertEqual(it['organization_id'], e['org'])
            self.assertEqual(it['manager_id'], e['manager'])
            self.assertEqual(it['status'], e['status'])
        return exp

    # --- the recomputation

    def test_01_seeded_scores_match_the_formula(self):
        for camp in (self.w.prev, self.w.cur):
            self.compare_campaign(camp)
        self.compare_campaign(self.w.cur, include='unapproved')
        self.compare_campaign(self.w.cur, token='regional_operator', include='unapproved')

    def test_02_scores_through_the_api_workflow(self):
        """Fill, submit, verify and approve drafts through the API, then recompare."""
        w = self.w
        for method, route in (('PUT', '/api/v1/submissions/{id}/values'),
                              ('POST', '/api/v1/submissions/{id}/transitions')):
            self.assertTrue(self.has_route(method, route), '%s %s is not served' % (method, route))
        muni_tokens = {w.muni_a1: w.tok['municipal_operator'],
                       w.muni_a2: w.tok['municipal_operator_a2']}
        drafts = [int(x) for x in w.sql(
            "SELECT id FROM submissions WHERE campaign_id = %d AND status IN ('draft', 'returned') "
            "AND municipality_id IN (%d, %d) ORDER BY id" % (w.cur, w.muni_a1, w.muni_a2)).split()]
        self.assertTrue(drafts, 'the seed has drafts')
        subs = w.load(w.cur)
        for sid in drafts:
            s = subs[sid]
            org = s['org']
            head = w.head_token(org)
            path = '%s/submissions/%d' % (API, sid)

            def etag():
                r = w.get(path, w.tok['admin'])
                assert_status(r, 200, 'GET ' + path)
                return r.headers['etag']

            def put(token, inds):
                vals = []
                for ind in inds:
                    v = w.random_value(ind, clamp_test=False)
                    if ind['type'] == 'boolean':
                        vals.append({'indicator': ind['code'], 'value': bool(v)})
                    elif ind['type'] == 'integer':
                        vals.append({'indicator': ind['code'], 'value': int(v)})
                    else:
                        vals.append({'indicator': ind['code'], 'value': float(v)})
                if not vals:
                    return
                r = w.call('PUT', path + '/values', token, body={'values': vals},
                           headers={'If-Match': etag()})
                assert_status(r, 200, 'PUT values of %d' % sid)

            def move(token, to, comment=None):
                body = {'to': to}
                if comment:
                    body['comment'] = comment
                r = w.call('POST', path + '/transitions', token, body=body,
                           headers={'If-Match': etag()})
                assert_status(r, 200, '%d -> %s' % (sid, to))

            applicable = [i for i in w.catalog[w.cur] if i['weights'].get(s['kind'], 0) > 0]
            put(head, [i for i in applicable if i['source'] == 'self'])
            move(head, 'submitted')
            # Municipal values: some stay missing.
            put(muni_tokens[s['muni']], [i for i in applicable if i['source'] == 'municipal'
                                         and w.rng.random() < 0.7])
            move(muni_tokens[s['muni']], 'verified')
            put(w.tok['regional_operator'], [i for i in applicable
                                             if i['source'] == 'regional_import'
                                             and w.rng.random() < 0.7])
            move(w.tok['regional_operator'], 'approved')
        statuses = w.sql("SELECT string_agg(DISTINCT status, ',') FROM submissions WHERE id IN (%s)"
                         % ','.join(map(str, drafts)))
        self.assertEqual(statuses, 'approved')
        self.compare_campaign(w.cur)
        self.compare_campaign(w.cur, include='unapproved')

    def test_03_scores_follow_a_value_change_and_a_transition(self):
        w = self.w
        # A submitted submission of A1 (seeded by SQL if none is left).
        sid = w.sql("SELECT id FROM submissions WHERE campaign_id = %d AND status = 'submitted' "
                    "AND municipality_id = %d ORDER BY id LIMIT 1" % (w.cur, w.muni_a1))
        if not sid:
            sid = w.sql("UPDATE submissions SET status = 'submitted', first_submitted_at = now() "
                        "WHERE id = (SELECT id FROM submissions WHERE campaign_id = %d AND "
                        "municipality_id = %d AND status = 'approved' AND organization_id <> %d "
                        "ORDER BY id LIMIT 1) RETURNING id; " % (w.cur, w.muni_a1, w.head_org))
            w.sql('SELECT em_rescore(ARRAY[%s]::bigint[])' % sid)
        sid = int(sid)
        tok = w.tok['regional_operator']

        def row(include='unapproved'):
            items, _ = w.all_scores(w.cur, tok, include=include)
            return {it['submission_id']: it for it in items}.get(sid)

        before = row()
        self.assertIsNotNone(before)
        self.assertIsNone(row(None), 'a submitted row is not official')
        s = w.load(w.cur)[sid]
        path = '%s/submissions/%d' % (API, sid)
        # A regional_import value may be written by the region before approval.
        ind = next((i for i in w.catalog[w.cur] if i['source'] == 'regional_import'
                    and i['weights'].get(s['kind'], 0) > 0 and i['type'] != 'boolean'), None)
        if ind and self.has_route('PUT', '/api/v1/submissions/{id}/values'):
            new = far_value(ind, s['values'].get(ind['id']))
            r = w.get(path, w.tok['admin'])
            r = w.call('PUT', path + '/values', tok,
                       body={'values': [{'indicator': ind['code'], 'value': float(new)}]},
                       headers={'If-Match': r.headers['etag']})
            assert_status(r, 200, 'PUT a regional_import value')
        else:
            ind = next(i for i in w.catalog[w.cur] if i['weights'].get(s['kind'], 0) > 0
                       and i['type'] != 'boolean')
            new = far_value(ind, s['values'].get(ind['id']))
            w.sql("BEGIN; INSERT INTO submission_values (submission_id, indicator_id, value) "
                  "VALUES (%d, %d, %s) ON CONFLICT (submission_id, indicator_id) DO UPDATE SET "
                  "value = EXCLUDED.value; SELECT em_rescore(ARRAY[%d]::bigint[]); COMMIT"
                  % (sid, ind['id'], new, sid))
        after = row()
        self.assertNotEqual(dec(after['total']), dec(before['total']),
                            'the total changed with the value')
        self.assertEqual(dec(after['total']), w.expected_scores(w.cur)[sid]['total'])
        # A transition: verified then approved makes it official at once.
        if self.has_route('POST', '/api/v1/submissions/{id}/transitions'):
            mtok = w.tok['municipal_operator']
            for t, to in ((mtok, 'verified'), (tok, 'approved')):
                r = w.get(path, w.tok['admin'])
                r = w.call('POST', path + '/transitions', t, body={'to': to},
                           headers={'If-Match': r.headers['etag']})
                assert_status(r, 200, 'transition to ' + to)
        else:
            w.sql("BEGIN; UPDATE submissions SET status = 'approved' WHERE id = %d; "
                  "SELECT em_rescore(ARRAY[%d]::bigint[]); COMMIT" % (sid, sid))
        official = row(None)
        self.assertIsNotNone(official, 'approved: an official row at once')
        self.assertEqual(official['status'], 'approved')
        self.compare_campaign(w.cur)

    # --- the kept ranks

    def kept_ranks_match_a_rebuild(self, what):
        """score_ranks equals the partitions recomputed here from submission_scores: each
        counted total with how many rows reach it and its dense rank, per campaign, scope
        (region kind, municipality kind, cluster) and set (approved; include=unapproved)."""
        w = self.w
        want = {}
        for line in w.sql("SELECT campaign_id || ' ' || kind || ' ' || municipality_id || ' ' "
                          "|| settlement || ' ' || size_band || ' ' || status || ' ' || "
                          "total_rounded FROM submission_scores WHERE total_rounded IS NOT NULL "
                          "AND status IN ('approved', 'submitted', 'verified')").splitlines():
            camp, kind, muni, settl, band, status, total = line.split(' ')
            for part in (('r', kind, '0', '', ''), ('m', kind, muni, '', ''),
                         ('c', kind, '0', settl, band)):
                for unapproved in (['t', 'f'] if status == 'approved' else ['t']):
                    vals = want.setdefault((camp,) + part + (unapproved,), {})
                    vals[D(total)] = vals.get(D(total), 0) + 1
        expected = set()
        for key, vals in want.items():
            for rank, v in enumerate(sorted(vals, reverse=True), 1):
                expected.add(key + (v, vals[v], rank))
        kept = set()
        for line in w.sql("SELECT concat_ws('|', campaign_id, scope, kind, municipality_id, "
                          "settlement, size_band, unapproved, value, n, rank) "
                          "FROM score_ranks").splitlines():
            f = line.split('|')
            kept.add(tuple(f[:7]) + (D(f[7]), int(f[8]), int(f[9])))
        self.assertTrue(expected, what)
        self.assertEqual(sorted(kept - expected)[:5], [], what + ': kept, not rebuilt')
        self.assertEqual(sorted(expected - kept)[:5], [], what + ': rebuilt, not kept')

    def test_03a_kept_ranks_after_the_workflow(self):
        self.kept_ranks_match_a_rebuild('after the seed and the workflow')

    def test_03b_kept_ranks_under_concurrent_changes(self):
        """Sessions that move rows of one campaign in and out of the ranks at once (status
        approved <-> verified, a total changed) leave the ranks of the last commit."""
        w = self.w
        ids = [int(x) for x in w.sql(
            "SELECT id FROM submissions WHERE campaign_id = %d AND status IN ('approved', "
            "'verified') AND organization_id <> %d ORDER BY id LIMIT 8"
            % (w.cur, w.head_org)).split()]
        self.assertEqual(len(ids), 8)
        before = w.sql("SELECT string_agg(id || ':' || status, ',' ORDER BY id) FROM submissions "
                       "WHERE id IN (%s)" % ','.join(map(str, ids)))
        flip = ("BEGIN; UPDATE submissions SET status = CASE status WHEN 'approved' THEN "
                "'verified' ELSE 'approved' END WHERE id = {0}; "
                "SELECT em_rescore(ARRAY[{0}]::bigint[]); SELECT pg_sleep(0.01); COMMIT")
        for _ in range(3):
            procs = [w.c.psql_popen(flip.format(i)) for i in ids]
            for p in procs:
                _, err = p.communicate(timeout=60)
                self.assertEqual(p.returncode, 0, err)
        self.kept_ranks_match_a_rebuild('after concurrent transitions')
        for p in [w.c.psql_popen(flip.format(i)) for i in ids]:
            _, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err)
        self.assertEqual(before, w.sql(
            "SELECT string_agg(id || ':' || status, ',' ORDER BY id) FROM submissions "
            "WHERE id IN (%s)" % ','.join(map(str, ids))))
        self.kept_ranks_match_a_rebuild('back as they were')
        self.compare_campaign(w.cur)
        self.compare_campaign(w.cur, include='unapproved')

    # --- filters, sort, pagination

    def test_04_filters_and_sorts(self):
        w = self.w
        tok = w.tok['admin']
        exp = w.expected_scores(w.cur)
        approved = [s for s in exp.values() if s['status'] == 'approved']
        items, _ = w.all_scores(w.cur, tok, kind='school', municipality_id=w.muni_a1)
        self.assertEqual({i['submission_id'] for i in items},
                         {s['id'] for s in approved if s['kind'] == 'school'
                          and s['muni'] == w.muni_a1})
        lvl = next(s['level'] for s in approved)
        items, _ = w.all_scores(w.cur, tok, level=lvl)
        self.assertEqual({i['submission_id'] for i in items},
                         {s['id'] for s in approved if s['level'] == lvl})
        items, _ = w.all_scores(w.cur, tok, sort='rank')
        keys = [(i['rank_region'] or 10 ** 9, i['submission_id']) for i in items]
        self.assertEqual(keys, sorted(keys))
        items, _ = w.all_scores(w.cur, tok, sort='total')
        keys = [(-(dec(i['total']) if i['total'] is not None else -1), i['submission_id'])
                for i in items]
        self.assertEqual(keys, sorted(keys))
        items, _ = w.all_scores(w.cur, tok, sort='id')
        ids = [i['submission_id'] for i in items]
        self.assertEqual(ids, sorted(ids))
        # cursors with a key the list never makes: not a number, or one SQL would misread
        forged = [{'cursor': base64.urlsafe_b64encode(('rank\n5\n%s' % k).encode()).decode()
                   .rstrip('='), 'sort': 'rank'} for k in ('nan', 'inf', '0x10', '1e5', '-',
                                                          '1.', '.5', '1' * 50)]
        for bad in [{'sort': 'name'}, {'kind': 'zoo'}, {'level': 'top'}, {'limit': '0'},
                    {'municipality_id': 'x'}, {'include': 'all'}, {'cursor': 'zz'}] + forged:
            r = w.get(url('%s/campaigns/%d/scores' % (API, w.cur), **bad), tok)
            doc = assert_problem(r, 400, repr(bad))
            self.assertIn(list(bad)[0], {e['field'] for e in doc.get('errors', [])})

    # --- roles and scope

    def test_05_roles_and_scope(self):
        w = self.w
        path = '%s/campaigns/%d/scores' % (API, w.cur)
        exp = w.expected_scores(w.cur)
        # Municipal operator: its municipality's rows, ranks over the region.
        items, _ = w.all_scores(w.cur, w.tok['municipal_operator'])
        self.assertTrue(items)
        self.assertTrue(all(i['municipality_id'] == w.muni_a1 for i in items))
        region, _ = w.expected_ranks(exp, ('approved',))
        for i in items:
            self.assertEqual(i['rank_region'], region[i['submission_id']])
        # Expert: the region, official only.
        items, _ = w.all_scores(w.cur, w.tok['expert'])
        self.assertEqual(len(items), sum(1 for s in exp.values() if s['status'] == 'approved'))
        assert_problem(w.get(url(path, include='unapproved'), w.tok['expert']), 403)
        assert_problem(w.get(url(path, include='unapproved'), w.tok['head']), 403)
        # Head: its own row, and the distribution of its peers without names.
        items, doc = w.all_scores(w.cur, w.tok['head'])
        self.assertEqual([i['organization_id'] for i in items], [w.head_org])
        pg = doc['peer_group']
        own = exp[items[0]['submission_id']]
        peers = sorted(s['total'] for s in exp.values()
                       if s['status'] == 'approved' and s['kind'] == own['kind']
                       and s['total'] is not None)
        self.assertEqual(pg['count'], len(peers))
        self.assertEqual(dec(pg['mean']), r2(sum(peers) / len(peers)))
        self.assertEqual(dec(pg['median']), r2(quantile(peers, '0.5')))
        self.assertEqual(dec(pg['q1']), r2(quantile(peers, '0.25')))
        self.assertEqual(dec(pg['q3']), r2(quantile(peers, '0.75')))
        body = r_text = w.get(path, w.tok['head']).body.decode('utf-8')
        for o, v in w.orgs.items():
            if o != w.head_org:
                self.assertNotIn(v['manager_name'], r_text, 'another head\'s name')
        self.assertNotIn('manager_id', str(pg))
        del body
        # Portal: aggregates, never scores; anonymous: 401; other region: 404.
        assert_problem(w.get(path, w.tok['portal']), 403)
        assert_problem(w.get(path, None), 401)
        assert_problem(w.get(path, w.tok['regional_b']), 404)
        assert_problem(w.get('%s/campaigns/999999/scores' % API, w.tok['admin']), 404)
        # Outliers: operators and experts only.
        opath = '%s/campaigns/%d/outliers' % (API, w.cur)
        for role, st in (('head', 403), ('portal', 403), ('anonymous', 401),
                         ('regional_b', 404), ('expert', 200), ('municipal_operator', 200)):
            r = w.get(opath, w.tok[role])
            assert_status(r, st, 'outliers as ' + role)

    def test_06_manager_scores_dynamics(self):
        w = self.w
        org = w.head_org
        mgr = w.orgs[org]['manager']
        r = w.get('%s/managers/%d/scores' % (API, mgr), w.tok['head'])
        assert_status(r, 200, 'own dynamics')
        doc = w.json(r)
        prev = w.expected_scores(w.prev)
        cur = w.expected_scores(w.cur)
        p = next(s for s in prev.values() if s['org'] == org)
        c = next(s for s in cur.values() if s['org'] == org)
        self.assertEqual([it['campaign_id'] for it in doc['items']], [w.prev, w.cur])
        first, second = doc['items']
        self.assertIsNone(first['change'])
        self.assertEqual(dec(first['total']), p['total'])
        self.assertEqual(dec(second['total']), c['total'])
        self.assertEqual(second['previous_campaign_id'], w.prev)
        self.assertEqual(dec(second['change']['total']), c['total'] - p['total'])
        for code in DIRECTIONS:
            a, b = c['directions'][code], p['directions'][code]
            self.assertEqual(dec(second['change']['directions'][code]),
                             a - b if a is not None and b is not None else None, code)
        # Another head's dynamics: 404 for a head, visible to the region's operators.
        other = next(o for o, v in w.orgs.items()
                     if v['muni'] == w.muni_a1 and o != org)
        om = w.orgs[other]['manager']
        assert_problem(w.get('%s/managers/%d/scores' % (API, om), w.tok['head']), 404)
        assert_status(w.get('%s/managers/%d/scores' % (API, om), w.tok['expert']), 200)
        assert_problem(w.get('%s/managers/%d/scores' % (API, om), w.tok['regional_b']), 404)
        assert_problem(w.get('%s/managers/%d/scores' % (API, om), w.tok['portal']), 403)

    def test_07_outliers_on_planted_values(self):
        w = self.w
        # A numeric self indicator applicable to schools in the current campaign.
        ind = next(i for i in w.catalog[w.cur] if i['type'] in ('number', 'percent')
                   and i['weights'].get('school', 0) > 0 and i['source'] == 'self')
        rows = w.rows("SELECT s.id FROM submissions s WHERE s.campaign_id = %d AND s.kind = "
                      "'school' AND s.status IN ('submitted', 'verified', 'approved') ORDER BY s.id"
                      % w.cur)
        sids = [int(r[0]) for r in rows]
        self.assertGreaterEqual(len(sids), 12, 'enough schools for |z| > 3')
        planted = sids[-1]
        # Every other school gets a value close to the middle; one gets a far one.
        mid = (ind['min'] + ind['max']) / 2
        for i, sid in enumerate(sids):
            v = mid + D(i % 3) / 10 if sid != planted else mid * 1000 + 1000
            w.sql("INSERT INTO submission_values (submission_id, indicator_id, value) VALUES "
                  "(%d, %d, %s) ON CONFLICT (submission_id, indicator_id) DO UPDATE SET "
                  "value = EXCLUDED.value" % (sid, ind['id'], v))
        # A value changed at verification.
        changed_sid = sids[0]
        w.sql("UPDATE submission_values SET submitted_value = 5, verified_value = 7 "
              "WHERE submission_id = %d AND indicator_id = %d" % (changed_sid, ind['id']))
        w.sql('SELECT em_rescore_campaign(%d)' % w.cur)
        r = w.get('%s/campaigns/%d/outliers' % (API, w.cur), w.tok['regional_operator'])
        assert_status(r, 200, 'outliers')
        doc = w.json(r)
        hits = [it for it in doc['z_score']['items'] if it['indicator_code'] == ind['code']]
        self.assertEqual([h['submission_id'] for h in hits], [planted])
        # z recomputed (population sd) to 2 decimals.
        vals = [D(x) for x in w.sql(
            "SELECT v.value FROM submission_values v JOIN submissions s ON s.id = v.submission_id "
            "WHERE v.indicator_id = %d AND s.kind = 'school' AND s.status IN "
            "('submitted', 'verified', 'approved')" % ind['id']).split()]
        mean = sum(vals) / len(vals)
        sd = (sum((v - mean) ** 2 for v in vals) / len(vals)).sqrt()
        pv = D(w.sql('SELECT value FROM submission_values WHERE submission_id = %d AND '
                     'indicator_id = %d' % (planted, ind['id'])))
        self.assertEqual(dec(hits[0]['z']), r2((pv - mean) / sd))
        self.assertEqual(hits[0]['organization_id'], w.load(w.cur)[planted]['org'])
        ch = [it for it in doc['changed']['items'] if it['submission_id'] == changed_sid]
        self.assertEqual(len(ch), 1)
        self.assertEqual(dec(ch[0]['change']), D(2))
        self.assertEqual(doc['changed']['count'], len(doc['changed']['items']))
        # The municipal operator of A2 does not see A1's outliers.
        r = w.get('%s/campaigns/%d/outliers' % (API, w.cur), w.tok['municipal_operator_a2'])
        doc = w.json(r)
        self.assertTrue(all(it['municipality_id'] == w.muni_a2
                            for it in doc['z_score']['items'] + doc['changed']['items']))
        r = w.get('%s/campaigns/%d/outliers?limit=0' % (API, w.cur), w.tok['admin'])
        assert_problem(r, 400)
        self.compare_campaign(w.cur)


if __name__ == '__main__':
    harness.main()
