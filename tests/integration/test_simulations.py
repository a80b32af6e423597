#!/usr/bin/python3
"""
test_simulations.py - POST /campaigns/{id}/simulations (the what-if simulator) against an
independent recomputation.

The world is test_scores.ScoresWorld (a random catalog with booleans, polarity down, zero
weights, missing and clamped values; submissions of several kinds and statuses in three
municipalities of region A, a previous campaign, region B), plus planted ties (copied values)
and an indicator only the current catalog has. Every simulated total and level is recomputed
here from DESIGN §3 with decimal arithmetic under the same changes, and so are the level
distributions (overall, per kind, per municipality), the heads whose level changes, the dense
region ranks before and after, the rank shifts and Spearman's rho (average ranks for ties);
also for values_from (the previous campaign's values, matched by code), include=unapproved
and a municipal operator's scope. Plus: nothing is written, bad bodies and parameters give
field errors, and out-of-scope campaigns answer 404. Every run is recorded (201, its id; the
simulations table, one audit row; GET /campaigns/{id}/simulations lists the runs the caller may
see; an Idempotency-Key replays the same run) and counted in the cycle report's indicators step.
"""
import json
import os
import sys
from decimal import Decimal as D, ROUND_HALF_UP

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem, assert_status  # noqa: E402
from test_scores import ScoresWorld, level_of, dense_ranks, r2, LEVELS, API  # noqa: E402


def q(x, places):
    return x.quantize(D(1).scaleb(-places), rounding=ROUND_HALF_UP)


