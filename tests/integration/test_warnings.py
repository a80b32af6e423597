#!/usr/bin/python3
"""
test_warnings.py - early warnings over HTTP: GET /campaigns/{id}/warnings on three planted
campaigns of one region (previous-but-one, previous, current), every figure recomputed here
with Decimal from the planted values (DESIGN §3) and compared; the boundaries (equal totals
are not a decline, a total that rounds to the threshold is not below it, a completeness equal
to the bound is not below it), ties, a head missing from the middle campaign or replaced in
it (no decline), unapproved submissions (include=unapproved), filters, paging, ETag and 304,
scope per role, bad parameters; the recommendation drafts made from the warnings (created
once, a second run creates none, audit and history rows, a withdrawn draft drafted again,
dismissed heads skipped); and the warnings step of the cycle report.

Campaigns, submissions and values are planted by SQL and scored by em_rescore().
"""
import json
import os
import sys
from decimal import Decimal as D, ROUND_HALF_UP

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem, assert_status  # noqa: E402
import registry_fixtures as rf  # noqa: E402
from registry_fixtures import API, assert_fields, url  # noqa: E402

# Five numbers 0..100, polarity up, weight 1 for schools: a value v scores v / 100.
INDICATORS = [('m1', 'management'), ('m2', 'management'), ('n1', 'network'), ('n2', 'network'),
              ('c1', 'conditions')]
DIRECTIONS = {'management': 'по качеству управленческой деятельности',
              'network': 'по совершенствованию сети ОО',
              'conditions': 'по условиям осуществления образовательной деятельности'}
TYPES = ['decline_total', 'decline_direction', 'below_threshold', 'low_completeness']
YEARS = (2021, 2022, 2023)
TWO = D('0.01')


def vals(*xs):
    """{code: Decimal} of the five indicators, None for a missing value."""
    return {code: D(str(x)) for (code, _), x in zip(INDICATORS, xs) if x is not None}


def presented(x):
    return x.quantize(TWO, rounding=ROUND_HALF_UP)


def scores(values):
    """(total, {direction: score}, filled) in full precision, as DESIGN §3 has it."""
    s = {code: min(max(values[code] / 100, D(0)), D(1)) if code in values else D(0)
         for code, _ in INDICATORS}
    total = 100 * sum(s.values()) / len(INDICATORS)
    dirs = {}
    for code, d in INDICATORS:
        dirs.setdefault(d, []).append(s[code])
    return total, {d: 100 * sum(x) / len(x) for d, x in dirs.items()}, len(values)


def plant(w, region, year, rows):
    """A closed campaign of region with INDICATORS and submissions [(org, mgr, status,
    values)]; scored by em_rescore. Returns (campaign id, {org: submission id})."""
    cid = int(w.sql(
        "INSERT INTO campaigns (region_id, year, title, opens_at, closes_at, status) VALUES "
        "(%d, %d, 'Мониторинг %d', '%d-01-10T00:00:00+03', '%d-03-01T00:00:00+03', 'closed') "
        "RETURNING id" % (region, year, year, year, year)))
    for pos, (code, direction) in enumerate(INDICATORS):
        w.sql("INSERT INTO indicators (campaign_id, region_id, code, name, direction_id, "
              "value_type, min_value, max_value, weights, position) SELECT %d, %d, '%s', "
              "'Показатель %s', d.id, 'number', 0, 100, '{\"school\": 1}', %d FROM directions d "
              "WHERE d.code = '%s'" % (cid, region, code, code, pos, direction))
    subs = {}
    for org, mgr, st, values in rows:
        sid = int(w.sql(
            "INSERT INTO submissions (campaign_id, organization_id, region_id, municipality_id, "
            "kind, manager_id, status, approved_at) SELECT %d, o.id, o.region_id, "
            "o.municipality_id, o.kind, %d, '%s', CASE WHEN '%s' = 'approved' THEN now() END "
            "FROM organizations o WHERE o.id = %d RETURNING id" % (cid, mgr, st, st, org)))
        subs[org] = sid
        if values:
            w.sql("INSERT INTO submission_values (submission_id, indicator_id, value) "
                  "SELECT %d, i.id, x.v FROM (VALUES %s) x(code, v) JOIN indicators i "
                  "ON i.campaign_id = %d AND i.code = x.code"
                  % (sid, ', '.join("('%s', %s)" % kv for kv in values.items()), cid))
    w.sql("SELECT em_rescore(ARRAY[%s]::bigint[])" % ','.join(str(s) for s in subs.values()))
    return cid, subs


