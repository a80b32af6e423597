#!/usr/bin/python3
"""
test_clusters.py - peer clusters (kind x settlement x size band) against an independent
recomputation.

ScoresWorld (test_scores.py) is given settlements and head counts on both sides of every
band boundary (99/100/499/500 students; 49/50/199/200 for preschools), set by UPDATE after
the scores exist, so the organizations trigger has to move the rows; and submissions whose
values are copied from another, so that equal totals fall in one cluster and across
clusters. Then: rank_cluster (dense, by the 2-decimal total, within campaign x cluster in
the region, Decimal arithmetic here) and the cluster fields of GET /campaigns/{id}/scores
for every role and scope, its filters and sort; GET /aggregates and /public/aggregates by
cluster, settlement and size band against the same recomputation; a head count changed
through PATCH /organizations/{id} moving an organization's rows, ranks and aggregates (a
new ETag); the CSV and XLSX columns; the cycle report's by_cluster; bad input.
"""
import csv
import io
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem, assert_status  # noqa: E402
from test_scores import API, KINDS, ScoresWorld, dec, dense_ranks, url  # noqa: E402
import cluster_expect as ce  # noqa: E402

SCHOOL_STUDENTS = (99, 100, 499, 500, 40, 250, 800)
PRESCHOOL_STUDENTS = (49, 50, 199, 200, 30, 120, 260)
OTHER_STUDENTS = (99, 500, 100, 499)
XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'


class ClusterWorld(ScoresWorld):

    def __init__(self, daemon, cluster):
        super().__init__(daemon, cluster, seed=11)
        self.place_organizations()
        self.plant_ties()

    def place_organizations(self):
        """Settlements and head counts of region A across the band boundaries."""
        seen = {}
        sets = []
        for org, o in sorted(self.orgs.items()):
            if o['region'] != self.region_a:
                continue
            i = seen[o['kind']] = seen.get(o['kind'], -1) + 1
            counts = {'school': SCHOOL_STUDENTS, 'preschool': PRESCHOOL_STUDENTS}.get(
                o['kind'], OTHER_STUDENTS)
            settlement = 'rural' if i % 3 == 1 else 'urban'
            sets.append("UPDATE organizations SET settlement = '%s', students = %d "
                        "WHERE id = %d" % (settlement, counts[i % len(counts)], org))
        self.sql('; '.join(sets))

    def plant_ties(self):
        """Three schools of the current campaign get the values of a fourth: two in its
        cluster, one in another; all four approved."""
        cur = ce.with_clusters(self, self.expected_scores(self.cur))
        schools = sorted((s for s in cur.values() if s['kind'] == 'school'),
                         key=lambda s: s['id'])
        src = schools[0]
        same = [s for s in schools[1:] if s['cluster'] == src['cluster']][:2]
        other = [s for s in schools[1:] if s['cluster'] != src['cluster']][:1]
        assert len(same) == 2 and len(other) == 1, 'the fixture has no cluster to tie in'
        targets = [s['id'] for s in same + other]
        self.tie_source, self.tie_targets = src['id'], targets
        ids = ','.join(str(i) for i in [src['id']] + targets)
        self.sql("BEGIN; DELETE FROM submission_values WHERE submission_id IN (%s); "
                 "INSERT INTO submission_values (submission_id, indicator_id, value) "
                 "SELECT t, v.indicator_id, v.value FROM submission_values v, "
                 "unnest(ARRAY[%s]::bigint[]) t WHERE v.submission_id = %d; "
                 "UPDATE submissions SET status = 'approved' WHERE id IN (%s, %d); "
                 "SELECT em_rescore(ARRAY[%s, %d]::bigint[]); COMMIT"
                 % (','.join(map(str, targets)), ','.join(map(str, targets)), src['id'],
                    ids, src['id'], ids, src['id']))