def average_ranks(values):
    """1-based ranks ascending; ties get the mean of their positions."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [None] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = D(i + j + 2) / 2
        i = j + 1
    return ranks


def spearman(pairs):
    if len(pairs) < 2:
        return None
    x = average_ranks([p[0] for p in pairs])
    y = average_ranks([p[1] for p in pairs])
    n = D(len(pairs))
    vx = n * sum(a * a for a in x) - sum(x) ** 2
    vy = n * sum(b * b for b in y) - sum(y) ** 2
    if vx <= 0 or vy <= 0:
        return None
    r = (n * sum(a * b for a, b in zip(x, y)) - sum(x) * sum(y)) / (vx * vy).sqrt()
    return q(r, 6)


def levels(rows, key):
    return {lv: sum(1 for r in rows if r[key] == lv) for lv in LEVELS}


def shifts(rows):
    s = [r['after_rank'] - r['before_rank'] for r in rows
         if r['before_rank'] is not None and r['after_rank'] is not None]
    return {'compared': len(s),
            'mean_abs': q(D(sum(abs(x) for x in s)) / len(s), 4) if s else None,
            'max_abs': max(abs(x) for x in s) if s else None}


class SimulationsTest(harness.DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        w = cls.w = ScoresWorld(cls.daemon, cls.cluster, seed=20261207)
        # Ties: a few approved submissions take the values of another of their kind.
        for camp in (w.prev, w.cur):
            for kind in ('school', 'preschool'):
                ids = [int(x) for x in w.sql(
                    "SELECT id FROM submissions WHERE campaign_id = %d AND kind = '%s' "
                    "AND status = 'approved' ORDER BY id" % (camp, kind)).split()]
                for dst in ids[1:3]:
                    w.sql("DELETE FROM submission_values WHERE submission_id = %d; "
                          "INSERT INTO submission_values (submission_id, indicator_id, value) "
                          "SELECT %d, indicator_id, value FROM submission_values "
                          "WHERE submission_id = %d" % (dst, dst, ids[0]))
        # An indicator the previous catalog does not have (unmatched under values_from).
        iid = int(w.sql(
            "INSERT INTO indicators (campaign_id, code, name, direction_id, value_type, "
            "min_value, max_value, weights, position) VALUES (%d, 'X99', 'Новый показатель', "
            "%d, 'number', 0, 10, '{\"school\": 1}', 99) RETURNING id"
            % (w.cur, w.dir_ids['network'])))
        w.catalog[w.cur].append({'id': iid, 'code': 'X99', 'direction': 'network',
                                 'type': 'number', 'min': D(0), 'max': D(10),
                                 'polarity': 'up', 'source': 'self',
                                 'weights': {'school': D(1)}})
        for camp in (w.prev, w.cur):
            w.sql('SELECT em_rescore_campaign(%d)' % camp)
        cls.tok = w.tok

    # --- the recomputation

    def simulated_catalog(self, camp, changes):
        by_code = {c['code']: c for c in changes}
        out = []
        for ind in self.w.catalog[camp]:
            ch = by_code.get(ind['code'], {})
            if ch.get('exclude'):
                continue
            ind = dict(ind, weights=dict(ind['weights']))
            for k, v in ch.get('weights', {}).items():
                ind['weights'][k] = D(str(v))
            for src, dst in (('min_value', 'min'), ('max_value', 'max')):
                if src in ch:
                    ind[dst] = D(str(ch[src]))
            ind['polarity'] = ch.get('polarity', ind['polarity'])
            out.append(ind)
        return out

    @staticmethod
    def total(catalog, kind, values):
        """DESIGN §3 total (2 decimals) of values {code: Decimal} under catalog."""
        num = den = D(0)
        for ind in catalog:
            w = ind['weights'].get(kind, D(0))
            if w <= 0:
                continue
            v = values.get(ind['code'])
            sc = D(0)
            if v is not None:
                if ind['type'] == 'boolean':
                    sc = D(1) if v != 0 else D(0)
                else:
                    t = min(D(1), max(D(0), (v - ind['min']) / (ind['max'] - ind['min'])))
                    sc = t if ind['polarity'] == 'up' else 1 - t
            num += w * sc
            den += w
        return r2(100 * num / den) if den else None

    def expected(self, camp, changes=(), thresholds=None, values_camp=None, include=False,
                 scope_muni=None):
        w = self.w
        vcamp = values_camp or camp
        th = dict(w.thresholds[camp])
        th.update({k: D(str(v)) for k, v in (thresholds or {}).items()})
        sim_cat = self.simulated_catalog(camp, list(changes))
        official_cat = w.catalog[vcamp]
        code_of = {ind['id']: ind['code'] for ind in official_cat}
        counted = ('approved', 'submitted', 'verified') if include else ('approved',)
        rows = []
        for s in w.load(vcamp).values():
            if s['status'] not in counted:
                continue
            values = {code_of[i]: v for i, v in s['values'].items()}
            before = self.total(official_cat, s['kind'], values)
            after = self.total(sim_cat, s['kind'], values)
            rows.append(dict(s, before_total=before, after_total=after,
                             before_level=level_of(before, w.thresholds[vcamp]),
                             after_level=level_of(after, th)))
        for key in ('before', 'after'):
            ranks = {}
            for kind in {r['kind'] for r in rows}:
                ranks.update(dense_ranks([(r['id'], r[key + '_total']) for r in rows
                                          if r['kind'] == kind]))
            for r in rows:
                r[key + '_rank'] = ranks[r['id']]
        if scope_muni is not None:
            rows = [r for r in rows if r['muni'] == scope_muni]
        return rows, th

    def check(self, doc, rows, th, limit=50):
        both = [(r['before_total'], r['after_total']) for r in rows
                if r['before_total'] is not None and r['after_total'] is not None]
        self.assertEqual(doc['counted'], len(rows))
        self.assertEqual({k: D(str(v)) for k, v in doc['thresholds'].items()}, th)
        self.assertEqual(doc['levels'], {'before': levels(rows, 'before_level'),
                                         'after': levels(rows, 'after_level')})
        rs = dict(doc['rank_shift'])
        largest = rs.pop('largest')
        self.assertEqual(rs, shifts(rows))
        moved = sorted((r for r in rows if r['before_rank'] is not None and
                        r['after_rank'] is not None and r['before_rank'] != r['after_rank']),
                       key=lambda r: (-abs(r['after_rank'] - r['before_rank']), r['id']))
        if moved:
            m = moved[0]
            self.assertEqual(largest, {'submission_id': m['id'], 'kind': m['kind'],
                                       'before_rank': m['before_rank'],
                                       'after_rank': m['after_rank'],
                                       'shift': m['after_rank'] - m['before_rank']})
        else:
            self.assertIsNone(largest)
        self.assertEqual(doc['spearman'], spearman(both))
        kinds = sorted({r['kind'] for r in rows})
        self.assertEqual([k['kind'] for k in doc['by_kind']], kinds)
        for k in doc['by_kind']:
            kr = [r for r in rows if r['kind'] == k['kind']]
            self.assertEqual(k['counted'], len(kr))
            self.assertEqual(k['levels'], {'before': levels(kr, 'before_level'),
                                           'after': levels(kr, 'after_level')})
            self.assertEqual(k['rank_shift'], shifts(kr), k['kind'])
            self.assertEqual(k['spearman'], spearman(
                [(r['before_total'], r['after_total']) for r in kr
                 if r['before_total'] is not None and r['after_total'] is not None]), k['kind'])
        munis = sorted({r['muni'] for r in rows})
        self.assertEqual([m['municipality_id'] for m in doc['by_municipality']], munis)
        for m in doc['by_municipality']:
            mr = [r for r in rows if r['muni'] == m['municipality_id']]
            self.assertEqual(m['counted'], len(mr))
            self.assertEqual(m['levels'], {'before': levels(mr, 'before_level'),
                                           'after': levels(mr, 'after_level')})
        changed = sorted((r for r in rows if r['before_level'] != r['after_level']),
                         key=lambda r: (-abs((r['after_total'] or 0) - (r['before_total'] or 0)),
                                        r['id']))
        self.assertEqual(doc['changed']['count'], len(changed))
        self.assertEqual(doc['changed']['limit'], limit)
        got = doc['changed']['items']
        self.assertEqual([i['submission_id'] for i in got], [r['id'] for r in changed[:limit]])
        for it, r in zip(got, changed):
            self.assertEqual(it['organization_id'], r['org'])
            self.assertEqual(it['municipality_id'], r['muni'])
            self.assertEqual(it['manager_id'], r['manager'])
            self.assertEqual(it['kind'], r['kind'])
            for side in ('before', 'after'):
                self.assertEqual(
                    (D(str(it[side]['total'])) if it[side]['total'] is not None else None,
                     it[side]['level'], it[side]['rank_region']),
                    (r[side + '_total'], r[side + '_level'], r[side + '_rank']),
                    'submission %d %s' % (r['id'], side))
        return changed

    def simulate(self, camp, body, token='admin', query=''):
        r = self.w.call('POST', '%s/campaigns/%d/simulations%s' % (API, camp, query),
                        self.tok[token], body=body)
        return r

    def ok(self, camp, body, token='admin', query='', headers=None):
        """A run's answer, without the record's id and time (kept in self.last)."""
        r = self.w.call('POST', '%s/campaigns/%d/simulations%s' % (API, camp, query),
                        self.tok[token], body=body, headers=headers)
        assert_status(r, 201, 'simulation')
        self.assertEqual(r.headers.get('location'), '/api/v1/campaigns/%d/simulations' % camp)
        doc = json.loads(r.body.decode('utf-8'), parse_float=D)
        self.last = (doc.pop('id'), doc.pop('created_at'))
        self.assertIsInstance(self.last[0], int)
        return doc

    def changes(self):
        """Changes touching every kind of rule, named from the random catalog."""
        cat = {ind['code']: ind for ind in self.w.catalog[self.w.cur]}
        flip = {'up': 'down', 'down': 'up'}
        return [
            {'code': 'I01', 'weights': {'school': 5, 'preschool': 2}, 'polarity': 'down'},
            {'code': 'I02', 'min_value': 10, 'max_value': 60.5},
            {'code': 'I03', 'exclude': True},
            {'code': 'I04', 'weights': {'school': 0, 'special': 0.25}, 'max_value': 3},
            {'code': 'I06', 'polarity': flip[cat['I06']['polarity']]},
            {'code': 'I08', 'weights': {'additional': 7}},
        ]

    def official(self):
        return self.w.sql(
            "SELECT (SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY submission_id), '')) "
            "FROM submission_scores t) || (SELECT md5(coalesce(string_agg(t::text, ',' "
            "ORDER BY submission_id, direction_id), '')) FROM direction_scores t)")

    def snapshot(self):
        return self.official() + self.w.sql(
            "SELECT (SELECT count(*) FROM audit_events) || '/' || "
            "(SELECT count(*) FROM simulations)")

    def counts(self):
        return tuple(int(x) for x in self.w.sql(
            "SELECT (SELECT count(*) FROM audit_events) || '|' || "
            "(SELECT count(*) FROM simulations)").split('|'))

    # --- exactness

    def test_01_no_change_is_the_official_scores(self):
        w = self.w
        doc = self.ok(w.cur, {})
        rows, th = self.expected(w.cur)
        self.check(doc, rows, th)
        self.assertEqual(doc['changed']['count'], 0)
        self.assertEqual(doc['levels']['before'], doc['levels']['after'])
        self.assertEqual(doc['rank_shift']['max_abs'], 0)
        self.assertEqual(doc['spearman'], D('1.000000'))
        # "before" is what GET /scores says.
        items, _ = w.all_scores(w.cur, w.tok['admin'])
        self.assertEqual({i['submission_id']: i['level'] for i in items},
                         {r['id']: r['before_level'] for r in rows})

    def test_02_changes_and_thresholds(self):
        w = self.w
        body = {'indicators': self.changes(), 'thresholds': {'high': 70, 'low': 30}}
        before, (audits, runs) = self.official(), self.counts()
        doc = self.ok(w.cur, body)
        self.assertEqual(self.official(), before, 'the simulation changed official scores')
        self.assertEqual(self.counts(), (audits + 1, runs + 1), 'one record, one audit row')
        rows, th = self.expected(w.cur, body['indicators'], body['thresholds'])
        changed = self.check(doc, rows, th)
        self.assertGreater(len(changed), 2, 'the changes move some heads across levels')
        self.assertGreater(doc['rank_shift']['max_abs'], 0)
        self.assertEqual(doc['values_campaign_id'], w.cur)
        self.assertEqual(doc['unmatched_indicators'], [])
        self.assertEqual(doc['include'], 'approved')
        # The cap: the first items of the same order, the count of all.
        doc1 = self.ok(w.cur, body, query='?limit=1')
        self.check(doc1, rows, th, limit=1)
        # Ties: planted equal totals share a dense rank before and after.
        tied = [r for r in rows if r['before_total'] is not None]
        self.assertLess(len({(r['kind'], r['before_total']) for r in tied}), len(tied))

    def test_03_include_unapproved_regional(self):
        w = self.w
        body = {'indicators': self.changes()}
        doc = self.ok(w.cur, body, token='regional_operator', query='?include=unapproved')
        self.assertEqual(doc['include'], 'unapproved')
        rows, th = self.expected(w.cur, body['indicators'], include=True)
        self.check(doc, rows, th)
        self.assertGreater(doc['counted'], self.ok(w.cur, body)['counted'])

    def test_04_municipal_operator_sees_its_municipality(self):
        w = self.w
        body = {'indicators': self.changes(), 'thresholds': {'sufficient': 50}}
        doc = self.ok(w.cur, body, token='municipal_operator')
        rows, th = self.expected(w.cur, body['indicators'], body['thresholds'],
                                 scope_muni=w.muni_a1)
        self.check(doc, rows, th)
        self.assertTrue(doc['changed']['items'], 'some head of A1 changes level')
        self.assertEqual({i['municipality_id'] for i in doc['changed']['items']}, {w.muni_a1})
        self.assertEqual([m['municipality_id'] for m in doc['by_municipality']], [w.muni_a1])
        region = self.ok(w.cur, body)
        self.assertGreater(region['changed']['count'], doc['changed']['count'])

    def test_05_values_from_the_previous_campaign(self):
        w = self.w
        body = {'indicators': self.changes(), 'values_from': w.prev}
        doc = self.ok(w.cur, body)
        self.assertEqual(doc['values_campaign_id'], w.prev)
        self.assertEqual(doc['unmatched_indicators'], ['X99'])
        rows, th = self.expected(w.cur, body['indicators'], values_camp=w.prev)
        self.check(doc, rows, th)
        self.assertEqual(self.ok(w.cur, dict(body, values_from='previous')), doc)
        # A draft campaign (no submissions yet) on its predecessor's values.
        draft = w.new_campaign(w.region_a, 2025, 'draft', (80, 60, 40))
        w.catalog[draft] = w.new_catalog(draft)
        doc = self.ok(draft, {'values_from': 'previous'})
        self.assertEqual(doc['values_campaign_id'], w.cur)
        rows, th = self.expected(draft, values_camp=w.cur)
        self.check(doc, rows, th)
        self.assertEqual(self.ok(draft, {})['counted'], 0)

    # --- bad input, roles and scope

    def test_06_bad_bodies(self):
        w = self.w
        cases = [
            ({'zzz': 1}, ['zzz']),
            ({'indicators': {}}, ['indicators']),
            ({'indicators': [{'code': 'NOPE'}]}, ['indicators[0].code']),
            ({'indicators': [{'id': 1}]}, ['indicators[0].id', 'indicators[0].code']),
            ({'indicators': [{'code': 'I01'}, {'code': 'I01'}]}, ['indicators[1].code']),
            ({'indicators': [{'code': 'I01', 'min_value': 5, 'max_value': 5}]},
             ['indicators[0].max_value']),
            ({'indicators': [{'code': 'I02', 'max_value': 101}]}, ['indicators[0].max_value']),
            ({'indicators': [{'code': 'I03', 'min_value': 0}]}, ['indicators[0].min_value']),
            ({'indicators': [{'code': 'I04', 'max_value': 2.5}]}, ['indicators[0].max_value']),
            ({'indicators': [{'code': 'I01', 'weights': {'school': -1, 'lyceum': 1}}]},
             ['indicators[0].weights.school', 'indicators[0].weights.lyceum']),
            ({'indicators': [{'code': 'I01', 'weights': [1]}]}, ['indicators[0].weights']),
            ({'indicators': [{'code': 'I01', 'polarity': 'sideways'}]},
             ['indicators[0].polarity']),
            ({'indicators': [{'code': 'I01', 'exclude': True, 'polarity': 'up'}]},
             ['indicators[0].exclude']),
            ({'indicators': [{'code': 'I01', 'exclude': 'yes'}]}, ['indicators[0].exclude']),
            ({'indicators': ['I01']}, ['indicators[0]']),
            ({'thresholds': {'high': 50, 'sufficient': 60, 'low': 40}}, ['thresholds']),
            ({'thresholds': {'low': 60}}, ['thresholds']),  # over the campaign's 55
            ({'thresholds': {'high': 101, 'top': 1}}, ['thresholds.high', 'thresholds.top']),
            ({'thresholds': 80}, ['thresholds']),
            ({'values_from': 'last'}, ['values_from']),
            ({'values_from': w.camp_b}, ['values_from']),   # another region
            ({'values_from': w.cur}, ['values_from']),      # not earlier
            ({'values_from': 999999}, ['values_from']),
            # numbers are checked as they are sent to SQL (15 significant digits)
            ({'indicators': [{'code': 'I05', 'min_value': 1,
                              'max_value': 1.0000000000000002}]}, ['indicators[0].max_value']),
            ({'thresholds': {'low': 59.99999999999999, 'sufficient': 60}}, ['thresholds']),
        ]
        before = self.snapshot()
        for body, fields in cases:
            doc = assert_problem(self.simulate(w.cur, body), 400, repr(body))
            self.assertEqual(sorted(e['field'] for e in doc['errors']), sorted(fields),
                             repr(body))
        doc = assert_problem(self.simulate(w.prev, {'values_from': 'previous'}), 400)
        self.assertEqual([e['field'] for e in doc['errors']], ['values_from'])
        for query, field in (('?limit=0', 'limit'), ('?limit=501', 'limit'),
                             ('?include=all', 'include')):
            doc = assert_problem(self.simulate(w.cur, {}, query=query), 400, query)
            self.assertEqual([e['field'] for e in doc['errors']], [field])
        r = w.d.request('POST', '%s/campaigns/%d/simulations' % (API, w.cur),
                        token=self.tok['admin'], body=b'[1]',
                        headers={'Content-Type': 'application/json'})
        assert_problem(r, 400, 'an array body')
        self.assertEqual(self.snapshot(), before)

    def test_07_roles_and_scope(self):
        w = self.w
        for token in ('head', 'expert', 'portal'):
            assert_problem(self.simulate(w.cur, {}, token=token), 403, token)
        r = w.d.request('POST', '%s/campaigns/%d/simulations' % (API, w.cur), body={})
        assert_problem(r, 401, 'anonymous')
        for token in ('regional_operator', 'municipal_operator'):
            assert_problem(self.simulate(w.camp_b, {}, token=token), 404, token)
            # Not found comes first: an out-of-scope campaign with a bad body is still 404.
            assert_problem(self.simulate(w.camp_b, {'zzz': 1}, token=token), 404, token)
            doc = assert_problem(self.simulate(w.camp_b, {}, token=token, query='?limit=0'), 404)
            self.assertNotIn('errors', doc)
        assert_problem(self.simulate(999999, {}), 404, 'missing')
        self.assertEqual(self.ok(w.camp_b, {}, token='regional_b')['values_campaign_id'],
                         w.camp_b)

    # --- the record of the runs

    def runs(self, camp, token='admin', query=''):
        r = self.w.call('GET', '%s/campaigns/%d/simulations%s' % (API, camp, query),
                        self.tok[token])
        assert_status(r, 200, 'the runs of %d' % camp)
        return r.json

    def test_08_every_run_is_recorded(self):
        w = self.w
        camp = w.new_campaign(w.region_a, 2031, 'draft', (80, 60, 40))
        w.catalog[camp] = w.new_catalog(camp)
        self.assertEqual(self.runs(camp)['items'], [])
        body = {'indicators': [{'code': 'I02', 'exclude': True}], 'thresholds': {'high': 90},
                'values_from': w.cur}
        doc = self.ok(camp, body, token='regional_operator')
        regional = self.last[0]
        row = w.sql("SELECT campaign_id || '|' || region_id || '|' || coalesce(municipality_id, "
                    "0) || '|' || values_campaign_id || '|' || role FROM simulations WHERE id = "
                    "%d" % regional)
        self.assertEqual(row, '%d|%d|0|%d|regional_operator' % (camp, w.region_a, w.cur))
        audit = w.sql("SELECT entity || '|' || action || '|' || (after -> 'summary' ->> "
                      "'counted') FROM audit_events WHERE entity = 'simulation' AND entity_id "
                      "= %d" % regional)
        self.assertEqual(audit, 'simulation|create|%d' % doc['counted'])
        # a municipal operator's run covers its municipality: the region sees it; a
        # municipality sees the region's runs and its own, as the cycle report counts them
        self.ok(camp, {}, token='municipal_operator')
        municipal = self.last[0]
        items = self.runs(camp, 'regional_operator')['items']
        self.assertEqual([i['id'] for i in items], [municipal, regional])
        first = items[1]
        self.assertEqual((first['role'], first['municipality_id'], first['values_campaign_id'],
                          first['request']), ('regional_operator', None, w.cur, body))
        self.assertEqual(first['summary']['counted'], doc['counted'])
        self.assertEqual(first['summary']['changed'], doc['changed']['count'])
        self.assertEqual(first['summary']['levels'], json.loads(json.dumps(doc['levels'])))
        self.assertEqual([i['id'] for i in self.runs(camp, 'municipal_operator')['items']],
                         [municipal, regional])
        self.assertEqual(self.runs(camp, 'municipal_operator')['items'][0]['municipality_id'],
                         w.muni_a1)
        # another municipality's run is not shown to this one
        w.sql("UPDATE simulations SET municipality_id = %d WHERE id = %d" % (w.muni_a2, municipal))
        self.assertEqual([i['id'] for i in self.runs(camp, 'municipal_operator')['items']],
                         [regional])
        w.sql("UPDATE simulations SET municipality_id = %d WHERE id = %d" % (w.muni_a1, municipal))
        # pages, newest first
        page = self.runs(camp, 'admin', '?limit=1')
        self.assertEqual([i['id'] for i in page['items']], [municipal])
        rest = self.runs(camp, 'admin', '?limit=1&cursor=%s' % page['next'])
        self.assertEqual([i['id'] for i in rest['items']], [regional])
        # an Idempotency-Key replays the run, recording nothing more
        key = {'Idempotency-Key': 'sim-%d' % camp}
        before = self.counts()
        once = self.ok(camp, body, headers=key)
        run = self.last[0]
        again = self.ok(camp, body, headers=key)
        self.assertEqual((again, self.last[0]), (once, run))
        self.assertEqual(self.counts(), (before[0] + 1, before[1] + 1))
        # refused: other roles, out of scope, bad parameters
        for token in ('head', 'expert', 'portal'):
            r = w.call('GET', '%s/campaigns/%d/simulations' % (API, camp), self.tok[token])
            assert_problem(r, 403, token)
        r = w.call('GET', '%s/campaigns/%d/simulations' % (API, camp), self.tok['regional_b'])
        assert_problem(r, 404, 'another region')
        r = w.call('GET', '%s/campaigns/%d/simulations?sort=name' % (API, camp),
                   self.tok['admin'])
        self.assertEqual([e['field'] for e in assert_problem(r, 400)['errors']], ['sort'])
        # the cycle report's indicators step counts them, the latest first
        r = w.call('GET', '%s/campaigns/%d/cycle-report' % (API, camp), self.tok['admin'])
        assert_status(r, 200, 'cycle report')
        sims = [x for x in r.json['steps'] if x['key'] == 'indicators'][0]['simulations']
        self.assertEqual(sims['count'], 3)
        self.assertEqual([x['id'] for x in sims['latest']], [run, municipal, regional])
        self.assertEqual((sims['latest'][2]['indicators_changed'],
                          sims['latest'][2]['thresholds_changed'],
                          sims['latest'][2]['heads_changed']),
                         (1, True, doc['changed']['count']))


if __name__ == '__main__':
    harness.main()