def expected(camps, threshold=D(40), bound=D('0.8'), unapproved=False):
    """Every warning of the last campaign of camps, computed from the planted rows:
    {(type, submission, direction): figures}. camps: [(id, year, {org: (sid, mgr, status,
    values)})], oldest first."""
    counted = ('approved', 'submitted', 'verified') if unapproved else ('approved',)
    def row(c, org, mgr):
        r = c[2].get(org)
        return r if r and r[1] == mgr and r[2] in counted else None
    out = {}
    c0 = camps[-1]
    for org, (sid, mgr, status, values) in c0[2].items():
        if status not in counted:
            continue
        total, dirs, filled = scores(values)
        t0 = presented(total)
        chain = [row(camps[-3], org, mgr), row(camps[-2], org, mgr)]
        if all(chain):
            sc = [scores(r[3]) for r in chain] + [(total, dirs, filled)]
            ts = [presented(x[0]) for x in sc]
            def series(key, got):
                return {'series': [{'campaign_id': c[0], 'year': c[1], 'submission_id': s, key: v}
                                   for c, s, v in zip(camps[-3:], [chain[0][0], chain[1][0], sid],
                                                      got)],
                        'changes': [got[1] - got[0], got[2] - got[1]], 'change': got[2] - got[0]}
            if ts[0] > ts[1] > ts[2]:
                out[('decline_total', sid, None)] = series('total', ts)
            for d in dirs:
                ds = [presented(x[1][d]) for x in sc]
                if ds[0] > ds[1] > ds[2]:
                    out[('decline_direction', sid, d)] = series('score', ds)
        if t0 < threshold:
            out[('below_threshold', sid, None)] = {
                'total': t0, 'threshold': threshold, 'level': level(t0), 'gap': threshold - t0}
        if filled < bound * len(INDICATORS):
            out[('low_completeness', sid, None)] = {
                'completeness': (D(filled) / len(INDICATORS)).quantize(D('0.0001'), ROUND_HALF_UP),
                'bound': bound, 'filled': filled, 'applicable': len(INDICATORS)}
    return out


def level(t):
    return 'high' if t >= 80 else 'sufficient' if t >= 60 else 'low' if t >= 40 else 'critical'


def key(item):
    return (item['type'], item['submission_id'],
            item['direction']['code'] if item['direction'] else None)


# directions.position: the answer orders a submission's direction warnings by it.
POSITION = {'network': 1, 'management': 2, 'conditions': 6}


def order(k):
    """The answer's order: submission, type, direction position."""
    return (k[1], TYPES.index(k[0]), POSITION[k[2]] if k[2] else 0)


