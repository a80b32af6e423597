#!/usr/bin/python3
"""
test_recommendations.py - addressed recommendations over HTTP: creation to a head or a
municipality (who may address whom, codes against the campaign's catalog), every transition
and its illegal neighbours (409 naming the allowed moves), the wrong actor (403 naming who
may), report and rework comment, If-Match, history, drafts generated from planted weak
direction scores (weakest indicators, idempotence, withdrawal), drafts hidden from the
addressee, overdue under a controlled clock (EFFMON_NOW), and scope (other region 404, a
head sees only its own).

Campaigns, submissions and values are planted by SQL and scored by em_rescore().
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem, assert_status  # noqa: E402
import registry_fixtures as rf  # noqa: E402
from registry_fixtures import API, assert_fields, url  # noqa: E402

RECS = API + '/recommendations'


def plant_campaign(w, region, year, indicators, submissions, status='closed', low=40):
    """A campaign of region with indicators [(code, direction, min, max)] (numbers, polarity
    up, weight 1 for schools) and submissions [(organization, manager, status, {code: value})];
    scored by em_rescore. Returns (campaign id, {organization: submission id})."""
    cid = int(w.sql(
        "INSERT INTO campaigns (region_id, year, title, opens_at, closes_at, status, "
        "threshold_low) VALUES (%d, %d, 'Мониторинг %d', '%d-01-10T00:00:00+03', "
        "'%d-03-01T00:00:00+03', '%s', %s) RETURNING id"
        % (region, year, year, year, year, status, low)))
    for pos, (code, direction, lo, hi) in enumerate(indicators):
        w.sql("INSERT INTO indicators (campaign_id, region_id, code, name, direction_id, "
              "value_type, min_value, max_value, weights, position) SELECT %d, %d, '%s', "
              "'Показатель %s', d.id, 'number', %s, %s, '{\"school\": 1}', %d FROM directions d "
              "WHERE d.code = '%s'" % (cid, region, code, code, lo, hi, pos, direction))
    subs = {}
    for org, mgr, st, values in submissions:
        sid = int(w.sql(
            "INSERT INTO submissions (campaign_id, organization_id, region_id, municipality_id, "
            "kind, manager_id, status, approved_at) SELECT %d, o.id, o.region_id, "
            "o.municipality_id, o.kind, %s, '%s', CASE WHEN '%s' = 'approved' THEN now() END "
            "FROM organizations o WHERE o.id = %d RETURNING id"
            % (cid, mgr if mgr else 'NULL', st, st, org)))
        subs[org] = sid
        if values:
            rows = ', '.join("('%s', %s)" % (k, v) for k, v in values.items())
            w.sql("INSERT INTO submission_values (submission_id, indicator_id, value) "
                  "SELECT %d, i.id, x.v FROM (VALUES %s) x(code, v) JOIN indicators i "
                  "ON i.campaign_id = %d AND i.code = x.code" % (sid, rows, cid))
    if subs:
        w.sql("SELECT em_rescore(ARRAY[%s]::bigint[])" % ','.join(str(s) for s in subs.values()))
    return cid, subs


# Network: four indicators, so that the three weakest are a choice; management: two.
INDICATORS = [('net1', 'network', 0, 100), ('net2', 'network', 0, 100),
              ('net3', 'network', 0, 100), ('net4', 'network', 0, 100),
              ('man1', 'management', 0, 100), ('man2', 'management', 0, 100)]
WEAK_NET = {'net1': 30, 'net2': 5, 'net3': 50, 'net4': 10}       # 23.75: below 40
STRONG_NET = {'net1': 95, 'net2': 95, 'net3': 95, 'net4': 95}
STRONG_MAN = {'man1': 90, 'man2': 90}                            # 90
WEAK_MAN = {'man1': 20, 'man2': 30}                              # 25


class RecommendationsTest(harness.DaemonTestCase):
    threads = 4

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        w = cls.w = rf.World(cls.daemon, cls.cluster)
        cls.head_a1b = w.cli_user('head', w.region_a, w.muni_a1, w.org_a1b, w.mgr_a1b)
        cls.campaign, cls.subs = plant_campaign(w, w.region_a, 2023, INDICATORS, [
            (w.org_a1, w.mgr_a1, 'approved', dict(WEAK_NET, **STRONG_MAN)),
            (w.org_a1b, w.mgr_a1b, 'approved', dict(STRONG_NET, **STRONG_MAN)),
            (w.org_a2, w.mgr_a2, 'approved', dict(WEAK_NET, **WEAK_MAN)),
        ])
        cls.campaign_b, _ = plant_campaign(w, w.region_b, 2023, INDICATORS, [
            (w.org_b1, w.mgr_b1, 'approved', dict(WEAK_NET, **WEAK_MAN))])
        # A campaign for manual recommendations, so that drafts of cls.campaign stay countable.
        cls.campaign2, _ = plant_campaign(w, w.region_a, 2022, INDICATORS, [])

    # --- helpers

    def tok(self, role, side='A'):
        return self.w.token(role, side)

    def call(self, method, path, body=None, token=None, headers=None):
        return self.w.call(method, path, body=body, token=token, headers=headers)

    def create(self, token=None, expect=201, **over):
        body = {'campaign_id': self.campaign2, 'addressee_manager_id': self.w.mgr_a1,
                'directions': ['network'], 'indicators': ['net2'],
                'text': 'Повысить долю выпускников, получивших аттестат', 'due_on': '2030-12-31'}
        body.update(over)
        body = {k: v for k, v in body.items() if v is not None}
        r = self.call('POST', RECS, body, token or self.tok('regional_operator'))
        assert_status(r, expect, 'POST /recommendations %r' % body)
        return r.json

    def move(self, rid, to, token, expect=200, **extra):
        path = '%s/%d' % (RECS, rid)
        body = dict(to=to, **extra)
        r = self.call('POST', path + '/transitions', body, token,
                      headers={'If-Match': self.w.etag(path)})
        if expect >= 400:
            assert_problem(r, expect, 'move %d to %s' % (rid, to))
        else:
            assert_status(r, expect, 'move %d to %s' % (rid, to))
        return r

    # ================================================================ create

    def test_create_and_read(self):
        w = self.w
        r = self.call('POST', RECS, {'campaign_id': self.campaign2,
                                     'addressee_manager_id': w.mgr_a1,
                                     'directions': ['network', 'management'],
                                     'indicators': ['net1'], 'text': 'Текст',
                                     'due_on': '2031-01-31'},
                      self.tok('regional_operator'), headers={'Idempotency-Key': 'reco-1'})
        assert_status(r, 201)
        rec = r.json
        self.assertEqual(r.headers['location'], '%s/%d' % (RECS, rec['id']))
        self.assertEqual(r.headers['etag'], '"1"')
        for k, v in (('status', 'issued'), ('issuer_level', 'regional'), ('overdue', False),
                     ('organization_id', w.org_a1), ('municipality_id', w.muni_a1),
                     ('region_id', w.region_a), ('directions', ['network', 'management']),
                     ('indicators', ['net1']), ('addressee_municipality_id', None),
                     ('generated', False), ('report', None)):
            self.assertEqual(rec[k], v, k)
        self.assertIsNotNone(rec['issued_at'])
        # the same key replays
        again = self.call('POST', RECS, {'campaign_id': self.campaign2,
                                         'addressee_manager_id': w.mgr_a1,
                                         'directions': ['network', 'management'],
                                         'indicators': ['net1'], 'text': 'Текст',
                                         'due_on': '2031-01-31'},
                          self.tok('regional_operator'), headers={'Idempotency-Key': 'reco-1'})
        assert_status(again, 201)
        self.assertEqual(again.json['id'], rec['id'])
        self.assertEqual(again.headers.get('idempotent-replayed'), 'true')
        # the head reads it; the other head of the municipality does not
        assert_status(w.get('%s/%d' % (RECS, rec['id']), token=self.tok('head')), 200)
        assert_problem(w.get('%s/%d' % (RECS, rec['id']), token=self.head_a1b.token), 404)
        assert_status(w.get('%s/%d' % (RECS, rec['id']), token=self.tok('expert')), 200)
        assert_status(w.get('%s/%d' % (RECS, rec['id']),
                            token=self.tok('municipal_operator')), 200)
        for role in ('regional_operator', 'municipal_operator', 'expert', 'head'):
            assert_problem(w.get('%s/%d' % (RECS, rec['id']), token=self.tok(role, 'B')), 404,
                           role + ' of region B')
        assert_problem(w.get('%s/%d' % (RECS, rec['id']), token=self.tok('portal')), 403)
        assert_problem(w.get('%s/%d' % (RECS, rec['id'])), 401)
        # conditional GET
        r = w.get('%s/%d' % (RECS, rec['id']), token=self.tok('head'),
                  headers={'If-None-Match': '"1"'})
        assert_status(r, 304)
        # a municipal operator addresses a head of its municipality
        mine = self.create(self.tok('municipal_operator'))
        self.assertEqual(mine['issuer_level'], 'municipal')
        self.assertEqual(mine['issuer_municipality_id'], w.muni_a1)

    def test_create_refusals(self):
        w = self.w
        before = w.audit_count()
        reg = self.tok('regional_operator')
        mun = self.tok('municipal_operator')
        base = {'campaign_id': self.campaign2, 'addressee_manager_id': w.mgr_a1,
                'text': 'Текст', 'due_on': '2030-01-01'}
        cases = [
            (dict(base, addressee_municipality_id=w.muni_a1), ['addressee_manager_id'], reg),
            ({k: v for k, v in base.items() if k != 'addressee_manager_id'},
             ['addressee_manager_id'], reg),
            (dict(base, directions=['network', 'nowhere']), ['directions[1]'], reg),
            (dict(base, directions=['network', 'network']), ['directions[1]'], reg),
            (dict(base, indicators=['net1', 'zzz']), ['indicators[1]'], reg),
            (dict(base, indicators='net1'), ['indicators'], reg),
            (dict(base, campaign_id=self.campaign_b), ['campaign_id'], reg),
            (dict(base, campaign_id=10 ** 9), ['campaign_id'], reg),
            (dict(base, addressee_manager_id=w.mgr_b1), ['addressee_manager_id'], reg),
            (dict(base, addressee_manager_id=w.mgr_a2), ['addressee_manager_id'], mun),
            (dict(base, due_on='2030-02-30'), ['due_on'], reg),
            (dict(base, text=''), ['text'], reg),
            (dict(base, status='accepted'), ['status'], reg),
            (dict(base, colour='red'), ['colour'], reg),
        ]
        for body, fields, token in cases:
            r = self.call('POST', RECS, body, token)
            assert_fields(r, 400, fields, repr(body))
        # a municipal operator may not address a municipality: who may is named
        body = {k: v for k, v in base.items() if k != 'addressee_manager_id'}
        body['addressee_municipality_id'] = w.muni_a1
        doc = assert_problem(self.call('POST', RECS, body, mun), 403)
        self.assertIn('regional operator', doc['detail'])
        for role in ('head', 'expert', 'portal'):
            assert_problem(self.call('POST', RECS, base, self.tok(role)), 403, role)
        assert_problem(self.call('POST', RECS, base, None), 401)
        self.assertEqual(w.audit_count(), before, 'a refused create was audited')

    # ================================================================ transitions

    def test_manager_path_and_illegal_neighbours(self):
        w = self.w
        head, reg, mun = self.tok('head'), self.tok('regional_operator'), \
            self.tok('municipal_operator')
        rid = self.create()['id']
        # from issued: only acknowledged, by the addressee
        for to in ('reported', 'accepted', 'draft', 'issued'):
            if to == 'draft':
                r = self.move(rid, to, head, 400)
                continue
            extra = {'report': 'Отчёт'} if to == 'reported' else {}
            doc = self.move(rid, to, head, 409, **extra).json
            self.assertIn('allowed acknowledged', doc['detail'], to)
        for token in (reg, mun):
            doc = self.move(rid, 'acknowledged', token, 403).json
            self.assertIn('addressee', doc['detail'])
        self.move(rid, 'acknowledged', self.head_a1b.token, 404)
        r = self.move(rid, 'acknowledged', head)
        self.assertEqual(r.json['status'], 'acknowledged')
        self.assertIsNotNone(r.json['acknowledged_at'])
        # from acknowledged: only reported, with a report
        for to in ('accepted', 'issued', 'acknowledged'):
            doc = self.move(rid, to, head, 409).json
            self.assertIn('allowed reported', doc['detail'], to)
        assert_fields(self.move(rid, 'reported', head, 400), 400, ['report'])
        assert_fields(self.move(rid, 'acknowledged', head, 400, report='x'), 400, ['report'])
        self.move(rid, 'reported', reg, 403, report='Отчёт')
        r = self.move(rid, 'reported', head, report='Введены профильные классы')
        self.assertEqual(r.json['report'], 'Введены профильные классы')
        # from reported: accepted or issued (rework), by the issuing side
        doc = self.move(rid, 'acknowledged', reg, 409).json
        self.assertIn('allowed accepted, issued', doc['detail'])
        doc = self.move(rid, 'accepted', head, 403).json
        self.assertIn('issuing side', doc['detail'])
        # a municipal operator does not accept what the region issued
        self.move(rid, 'accepted', mun, 403)
        assert_fields(self.move(rid, 'issued', reg, 400), 400, ['comment'])
        r = self.move(rid, 'issued', reg, comment='Нет подтверждающих документов')
        self.assertEqual(r.json['status'], 'issued')
        self.assertEqual(r.json['rework_comment'], 'Нет подтверждающих документов')
        self.move(rid, 'acknowledged', head)
        self.move(rid, 'reported', head, report='Документы приложены')
        r = self.move(rid, 'accepted', reg)
        self.assertEqual(r.json['status'], 'accepted')
        self.assertIsNotNone(r.json['accepted_at'])
        # accepted is final
        for to in ('issued', 'acknowledged', 'reported', 'withdrawn'):
            extra = {'report': 'Отчёт'} if to == 'reported' else {}
            doc = self.move(rid, to, reg, 409, **extra).json
            self.assertIn('final', doc['detail'])
        # the history, oldest first, readable by the head
        r = w.get('%s/%d/history' % (RECS, rid), token=head)
        assert_status(r, 200)
        steps = [(h['action'], h['from'], h['to']) for h in r.json['items']]
        self.assertEqual(steps, [
            ('create', None, 'issued'), ('transition', 'issued', 'acknowledged'),
            ('transition', 'acknowledged', 'reported'), ('transition', 'reported', 'issued'),
            ('transition', 'issued', 'acknowledged'), ('transition', 'acknowledged', 'reported'),
            ('transition', 'reported', 'accepted')])
        self.assertEqual(r.json['items'][3]['comment'], 'Нет подтверждающих документов')
        self.assertEqual(r.json['items'][2]['report'], 'Введены профильные классы')
        r = w.get(url('%s/%d/history' % (RECS, rid), limit=2), token=head)
        self.assertEqual(len(r.json['items']), 2)
        self.assertIsNotNone(r.json['next'])
        assert_problem(w.get('%s/%d/history' % (RECS, rid), token=self.head_a1b.token), 404)
        assert_problem(w.get('%s/%d/history' % (RECS, rid),
                             token=self.tok('regional_operator', 'B')), 404)

    def test_municipal_issuer_and_municipality_addressee(self):
        w = self.w
        reg, mun = self.tok('regional_operator'), self.tok('municipal_operator')
        head = self.tok('head')
        # a municipal recommendation is accepted by that municipality (or the region)
        rid = self.create(mun)['id']
        self.move(rid, 'acknowledged', head)
        self.move(rid, 'reported', head, report='Сделано')
        self.move(rid, 'accepted', mun)
        # to a municipality: its operator is the addressee, the head does not see it
        rid = self.create(reg, addressee_manager_id=None, addressee_municipality_id=w.muni_a1)['id']
        rec = w.get('%s/%d' % (RECS, rid), token=mun).json
        self.assertEqual(rec['organization_id'], None)
        self.assertEqual(rec['municipality_id'], w.muni_a1)
        assert_problem(w.get('%s/%d' % (RECS, rid), token=head), 404)
        self.move(rid, 'acknowledged', head, 404)
        self.move(rid, 'acknowledged', self.tok('municipal_operator', 'B'), 404)
        self.move(rid, 'acknowledged', reg, 403)
        self.move(rid, 'acknowledged', mun)
        self.move(rid, 'reported', mun, report='Отчёт муниципалитета')
        self.move(rid, 'accepted', mun, 403)
        self.move(rid, 'accepted', reg)

    def test_if_match_and_patch(self):
        w = self.w
        reg = self.tok('regional_operator')
        rec = self.create()
        path = '%s/%d' % (RECS, rec['id'])
        assert_problem(self.call('POST', path + '/transitions', {'to': 'acknowledged'},
                                 self.tok('head')), 428)
        assert_problem(self.call('POST', path + '/transitions', {'to': 'acknowledged'},
                                 self.tok('head'), headers={'If-Match': '"7"'}), 412)
        # an issued recommendation is not changed
        r = self.call('PATCH', path, {'text': 'Другое'}, reg, headers={'If-Match': '"1"'})
        assert_problem(r, 409)
        assert_problem(self.call('PATCH', path, {'text': 'x'}, self.tok('head'),
                                 headers={'If-Match': '"1"'}), 403)
        # a draft is, by the issuing side
        draft = self.create(status='draft')
        self.assertEqual(draft['status'], 'draft')
        self.assertIsNone(draft['issued_at'])
        dpath = '%s/%d' % (RECS, draft['id'])
        assert_problem(self.call('PATCH', dpath, {'text': 'x'}, reg), 428)
        assert_fields(self.call('PATCH', dpath, {'indicators': ['nope']}, reg,
                                headers={'If-Match': '"1"'}), 400, ['indicators[0]'])
        assert_fields(self.call('PATCH', dpath, {'status': 'issued'}, reg,
                                headers={'If-Match': '"1"'}), 400, ['status'])
        r = self.call('PATCH', dpath, {'text': 'Уточнённый текст', 'due_on': '2031-06-30',
                                       'indicators': ['net1', 'net3']}, reg,
                      headers={'If-Match': '"1"'})
        assert_status(r, 200)
        self.assertEqual((r.json['text'], r.json['due_on'], r.json['indicators'],
                          r.json['version']),
                         ('Уточнённый текст', '2031-06-30', ['net1', 'net3'], 2))
        assert_problem(self.call('PATCH', dpath, {'text': 'y'}, reg,
                                 headers={'If-Match': '"1"'}), 412)
        # a municipal operator does not change the region's draft (nor see it)
        assert_problem(self.call('PATCH', dpath, {'text': 'y'}, self.tok('municipal_operator'),
                                 headers={'If-Match': '"2"'}), 404)
        # the draft is confirmed by the issuing side; then the head sees it
        assert_problem(w.get(dpath, token=self.tok('head')), 404)
        r = self.move(draft['id'], 'issued', reg)
        self.assertIsNotNone(r.json['issued_at'])
        assert_status(w.get(dpath, token=self.tok('head')), 200)

    # ================================================================ drafts

    def test_drafts(self):
        w = self.w
        reg = self.tok('regional_operator')
        path = '%s/campaigns/%d/recommendation-drafts' % (API, self.campaign)
        for role in ('municipal_operator', 'head', 'expert', 'portal'):
            assert_problem(self.call('POST', path, {}, self.tok(role)), 403, role)
        assert_problem(self.call('POST', path, {}, self.tok('regional_operator', 'B')), 404)
        assert_fields(self.call('POST', path, {'threshold': 101}, reg), 400, ['threshold'])
        assert_fields(self.call('POST', path, {'limit': 3}, reg), 400, ['limit'])
        before = w.audit_count()
        # no body: the campaign's low threshold (40)
        r = self.call('POST', path, None, reg)
        assert_status(r, 200)
        doc = r.json
        self.assertEqual((doc['created'], doc['skipped'], doc['threshold']), (3, 0, 40))
        self.assertEqual(w.audit_count(), before + 3)
        got = sorted((d['addressee_manager_id'], d['directions'][0]) for d in doc['items'])
        self.assertEqual(got, sorted([(w.mgr_a1, 'network'), (w.mgr_a2, 'network'),
                                      (w.mgr_a2, 'management')]))
        for d in doc['items']:
            self.assertEqual((d['status'], d['generated'], d['campaign_id']),
                             ('draft', True, self.campaign))
            if d['directions'] == ['network']:
                # the three weakest, weakest first: net2 (5), net4 (10), net1 (30)
                self.assertEqual(d['indicators'], ['net2', 'net4', 'net1'])
                self.assertIn('23.75', d['text'])
                self.assertIn('net2', d['text'])
                self.assertNotIn('net3', d['text'])
            else:
                self.assertEqual(d['indicators'], ['man1', 'man2'])
        # idempotent: nothing new for the same campaign, manager and direction
        doc = self.call('POST', path, {}, reg).json
        self.assertEqual((doc['created'], doc['skipped'], doc['items']), (0, 3, []))
        # a higher threshold catches management of a1 (90 < 95), a1b's directions
        # (95 is not below 95, 90 is) and skips the three drafts that exist
        doc = self.call('POST', path, {'threshold': 95, 'due_on': '2031-03-01'}, reg).json
        got = sorted((d['addressee_manager_id'], d['directions'][0]) for d in doc['items'])
        self.assertEqual(got, sorted([(w.mgr_a1, 'management'), (w.mgr_a1b, 'management')]))
        self.assertEqual(doc['skipped'], 3)
        self.assertTrue(all(d['due_on'] == '2031-03-01' for d in doc['items']))
        # drafts are the issuer's: the head and the municipality do not see them
        listed = w.walk(RECS, self.tok('head'), campaign_id=self.campaign)[0]
        self.assertEqual(listed, [])
        listed = w.walk(RECS, self.tok('municipal_operator'), campaign_id=self.campaign)[0]
        self.assertEqual(listed, [])
        drafts = w.walk(RECS, reg, campaign_id=self.campaign, status='draft')[0]
        self.assertEqual(len(drafts), 5)
        assert_problem(w.get('%s/%d' % (RECS, drafts[0]['id']), token=self.tok('head')), 404)
        # a withdrawn draft lets the pair be drafted again
        a1_net = [d for d in drafts if d['addressee_manager_id'] == w.mgr_a1
                  and d['directions'] == ['network']][0]
        self.move(a1_net['id'], 'withdrawn', reg)
        doc = self.call('POST', path, {}, reg).json
        self.assertEqual((doc['created'], doc['skipped']), (1, 2))
        # a confirmed draft is an issued recommendation the head sees
        self.move(doc['items'][0]['id'], 'issued', reg)
        listed = w.walk(RECS, self.tok('head'), campaign_id=self.campaign)[0]
        self.assertEqual([x['id'] for x in listed], [doc['items'][0]['id']])
        # another region's campaign is not reachable
        assert_problem(self.call('POST', '%s/campaigns/%d/recommendation-drafts'
                                 % (API, self.campaign_b), {}, reg), 404)

    # ================================================================ overdue, lists

    def test_overdue_and_lists(self):
        w = self.w
        reg, head = self.tok('regional_operator'), self.tok('head')
        late = self.create(due_on='2020-01-10')
        self.assertTrue(late['overdue'])
        done = self.create(due_on='2020-01-10')
        self.move(done['id'], 'acknowledged', head)
        self.move(done['id'], 'reported', head, report='Готово')
        self.move(done['id'], 'accepted', reg)
        self.assertFalse(w.get('%s/%d' % (RECS, done['id']), token=reg).json['overdue'])
        ids = {x['id'] for x in w.walk(RECS, reg, overdue='true')[0]}
        self.assertIn(late['id'], ids)
        self.assertNotIn(done['id'], ids)
        ids = {x['id'] for x in w.walk(RECS, reg, overdue='false')[0]}
        self.assertIn(done['id'], ids)
        self.assertNotIn(late['id'], ids)
        assert_fields(w.get(url(RECS, overdue='yes'), token=reg), 400, ['overdue'])
        assert_fields(w.get(url(RECS, status='lost', campaign_id='x'), token=reg), 400,
                      ['status', 'campaign_id'])
        assert_fields(w.get(url(RECS, sort='name'), token=reg), 400, ['sort'])
        # the controlled clock: a test build's EFFMON_NOW is the database's today
        for now, overdue in (('2020-01-09', False), ('2020-01-10', False),
                             ('2020-01-11', True)):
            d = harness.Daemon(self.cluster, env={'EFFMON_NOW': now,
                                                   'EFFMON_JWT_SECRET': self.daemon.secret},
                               migrate=False)
            try:
                r = d.request('GET', '%s/%d' % (RECS, late['id']), token=reg)
                assert_status(r, 200)
                self.assertEqual(r.json['overdue'], overdue, now)
                r = d.request('GET', url(RECS, overdue='true'), token=reg)
                self.assertEqual(late['id'] in {x['id'] for x in r.json['items']}, overdue, now)
            finally:
                d.destroy()
        # lists hold nothing outside the caller's scope
        for role in ('regional_operator', 'municipal_operator', 'head', 'expert'):
            items = w.walk(RECS, self.tok(role, 'B'))[0]
            self.assertTrue(all(x['region_id'] == w.region_b for x in items), role)
        mine = w.walk(RECS, head)[0]
        self.assertTrue(mine)
        self.assertTrue(all(x['addressee_manager_id'] == w.mgr_a1 for x in mine))
        self.assertEqual(w.walk(RECS, self.head_a1b.token,
                                addressee_manager_id=w.mgr_a1)[0], [])


if __name__ == '__main__':
    harness.main()
