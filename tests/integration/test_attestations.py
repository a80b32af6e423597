#!/usr/bin/python3
"""
test_attestations.py - attestation of heads over HTTP: the scores checked against the
competency catalog (missing, over the maximum, duplicated, unknown: each named), the
monitoring total of the latest approved campaign captured at creation, corrections of
commission / protocol / term only (If-Match, audited), a manager's attestations with the one
valid today (also under a controlled clock, EFFMON_NOW), list filters, and scope (experts
and regional operators record in their region; a head reads only its own).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem, assert_status  # noqa: E402
import registry_fixtures as rf  # noqa: E402
from registry_fixtures import API, assert_fields, url  # noqa: E402
from test_recommendations import plant_campaign, INDICATORS, WEAK_NET, STRONG_MAN  # noqa: E402

ATTS = API + '/attestations'


class AttestationsTest(harness.DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        w = cls.w = rf.World(cls.daemon, cls.cluster)
        w.new_competency(code='strategy', max_score=5)
        w.new_competency(code='leadership', max_score=20)
        cls.catalog = dict(tuple(line.split('|')) for line in
                           w.sql('SELECT code, max_score FROM competencies ORDER BY id').split())
        # 2022 and 2023 approved, 2024 not yet: the 2023 total is the one taken
        plant_campaign(w, w.region_a, 2022, INDICATORS, [
            (w.org_a1, w.mgr_a1, 'approved', {'net1': 10})])
        cls.c2023, _ = plant_campaign(w, w.region_a, 2023, INDICATORS, [
            (w.org_a1, w.mgr_a1, 'approved', dict(WEAK_NET, **STRONG_MAN))])
        plant_campaign(w, w.region_a, 2024, INDICATORS, [
            (w.org_a1, w.mgr_a1, 'verified', dict(WEAK_NET, **STRONG_MAN))])

    def tok(self, role, side='A'):
        return self.w.token(role, side)

    def scores(self, **over):
        s = {code: int(mx) // 2 for code, mx in self.catalog.items()}
        s.update(over)
        return [{'competency': c, 'score': v} for c, v in s.items()]

    def body(self, **over):
        b = {'manager_id': self.w.mgr_a1, 'attested_on': '2024-04-15',
             'commission': 'Аттестационная комиссия министерства', 'protocol_number': '7/2024',
             'scores': self.scores(), 'decision': 'fits_position', 'valid_until': '2099-04-15'}
        b.update(over)
        return {k: v for k, v in b.items() if v is not None}

    def create(self, token=None, **over):
        r = self.w.call('POST', ATTS, self.body(**over), token or self.tok('expert'))
        assert_status(r, 201, 'POST /attestations')
        return r.json

    def test_create_and_read(self):
        w = self.w
        before = w.audit_count()
        a = self.create()
        self.assertEqual(w.audit_count(), before + 1)
        for k, v in (('manager_id', w.mgr_a1), ('decision', 'fits_position'),
                     ('monitoring_campaign_id', self.c2023), ('monitoring_total', 45.83),
                     ('valid', True), ('organization_id', w.org_a1), ('version', 1),
                     ('created_by', w.user('expert').id)):
            self.assertEqual(a[k], v, k)
        self.assertEqual(sorted(s['competency'] for s in a['scores']), sorted(self.catalog))
        self.assertEqual(a['score_total'], sum(int(m) // 2 for m in self.catalog.values()))
        self.assertEqual(a['score_max'], sum(int(m) for m in self.catalog.values()))
        path = '%s/%d' % (ATTS, a['id'])
        # a regional operator records too; heads and municipal operators read
        self.create(self.tok('regional_operator'), decision='fits_position_conditionally')
        for role in ('municipal_operator', 'head', 'portal'):
            r = w.call('POST', ATTS, self.body(), self.tok(role))
            assert_problem(r, 403, role)
        for role in ('head', 'municipal_operator', 'expert', 'regional_operator', 'admin'):
            assert_status(w.get(path, token=self.tok(role)), 200, role)
        for role in ('head', 'municipal_operator', 'expert', 'regional_operator'):
            assert_problem(w.get(path, token=self.tok(role, 'B')), 404, role + ' B')
        assert_problem(w.get(path, token=self.tok('portal')), 403)
        assert_problem(w.get(path), 401)
        # the neighbour's head does not see it, nor its manager's list
        head_b = w.cli_user('head', w.region_a, w.muni_a1, w.org_a1b, w.mgr_a1b)
        assert_problem(w.get(path, token=head_b.token), 404)
        assert_problem(w.get('%s/managers/%d/attestations' % (API, w.mgr_a1),
                             token=head_b.token), 404)
        self.assertEqual(w.walk(ATTS, head_b.token)[0], [])
        # another municipality's operator does not see it
        mun2 = w.cli_user('municipal_operator', w.region_a, w.muni_a2, None)
        assert_problem(w.get(path, token=mun2.token), 404)
        # a manager without an approved campaign has no monitoring total
        other = self.create(manager_id=w.mgr_a1b)
        self.assertEqual((other['monitoring_total'], other['monitoring_campaign_id']),
                         (None, None))
        # out of the caller's region: named like a missing manager
        r = w.call('POST', ATTS, self.body(manager_id=w.mgr_b1), self.tok('expert'))
        assert_fields(r, 400, ['manager_id'])

    def test_validation(self):
        w = self.w
        before = w.audit_count()
        codes = list(self.catalog)
        missing = [s for s in self.scores() if s['competency'] != codes[0]]
        dup = self.scores() + [{'competency': codes[1], 'score': 1}]
        n = len(codes)
        over = self.scores(**{codes[1]: int(self.catalog[codes[1]]) + 1})
        cases = [
            (self.body(scores=missing), ['scores']),
            (self.body(scores=dup), ['scores[%d].competency' % n]),
            (self.body(scores=self.scores() + [{'competency': 'telepathy', 'score': 1}]),
             ['scores[%d].competency' % n]),
            (self.body(scores=over), ['scores[1].score']),
            (self.body(scores=self.scores(**{codes[0]: -1})), ['scores[0].score']),
            (self.body(scores=self.scores(**{codes[0]: 1.5})), ['scores[0].score']),
            (self.body(scores=[{'competency': codes[0]}]), ['scores[0].score']),
            (self.body(scores=[{'competency': codes[0], 'score': 1, 'note': 'x'}]),
             ['scores[0].note']),
            (self.body(scores='all good'), ['scores']),
            (self.body(scores=None), ['scores']),
            (self.body(valid_until='2024-04-15'), ['valid_until']),
            (self.body(attested_on='2999-01-01', valid_until='3000-01-01'), ['attested_on']),
            (self.body(decision='fits'), ['decision']),
            (self.body(commission=''), ['commission']),
            (self.body(protocol_number=None), ['protocol_number']),
            (self.body(monitoring_total=99), ['monitoring_total']),
        ]
        for body, fields in cases:
            r = w.call('POST', ATTS, body, self.tok('expert'))
            doc = assert_fields(r, 400, fields, repr(body)[:200])
            if body.get('scores') is missing:
                self.assertIn(codes[0], ' '.join(e['message'] for e in doc['errors']))
        self.assertEqual(w.audit_count(), before)

    def test_corrections(self):
        w = self.w
        a = self.create()
        path = '%s/%d' % (ATTS, a['id'])
        exp = self.tok('expert')
        assert_problem(w.call('PATCH', path, {'commission': 'x'}, exp), 428)
        assert_problem(w.call('PATCH', path, {'commission': 'x'}, exp,
                              headers={'If-Match': '"5"'}), 412)
        for body, fields in (({'decision': 'does_not_fit_position'}, ['decision']),
                             ({'scores': []}, ['scores']),
                             ({'attested_on': '2024-01-01'}, ['attested_on']),
                             ({'valid_until': '2024-04-15'}, ['valid_until'])):
            assert_fields(w.call('PATCH', path, body, exp, headers={'If-Match': '"1"'}), 400,
                          fields)
        assert_problem(w.call('PATCH', path, {'commission': 'x'}, self.tok('head'),
                              headers={'If-Match': '"1"'}), 403)
        assert_problem(w.call('PATCH', path, {'commission': 'x'}, self.tok('expert', 'B'),
                              headers={'If-Match': '"1"'}), 404)
        before = w.audit_count()
        r = w.call('PATCH', path, {'protocol_number': '7/2024-испр', 'valid_until': '2029-04-15'},
                   exp, headers={'If-Match': '"1"'})
        assert_status(r, 200)
        self.assertEqual((r.json['protocol_number'], r.json['valid_until'], r.json['version'],
                          r.json['commission']),
                         ('7/2024-испр', '2029-04-15', 2, a['commission']))
        self.assertEqual(r.headers['etag'], '"2"')
        self.assertEqual(w.audit_count(), before + 1)
        row = w.sql("SELECT action, before ->> 'protocol_number', after ->> 'protocol_number' "
                    "FROM audit_events WHERE entity = 'attestation' AND entity_id = %d "
                    "ORDER BY id DESC LIMIT 1" % a['id'])
        self.assertEqual(row, 'update|7/2024|7/2024-испр')

    def test_manager_list_and_current(self):
        w = self.w
        mgr = w.new_manager(w.muni_a2, full_name='Аттестуемый')['id']
        old = self.create(manager_id=mgr, attested_on='2015-03-01', valid_until='2020-03-01',
                          scores=self.scores())
        cur = self.create(manager_id=mgr, attested_on='2020-02-01', valid_until='2099-02-01',
                          decision='fits_position_conditionally')
        path = '%s/managers/%d/attestations' % (API, mgr)
        r = w.get(path, token=self.tok('regional_operator'))
        assert_status(r, 200)
        self.assertEqual([x['id'] for x in r.json['items']], [cur['id'], old['id']])
        self.assertEqual(r.json['current']['id'], cur['id'])
        self.assertFalse(r.json['items'][1]['valid'])
        assert_problem(w.get(path, token=self.tok('municipal_operator')), 404)
        assert_problem(w.get(path, token=self.tok('regional_operator', 'B')), 404)
        assert_problem(w.get('%s/managers/%d/attestations' % (API, 10 ** 12),
                             token=self.tok('admin')), 404)
        # none valid: current is null
        lone = w.new_manager(w.muni_a2)['id']
        r = w.get('%s/managers/%d/attestations' % (API, lone), token=self.tok('expert'))
        self.assertEqual(r.json, {'items': [], 'current': None})
        # list filters
        reg = self.tok('regional_operator')
        items = w.walk(ATTS, reg, manager_id=mgr)[0]
        self.assertEqual([x['id'] for x in items], [old['id'], cur['id']])
        self.assertEqual([x['id'] for x in w.walk(ATTS, reg, manager_id=mgr, valid='false')[0]],
                         [old['id']])
        self.assertEqual([x['id'] for x in w.walk(ATTS, reg, manager_id=mgr,
                                                  decision='fits_position_conditionally')[0]],
                         [cur['id']])
        assert_fields(w.get(url(ATTS, valid='now', decision='ok', manager_id='0'), token=reg),
                      400, ['valid', 'decision', 'manager_id'])
        # the controlled clock: in 2016 the old one was the valid one
        d = harness.Daemon(self.cluster, env={'EFFMON_NOW': '2016-01-01',
                                              'EFFMON_JWT_SECRET': self.daemon.secret},
                           migrate=False)
        try:
            r = d.request('GET', path, token=reg)
            assert_status(r, 200)
            self.assertEqual(r.json['current']['id'], old['id'])
            self.assertEqual([x['valid'] for x in r.json['items']], [False, True])
        finally:
            d.destroy()


if __name__ == '__main__':
    harness.main()