class ClustersTest(harness.DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.w = ClusterWorld(cls.daemon, cls.cluster)

    # --- the recomputation

    def expected_rows(self, counted=('approved',)):
        w = self.w
        exp = ce.with_clusters(w, w.expected_scores(w.cur))
        rows = [s for s in exp.values() if s['status'] in counted]
        ranks = {}
        for key in {s['cluster'] for s in rows}:
            ranks.update(dense_ranks([(s['id'], s['total']) for s in rows
                                      if s['cluster'] == key]))
        region = {}
        for k in KINDS:
            region.update(dense_ranks([(s['id'], s['total']) for s in rows if s['kind'] == k]))
        return exp, ranks, region

    def check_rows(self, items, exp, ranks, region):
        for it in items:
            sid = it['submission_id']
            e = exp[sid]
            what = 'submission %d' % sid
            self.assertEqual(dec(it['total']), e['total'], what)
            self.assertEqual(it['settlement'], e['settlement'], what + ' settlement')
            self.assertEqual(it['size_band'], e['size_band'], what + ' size_band')
            self.assertEqual(it['cluster'], e['cluster'], what + ' cluster')
            self.assertEqual(it['rank_cluster'], ranks[sid], what + ' rank_cluster')
            self.assertEqual(it['rank_region'], region[sid], what + ' rank_region')

    def test_01_fixture_crosses_every_boundary_and_ties(self):
        w = self.w
        places = ce.org_places(w)
        counts = {(w.orgs[o]['kind'], n) for o, (_, n) in places.items() if o in w.orgs}
        for n in (99, 100, 499, 500):
            self.assertIn(('school', n), counts)
        for n in (49, 50, 199, 200):
            self.assertIn(('preschool', n), counts)
        exp, ranks, _ = self.expected_rows()
        src = exp[w.tie_source]
        for t in w.tie_targets:
            self.assertEqual(exp[t]['total'], src['total'], 'planted tie %d' % t)
        self.assertEqual(ranks[w.tie_targets[0]], ranks[w.tie_source])
        self.assertNotEqual(exp[w.tie_targets[2]]['cluster'], src['cluster'])
        # The bands of the boundaries, as documented.
        self.assertEqual([ce.size_band('school', n) for n in (99, 100, 499, 500)],
                         ['small', 'medium', 'medium', 'large'])
        self.assertEqual([ce.size_band('preschool', n) for n in (49, 50, 199, 200)],
                         ['small', 'medium', 'medium', 'large'])

    def test_02_cluster_ranks_match_the_recomputation(self):
        w = self.w
        for include, counted in ((None, ('approved',)),
                                 ('unapproved', ('approved', 'submitted', 'verified'))):
            exp, ranks, region = self.expected_rows(counted)
            items, _ = w.all_scores(w.cur, w.tok['admin'], include=include)
            self.assertEqual({i['submission_id'] for i in items},
                             {s for s, e in exp.items() if e['status'] in counted})
            self.check_rows(items, exp, ranks, region)
            # More than one cluster of a kind, and a tie across clusters.
            self.assertGreater(len({i['cluster'] for i in items if i['kind'] == 'school'}), 3)

    def test_03_filters_and_sort(self):
        w = self.w
        exp, ranks, region = self.expected_rows()
        every, _ = w.all_scores(w.cur, w.tok['admin'])
        cases = [({'settlement': 'rural'}, lambda e: e['settlement'] == 'rural'),
                 ({'size_band': 'medium'}, lambda e: e['size_band'] == 'medium'),
                 ({'cluster': 'school/urban/large'}, lambda e: e['cluster'] == 'school/urban/large'),
                 ({'cluster': 'preschool/urban/medium', 'kind': 'preschool'},
                  lambda e: e['cluster'] == 'preschool/urban/medium'),
                 ({'kind': 'school', 'settlement': 'urban', 'size_band': 'small'},
                  lambda e: e['cluster'] == 'school/urban/small')]
        for params, pred in cases:
            items, _ = w.all_scores(w.cur, w.tok['admin'], **params)
            want = {i['submission_id'] for i in every if pred(exp[i['submission_id']])}
            self.assertTrue(want, 'no rows for %r: the fixture must have some' % params)
            self.assertEqual({i['submission_id'] for i in items}, want, repr(params))
            self.check_rows(items, exp, ranks, region)  # ranks before filtering
        items, _ = w.all_scores(w.cur, w.tok['admin'], sort='rank_cluster')
        keys = [(i['rank_cluster'] if i['rank_cluster'] is not None else 1 << 31,
                 i['submission_id']) for i in items]
        self.assertEqual(keys, sorted(keys))
        self.assertEqual(len(items), len(every))

    def test_04_scope(self):
        w = self.w
        exp, ranks, region = self.expected_rows()
        items, _ = w.all_scores(w.cur, w.tok['municipal_operator'])
        self.assertTrue(items)
        self.assertEqual({exp[i['submission_id']]['muni'] for i in items}, {w.muni_a1})
        self.check_rows(items, exp, ranks, region)  # region ranks, as rank_region
        r = w.get('%s/campaigns/%d/scores' % (API, w.cur), w.tok['head'])
        assert_status(r, 200, 'head scores')
        doc = w.json(r)
        self.assertEqual([exp[i['submission_id']]['org'] for i in doc['items']], [w.head_org])
        self.check_rows(doc['items'], exp, ranks, region)
        # Another region's operator: 404 like a missing campaign.
        r = w.get(url('%s/campaigns/%d/scores' % (API, w.cur), cluster='school/rural/small'),
                  w.tok['regional_b'])
        assert_status(r, 404, 'another region')

    def test_05_bad_input(self):
        w = self.w
        path = '%s/campaigns/%d/scores' % (API, w.cur)
        for params, field in (({'settlement': 'village'}, 'settlement'),
                              ({'size_band': 'huge'}, 'size_band'),
                              ({'cluster': 'school/rural'}, 'cluster'),
                              ({'cluster': 'school/rural/small/x'}, 'cluster'),
                              ({'cluster': 'college/rural/small'}, 'cluster'),
                              ({'cluster': 'school//small'}, 'cluster'),
                              ({'cluster': 'school/rural/small', 'kind': 'preschool'}, 'cluster'),
                              ({'cluster': 'school/rural/small', 'size_band': 'large'},
                               'cluster'),
                              ({'sort': 'cluster'}, 'sort')):
            r = w.get(url(path, **params), w.tok['admin'])
            self.assertFields(assert_problem(r, 400, repr(params)), field)
        for params in ({'group_by': 'cluster,bogus'}, {'group_by': 'cluster,cluster'},
                       {'group_by': 'size'}):
            r = w.get(url(API + '/aggregates', campaign=w.cur, **params), w.tok['admin'])
            self.assertFields(assert_problem(r, 400, repr(params)), 'group_by')
            r = w.get(url(API + '/public/aggregates', campaign=w.prev, **params), None)
            self.assertFields(assert_problem(r, 400, repr(params)), 'group_by')

    def assertFields(self, doc, field):
        self.assertEqual({e['field'] for e in doc.get('errors', [])}, {field}, doc)

    # --- aggregates

    def compare_aggregates(self, groups, token, keep=lambda s: True, unapproved=False):
        w = self.w
        counted = ('approved', 'submitted', 'verified') if unapproved else ('approved',)
        r = w.get(url(API + '/aggregates', campaign=w.cur, group_by=','.join(groups),
                      include='unapproved' if unapproved else None), token)
        assert_status(r, 200, 'aggregates %r' % groups)
        doc = w.json(r)
        want = ce.expected_groups(w, w.cur, w.prev, groups, keep, counted)

        def key(g):
            return tuple(g['municipality_id'] if n == 'municipality' else g[n] for n in groups)
        got = {key(g): g for g in doc['groups']}
        self.assertEqual(set(got), set(want), 'groups of %r' % groups)
        for k in want:
            self.assertEqual(got[k], want[k], 'group %r of %r' % (k, groups))
        return doc, r

    def test_06_aggregates_by_cluster(self):
        w = self.w
        doc, _ = self.compare_aggregates(['cluster'], w.tok['admin'])
        self.assertEqual(doc['group_by'], ['cluster'])
        self.assertGreater(len(doc['groups']), 6)
        order = ce.server_order({i: g for i, g in enumerate(doc['groups'])}, ['cluster'])
        self.assertEqual(doc['groups'], order)
        self.compare_aggregates(['cluster'], w.tok['admin'], unapproved=True)
        self.compare_aggregates(['settlement'], w.tok['regional_operator'])
        self.compare_aggregates(['size_band'], w.tok['portal'])
        self.compare_aggregates(['kind', 'size_band'], w.tok['expert'])
        self.compare_aggregates(['municipality', 'cluster'], w.tok['admin'])
        # A municipal operator aggregates its own municipality.
        self.compare_aggregates(['cluster'], w.tok['municipal_operator'],
                                keep=lambda s: s['muni'] == w.muni_a1)

    def test_07_public_suppresses_small_clusters(self):
        w = self.w
        r = w.get(url(API + '/public/aggregates', campaign=w.prev, group_by='cluster'), None)
        assert_status(r, 200, 'public by cluster')
        doc = w.json(r)
        want = ce.expected_groups(w, w.prev, None, ['cluster'])
        got = {g['cluster']: g for g in doc['groups']}
        self.assertEqual(set(got), {k[0] for k in want})
        # Primary suppression (under 3 organizations), then the complementary one: along
        # kind, settlement and size band (in that order) the clusters that differ in that
        # part alone hide none or at least two, else the smallest other is hidden too
        # (count, then its place in the answer) - so a kind's total minus its published
        # clusters never gives a hidden one.
        hidden = {k[0]: 'fewer than 3 organizations' for k, g in want.items()
                  if g['expected'] < 3 or g['count'] < 3}
        place = {g['cluster']: i for i, g in enumerate(doc['groups'])}
        changed = True
        while changed:
            changed = False
            for i in range(3):
                parts = {}
                for (key,) in want:
                    p = key.split('/')
                    parts.setdefault(tuple(p[:i] + p[i + 1:]), []).append(key)
                for keys in parts.values():
                    shut = [k for k in keys if k in hidden]
                    shown = [k for k in keys if k not in hidden]
                    if len(shut) == 1 and shown:
                        v = min(shown, key=lambda k: (want[(k,)]['count'], place[k]))
                        hidden[v] = ('complementary: another group of the same total has '
                                     'fewer than 3 organizations')
                        changed = True
        small = complementary = 0
        for (key,), g in want.items():
            p = got[key]
            if key in hidden:
                small += 1
                complementary += hidden[key].startswith('complementary')
                self.assertEqual(p['suppressed'], hidden[key], key)
                self.assertIsNone(p['mean'], key)
                self.assertIsNone(p['levels'], key)
                if g['expected'] < 3:
                    self.assertIsNone(p['expected'], key)
            else:
                self.assertIsNone(p['suppressed'], key)
                self.assertEqual(dec(p['mean']), g['mean'], key)
                self.assertEqual(p['count'], g['count'], key)
        self.assertGreater(small, 0, 'the fixture has clusters under 3 organizations')
        self.assertGreater(complementary, 0, 'and clusters hidden by complement')
        # The kind's figures and its shown clusters leave no single hidden cluster behind (a
        # cluster alone in its part is its parent: that has the same organizations, hidden).
        for kind in {k[0].split('/')[0] for k in want}:
            for i in (1, 2):
                parts = {}
                for (key,) in want:
                    p = key.split('/')
                    if p[0] == kind:
                        parts.setdefault(tuple(p[:i] + p[i + 1:]), []).append(key)
                for keys in parts.values():
                    if len(keys) > 1:
                        self.assertNotEqual(sum(k in hidden for k in keys), 1, keys)

    def test_08_a_changed_head_count_moves_the_rows(self):
        w = self.w
        exp, _, _ = self.expected_rows()
        sid = next(s for s, e in sorted(exp.items()) if e['status'] == 'approved'
                   and e['kind'] == 'school' and e['total'] is not None
                   and ce.org_places(w)[e['org']][1] == 99)
        org = exp[sid]['org']
        agg = url(API + '/aggregates', campaign=w.cur, group_by='cluster')
        before = w.get(agg, w.tok['admin'])
        assert_status(before, 200, 'aggregates')
        r = w.get('%s/organizations/%d' % (API, org), w.tok['admin'])
        assert_status(r, 200, 'organization')
        r = w.call('PATCH', '%s/organizations/%d' % (API, org), w.tok['admin'],
                   body={'students': 100}, headers={'If-Match': r.headers['etag']})
        assert_status(r, 200, 'PATCH students')
        exp, ranks, region = self.expected_rows()
        self.assertEqual(exp[sid]['size_band'], 'medium')
        items, _ = w.all_scores(w.cur, w.tok['admin'])
        self.check_rows(items, exp, ranks, region)
        row = next(i for i in items if i['submission_id'] == sid)
        self.assertEqual(row['cluster'], '%s/%s/medium' % (row['kind'], row['settlement']))
        # The aggregates' ETag moved with the rollups (this daemon made the write).
        after = w.get(agg, w.tok['admin'])
        self.assertNotEqual(after.headers['etag'], before.headers['etag'])
        r = w.get(agg, w.tok['admin'], headers={'If-None-Match': before.headers['etag']})
        assert_status(r, 200, 'the old ETag is stale')
        self.compare_aggregates(['cluster'], w.tok['admin'])
        # Settlement too.
        r = w.get('%s/organizations/%d' % (API, org), w.tok['admin'])
        flip = 'rural' if exp[sid]['settlement'] == 'urban' else 'urban'
        r = w.call('PATCH', '%s/organizations/%d' % (API, org), w.tok['admin'],
                   body={'settlement': flip}, headers={'If-Match': r.headers['etag']})
        assert_status(r, 200, 'PATCH settlement')
        exp, ranks, region = self.expected_rows()
        self.assertEqual(exp[sid]['settlement'], flip)
        items, _ = w.all_scores(w.cur, w.tok['admin'])
        self.check_rows(items, exp, ranks, region)
        self.compare_aggregates(['settlement'], w.tok['admin'])

    # --- files and the cycle report

    def test_09_csv_and_xlsx_columns(self):
        w = self.w
        path = '%s/campaigns/%d/scores' % (API, w.cur)
        items, _ = w.all_scores(w.cur, w.tok['regional_operator'])
        r = w.get(url(path, limit=500), w.tok['regional_operator'],
                  headers={'Accept': 'text/csv'})
        assert_status(r, 200, 'scores CSV')
        recs = list(csv.reader(io.StringIO(r.body.decode('utf-8-sig'), newline='')))
        head = recs[0]
        ci, ri, si = (head.index('Группа сравнения'), head.index('Место в группе'),
                      head.index('Анкета'))
        self.assertEqual(ri, ci + 1)
        byid = {i['submission_id']: i for i in items}
        self.assertEqual(len(recs) - 1, len(items))
        for rec in recs[1:]:
            it = byid[int(rec[si])]
            self.assertEqual(rec[ci], it['cluster'])
            self.assertEqual(rec[ri], '' if it['rank_cluster'] is None
                             else str(it['rank_cluster']))
        import openpyxl
        r = w.get(url(path, limit=500, format='xlsx'), w.tok['regional_operator'])
        assert_status(r, 200, 'scores XLSX')
        self.assertTrue(r.headers['content-type'].startswith(XLSX))
        with tempfile.NamedTemporaryFile(suffix='.xlsx') as f:
            f.write(r.body)
            f.flush()
            ws = openpyxl.load_workbook(f.name).worksheets[0]
            rows = list(ws.iter_rows(values_only=True))
        h = list(rows[0])
        ci, ri, si = h.index('Группа сравнения'), h.index('Место в группе'), h.index('Анкета')
        for row in rows[1:]:
            it = byid[row[si]]
            self.assertEqual(row[ci], it['cluster'])
            self.assertEqual(row[ri], it['rank_cluster'])
        # Aggregates by cluster as CSV: the JSON's keys as headers, the cluster's parts.
        r = w.get(url(API + '/aggregates', campaign=w.cur, group_by='cluster'),
                  w.tok['admin'], headers={'Accept': 'text/csv'})
        assert_status(r, 200, 'aggregates CSV')
        recs = list(csv.reader(io.StringIO(r.body.decode('utf-8-sig'), newline='')))
        self.assertEqual(recs[0][:4], ['cluster', 'kind', 'settlement', 'size_band'])
        doc = w.json(w.get(url(API + '/aggregates', campaign=w.cur, group_by='cluster'),
                           w.tok['admin']))
        self.assertEqual([rec[0] for rec in recs[1:]], [g['cluster'] for g in doc['groups']])

    def test_10_cycle_report_by_cluster(self):
        w = self.w
        for token, muni, keep in (('admin', None, lambda s: True),
                                  ('municipal_operator', None, lambda s: s['muni'] == w.muni_a1),
                                  ('regional_operator', w.muni_a2,
                                   lambda s: s['muni'] == w.muni_a2)):
            r = w.get(url('%s/campaigns/%d/cycle-report' % (API, w.cur), municipality_id=muni),
                      w.tok[token])
            assert_status(r, 200, 'cycle report')
            steps = {s['key']: s for s in w.json(r)['steps']}
            want = ce.server_order(ce.expected_groups(w, w.cur, w.prev, ['cluster'], keep),
                                   ['cluster'])
            self.assertEqual(steps['analysis']['by_cluster'], want, token)
        r = w.get('%s/campaigns/%d/cycle-report' % (API, w.cur), w.tok['admin'],
                  headers={'Accept': 'text/html'})
        assert_status(r, 200, 'cycle report HTML')
        page = r.body.decode('utf-8')
        self.assertIn('По группам сравнения', page)
        self.assertIn('<td>сельские</td>', page)
        self.assertIn('<td>малые</td>', page)


if __name__ == '__main__':
    harness.main()
