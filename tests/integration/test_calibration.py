#!/usr/bin/python3
"""
test_calibration.py - GET /campaigns/{id}/calibration (objectivity calibration) against an
independent recomputation with Decimal.

The world is test_scores.ScoresWorld (random catalogs with booleans, polarity down, weights
0, values out of bounds) with, seeded by SQL, what each head submitted and what was verified:
some heads claim more on most of their self-assessed values, others differ a little either
way, some values lack one side, values of municipal and regional_import indicators differ
too (never compared), and values of submissions not verified differ (never compared).
Every group of every group_by, the totals and the flagged list are recomputed here in
indicator-score points and compared exactly, page by page; the flag rule is checked at its
boundaries on a campaign of hand-made values; scope per role (a head its own organization,
a municipal operator its municipality, 404 out of scope, 403 for portals); bad parameters
(400 naming each); ETag and 304; CSV and XLSX.

calibration_of() is shared with test_cycle_report.py.
"""
import csv
import io
import os
import sys
import tempfile
from decimal import Decimal as D, ROUND_HALF_UP

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem, assert_status  # noqa: E402
from test_scores import API, ScoresWorld, url  # noqa: E402

DEFAULT_RULE = (5, D('0.25'), D('5'))
GROUPS = ('organization', 'municipality', 'direction', 'indicator')
FLAGGED_CAP = 100


def q(x, places):
    return None if x is None else x.quantize(D(1).scaleb(-places), rounding=ROUND_HALF_UP)


def points(ind, v):
    """DESIGN §3's score of one value, x 100."""
    if ind['type'] == 'boolean':
        return D(100) if v != 0 else D(0)
    t = min(D(1), max(D(0), (v - ind['min']) / (ind['max'] - ind['min'])))
    return 100 * (t if ind['polarity'] == 'up' else 1 - t)


def compared_values(world, camp, keep=lambda s: True):
    """The compared values of campaign camp: [(submission, indicator, self pts, verified pts)]."""
    subs = world.load(camp)
    inds = {i['id']: i for i in world.catalog[camp]}
    out = []
    for sid, iid, sv, vv in world.rows(
            "SELECT v.submission_id, v.indicator_id, coalesce(v.self_value::text, '-'), "
            "coalesce(v.verified_value::text, '-') FROM submission_values v JOIN submissions s "
            "ON s.id = v.submission_id WHERE s.campaign_id = %d" % camp):
        s, ind = subs[int(sid)], inds[int(iid)]
        if (s['status'] not in ('verified', 'approved') or ind['source'] != 'self'
                or ind['weights'].get(s['kind'], D(0)) <= 0 or '-' in (sv, vv) or not keep(s)):
            continue
        out.append((s, ind, points(ind, D(sv)), points(ind, D(vv))))
    return out


class Sums:
    def __init__(self):
        self.n = self.lowered = self.raised = 0
        self.gap = D(0)
        self.lowering = D(0)

    def add(self, sp, vp):
        self.n += 1
        self.gap += sp - vp
        if vp < sp:
            self.lowered += 1
            self.lowering += sp - vp
        elif vp > sp:
            self.raised += 1

    def figures(self):
        n = self.n
        return {'compared': n, 'lowered': self.lowered, 'raised': self.raised,
                'share_lowered': q(D(self.lowered) / n, 4) if n else None,
                'share_raised': q(D(self.raised) / n, 4) if n else None,
                'mean_gap': q(self.gap / n, 2) if n else None,
                'mean_lowering': q(self.lowering / self.lowered, 2) if self.lowered else None}

    def flagged(self, rule):
        n, share, gap = rule
        return self.n >= n and self.lowered >= share * self.n and self.gap >= gap * self.n


def calibration_of(values, rule=DEFAULT_RULE):
    """{'orgs': {org: Sums}, 'total': Sums, 'flagged': set of orgs} over compared values."""
    orgs, total = {}, Sums()
    for s, _ind, sp, vp in values:
        orgs.setdefault(s['org'], Sums()).add(sp, vp)
        total.add(sp, vp)
    return {'orgs': orgs, 'total': total,
            'flagged': {o for o, x in orgs.items() if x.flagged(rule)}}


