#!/usr/bin/python3
"""
test_decisions.py - management decisions over HTTP: validation (types, the amount a bonus
needs and other types refuse, links to a campaign of the manager's region and to an
attestation of the same manager), immutability (PATCH and DELETE are 405 with Allow; the
database refuses UPDATE, DELETE and TRUNCATE), revocation (once; a revocation is not
revoked; who revoked, when and by which act shows on the revoked decision; a municipal
operator revokes only municipal decisions), audit rows, and scope (other region 404, a head
reads only its own decisions).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem, assert_status  # noqa: E402
import registry_fixtures as rf  # noqa: E402
from registry_fixtures import API, assert_fields, url  # noqa: E402
from test_recommendations import plant_campaign, INDICATORS, STRONG_NET, STRONG_MAN  # noqa: E402

DECS = API + '/decisions'


class DecisionsTest(harness.DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        w = cls.w = rf.World(cls.daemon, cls.cluster)
        cls.campaign, _ = plant_campaign(w, w.region_a, 2023, INDICATORS, [
            (w.org_a1, w.mgr_a1, 'approved', dict(STRONG_NET, **STRONG_MAN))])
        cls.campaign_b, _ = plant_campaign(w, w.region_b, 2023, INDICATORS, [])
        # attestations straight into the table: their API is test_attestations' business
        cls.att_a1 = int(w.sql(
            "INSERT INTO attestations (manager_id, attested_on, commission, protocol_number, "
            "decision, valid_until) VALUES (%d, '2023-05-01', 'Комиссия', '12', "
            "'fits_position', '2028-05-01') RETURNING id" % w.mgr_a1))
        cls.att_a2 = int(w.sql(
            "INSERT INTO attestations (manager_id, attested_on, commission, protocol_number, "
            "decision, valid_until) VALUES (%d, '2023-05-01', 'Комиссия', '13', "
            "'fits_position', '2028-05-01') RETURNING id" % w.mgr_a2))

    def tok(self, role, side='A'):
        return self.w.token(role, side)

    def body(self, **over):
        b = {'manager_id': self.w.mgr_a1, 'campaign_id': self.campaign, 'type': 'bonus',
             'basis': 'Высокий результат мониторинга 2023 года', 'act_number': '45-к',
             'act_date': '2024-02-01', 'effective_on': '2024-03-01', 'amount': 15000.50}
        b.update(over)
        return {k: v for k, v in b.items() if v is not None}

    def create(self, token=None, **over):
        r = self.w.call('POST', DECS, self.body(**over), token or self.tok('regional_operator'))
        assert_status(r, 201, 'POST /decisions')
        return r.json

    def revoke(self, did, token=None, etag=None, **over):
        b = {'reason': 'Ошибка в расчёте', 'act_number': '50-к', 'act_date': '2024-02-10'}
        b.update(over)
        path = '%s/%d' % (DECS, did)
        return self.w.call('POST', path + '/revoke', b, token or self.tok('regional_operator'),
                           headers={'If-Match': etag or self.w.etag(path)})

    def test_create_and_read(self):
        w = self.w
        before = w.audit_count()
        d = self.create(basis_attestation_id=self.att_a1)
        self.assertEqual(w.audit_count(), before + 1)
        for k, v in (('type', 'bonus'), ('amount', 15000.5), ('manager_id', w.mgr_a1),
                     ('campaign_id', self.campaign), ('basis_attestation_id', self.att_a1),
                     ('revoked', False), ('revocation', None), ('issuer_role', 'regional_operator'),
                     ('organization_id', w.org_a1), ('version', 1)):
            self.assertEqual(d[k], v, k)
        self.assertEqual(d['basis_score']['campaign_id'], self.campaign)
        self.assertEqual(d['basis_score']['total'], 93.33)
        # the head reads its own; the neighbour's head, region B and portals do not
        path = '%s/%d' % (DECS, d['id'])
        assert_status(w.get(path, token=self.tok('head')), 200)
        assert_status(w.get(path, token=self.tok('expert')), 200)
        assert_status(w.get(path, token=self.tok('municipal_operator')), 200)
        for role in ('regional_operator', 'municipal_operator', 'head', 'expert'):
            assert_problem(w.get(path, token=self.tok(role, 'B')), 404, role)
        assert_problem(w.get(path, token=self.tok('portal')), 403)
        assert_problem(w.get(path), 401)
        # a municipal operator decides for the heads of its municipality only
        m = self.create(self.tok('municipal_operator'), type='warning', amount=None,
                        campaign_id=None)
        self.assertEqual((m['issuer_role'], m['amount'], m['campaign_id']),
                         ('municipal_operator', None, None))
        r = w.call('POST', DECS, self.body(manager_id=w.mgr_a2, type='warning', amount=None),
                   self.tok('municipal_operator'))
        assert_fields(r, 400, ['manager_id'])
        for role in ('head', 'expert', 'portal'):
            assert_problem(w.call('POST', DECS, self.body(), self.tok(role)), 403, role)
        # lists: filters, and nothing outside the scope
        items = w.walk(DECS, self.tok('regional_operator'), type='warning')[0]
        self.assertTrue(items and all(x['type'] == 'warning' for x in items))
        items = w.walk(DECS, self.tok('head'))[0]
        self.assertTrue(items and all(x['manager_id'] == w.mgr_a1 for x in items))
        self.assertEqual(w.walk(DECS, self.tok('regional_operator', 'B'))[0], [])
        assert_fields(w.get(url(DECS, type='gift', revoked='maybe'),
                            token=self.tok('regional_operator')), 400, ['type', 'revoked'])

    def test_validation(self):
        w = self.w
        before = w.audit_count()
        reg = self.tok('regional_operator')
        cases = [
            (self.body(amount=None), ['amount']),
            (self.body(amount=0), ['amount']),
            (self.body(amount=10.005), ['amount']),
            (self.body(type='warning'), ['amount']),
            (self.body(type='revocation', amount=None), ['type']),
            (self.body(type='gift'), ['type']),
            (self.body(act_number=''), ['act_number']),
            (self.body(act_date='2024-13-01', effective_on=None), ['act_date', 'effective_on']),
            (self.body(basis=None), ['basis']),
            (self.body(campaign_id=self.campaign_b), ['campaign_id']),
            (self.body(basis_attestation_id=self.att_a2), ['basis_attestation_id']),
            (self.body(manager_id=w.mgr_b1), ['manager_id']),
            (self.body(revoked=True), ['revoked']),
        ]
        for body, fields in cases:
            assert_fields(w.call('POST', DECS, body, reg), 400, fields, repr(body))
        self.assertEqual(w.audit_count(), before)

    def test_immutable(self):
        w = self.w
        d = self.create()
        path = '%s/%d' % (DECS, d['id'])
        for method in ('PATCH', 'DELETE', 'PUT'):
            r = w.call(method, path, {'basis': 'x'}, self.tok('admin'))
            assert_problem(r, 405, method)
            self.assertIn('GET', r.headers.get('allow', ''))
        # the database refuses it whoever connects
        for sql in ("UPDATE decisions SET basis = 'подделка' WHERE id = %d" % d['id'],
                    "DELETE FROM decisions WHERE id = %d" % d['id'],
                    "TRUNCATE decisions CASCADE"):
            p = self.cluster.psql_run(sql, user='effmon')
            self.assertNotEqual(p.returncode, 0, sql)
            self.assertIn('append-only', p.stderr, sql)
        # changing anything besides the revocation link is refused too
        p = self.cluster.psql_run(
            "UPDATE decisions SET revoked_by_decision_id = id, revoked_at = now(), "
            "amount = 1 WHERE id = %d" % d['id'], user='effmon')
        self.assertIn('append-only', p.stderr)
        self.assertEqual(w.get(path, token=self.tok('admin')).json['basis'], d['basis'])

    def test_revoke(self):
        w = self.w
        d = self.create()
        path = '%s/%d' % (DECS, d['id'])
        r = w.call('POST', path + '/revoke', {'reason': 'x', 'act_number': '1',
                                              'act_date': '2024-02-10'},
                   self.tok('regional_operator'))
        assert_problem(r, 428)
        assert_problem(self.revoke(d['id'], etag='"9"'), 412)
        assert_fields(self.revoke(d['id'], reason=None, act_date='soon'), 400,
                      ['reason', 'act_date'])
        assert_problem(self.revoke(d['id'], token=self.tok('head')), 403)
        assert_problem(self.revoke(d['id'], token=self.tok('regional_operator', 'B')), 404)
        # a municipal operator does not revoke the region's decision
        doc = assert_problem(self.revoke(d['id'], token=self.tok('municipal_operator')), 403)
        self.assertIn('regional operator', doc['detail'])
        before = w.audit_count()
        r = self.revoke(d['id'], effective_on='2024-03-01')
        assert_status(r, 201)
        rev = r.json
        self.assertEqual(w.audit_count(), before + 2)
        self.assertEqual(r.headers['location'], '%s/%d' % (DECS, rev['id']))
        self.assertEqual((rev['type'], rev['revokes_decision_id'], rev['basis'], rev['amount'],
                          rev['act_number'], rev['effective_on'], rev['manager_id']),
                         ('revocation', d['id'], 'Ошибка в расчёте', None, '50-к', '2024-03-01',
                          w.mgr_a1))
        old = w.get(path, token=self.tok('head'))
        assert_status(old, 200)
        old = old.json
        self.assertTrue(old['revoked'])
        self.assertEqual(old['version'], 2)
        rv = old['revocation']
        self.assertEqual((rv['decision_id'], rv['act_number'], rv['act_date'], rv['reason'],
                          rv['revoked_by_user_id'], rv['revoked_by_login']),
                         (rev['id'], '50-к', '2024-02-10', 'Ошибка в расчёте',
                          w.user('regional_operator').id, w.user('regional_operator').login))
        self.assertIsNotNone(rv['revoked_at'])
        for k in ('type', 'basis', 'amount', 'act_number', 'effective_on'):
            self.assertEqual(old[k], d[k], k)
        # once only, and a revocation is not revoked
        doc = assert_problem(self.revoke(d['id']), 409)
        self.assertIn('already revoked', doc['detail'])
        assert_problem(self.revoke(d['id'], etag='"1"'), 409)
        assert_problem(self.revoke(rev['id']), 409)
        ids = {x['id'] for x in w.walk(DECS, self.tok('regional_operator'), revoked='true')[0]}
        self.assertIn(d['id'], ids)
        self.assertNotIn(rev['id'], ids)
        # a municipal decision is revoked by its municipality
        m = self.create(self.tok('municipal_operator'), type='commendation', amount=None)
        r = self.revoke(m['id'], token=self.tok('municipal_operator'))
        assert_status(r, 201)
        self.assertEqual(r.json['issuer_role'], 'municipal_operator')
        # an idempotent revoke replays
        n = self.create(type='training_referral', amount=None)
        npath = '%s/%d' % (DECS, n['id'])
        body = {'reason': 'Отмена', 'act_number': '77', 'act_date': '2024-04-01'}
        first = w.call('POST', npath + '/revoke', body, self.tok('regional_operator'),
                       headers={'If-Match': '"1"', 'Idempotency-Key': 'rv-1'})
        again = w.call('POST', npath + '/revoke', body, self.tok('regional_operator'),
                       headers={'If-Match': '"1"', 'Idempotency-Key': 'rv-1'})
        assert_status(first, 201)
        assert_status(again, 201)
        self.assertEqual(first.json['id'], again.json['id'])


if __name__ == '__main__':
    harness.main()