class WarningsTest(harness.DaemonTestCase):
    threads = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        w = cls.w = rf.World(cls.daemon, cls.cluster)
        m1, m2 = w.muni_a1, w.muni_a2

        def head(muni, name):
            org = w.new_organization(muni, short_name=name)['id']
            mgr = w.new_manager(muni, full_name='Руководитель ' + name)['id']
            return org, mgr
        cls.x1, cls.mx1 = head(m1, 'Школа X')          # another head in the middle campaign
        _, cls.my = head(m1, 'Школа Y')
        cls.t1, cls.mt1 = head(m2, 'Школа T1')         # ties
        cls.t2, cls.mt2 = head(m2, 'Школа T2')
        cls.u, cls.mu = head(m1, 'Школа U')            # submitted, not approved
        cls.z, cls.mz = head(m1, 'Школа Z')            # 39.99: just below the threshold
        cls.e, cls.me = head(m2, 'Школа E')            # falls, then stays equal
        a1, a1b, a2 = (w.org_a1, w.mgr_a1), (w.org_a1b, w.mgr_a1b), (w.org_a2, w.mgr_a2)
        tie = [vals(50, 50, 50, 50, 50), vals(45, 45, 45, 45, 45),
               vals('39.99', 40, 40, 40, 40)]
        plan = {  # org: (manager, [values per campaign or None], status now)
            a1: [vals(90, 90, 60, 60, 60), vals(80, 80, 60, 60, 50), vals(70, 70, 60, 60, 40)],
            a1b: [vals(50, 50, 90, 90, 70), vals(60, 60, 80, 80, 70), vals(50, 50, 70, 70, 60)],
            a2: [vals(90, 90, 90, 90, 90), None, vals(30, 30, 30, 30, None)],
            (cls.x1, cls.mx1): [vals(80, 80, 80, 80, 80), 'other', vals(60, 60, None, None, 60)],
            (cls.t1, cls.mt1): tie, (cls.t2, cls.mt2): tie,
            (cls.u, cls.mu): [None, None, vals(10, 10, 10, 10, 10)],
            (cls.z, cls.mz): [None, None, vals('39.95', 40, 40, 40, 40)],
            (cls.e, cls.me): [vals(70, 70, 70, 70, 70), vals(60, 60, 60, 60, 60),
                              vals(60, 60, 60, 60, 60)],
        }
        cls.camps = []
        for i, year in enumerate(YEARS):
            rows = []
            for (org, mgr), series in plan.items():
                v = series[i]
                if v is None:
                    continue
                if v == 'other':
                    rows.append((org, cls.my, 'approved', vals(70, 70, 70, 70, 70)))
                    continue
                st = 'submitted' if org == cls.u else 'approved'
                rows.append((org, mgr, st, v))
            cid, subs = plant(w, w.region_a, year, rows)
            cls.camps.append((cid, year, {org: (subs[org], mgr, st, v)
                                          for org, mgr, st, v in rows}))
        cls.cur = cls.camps[-1][0]
        cls.camp_b, _ = plant(w, w.region_b, 2023, [(w.org_b1, w.mgr_b1, 'approved',
                                                     vals(10, 10, 10, 10, 10))])
        cls.head_a2 = w.cli_user('head', w.region_a, m2, w.org_a2, w.mgr_a2)
        cls.path = '%s/campaigns/%d/warnings' % (API, cls.cur)

    # --- helpers

    def tok(self, role, side='A'):
        return self.w.token(role, side)

    def get(self, token, expect=200, **params):
        r = self.w.get(url(self.path, **params), token=token)
        assert_status(r, expect, 'GET warnings %r' % params)
        return json.loads(r.body, parse_float=D) if expect == 200 else r

    def walk(self, token, **params):
        items, cursor = [], None
        for _ in range(200):
            doc = self.get(token, cursor=cursor, **params)
            items += doc['items']
            cursor = doc['next']
            if cursor is None:
                return items
        raise AssertionError('more than 200 pages')

    def check(self, items, want, what=''):
        got = {key(i): i['figures'] for i in items}
        self.assertEqual(set(got), set(want), what)
        for k, fig in want.items():
            self.assertEqual(got[k], fig, '%s %r' % (what, k))
        self.assertEqual([key(i) for i in items], sorted(got, key=order), 'order ' + what)

    def sub(self, org, i=2):
        return self.camps[i][2][org][0]

    # ================================================================ figures

    def test_01_figures_and_boundaries(self):
        w = self.w
        want = expected(self.camps)
        doc = self.get(self.tok('regional_operator'))
        self.assertEqual(doc['next'], None)
        self.assertEqual((doc['campaign_id'], doc['include'], doc['threshold'],
                          doc['completeness']), (self.cur, 'approved', 40, D('0.8')))
        self.assertEqual(doc['campaigns'], [{'id': c[0], 'year': c[1]} for c in self.camps])
        self.check(doc['items'], want, 'region')
        kinds = {k for k in want}
        a1 = self.sub(w.org_a1)
        # a1: the total and two directions fall; network stays equal
        self.assertIn(('decline_total', a1, None), kinds)
        self.assertEqual(want[('decline_total', a1, None)]['change'], D('-12.00'))
        self.assertIn(('decline_direction', a1, 'management'), kinds)
        self.assertIn(('decline_direction', a1, 'conditions'), kinds)
        self.assertNotIn(('decline_direction', a1, 'network'), kinds)
        # a1b: equal totals are not a decline; its network falls
        a1b = self.sub(w.org_a1b)
        self.assertNotIn(('decline_total', a1b, None), kinds)
        self.assertIn(('decline_direction', a1b, 'network'), kinds)
        # a2: missing from the middle campaign, no decline; below the threshold; 4 of 5
        # values is a completeness of 0.8, not below the bound
        a2 = self.sub(w.org_a2)
        self.assertEqual({k[0] for k in kinds if k[1] == a2}, {'below_threshold'})
        # x1: another head in the middle campaign, no decline; 3 of 5 values
        x1 = self.sub(self.x1)
        self.assertEqual({k[0] for k in kinds if k[1] == x1},
                         {'below_threshold', 'low_completeness'})
        # ties: the same warnings for both, in submission order; 39.998 is presented
        # as 40.00, not below 40
        t1, t2 = self.sub(self.t1), self.sub(self.t2)
        for t in (t1, t2):
            self.assertIn(('decline_total', t, None), kinds)
            self.assertNotIn(('below_threshold', t, None), kinds)
        self.assertEqual(want[('decline_total', t1, None)]['series'][2]['total'], D('40.00'))
        # e: a fall, then an equal total: no decline of anything
        self.assertFalse([k for k in kinds if k[1] == self.sub(self.e)])
        # z: 39.99 is below 40 by 0.01
        self.assertEqual(want[('below_threshold', self.sub(self.z), None)]['gap'], D('0.01'))
        # u: submitted only, not counted
        self.assertFalse([k for k in kinds if k[1] == self.sub(self.u)])
        # names
        item = [i for i in doc['items'] if key(i) == ('decline_direction', a1, 'management')][0]
        self.assertEqual(item['direction'], {'code': 'management',
                                             'name': DIRECTIONS['management']})
        self.assertEqual((item['manager_id'], item['organization_id'], item['municipality_id'],
                          item['manager_name'], item['organization_name'], item['status'],
                          item['kind'], item['recommendation_id']),
                         (w.mgr_a1, w.org_a1, w.muni_a1, 'Иванова Анна Петровна',
                          'Саровская школа №1', 'approved', 'school', None))

    def test_02_parameters_and_filters(self):
        w = self.w
        reg = self.tok('regional_operator')
        camps = self.camps
        doc = self.get(reg, threshold='61.5', completeness='0.6')
        self.check(doc['items'], expected(camps, D('61.5'), D('0.6')), 'threshold 61.5')
        self.assertEqual((doc['threshold'], doc['completeness']), (D('61.5'), D('0.6')))
        # include=unapproved counts the submitted one
        doc = self.get(reg, include='unapproved')
        self.assertEqual(doc['include'], 'unapproved')
        want = expected(camps, unapproved=True)
        self.check(doc['items'], want, 'unapproved')
        self.assertIn(('below_threshold', self.sub(self.u), None), want)
        # types, municipality, organization
        all_ = expected(camps)
        doc = self.get(reg, type='low_completeness,decline_total')
        self.check(doc['items'], {k: v for k, v in all_.items()
                                  if k[0] in ('low_completeness', 'decline_total')}, 'types')
        doc = self.get(reg, municipality_id=w.muni_a2)
        subs2 = {self.sub(o) for o in (w.org_a2, self.t1, self.t2, self.e)}
        self.check(doc['items'], {k: v for k, v in all_.items() if k[1] in subs2}, 'muni a2')
        doc = self.get(reg, organization_id=w.org_a1, type='decline_direction')
        self.check(doc['items'], {k: v for k, v in all_.items() if k[1] == self.sub(w.org_a1)
                                  and k[0] == 'decline_direction'}, 'org a1')
        # paging: one at a time gives the same list, in the same order
        self.assertEqual([key(i) for i in self.walk(reg, limit=1)],
                         sorted(all_, key=order))
        page = self.get(reg, limit=2)
        self.assertEqual(page['limit'], 2)
        self.assertIsNotNone(page['next'])

    def test_03_bad_parameters(self):
        reg = self.tok('regional_operator')
        for params, field in (({'type': 'decline'}, 'type'), ({'type': ''}, 'type'),
                              ({'type': 'decline_total,'}, 'type'),
                              ({'threshold': '101'}, 'threshold'),
                              ({'threshold': '-1'}, 'threshold'),
                              ({'threshold': '1e2'}, 'threshold'),
                              ({'threshold': 'NaN'}, 'threshold'),
                              ({'threshold': '40.12345'}, 'threshold'),
                              ({'completeness': '1.5'}, 'completeness'),
                              ({'completeness': '.5'}, 'completeness'),
                              ({'municipality_id': 'x'}, 'municipality_id'),
                              ({'organization_id': '0'}, 'organization_id'),
                              ({'include': 'all'}, 'include'),
                              ({'limit': '0'}, 'limit'), ({'limit': '501'}, 'limit'),
                              ({'sort': 'name'}, 'sort'),
                              ({'cursor': 'bm9wZQ'}, 'cursor'), ({'cursor': '!!'}, 'cursor')):
            assert_fields(self.w.get(url(self.path, **params), token=reg), 400, [field],
                          repr(params))
        # every error at once
        assert_fields(self.w.get(url(self.path, type='x', threshold='x', limit='x'), token=reg),
                      400, ['type', 'threshold', 'limit'])
        # include=unapproved is for operators
        assert_problem(self.w.get(url(self.path, include='unapproved'),
                                  token=self.tok('head')), 403)
        assert_problem(self.w.get(url(self.path, include='unapproved'),
                                  token=self.tok('expert')), 403)

    def test_04_scope(self):
        w = self.w
        all_ = expected(self.camps)
        for role in ('admin', 'regional_operator', 'expert'):
            self.check(self.get(self.tok(role))['items'], all_, role)
        # a municipal operator: its municipality
        subs1 = {s for s, m, st, v in self.camps[2][2].values()
                 if int(w.sql('SELECT municipality_id FROM submissions WHERE id = %d' % s))
                 == w.muni_a1}
        self.check(self.get(self.tok('municipal_operator'))['items'],
                   {k: v for k, v in all_.items() if k[1] in subs1}, 'municipal')
        # a head: its own warnings only
        mine = self.get(self.tok('head'))['items']
        self.check(mine, {k: v for k, v in all_.items() if k[1] == self.sub(w.org_a1)}, 'head')
        self.assertTrue(mine)
        other = self.get(self.head_a2.token)['items']
        self.assertEqual({key(i) for i in other}, {('below_threshold', self.sub(w.org_a2), None)})
        # a head filtering for another organization sees nothing
        self.assertEqual(self.get(self.tok('head'), organization_id=w.org_a2)['items'], [])
        # another region's campaign is not found; so is a missing one
        for role in ('regional_operator', 'municipal_operator', 'head', 'expert'):
            assert_problem(w.get('%s/campaigns/%d/warnings' % (API, self.camp_b),
                                 token=self.tok(role)), 404, role)
        assert_problem(w.get('%s/campaigns/999999/warnings' % API,
                             token=self.tok('regional_operator')), 404)
        # region B sees its own and nothing of A
        assert_problem(w.get(self.path, token=self.tok('regional_operator', 'B')), 404)
        r = w.get('%s/campaigns/%d/warnings' % (API, self.camp_b),
                  token=self.tok('regional_operator', 'B'))
        assert_status(r, 200)
        self.assertEqual({(i['type'], i['manager_id']) for i in r.json['items']},
                         {('below_threshold', w.mgr_b1)})
        assert_problem(w.get(self.path, token=self.tok('portal')), 403)
        assert_problem(w.get(self.path, token=None), 401)

    def test_05_etag(self):
        w = self.w
        reg = self.tok('regional_operator')
        r = w.get(self.path, token=reg)
        assert_status(r, 200)
        tag = r.headers['etag']
        self.assertTrue(tag.startswith('W/"warn-'), tag)
        self.assertEqual(w.get(self.path, token=reg).headers['etag'], tag)
        r = w.get(self.path, token=reg, headers={'If-None-Match': tag})
        assert_status(r, 304)
        self.assertEqual(r.body, b'')
        # another answer, another tag: another filter, another caller's scope
        self.assertNotEqual(w.get(url(self.path, type='decline_total'), token=reg)
                            .headers['etag'], tag)
        r = w.get(self.path, token=self.tok('head'), headers={'If-None-Match': tag})
        assert_status(r, 200)

    # ================================================================ drafts

    def drafts(self, body, token=None, expect=200, key=None):
        r = self.w.call('POST', '%s/campaigns/%d/recommendation-drafts' % (API, self.cur),
                        body=body, token=token or self.tok('regional_operator'),
                        headers={'Idempotency-Key': key} if key else None)
        assert_status(r, expect, 'drafts %r' % body)
        self.replayed = r.headers.get('idempotent-replayed')
        return json.loads(r.body, parse_float=D)

    def test_06_drafts(self):
        w = self.w
        reg = self.tok('regional_operator')
        path = '%s/campaigns/%d/recommendation-drafts' % (API, self.cur)
        # bad input, each naming its field
        for body, field in (({'from': 'warnings', 'types': ['x']}, 'types[0]'),
                            ({'from': 'warnings', 'types': []}, 'types'),
                            ({'from': 'warnings', 'types': 'below_threshold'}, 'types'),
                            ({'from': 'warnings', 'types': ['below_threshold',
                                                            'below_threshold']}, 'types[1]'),
                            ({'from': 'warnings', 'completeness': 2}, 'completeness'),
                            ({'from': 'warnings', 'threshold': -1}, 'threshold'),
                            ({'from': 'warnings', 'due_on': '2030-02-30'}, 'due_on'),
                            ({'from': 'warnings', 'limit': 1}, 'limit'),
                            ({'from': 'nothing'}, 'from'), ({'from': 1}, 'from'),
                            ({'from': 'weak_directions', 'types': ['below_threshold']}, 'types'),
                            ({'completeness': 0.5}, 'completeness')):
            assert_fields(w.call('POST', path, body=body, token=reg), 400, [field], repr(body))
        for role in ('municipal_operator', 'head', 'expert', 'portal'):
            assert_problem(w.call('POST', path, body={'from': 'warnings'},
                                  token=self.tok(role)), 403, role)
        assert_problem(w.call('POST', '%s/campaigns/%d/recommendation-drafts'
                              % (API, self.camp_b), body={'from': 'warnings'}, token=reg), 404)

        # the head of x1 is dismissed: its warnings are listed, never drafted
        mpath = '%s/managers/%d' % (API, self.mx1)
        r = w.call('POST', mpath + '/dismissal', body={'dismissed_on': '2023-06-30',
                                                       'reason': 'по собственному желанию'},
                   token=w.admin.token, headers={'If-Match': w.etag(mpath)})
        assert_status(r, 200)
        want = {k: v for k, v in expected(self.camps).items()
                if k[1] != self.sub(self.x1)}
        before = w.audit_count()
        hist = int(w.sql("SELECT count(*) FROM recommendation_history WHERE action = 'generate'"))
        # only the types asked for
        doc = self.drafts({'from': 'warnings', 'types': ['low_completeness']})
        self.assertEqual((doc['from'], doc['types'], doc['created'], doc['skipped']),
                         ('warnings', ['low_completeness'], 0, 0))
        doc = self.drafts({'from': 'warnings', 'due_on': '2031-01-31'}, key='warn-drafts-1')
        self.assertEqual((doc['created'], doc['skipped'], doc['threshold'], doc['completeness']),
                         (len(want), 0, 40, D('0.8')))
        self.assertEqual(w.audit_count(), before + len(want))
        # the same Idempotency-Key and body: the first answer again, nothing new
        again = self.drafts({'from': 'warnings', 'due_on': '2031-01-31'}, key='warn-drafts-1')
        self.assertEqual((again, self.replayed), (doc, 'true'))
        self.assertEqual(w.audit_count(), before + len(want))
        self.assertEqual(int(w.sql("SELECT count(*) FROM recommendation_history WHERE action = "
                                   "'generate'")), hist + len(want))
        ids = [d['id'] for d in doc['items']]
        self.assertEqual(int(w.sql("SELECT count(*) FROM audit_events WHERE entity = "
                                   "'recommendation' AND action = 'generate' AND entity_id IN "
                                   "(%s)" % ','.join(map(str, ids)))), len(want))
        got = {}
        for d in doc['items']:
            wk = d['warning']
            k = (wk['type'], wk['submission_id'], wk['direction'])
            got[k] = d
            self.assertEqual((d['status'], d['generated'], d['campaign_id'], d['due_on'],
                              d['issuer_level']), ('draft', True, self.cur, '2031-01-31',
                                                   'regional'))
            self.assertEqual(wk['figures'], want[k])
            self.assertEqual(d['directions'], [k[2]] if k[2] else [])
        self.assertEqual(set(got), set(want))
        a1 = self.sub(self.w.org_a1)
        self.assertEqual(got[('decline_total', a1, None)]['addressee_manager_id'], w.mgr_a1)
        self.assertIn('2021 г. — 72.00, 2022 г. — 66.00, 2023 г. — 60.00 (изменение -12.00)',
                      got[('decline_total', a1, None)]['text'])
        self.assertIn('«%s»' % DIRECTIONS['management'],
                      got[('decline_direction', a1, 'management')]['text'])
        a2 = self.sub(w.org_a2)
        self.assertIn('итоговый балл 24.00 ниже порога 40 (уровень «критический»)',
                      got[('below_threshold', a2, None)]['text'])
        # created once: a second run creates none
        before = w.audit_count()
        doc = self.drafts({'from': 'warnings'})
        self.assertEqual((doc['created'], doc['skipped'], doc['items']), (0, len(want), []))
        self.assertEqual(w.audit_count(), before)
        # the weak-direction drafts do not draft a direction a warning's draft names
        doc = self.drafts({'threshold': 100})
        self.assertGreater(doc['created'], 0)
        self.assertFalse([d for d in doc['items'] if d['addressee_manager_id'] == w.mgr_a1
                          and d['directions'] == ['management']])
        self.assertTrue(all(d['warning'] is None for d in doc['items']))
        # the issuing side sees which warning has a recommendation; the head not a draft
        reg_items = self.get(reg)['items']
        for i in reg_items:
            k = key(i)
            self.assertEqual(i['recommendation_id'], got[k]['id'] if k in got else None, k)
        self.assertTrue(all(i['recommendation_id'] is None for i in self.get(self.tok('head'))
                            ['items']))
        # issued, the head sees it; withdrawn, it is drafted again
        rid = got[('decline_total', a1, None)]['id']
        self.move(rid, 'issued')
        mine = {key(i): i['recommendation_id'] for i in self.get(self.tok('head'))['items']}
        self.assertEqual(mine[('decline_total', a1, None)], rid)
        wid = got[('below_threshold', a2, None)]['id']
        self.move(wid, 'withdrawn')
        doc = self.drafts({'from': 'warnings', 'types': ['below_threshold', 'decline_total']})
        self.assertEqual(doc['created'], 1)
        self.assertEqual(doc['items'][0]['warning']['submission_id'], a2)
        self.assertEqual(doc['skipped'], len([k for k in want if k[0] in
                                              ('below_threshold', 'decline_total')]) - 1)
        # the cycle report counts them
        rep = self.report(reg)
        self.assertEqual(rep['issued'], 1)
        self.assertEqual(rep['drafted'], len(expected(self.camps)) - 1
                         - len([k for k in expected(self.camps) if k[1] == self.sub(self.x1)]))
        # numbers reach SQL as they were checked (15 significant digits), never as the
        # client wrote them: 1e-5000 is 0, a 20 000-digit one is its 15 digits
        for raw, want_t in ((b'1e-5000', 0), (b'40.' + b'0' * 20000 + b'1', 40)):
            r = w.call('POST', path, token=reg, headers={'Content-Type': 'application/json'},
                       body=b'{"from": "warnings", "types": ["decline_total"], "threshold": '
                       + raw + b'}')
            assert_status(r, 200, 'threshold %r' % raw[:20])
            doc = json.loads(r.body, parse_float=D)
            self.assertEqual((doc['threshold'], doc['created']), (want_t, 0))

    def move(self, rid, to):
        path = '%s/recommendations/%d' % (API, rid)
        r = self.w.call('POST', path + '/transitions', body={'to': to},
                        token=self.tok('regional_operator'),
                        headers={'If-Match': self.w.etag(path)})
        assert_status(r, 200, 'move %d to %s' % (rid, to))

    # ================================================================ the cycle report

    def report(self, token, muni=None):
        r = self.w.get(url('%s/campaigns/%d/cycle-report' % (API, self.cur),
                           municipality_id=muni), token=token)
        assert_status(r, 200)
        steps = json.loads(r.body, parse_float=D)['steps']
        keys = [s['key'] for s in steps]
        self.assertEqual(keys[keys.index('analysis') + 1], 'warnings')
        return steps[keys.index('warnings')]

    def test_07_cycle_report(self):
        w = self.w
        orgs, _ = w.scope_maps()
        for muni in (None, w.muni_a1, w.muni_a2):
            want = {k: v for k, v in expected(self.camps).items()
                    if muni is None or orgs[self.org_of(k[1])][0] == muni}
            step = self.report(self.tok('regional_operator'), muni)
            self.assertEqual((step['threshold'], step['completeness_bound'], step['count']),
                             (40, D('0.8'), len(want)), muni)
            self.assertEqual(step['heads'], len({self.mgr_of(k[1]) for k in want}))
            self.assertEqual([t['type'] for t in step['by_type']], TYPES)
            for t in step['by_type']:
                of = [k for k in want if k[0] == t['type']]
                self.assertEqual((t['count'], t['heads']),
                                 (len(of), len({self.mgr_of(k[1]) for k in of})),
                                 (muni, t['type']))
                self.assertEqual(t['drafted'] + t['issued'],
                                 int(w.sql("SELECT count(*) FROM recommendations WHERE "
                                           "campaign_id = %d AND warning ->> 'type' = '%s' AND "
                                           "status <> 'withdrawn' AND (%s IS NULL OR "
                                           "municipality_id = %s)" % (self.cur, t['type'],
                                                                      muni or 'NULL',
                                                                      muni or 'NULL'))))
        # a municipal operator's report is of its municipality
        step = self.report(self.tok('municipal_operator'))
        self.assertEqual(step['count'], len([k for k in expected(self.camps)
                                             if orgs[self.org_of(k[1])][0] == w.muni_a1]))
        # the printable page and the tables have the section
        r = w.get('%s/campaigns/%d/cycle-report' % (API, self.cur),
                  token=self.tok('regional_operator'), headers={'Accept': 'text/html'})
        page = r.body.decode()
        self.assertIn('Ранние предупреждения</h2>', page)
        self.assertIn('<td>Итоговый балл снижается две кампании подряд</td>', page)
        r = w.get(url('%s/campaigns/%d/cycle-report' % (API, self.cur), format='csv'),
                  token=self.tok('regional_operator'))
        self.assertIn('Ранние предупреждения', r.body.decode())

    def org_of(self, sid):
        return [o for o, r in self.camps[2][2].items() if r[0] == sid][0]

    def mgr_of(self, sid):
        return self.camps[2][2][self.org_of(sid)][1]


if __name__ == '__main__':
    harness.main()