def rule_params(rule):
    return {'min_values': rule[0], 'min_share_lowered': str(rule[1]), 'min_mean_gap': str(rule[2])}


def figures_of(item):
    keys = ('compared', 'lowered', 'raised', 'share_lowered', 'share_raised', 'mean_gap',
            'mean_lowering')
    return {k: item[k] for k in keys}


class CalibrationWorld(ScoresWorld):
    """ScoresWorld plus submitted and verified values on the current campaign, and a small
    campaign of hand-made values for the flag rule's boundaries."""

    def __init__(self, daemon, cluster):
        super().__init__(daemon, cluster, seed=4242)
        self.plant(self.cur)
        self.plant(self.camp_b)
        self.build_boundaries()

    def plant(self, camp):
        rng = self.rng
        subs = self.load(camp)
        inds = {i['id']: i for i in self.catalog[camp]}
        orgs = sorted({s['org'] for s in subs.values()})
        self.inflators = set(rng.sample(orgs, len(orgs) // 3))
        updates = []
        for s in sorted(subs.values(), key=lambda s: s['id']):
            for iid, v in sorted(s['values'].items()):
                ind = inds[iid]
                sv, vv = v, v
                r = rng.random()
                if ind['type'] == 'boolean':
                    if s['org'] in self.inflators and r < 0.7:
                        sv = D(1)
                    elif r < 0.15:
                        sv = D(1) - v
                else:
                    span = ind['max'] - ind['min']
                    better = 1 if ind['polarity'] == 'up' else -1
                    if s['org'] in self.inflators and r < 0.7:
                        sv = v + better * span * D(rng.randint(5, 60)) / 100
                    elif r < 0.15:
                        sv = v + rng.choice((-1, 1)) * span / 10
                    if ind['type'] == 'integer':
                        sv = sv.quantize(D(1))
                if rng.random() < 0.08:
                    vv = v + (ind['max'] - ind['min']) / 4 if ind['type'] != 'boolean' else 1 - v
                nulls = rng.random()
                updates.append('(%d, %d, %s, %s)' % (
                    s['id'], iid, 'NULL' if nulls < 0.04 else sv,
                    'NULL' if 0.04 <= nulls < 0.07 else vv))
        self.sql("UPDATE submission_values v SET self_value = x.sv::numeric, "
                 "verified_value = x.vv::numeric FROM (VALUES %s) x(sid, iid, sv, vv) "
                 "WHERE v.submission_id = x.sid AND v.indicator_id = x.iid" % ', '.join(updates))

    def build_boundaries(self):
        """Campaign `edge` of region A: four percent indicators of school weight 1 (one with
        polarity down), the schools of A1 as approved submissions with hand-made values."""
        self.edge = self.new_campaign(self.region_a, 2030, 'closed', (80, 60, 40))
        self.edge_inds = []
        for k, pol in enumerate(('up', 'up', 'up', 'down')):
            code = 'E%d' % (k + 1)
            iid = int(self.sql(
                "INSERT INTO indicators (campaign_id, code, name, direction_id, value_type, "
                "min_value, max_value, polarity, source, weights, position) VALUES (%d, '%s', "
                "'Граница %s', %d, 'percent', 0, 100, '%s', 'self', '{\"school\": 1}', %d) "
                "RETURNING id" % (self.edge, code, code, self.dir_ids['objectivity'], pol, k)))
            self.edge_inds.append({'id': iid, 'code': code, 'type': 'percent', 'min': D(0),
                                   'max': D(100), 'polarity': pol, 'source': 'self',
                                   'direction': 'objectivity', 'weights': {'school': D(1)}})
        self.catalog[self.edge] = self.edge_inds
        schools = sorted(o for o, v in self.orgs.items()
                         if v['muni'] == self.muni_a1 and v['kind'] == 'school')
        # Gaps in points per indicator (E4 is polarity down: its points are 100 - value);
        # None: no verified value (not compared).
        plans = [
            ('at_boundary', (20, 20, 0, 0)),          # share 0.5, mean 10: flagged
            ('share_below', (40, 0, 0, 0)),           # share 0.25, mean 10
            ('gap_below', (20, D('19.99'), 0, 0)),    # share 0.5, mean 9.9975
            ('too_few', (40, 40, 0, None)),           # 3 compared values only
            ('with_raised', (30, 30, -10, -10)),      # share 0.5, mean 10, 2 raised
            ('clean', (0, 0, 0, 0)),
        ]
        self.edge_orgs = {}
        rows = []
        for (name, gaps), org in zip(plans, schools):
            o = self.orgs[org]
            sid = int(self.sql(
                "INSERT INTO submissions (campaign_id, organization_id, region_id, "
                "municipality_id, kind, manager_id, status) VALUES (%d, %d, %d, %d, 'school', %d, "
                "'approved') RETURNING id" % (self.edge, org, o['region'], o['muni'],
                                              o['manager'])))
            self.edge_orgs[name] = org
            for ind, gap in zip(self.edge_inds, gaps):
                verified = D(50)
                if ind['polarity'] == 'up':
                    claimed = verified + D(gap or 0)
                else:
                    claimed = verified - D(gap or 0)
                rows.append('(%d, %d, %s, %s, %s)' % (sid, ind['id'], verified, claimed,
                                                      'NULL' if gap is None else verified))
        self.sql("INSERT INTO submission_values (submission_id, indicator_id, value, "
                 "self_value, verified_value) VALUES " + ', '.join(rows))
        self.sql('SELECT em_rescore_campaign(%d)' % self.edge)

    def calibration(self, camp, token, expect=200, headers=None, **params):
        r = self.get(url('%s/campaigns/%d/calibration' % (API, camp), **params), token,
                     headers=headers)
        assert_status(r, expect, 'calibration %r' % params)
        return r

    def pages(self, camp, token, limit=7, **params):
        """Every item of the calibration, page by page (bounded), and the last document."""
        items, cursor = [], None
        for _ in range(200):
            doc = self.json(self.calibration(camp, token, limit=limit, cursor=cursor, **params))
            items += doc['items']
            cursor = doc['next']
            if cursor is None:
                return items, doc
        raise AssertionError('too many pages')


class CalibrationTest(harness.DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.w = CalibrationWorld(cls.daemon, cls.cluster)

    def expected_groups(self, values, group_by, rule):
        cal = calibration_of(values, rule)
        groups = {}
        for s, ind, sp, vp in values:
            key = {'organization': s['org'], 'municipality': s['muni'],
                   'indicator': ind['id'],
                   'direction': self.w.dir_ids[ind['direction']]}[group_by]
            groups.setdefault(key, Sums()).add(sp, vp)
        return cal, groups

    def check_groups(self, camp, token, group_by, rule, keep=lambda s: True, **params):
        w = self.w
        values = compared_values(w, camp, keep)
        cal, groups = self.expected_groups(values, group_by, rule)
        items, doc = w.pages(camp, token, group_by=group_by, **rule_params(rule), **params)
        id_key = group_by + '_id'
        got = {it[id_key]: it for it in items}
        self.assertEqual(len(got), len(items), 'each group once')
        self.assertEqual(set(got), set(groups), '%s groups' % group_by)
        self.assertEqual([it[id_key] for it in items], sorted(got), 'sorted by id')
        for key, sums in groups.items():
            it = got[key]
            self.assertEqual(figures_of(it), sums.figures(), '%s %d' % (group_by, key))
            if group_by == 'organization':
                o = w.orgs[key]
                self.assertEqual(it['flagged'], key in cal['flagged'], 'org %d flag' % key)
                self.assertEqual((it['municipality_id'], it['kind'], it['organization_name']),
                                 (o['muni'], o['kind'], o['name']))
            elif group_by == 'municipality':
                mine = [o for o in cal['orgs'] if w.orgs[o]['muni'] == key]
                self.assertEqual(it['organizations'], len(mine))
                self.assertEqual(it['organizations_flagged'],
                                 len([o for o in mine if o in cal['flagged']]))
            elif group_by == 'indicator':
                ind = next(i for i in w.catalog[camp] if i['id'] == key)
                self.assertEqual((it['indicator_code'], it['direction']),
                                 (ind['code'], ind['direction']))
            else:
                self.assertEqual(it['direction'], w.dir_codes[key])
        self.check_summary(doc, camp, group_by, rule, cal)
        return doc, cal

    def check_summary(self, doc, camp, group_by, rule, cal):
        self.assertEqual(doc['campaign_id'], camp)
        self.assertEqual(doc['group_by'], group_by)
        self.assertEqual(doc['rule'], {'min_values': rule[0], 'min_share_lowered': rule[1],
                                       'min_mean_gap': rule[2]})
        want = dict(cal['total'].figures(), organizations=len(cal['orgs']),
                    organizations_flagged=len(cal['flagged']))
        self.assertEqual(doc['totals'], want, 'totals')
        fl = doc['flagged']
        self.assertEqual((fl['count'], fl['limit']), (len(cal['flagged']), FLAGGED_CAP))
        order = sorted(cal['flagged'], key=lambda o: (-cal['orgs'][o].gap / cal['orgs'][o].n, o))
        self.assertEqual([x['organization_id'] for x in fl['items']], order[:FLAGGED_CAP])
        for x in fl['items']:
            self.assertEqual(figures_of(x), cal['orgs'][x['organization_id']].figures())

    # --- exact figures

    def test_01_every_grouping_matches_the_recomputation(self):
        w = self.w
        rule = (3, D('0.2'), D('2'))
        for group_by in GROUPS:
            with self.subTest(group_by=group_by):
                doc, cal = self.check_groups(w.cur, w.tok['admin'], group_by, rule)
        # The world exercises what it should: flagged and unflagged heads, values
        # lowered and raised, and the default rule gives another answer.
        self.assertGreater(len(cal['flagged']), 1)
        self.assertLess(len(cal['flagged']), len(cal['orgs']))
        self.assertGreater(cal['total'].raised, 0)
        self.assertGreater(cal['total'].lowered, cal['total'].raised)
        for group_by in ('organization', 'municipality'):
            with self.subTest(default_rule=group_by):
                self.check_groups(w.cur, w.tok['regional_operator'], group_by, DEFAULT_RULE)
        # With no parameters the default rule is the one stated.
        doc = w.json(w.calibration(w.cur, w.tok['admin']))
        self.assertEqual(doc['group_by'], 'organization')
        self.assertEqual(doc['rule'], {'min_values': 5, 'min_share_lowered': D('0.25'),
                                       'min_mean_gap': D('5')})
        self.assertEqual(doc['limit'], 50)

    def test_02_only_self_values_of_verified_submissions_count(self):
        """The world has differences that must not count: another source, a submission not
        verified, an indicator not applicable, a value without one side."""
        w = self.w
        n = w.sql(
            "SELECT count(*) FROM submission_values v JOIN submissions s ON s.id = v.submission_id "
            "JOIN indicators i ON i.id = v.indicator_id WHERE s.campaign_id = %d AND "
            "v.self_value <> v.verified_value AND (i.source <> 'self' OR s.status NOT IN "
            "('verified', 'approved') OR coalesce((i.weights ->> s.kind)::numeric, 0) = 0)"
            % w.cur)
        self.assertGreater(int(n), 0)
        nulls = w.sql("SELECT count(*) FROM submission_values v JOIN submissions s ON "
                      "s.id = v.submission_id WHERE s.campaign_id = %d AND s.status = 'approved' "
                      "AND (v.self_value IS NULL OR v.verified_value IS NULL)" % w.cur)
        self.assertGreater(int(nulls), 0)
        total = w.json(w.calibration(w.cur, w.tok['admin']))['totals']['compared']
        self.assertEqual(total, len(compared_values(w, w.cur)))

    def test_03_flag_rule_boundaries(self):
        w = self.w
        e = w.edge_orgs
        cases = [
            ((4, D('0.5'), D('10')), {'at_boundary', 'with_raised'}),
            ((3, D('0.5'), D('10')), {'at_boundary', 'with_raised', 'too_few'}),
            ((4, D('0.5'), D('10.01')), set()),
            ((4, D('0.25'), D('10')), {'at_boundary', 'with_raised', 'share_below'}),
            ((4, D('0.5001'), D('10')), set()),
            ((4, D('0.5'), D('9.9975')), {'at_boundary', 'with_raised', 'gap_below'}),
            ((4, D('0.5'), D('9.99')), {'at_boundary', 'with_raised', 'gap_below'}),
            ((1, D('1'), D('100')), set()),
            (DEFAULT_RULE, set()),
        ]
        for rule, names in cases:
            with self.subTest(rule=rule):
                doc, cal = self.check_groups(w.edge, w.tok['admin'], 'organization', rule)
                self.assertEqual(cal['flagged'], {e[n] for n in names})
                self.assertEqual({x['organization_id'] for x in doc['flagged']['items']},
                                 {e[n] for n in names})
        # The figures of the hand-made organizations, stated.
        items, _ = w.pages(w.edge, w.tok['admin'], group_by='organization')
        got = {it['organization_id']: it for it in items}
        self.assertEqual(figures_of(got[e['at_boundary']]), {
            'compared': 4, 'lowered': 2, 'raised': 0, 'share_lowered': D('0.5'),
            'share_raised': D(0), 'mean_gap': D(10), 'mean_lowering': D(20)})
        self.assertEqual(figures_of(got[e['gap_below']])['mean_gap'], D('10.00'))
        self.assertEqual(figures_of(got[e['with_raised']]), {
            'compared': 4, 'lowered': 2, 'raised': 2, 'share_lowered': D('0.5'),
            'share_raised': D('0.5'), 'mean_gap': D(10), 'mean_lowering': D(30)})
        self.assertEqual(got[e['too_few']]['compared'], 3)
        self.assertEqual(figures_of(got[e['clean']])['mean_lowering'], None)
        # flagged=true pages through the flagged ones only, false the others.
        rule = rule_params((4, D('0.5'), D('10')))
        items, _ = w.pages(w.edge, w.tok['admin'], limit=1, group_by='organization',
                           flagged='true', **rule)
        self.assertEqual(sorted(it['organization_id'] for it in items),
                         sorted((e['at_boundary'], e['with_raised'])))
        items, _ = w.pages(w.edge, w.tok['admin'], group_by='organization', flagged='false',
                           **rule)
        self.assertEqual(len(items), len(e) - 2)
        self.assertFalse(any(it['flagged'] for it in items))

    # --- scope

    def test_04_scope_per_role(self):
        w = self.w
        rule = (2, D('0.1'), D('1'))
        head_org = w.head_org
        for group_by in GROUPS:
            with self.subTest(role='head', group_by=group_by):
                self.check_groups(w.cur, w.tok['head'], group_by, rule,
                                  keep=lambda s: s['org'] == head_org)
            with self.subTest(role='municipal', group_by=group_by):
                self.check_groups(w.cur, w.tok['municipal_operator'], group_by, rule,
                                  keep=lambda s: s['muni'] == w.muni_a1)
        doc = w.json(w.calibration(w.cur, w.tok['head'], group_by='organization'))
        self.assertEqual([it['organization_id'] for it in doc['items']], [head_org])
        for role in ('expert', 'regional_operator'):
            with self.subTest(role=role):
                self.check_groups(w.cur, w.tok[role], 'municipality', rule)
        # municipality_id narrows; out of the caller's scope it is simply empty.
        self.check_groups(w.cur, w.tok['admin'], 'organization', rule,
                          keep=lambda s: s['muni'] == w.muni_a2, municipality_id=w.muni_a2)
        doc = w.json(w.calibration(w.cur, w.tok['municipal_operator'],
                                   municipality_id=w.muni_a2))
        self.assertEqual((doc['items'], doc['totals']['compared']), ([], 0))
        self.assertIsNone(doc['totals']['mean_gap'])
        # Another region's campaign, or a missing one: 404; portals 403; no token 401.
        for token, camp in ((w.tok['regional_b'], w.cur), (w.tok['head'], w.camp_b),
                            (w.tok['municipal_operator'], w.camp_b), (w.tok['expert'], w.camp_b),
                            (w.tok['admin'], 999999999)):
            assert_problem(w.calibration(camp, token, expect=404), 404)
        assert_problem(w.calibration(w.cur, w.tok['portal'], expect=403), 403)
        assert_problem(w.calibration(w.cur, None, expect=401), 401)
        # Region B's operator sees its own campaign's figures.
        self.check_groups(w.camp_b, w.tok['regional_b'], 'organization', rule)

    # --- bad input

    def test_05_bad_parameters_are_400_naming_the_field(self):
        w = self.w
        bad = {
            'group_by': ['kind', '', 'Organization', 'organization,municipality'],
            'min_values': ['0', '-1', '10001', 'abc', '1.5', ' 5', '+5'],
            'min_share_lowered': ['0', '1.5', '-0.1', 'abc', '.5', '0.', '1e-1', '0,5',
                                  'nan', 'inf'],
            'min_mean_gap': ['0', '100.01', 'abc', '-1', '5e0'],
            'flagged': ['yes', '1', ''],
            'municipality_id': ['0', 'abc', '-1', '01'],
            'limit': ['0', '501', 'x'],
            'cursor': ['garbage'],
            'sort': ['total'],
            'format': ['pdf'],
            'delimiter': ['tab'],
        }
        for field, values in bad.items():
            for v in values:
                with self.subTest(field=field, value=v):
                    r = w.calibration(w.cur, w.tok['admin'], expect=400, **{field: v})
                    assert_problem(r, 400)
                    fields = [e['field'] for e in w.json(r)['errors']]
                    self.assertIn(field, fields)
        # flagged only with group_by=organization.
        r = w.calibration(w.cur, w.tok['admin'], expect=400, group_by='direction',
                          flagged='true')
        self.assertEqual([e['field'] for e in w.json(r)['errors']], ['flagged'])
        # All errors at once.
        r = w.calibration(w.cur, w.tok['admin'], expect=400, group_by='x', min_values='0',
                          min_mean_gap='x')
        self.assertEqual(sorted(e['field'] for e in w.json(r)['errors']),
                         ['group_by', 'min_mean_gap', 'min_values'])
        # A cursor of another sort is refused; the boundaries themselves are accepted.
        doc = w.json(w.calibration(w.cur, w.tok['admin'], limit=1, sort='name'))
        self.assertIsNotNone(doc['next'])
        r = w.calibration(w.cur, w.tok['admin'], expect=400, cursor=doc['next'])
        self.assertIn('cursor', [e['field'] for e in w.json(r)['errors']])
        w.calibration(w.cur, w.tok['admin'], min_values='10000', min_share_lowered='1',
                      min_mean_gap='100', limit='500')

    # --- pages, names, ETag, files

    def test_06_sort_by_name(self):
        w = self.w
        items, _ = w.pages(w.cur, w.tok['admin'], limit=3, group_by='municipality', sort='name')
        names = [it['municipality_name'] for it in items]
        self.assertEqual(len(names), len({it['municipality_id'] for it in items}))
        # Russian collation: Арамиль, Берёзовский, Верхотурье.
        self.assertEqual(names, sorted(names))
        items2, _ = w.pages(w.cur, w.tok['admin'], limit=500, group_by='municipality')
        self.assertEqual(sorted(it['municipality_id'] for it in items),
                         [it['municipality_id'] for it in items2])

    def test_07_etag_and_304(self):
        w = self.w
        r = w.calibration(w.cur, w.tok['admin'], group_by='municipality')
        tag = r.headers['etag']
        self.assertRegex(tag, r'^W/"cal-[0-9a-f]{32}"$')
        self.assertEqual(r.headers['cache-control'], 'private, no-cache')
        r2 = w.calibration(w.cur, w.tok['admin'], expect=304, group_by='municipality',
                           headers={'If-None-Match': tag})
        self.assertEqual(r2.body, b'')
        self.assertEqual(r2.headers['etag'], tag)
        w.calibration(w.cur, w.tok['admin'], expect=304, group_by='municipality',
                      headers={'If-None-Match': '"x", ' + tag.replace('W/', '')})
        # Another grouping, another scope, another format: another tag.
        other = {w.calibration(w.cur, w.tok['admin'], group_by='direction').headers['etag'],
                 w.calibration(w.cur, w.tok['municipal_operator'],
                               group_by='municipality').headers['etag'],
                 w.calibration(w.cur, w.tok['admin'], group_by='municipality',
                               format='csv').headers['etag']}
        self.assertNotIn(tag, other)
        self.assertEqual(len(other), 3)
        # A changed value changes the answer and its tag.
        sid, iid, sv = w.rows(
            "SELECT v.submission_id, v.indicator_id, v.self_value FROM submission_values v "
            "JOIN submissions s ON s.id = v.submission_id JOIN indicators i ON "
            "i.id = v.indicator_id WHERE s.campaign_id = %d AND s.status = 'approved' AND "
            "i.source = 'self' AND i.value_type = 'percent' AND v.verified_value IS NOT NULL "
            "AND v.self_value BETWEEN 0 AND 90 AND (i.weights ->> s.kind)::numeric > 0 "
            "ORDER BY 1, 2 LIMIT 1" % w.cur)[0]
        w.sql("UPDATE submission_values SET self_value = self_value + 7 "
              "WHERE submission_id = %s AND indicator_id = %s" % (sid, iid))
        try:
            r3 = w.calibration(w.cur, w.tok['admin'], group_by='municipality',
                               headers={'If-None-Match': tag})
            self.assertEqual(r3.status, 200)
            self.assertNotEqual(r3.headers['etag'], tag)
            self.check_groups(w.cur, w.tok['admin'], 'municipality', DEFAULT_RULE)
        finally:
            w.sql("UPDATE submission_values SET self_value = %s WHERE submission_id = %s "
                  "AND indicator_id = %s" % (sv, sid, iid))

    def test_08_csv_and_xlsx(self):
        w = self.w
        rule = rule_params((3, D('0.2'), D('2')))
        doc = w.json(w.calibration(w.cur, w.tok['admin'], group_by='indicator', limit=500,
                                   **rule))
        r = w.calibration(w.cur, w.tok['admin'], group_by='indicator', limit=500, format='csv',
                          delimiter='semicolon', decimal='comma', **rule)
        self.assertTrue(r.headers['content-type'].startswith('text/csv'))
        self.assertEqual(r.headers['content-disposition'],
                         'attachment; filename="calibration-campaign-%d-indicator.csv"' % w.cur)
        text = r.body.decode('utf-8-sig')
        rows = list(csv.reader(io.StringIO(text, newline=''), delimiter=';'))
        self.assertEqual(rows[0], ['Калибровка'])
        header = rows[1]
        self.assertEqual(header[:2], ['Код показателя', 'Показатель'])
        body = rows[2:2 + len(doc['items'])]
        col = header.index('Средний разрыв, баллов')
        for it, row in zip(doc['items'], body):
            self.assertEqual(int(row[0]), it['indicator_id'])
            self.assertEqual(D(row[col].replace(',', '.')), it['mean_gap'])
        flagged_at = rows.index(['Завышение самооценки'])
        self.assertEqual(len(rows) - flagged_at - 2, len(doc['flagged']['items']))
        r = w.calibration(w.cur, w.tok['admin'], group_by='indicator', limit=500,
                          headers={'Accept': 'application/vnd.openxmlformats-officedocument.'
                                             'spreadsheetml.sheet'}, **rule)
        self.assertTrue(r.body.startswith(b'PK'))
        import openpyxl
        with tempfile.NamedTemporaryFile(suffix='.xlsx') as f:
            f.write(r.body)
            f.flush()
            wb = openpyxl.load_workbook(f.name)
        self.assertEqual(wb.sheetnames, ['Калибровка', 'Итого', 'Завышение самооценки'])
        total = [c.value for c in wb['Итого'][2]]
        self.assertEqual(total[0], doc['totals']['compared'])
        self.assertEqual(wb['Завышение самооценки'].max_row, 1 + len(doc['flagged']['items']))
        # A head's file holds its own organization only.
        r = w.calibration(w.cur, w.tok['head'], format='csv')
        rows = list(csv.reader(io.StringIO(r.body.decode('utf-8-sig'), newline='')))
        self.assertEqual(rows[2][0], str(w.head_org))
        self.assertEqual(rows[3], [])


if __name__ == '__main__':
    harness.main()
