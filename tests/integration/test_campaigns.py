#!/usr/bin/python3
"""
test_campaigns.py - monitoring campaigns and their indicator catalogs over HTTP: creation
with field-level validation, catalog copy from the previous campaign, PATCH by status,
the draft -> open -> closed -> published transitions (opening creates every active
organization's draft submission with its current head, scored), the frozen catalog,
indicators (validation, filters, pagination, PATCH, DELETE), If-Match (428/412),
Idempotency-Key replays, roles (403) and scope (404); and `effmond load-demo`'s
monitoring part (catalog, a published 2025 campaign with approved scored submissions,
an open 2026 one), loaded once, and added to an older demo install.

The registry world (regions A and B, users of every role) comes from registry_fixtures.py.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem, assert_status  # noqa: E402
import registry_fixtures as rf  # noqa: E402
from registry_fixtures import API, assert_fields, url  # noqa: E402

OPENS = '2026-03-01T00:00:00+03:00'
CLOSES = '2026-04-30T23:59:59+03:00'
DIRECTIONS = ['network', 'management', 'student_results', 'reserve', 'objectivity',
              'conditions', 'individualization', 'career_guidance',
              'management_qualification', 'teacher_development']
WRITERS = ('admin', 'regional_operator')
NON_WRITERS = ('municipal_operator', 'head', 'expert', 'portal')


class CampaignWorld(rf.World):
    """The registry world plus campaign and indicator helpers."""

    def __init__(self, daemon, cluster):
        super().__init__(daemon, cluster)
        self.years = iter(range(2000, 2101))

    def year(self):
        with self._code_lock:
            return next(self.years)

    def campaign_body(self, region, /, year=None, **over):
        """A valid body; by default with an empty catalog (catalog_from null)."""
        b = {'region_id': region, 'year': year or self.year(),
             'title': 'Мониторинг эффективности руководителей', 'goals': ['Цель 1'],
             'opens_at': OPENS, 'closes_at': CLOSES, 'catalog_from': None}
        b.update(over)
        return {k: v for k, v in b.items() if v is not Ellipsis}

    def new_campaign(self, region=None, /, token=None, **over):
        return self.create(API + '/campaigns', self.campaign_body(region or self.region_a,
                                                                  **over), token)

    def indicator_body(self, code=None, **over):
        b = {'code': 'ind_%d' % self.seq.next() if code is None else code, 'name': 'Показатель',
             'direction': 'management', 'value_type': 'number', 'min_value': 0,
             'max_value': 10, 'weights': {'school': 1}}
        b.update(over)
        return {k: v for k, v in b.items() if v is not Ellipsis}

    def new_indicator(self, campaign_id, token=None, **over):
        return self.create('%s/campaigns/%d/indicators' % (API, campaign_id),
                           self.indicator_body(**over), token)

    def move(self, campaign_id, to, token=None, expect=200, comment=None):
        path = '%s/campaigns/%d' % (API, campaign_id)
        body = {'to': to}
        if comment:
            body['comment'] = comment
        r = self.call('POST', path + '/transitions', body=body,
                      token=token or self.admin.token, headers={'If-Match': self.etag(path)})
        assert_status(r, expect, 'campaign %d -> %s' % (campaign_id, to))
        return r

    def fresh_region(self, orgs=3):
        """A region of its own (admin-made) with one municipality and `orgs` schools."""
        region = self.new_region()['id']
        muni = self.new_municipality(region)['id']
        ids = [self.new_organization(muni)['id'] for _ in range(orgs)]
        return region, muni, ids

    def count(self, query):
        return int(self.sql(query))


class CampaignTest(harness.DaemonTestCase):
    threads = 4

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.w = CampaignWorld(cls.daemon, cls.cluster)

    # --- helpers

    def tok(self, role, side='A'):
        return self.w.token(role, side)

    def refused(self, method, path, body, status, fields, token=None, headers=None):
        """A refused write: the problem names fields, and no audit row is added."""
        w = self.w
        before = w.audit_count()
        r = w.call(method, path, body=body, token=token or w.admin.token, headers=headers)
        what = '%s %s %s' % (method, path, json.dumps(body, ensure_ascii=False)[:300])
        assert_fields(r, status, fields, what)
        self.assertEqual(w.audit_count(), before, 'a refused write was audited: ' + what)
        return r

    def assert_detail(self, r, status, *words):
        doc = assert_problem(r, status)
        for word in words:
            self.assertIn(word, doc.get('detail', ''), r)
        return doc

    # ================================================================ campaigns

    def test_campaign_create_and_read(self):
        w = self.w
        body = w.campaign_body(w.region_a, goals=['Повысить качество', 'Снизить отток'])
        r = w.call('POST', API + '/campaigns', body=body, token=self.tok('regional_operator'))
        assert_status(r, 201, 'create as the regional operator')
        c = r.json
        self.assertEqual(r.headers.get('location'), '%s/campaigns/%d' % (API, c['id']))
        self.assertEqual(r.headers.get('etag'), '"1"')
        for k in ('id', 'region_id', 'year', 'title', 'goals', 'opens_at', 'closes_at',
                  'thresholds', 'status', 'catalog_source_id', 'previous_campaign_id',
                  'opened_at', 'closed_at', 'published_at', 'indicator_count', 'created_at',
                  'updated_at', 'version'):
            self.assertIn(k, c)
        self.assertEqual(c['status'], 'draft')
        self.assertEqual(c['thresholds'], {'high': 80, 'sufficient': 60, 'low': 40})
        self.assertEqual(c['goals'], ['Повысить качество', 'Снизить отток'])
        self.assertEqual(c['indicator_count'], 0)
        self.assertIsNone(c['opened_at'])
        self.assertRegex(c['opens_at'], r'^2026-0[23]-\d\dT\d\d:\d\d:\d\d([+-]\d\d:\d\d|Z)$')
        self.assertEqual(w.count("SELECT count(*) FROM audit_events WHERE entity = 'campaign' "
                                 "AND entity_id = %d AND action = 'create'" % c['id']), 1)
        one = '%s/campaigns/%d' % (API, c['id'])
        # every role of region A reads it; region B's roles do not see it
        for role in rf.ROLES:
            assert_status(w.get(one, token=self.tok(role)), 200, 'GET as ' + role)
            if role != 'admin':
                assert_problem(w.get(one, token=self.tok(role, 'B')), 404, 'GET as B ' + role)
                items, _ = w.walk(API + '/campaigns', self.tok(role, 'B'))
                self.assertNotIn(c['id'], [i['id'] for i in items], role)
        assert_problem(w.get(one), 401)
        r = w.get(one, token=self.tok('head'), headers={'If-None-Match': '"1"'})
        self.assertEqual(r.status, 304)
        # list and filters
        items, _ = w.walk(API + '/campaigns', self.tok('portal'), year=c['year'])
        self.assertEqual([i['id'] for i in items], [c['id']])
        items, _ = w.walk(API + '/campaigns', w.admin.token, region_id=w.region_a,
                          status='draft')
        self.assertIn(c['id'], [i['id'] for i in items])
        self.assertTrue(all(i['region_id'] == w.region_a and i['status'] == 'draft'
                            for i in items))
        items, _ = w.walk(API + '/campaigns', w.admin.token, status='published',
                          region_id=w.region_a)
        self.assertNotIn(c['id'], [i['id'] for i in items])
        for bad in ({'status': 'archived'}, {'region_id': 'x'}, {'year': '-1'},
                    {'sort': 'year'}, {'limit': '0'}):
            assert_fields(w.get(url(API + '/campaigns', **bad), token=w.admin.token), 400,
                          list(bad))
        # pagination by title
        items, pages = w.walk(API + '/campaigns', w.admin.token, limit=1, sort='name')
        self.assertGreaterEqual(pages, 1)
        self.assertEqual(len({i['id'] for i in items}), len(items))

    def test_campaign_validation(self):
        w = self.w
        path = API + '/campaigns'
        cases = [
            ({'year': 1999}, ['year']), ({'year': 2101}, ['year']), ({'year': '2026'}, ['year']),
            ({'year': ...}, ['year']), ({'region_id': ...}, ['region_id']),
            ({'region_id': 'one'}, ['region_id']), ({'title': ''}, ['title']),
            ({'title': 'Т' * 201}, ['title']), ({'title': ...}, ['title']),
            ({'goals': 'одна цель'}, ['goals']), ({'goals': ['ц'] * 51}, ['goals']),
            ({'goals': ['a', '']}, ['goals[1]']), ({'goals': ['я' * 1001]}, ['goals[0]']),
            ({'goals': ['a', 'b', 3]}, ['goals[2]']), ({'goals': None}, ['goals']),
            ({'opens_at': ...}, ['opens_at']), ({'closes_at': ...}, ['closes_at']),
            ({'opens_at': '2026-03-01'}, ['opens_at']),
            ({'opens_at': '2026-03-01T00:00:00'}, ['opens_at']),  # no offset
            ({'opens_at': '2026-02-30T00:00:00Z'}, ['opens_at']),
            ({'closes_at': '2026-04-30 10:00:00+03:00'}, ['closes_at']),
            ({'closes_at': 20260430}, ['closes_at']),
            ({'closes_at': OPENS}, ['closes_at']),  # not later
            ({'opens_at': '2026-03-01T12:00:00+03:00', 'closes_at': '2026-03-01T09:00:00Z'},
             ['closes_at']),  # same instant
            ({'thresholds': 80}, ['thresholds']),
            ({'thresholds': {'high': 101, 'sufficient': 60, 'low': 40}}, ['thresholds.high']),
            ({'thresholds': {'high': 80, 'sufficient': 'x', 'low': 40}},
             ['thresholds.sufficient']),
            ({'thresholds': {'high': 80, 'sufficient': 60}}, ['thresholds.low']),
            ({'thresholds': {'high': 80, 'sufficient': 60, 'low': -1}}, ['thresholds.low']),
            ({'thresholds': {'high': 80, 'sufficient': 60, 'low': 40, 'top': 95}},
             ['thresholds.top']),
            # a long key in Cyrillic is named whole, or cut on a character boundary: an error
            # is never lost to a name cut inside a character
            ({'thresholds': {'high': 80, 'sufficient': 60, 'low': 40, 'x' + 'б' * 25: 1}},
             ['thresholds.x' + 'б' * 25]),
            ({'thresholds': {'high': 80, 'sufficient': 60, 'low': 40, 'x' + 'ю' * 100: 1}},
             ['thresholds.x' + 'ю' * 25]),
            ({'thresholds': {'high': 60, 'sufficient': 60, 'low': 40}}, ['thresholds']),
            ({'thresholds': {'high': 80, 'sufficient': 30, 'low': 40}}, ['thresholds']),
            ({'catalog_from': 'x'}, ['catalog_from']), ({'catalog_from': 0}, ['catalog_from']),
            ({'status': 'open'}, ['status']), ({'id': 1}, ['id']),
            ({'version': 1}, ['version']), ({'indicators': []}, ['indicators']),
            # every error at once
            ({'year': 3000, 'title': '', 'goals': [''], 'opens_at': 'x', 'foo': 1},
             ['year', 'title', 'goals[0]', 'opens_at', 'foo']),
        ]
        for over, fields in cases:
            self.refused('POST', path, w.campaign_body(w.region_a, **over), 400, fields)
        # the region must be the caller's: B's region is named, not created in
        self.refused('POST', path, w.campaign_body(w.region_b), 400, ['region_id'],
                     token=self.tok('regional_operator'))
        self.refused('POST', path, w.campaign_body(999999), 400, ['region_id'])
        # catalog_from must be a campaign of the same region
        other = w.new_campaign(w.region_b)
        self.refused('POST', path, w.campaign_body(w.region_a, catalog_from=other['id']), 400,
                     ['catalog_from'])
        self.refused('POST', path, w.campaign_body(w.region_a, catalog_from=987654), 400,
                     ['catalog_from'])
        # not JSON / not an object
        r = w.call('POST', path, body=[1], token=w.admin.token)
        assert_problem(r, 400)

    def test_campaign_duplicate_year_and_idempotency(self):
        w = self.w
        path = API + '/campaigns'
        c = w.new_campaign()
        self.refused('POST', path, w.campaign_body(w.region_a, year=c['year']), 409, ['year'])
        # the same year in another region is fine
        w.new_campaign(w.region_b, year=c['year'])
        # Idempotency-Key: same key and body -> the same answer, one row
        body = w.campaign_body(w.region_a)
        h = {'Idempotency-Key': 'camp-%d' % w.seq.next()}
        tok = self.tok('regional_operator')
        a = w.call('POST', path, body=body, token=tok, headers=h)
        b = w.call('POST', path, body=body, token=tok, headers=h)
        assert_status(a, 201)
        assert_status(b, 201)
        self.assertEqual(a.json, b.json)
        self.assertEqual(b.headers.get('idempotent-replayed'), 'true')
        self.assertEqual(a.headers.get('location'), b.headers.get('location'))
        self.assertEqual(w.count('SELECT count(*) FROM campaigns WHERE region_id = %d AND '
                                 'year = %d' % (w.region_a, body['year'])), 1)
        changed = dict(body, title='Другой')
        assert_problem(w.call('POST', path, body=changed, token=tok, headers=h), 422)

    def test_campaign_roles(self):
        w = self.w
        c = w.new_campaign()
        one = '%s/campaigns/%d' % (API, c['id'])
        etag = w.etag(one)
        for role in NON_WRITERS:
            tok = self.tok(role)
            self.refused('POST', API + '/campaigns', w.campaign_body(w.region_a), 403, [],
                         token=tok)
            self.refused('PATCH', one, {'title': 'x'}, 403, [], token=tok,
                         headers={'If-Match': etag})
            self.refused('POST', one + '/transitions', {'to': 'open'}, 403, [], token=tok,
                         headers={'If-Match': etag})
            self.refused('POST', one + '/indicators', w.indicator_body(), 403, [], token=tok)
        for method, path, body in (('POST', API + '/campaigns', w.campaign_body(w.region_a)),
                                   ('PATCH', one, {'title': 'x'}),
                                   ('POST', one + '/transitions', {'to': 'open'})):
            assert_problem(w.call(method, path, body=body, headers={'If-Match': etag}), 401)
        # region B's regional operator: the campaign is not there
        tokb = self.tok('regional_operator', 'B')
        self.refused('PATCH', one, {'title': 'x'}, 404, [], token=tokb,
                     headers={'If-Match': etag})
        self.refused('POST', one + '/transitions', {'to': 'open'}, 404, [], token=tokb,
                     headers={'If-Match': etag})
        self.refused('POST', one + '/indicators', w.indicator_body(), 404, [], token=tokb)
        assert_problem(w.get(one + '/indicators', token=tokb), 404)

    def test_campaign_patch(self):
        w = self.w
        c = w.new_campaign()
        one = '%s/campaigns/%d' % (API, c['id'])
        tok = self.tok('regional_operator')
        self.refused('PATCH', one, {'title': 'Новое'}, 428, [], token=tok)
        self.refused('PATCH', one, {'title': 'Новое'}, 412, [], token=tok,
                     headers={'If-Match': '"7"'})
        self.refused('PATCH', one, {'title': 'Новое'}, 412, [], token=tok,
                     headers={'If-Match': 'junk'})
        for body, fields in (({'year': 2030}, ['year']), ({'status': 'open'}, ['status']),
                             ({'region_id': w.region_b}, ['region_id']),
                             ({'title': None}, ['title']), ({'goals': [1]}, ['goals[0]']),
                             ({'closes_at': '2026-01-01T00:00:00Z'}, ['closes_at']),
                             ({'thresholds': {'high': 50, 'sufficient': 60, 'low': 40}},
                              ['thresholds']),
                             ({'catalog_from': None}, ['catalog_from']), ({}, [])):
            self.refused('PATCH', one, body, 400, fields, token=tok,
                         headers={'If-Match': w.etag(one)})
        r = w.call('PATCH', one, body={'title': 'Новое', 'goals': [],
                                       'thresholds': {'high': 85.5, 'sufficient': 65,
                                                      'low': 45},
                                       'opens_at': '2026-02-01T09:00:00+03:00'},
                   token=tok, headers={'If-Match': w.etag(one)})
        assert_status(r, 200)
        self.assertEqual(r.json['title'], 'Новое')
        self.assertEqual(r.json['goals'], [])
        self.assertEqual(r.json['thresholds'], {'high': 85.5, 'sufficient': 65, 'low': 45})
        self.assertEqual(r.json['version'], 2)
        self.assertEqual(r.headers.get('etag'), '"2"')
        self.assertEqual(w.count("SELECT count(*) FROM audit_events WHERE entity = 'campaign' "
                                 "AND entity_id = %d AND action = 'update'" % c['id']), 1)

    def test_catalog_copy(self):
        w = self.w
        region, _, _ = w.fresh_region(orgs=0)
        first = w.new_campaign(region, year=2030)
        self.assertIsNone(first['catalog_source_id'])
        self.assertIsNone(first['previous_campaign_id'])
        made = [w.new_indicator(first['id'], code='c%d' % i, position=10 - i,
                                weights={'school': i + 1, 'preschool': 0})
                for i in range(3)]
        # absent catalog_from: the latest earlier campaign's catalog
        second = w.new_campaign(region, year=2031, catalog_from=...)
        self.assertEqual(second['catalog_source_id'], first['id'])
        self.assertEqual(second['previous_campaign_id'], first['id'])
        self.assertEqual(second['indicator_count'], 3)
        copied, _ = w.walk('%s/campaigns/%d/indicators' % (API, second['id']), w.admin.token)
        self.assertEqual([i['code'] for i in copied], ['c2', 'c1', 'c0'])  # by position
        self.assertFalse({i['id'] for i in copied} & {i['id'] for i in made})
        for a, b in zip(sorted(copied, key=lambda i: i['code']), made):
            for k in ('name', 'direction', 'value_type', 'min_value', 'max_value', 'polarity',
                      'source', 'method', 'weights', 'position', 'unit'):
                self.assertEqual(a[k], b[k], k)
            self.assertEqual(a['campaign_id'], second['id'])
        # null: start empty
        third = w.new_campaign(region, year=2032, catalog_from=None)
        self.assertIsNone(third['catalog_source_id'])
        self.assertEqual(third['indicator_count'], 0)
        self.assertEqual(third['previous_campaign_id'], second['id'])
        # an earliest year: nothing earlier to copy
        early = w.new_campaign(region, year=2020, catalog_from=...)
        self.assertIsNone(early['catalog_source_id'])
        self.assertEqual(early['indicator_count'], 0)
        # named: that campaign's catalog (even a later one)
        named = w.new_campaign(region, year=2021, catalog_from=second['id'])
        self.assertEqual(named['catalog_source_id'], second['id'])
        self.assertEqual(named['indicator_count'], 3)
        # the copy is independent of its source
        ind = copied[0]
        path = '%s/indicators/%d' % (API, ind['id'])
        assert_status(w.call('PATCH', path, body={'name': 'Изменён'}, token=w.admin.token,
                             headers={'If-Match': w.etag(path)}), 200)
        self.assertEqual(w.get('%s/indicators/%d' % (API, made[2]['id']),
                               token=w.admin.token).json['name'], 'Показатель')

    def test_transitions_and_opening(self):
        w = self.w
        region, muni, orgs = w.fresh_region(orgs=4)
        reg_tok = w.cli_user('regional_operator', region, None, None).token
        # heads: orgs[0] and orgs[1] have one; orgs[2] had one who was dismissed; orgs[3]
        # is archived
        heads = [w.new_manager(muni)['id'] for _ in range(3)]
        w.appoint(heads[0], orgs[0])
        w.appoint(heads[1], orgs[1], started_on='2020-01-01')
        w.appoint(heads[2], orgs[2])
        mp = '%s/managers/%d' % (API, heads[2])
        assert_status(w.call('POST', mp + '/dismissal',
                             body={'dismissed_on': '2024-01-01', 'reason': 'Уход'},
                             token=w.admin.token, headers={'If-Match': w.etag(mp)}), 200)
        op = '%s/organizations/%d' % (API, orgs[3])
        assert_status(w.call('PATCH', op, body={'status': 'archived'}, token=w.admin.token,
                             headers={'If-Match': w.etag(op)}), 200)
        c = w.new_campaign(region, token=reg_tok)
        one = '%s/campaigns/%d' % (API, c['id'])
        move = one + '/transitions'
        # If-Match is required; a stale one is 412
        self.refused('POST', move, {'to': 'open'}, 428, [], token=reg_tok)
        self.refused('POST', move, {'to': 'open'}, 412, [], token=reg_tok,
                     headers={'If-Match': '"9"'})
        for body, fields in (({'to': 'archived'}, ['to']), ({}, ['to']),
                             ({'to': 'open', 'why': 1}, ['why']),
                             ({'to': 'open', 'comment': ''}, ['comment'])):
            self.refused('POST', move, body, 400, fields, token=reg_tok,
                         headers={'If-Match': w.etag(one)})
        # illegal moves name the allowed one
        for to in ('closed', 'published', 'draft'):
            r = self.refused('POST', move, {'to': to}, 409, [], token=reg_tok,
                             headers={'If-Match': w.etag(one)})
            self.assert_detail(r, 409, 'allowed open')
        # an empty catalog, or one that applies to no kind, cannot open
        r = self.refused('POST', move, {'to': 'open'}, 409, [], token=reg_tok,
                         headers={'If-Match': w.etag(one)})
        self.assert_detail(r, 409, 'empty')
        zero = w.new_indicator(c['id'], token=reg_tok, weights={'school': 0})
        r = self.refused('POST', move, {'to': 'open'}, 409, [], token=reg_tok,
                         headers={'If-Match': w.etag(one)})
        self.assert_detail(r, 409, 'applies')
        ind = w.new_indicator(c['id'], token=reg_tok, weights={'school': 2}, min_value=0,
                              max_value=10)
        # the policy lint: an indicator that applies to no kind is an error finding
        r = self.refused('POST', move, {'to': 'open'}, 409,
                         ['indicators[%s].weights' % zero['code']], token=reg_tok,
                         headers={'If-Match': w.etag(one)})
        self.assert_detail(r, 409, 'policy lint')
        r = w.call('PATCH', '%s/indicators/%d' % (API, zero['id']),
                   body={'weights': {'preschool': 1}}, token=reg_tok,
                   headers={'If-Match': '"%d"' % zero['version']})
        assert_status(r, 200, 'weights for another kind')
        # open: a draft submission per active organization, with its current head, scored
        key = {'Idempotency-Key': 'open-%d' % c['id']}
        etag = w.etag(one)
        r = w.call('POST', move, body={'to': 'open', 'comment': 'Старт'}, token=reg_tok,
                   headers=dict(key, **{'If-Match': etag}))
        assert_status(r, 200, 'open')
        self.assertEqual(r.json['status'], 'open')
        self.assertIsNotNone(r.json['opened_at'])
        self.assertEqual(r.json['version'], 2)  # indicators do not change the campaign
        again = w.call('POST', move, body={'to': 'open', 'comment': 'Старт'}, token=reg_tok,
                       headers=dict(key, **{'If-Match': etag}))
        assert_status(again, 200, 'replayed open')
        self.assertEqual(again.headers.get('idempotent-replayed'), 'true')
        rows = w.sql('SELECT organization_id, coalesce(manager_id, 0), status, kind, '
                     'municipality_id, region_id FROM submissions WHERE campaign_id = %d '
                     'ORDER BY organization_id' % c['id']).split()
        got = [tuple(x.split('|')) for x in rows]
        self.assertEqual(got, [
            (str(orgs[0]), str(heads[0]), 'draft', 'school', str(muni), str(region)),
            (str(orgs[1]), str(heads[1]), 'draft', 'school', str(muni), str(region)),
            (str(orgs[2]), '0', 'draft', 'school', str(muni), str(region)),
        ])
        self.assertEqual(w.count("SELECT count(*) FROM submission_history h JOIN submissions s "
                                 "ON s.id = h.submission_id WHERE s.campaign_id = %d AND "
                                 "h.action = 'create' AND h.to_status = 'draft'" % c['id']), 3)
        self.assertEqual(w.sql("SELECT string_agg(level || ':' || total_rounded || ':' || "
                               "applicable || ':' || filled, ',') FROM submission_scores "
                               "WHERE campaign_id = %d" % c['id']),
                         ','.join(['critical:0.00:1:0'] * 3))
        self.assertEqual(w.count("SELECT count(*) FROM audit_events WHERE entity = 'campaign' "
                                 "AND entity_id = %d AND action = 'transition' AND "
                                 "after->>'submissions_created' = '3'" % c['id']), 1)
        # the catalog is frozen
        ip = '%s/indicators/%d' % (API, ind['id'])
        for method, path, body in (('POST', one + '/indicators', w.indicator_body()),
                                   ('PATCH', ip, {'name': 'x'}), ('DELETE', ip, None)):
            r = self.refused(method, path, body, 409, [], token=reg_tok,
                             headers={'If-Match': w.etag(ip)})
            self.assert_detail(r, 409, 'frozen')
        # window and thresholds still change while open
        r = w.call('PATCH', one, body={'closes_at': '2026-05-31T23:59:59+03:00'},
                   token=reg_tok, headers={'If-Match': w.etag(one)})
        assert_status(r, 200)
        for to in ('draft', 'published', 'open'):
            r = self.refused('POST', move, {'to': to}, 409, [], token=reg_tok,
                             headers={'If-Match': w.etag(one)})
            self.assert_detail(r, 409, 'allowed closed')
        w.move(c['id'], 'closed', token=reg_tok)
        # closed: the window is fixed, thresholds rescore
        r = self.refused('PATCH', one, {'opens_at': OPENS}, 409, [], token=reg_tok,
                         headers={'If-Match': w.etag(one)})
        sid = int(w.sql('SELECT id FROM submissions WHERE campaign_id = %d AND '
                        'organization_id = %d' % (c['id'], orgs[0])))
        w.sql('INSERT INTO submission_values (submission_id, indicator_id, value) '
              'VALUES (%d, %d, 5); SELECT em_rescore(ARRAY[%d]::bigint[])'
              % (sid, ind['id'], sid))
        self.assertEqual(w.sql('SELECT level FROM submission_scores WHERE submission_id = %d'
                               % sid), 'low')  # 50 under 80/60/40
        r = w.call('PATCH', one, body={'thresholds': {'high': 50, 'sufficient': 30, 'low': 10}},
                   token=reg_tok, headers={'If-Match': w.etag(one)})
        assert_status(r, 200)
        self.assertEqual(w.sql('SELECT level FROM submission_scores WHERE submission_id = %d'
                               % sid), 'high')
        self.assertEqual(w.sql('SELECT level FROM submission_scores WHERE campaign_id = %d '
                               'AND submission_id <> %d LIMIT 1' % (c['id'], sid)), 'critical')
        r = w.move(c['id'], 'published', token=reg_tok)
        self.assertIsNotNone(r.json['published_at'])
        self.assertIsNotNone(r.json['closed_at'])
        for to in ('draft', 'open', 'closed', 'published'):
            r = self.refused('POST', move, {'to': to}, 409, [], token=reg_tok,
                             headers={'If-Match': w.etag(one)})
            self.assert_detail(r, 409, 'final')
        for body in ({'title': 'x'}, {'thresholds': {'high': 90, 'sufficient': 60, 'low': 40}}):
            self.refused('PATCH', one, body, 409, [], token=reg_tok,
                         headers={'If-Match': w.etag(one)})
        self.assertEqual(w.count("SELECT count(*) FROM audit_events WHERE entity = 'campaign' "
                                 "AND entity_id = %d AND action = 'transition'" % c['id']), 3)
        self.assertIsNotNone(zero)

    def test_opening_many_organizations(self):
        """Opening is set-wise: 5 000 organizations open in a few seconds."""
        w = self.w
        n = 5000
        region, muni, _ = w.fresh_region(orgs=0)
        w.sql("INSERT INTO organizations (municipality_id, region_id, full_name, short_name, "
              "inn, kind, settlement, students) "
              "SELECT %d, %d, 'Школа ' || g, 'Школа ' || g, b || ((2*substr(b,1,1)::int + "
              "4*substr(b,2,1)::int + 10*substr(b,3,1)::int + 3*substr(b,4,1)::int + "
              "5*substr(b,5,1)::int + 9*substr(b,6,1)::int + 4*substr(b,7,1)::int + "
              "6*substr(b,8,1)::int + 8*substr(b,9,1)::int) %% 11 %% 10)::text, "
              "CASE WHEN g %% 3 = 0 THEN 'preschool' ELSE 'school' END, 'urban', 100 "
              "FROM generate_series(1, %d) g, LATERAL (SELECT '77' || lpad(g::text, 7, '0') "
              "AS b) x" % (muni, region, n))
        c = w.new_campaign(region)
        w.new_indicator(c['id'], weights={'school': 1, 'preschool': 2})
        w.new_indicator(c['id'], weights={'school': 1})
        t0 = time.monotonic()
        w.move(c['id'], 'open')
        elapsed = time.monotonic() - t0
        self.assertEqual(w.count('SELECT count(*) FROM submissions WHERE campaign_id = %d'
                                 % c['id']), n)
        self.assertEqual(w.count('SELECT count(*) FROM submission_scores WHERE campaign_id = %d'
                                 % c['id']), n)
        self.assertEqual(w.count('SELECT count(*) FROM direction_scores WHERE campaign_id = %d'
                                 % c['id']), n)
        self.assertLess(elapsed, 10.0, 'opening %d organizations took %.1fs' % (n, elapsed))

    # ================================================================ indicators

    def test_indicator_create_and_read(self):
        w = self.w
        c = w.new_campaign()
        path = '%s/campaigns/%d/indicators' % (API, c['id'])
        tok = self.tok('regional_operator')
        body = {'code': 'ege_80', 'name': 'Доля результатов ЕГЭ 80–100 баллов',
                'direction': 'student_results', 'unit': '%', 'value_type': 'percent',
                'polarity': 'up', 'source': 'regional_import',
                'method': 'Число результатов 80–100 / число результатов × 100',
                'weights': {'school': 2.5, 'preschool': 0}, 'position': 7}
        r = w.call('POST', path, body=body, token=tok)
        assert_status(r, 201)
        ind = r.json
        self.assertEqual(r.headers.get('location'), '%s/indicators/%d' % (API, ind['id']))
        for k, v in body.items():
            self.assertEqual(ind[k], v, k)
        self.assertEqual((ind['min_value'], ind['max_value']), (0, 100))  # percent defaults
        self.assertEqual(ind['campaign_id'], c['id'])
        self.assertEqual(ind['direction_id'],
                         int(w.sql("SELECT id FROM directions WHERE code = 'student_results'")))
        self.assertEqual(ind['version'], 1)
        # defaults: polarity up, source self, position after the last
        b = w.new_indicator(c['id'], token=tok, code='b1', polarity=..., value_type='boolean',
                            min_value=..., max_value=..., direction='objectivity')
        self.assertEqual((b['polarity'], b['source'], b['position']), ('up', 'self', 8))
        self.assertIsNone(b['min_value'])
        self.assertEqual(w.get(url(API + '/campaigns/%d' % c['id']), token=tok)
                         .json['indicator_count'], 2)
        one = '%s/indicators/%d' % (API, ind['id'])
        for role in rf.ROLES:
            assert_status(w.get(one, token=self.tok(role)), 200, role)
            assert_status(w.get(path, token=self.tok(role)), 200, role)
            if role != 'admin':
                assert_problem(w.get(one, token=self.tok(role, 'B')), 404, role)
                assert_problem(w.get(path, token=self.tok(role, 'B')), 404, role)
        assert_problem(w.get(one), 401)
        assert_problem(w.get('%s/indicators/%d' % (API, 10 ** 12), token=tok), 404)
        assert_problem(w.get('%s/campaigns/%d/indicators' % (API, 10 ** 12),
                             token=w.admin.token), 404)
        r = w.get(one, token=tok, headers={'If-None-Match': '"1"'})
        self.assertEqual(r.status, 304)
        # idempotent create
        h = {'Idempotency-Key': 'ind-%d' % c['id']}
        body2 = w.indicator_body()
        a = w.call('POST', path, body=body2, token=tok, headers=h)
        b2 = w.call('POST', path, body=body2, token=tok, headers=h)
        assert_status(a, 201)
        assert_status(b2, 201)
        self.assertEqual(a.json, b2.json)
        self.assertEqual(b2.headers.get('idempotent-replayed'), 'true')
        self.assertEqual(w.count("SELECT count(*) FROM indicators WHERE campaign_id = %d AND "
                                 "code = '%s'" % (c['id'], body2['code'])), 1)

    def test_indicator_validation(self):
        w = self.w
        c = w.new_campaign()
        path = '%s/campaigns/%d/indicators' % (API, c['id'])
        w.new_indicator(c['id'], code='taken')
        cases = [
            ({'code': ...}, ['code']), ({'code': ''}, ['code']), ({'code': '_x'}, ['code']),
            ({'code': 'код'}, ['code']), ({'code': 'a b'}, ['code']), ({'code': 'a' * 33}, ['code']),
            ({'code': 7}, ['code']), ({'name': ...}, ['name']), ({'name': 'н' * 501}, ['name']),
            ({'direction': 'finance'}, ['direction']), ({'direction': ...}, ['direction']),
            ({'value_type': 'text'}, ['value_type']), ({'value_type': ...}, ['value_type']),
            ({'value_type': 'boolean'}, ['min_value', 'max_value']),
            ({'value_type': 'boolean', 'min_value': ..., 'max_value': 1}, ['max_value']),
            ({'min_value': ...}, ['min_value']), ({'max_value': None}, ['max_value']),
            ({'min_value': 5, 'max_value': 5}, ['max_value']),
            ({'min_value': 6, 'max_value': 5}, ['max_value']),
            ({'min_value': 'zero'}, ['min_value']), ({'max_value': 1e13}, ['max_value']),
            ({'value_type': 'percent', 'min_value': -1}, ['min_value']),
            ({'value_type': 'percent', 'min_value': 0, 'max_value': 120}, ['max_value']),
            ({'value_type': 'integer', 'min_value': 0.5}, ['min_value']),
            ({'value_type': 'integer', 'max_value': 9.99}, ['max_value']),
            ({'polarity': 'sideways'}, ['polarity']), ({'source': 'rumour'}, ['source']),
            ({'data_kind': 'vpr'}, ['data_kind']), ({'data_kind': 1}, ['data_kind']),
            ({'weights': [1]}, ['weights']), ({'weights': {'university': 1}},
                                              ['weights.university']),
            ({'weights': {'school': -1}}, ['weights.school']),
            ({'weights': {'school': 1001}}, ['weights.school']),
            ({'weights': {'school': 'high'}}, ['weights.school']),
            ({'weights': {'preschool': None}}, ['weights.preschool']),
            ({'method': 'м' * 4001}, ['method']), ({'method': ''}, ['method']),
            ({'unit': 'u' * 51}, ['unit']), ({'position': 'first'}, ['position']),
            ({'position': -1}, ['position']), ({'position': 1.5}, ['position']),
            ({'campaign_id': c['id']}, ['campaign_id']), ({'id': 1}, ['id']),
            ({'direction_id': 1}, ['direction_id']), ({'version': 1}, ['version']),
            # every error at once
            ({'code': '-', 'direction': 'x', 'weights': {'school': -2, 'x': 1}, 'foo': 1},
             ['code', 'direction', 'weights.school', 'weights.x', 'foo']),
        ]
        for over, fields in cases:
            with self.subTest(over=over):
                self.refused('POST', path, w.indicator_body(**over), 400, fields)
        self.refused('POST', path, w.indicator_body(code='taken'), 409, ['code'])
        # the code is unique per campaign only
        other = w.new_campaign()
        w.new_indicator(other['id'], code='taken')
        # a percent with explicit bounds inside 0..100, an integer with whole bounds
        w.new_indicator(c['id'], value_type='percent', min_value=10, max_value=90.5)
        w.new_indicator(c['id'], value_type='integer', min_value=0, max_value=25.0)

    def test_indicator_list(self):
        w = self.w
        c = w.new_campaign()
        path = '%s/campaigns/%d/indicators' % (API, c['id'])
        made = []
        for k, d in enumerate(DIRECTIONS):
            made.append(w.new_indicator(
                c['id'], code='d%02d' % k, name='Показатель %s' % 'ЯЮЭЬЫ'[k % 5] + str(k),
                direction=d, position=(k * 7) % 10,
                source=('self', 'municipal', 'regional_import')[k % 3],
                value_type=('number', 'percent', 'integer')[k % 3],
                weights={'school': 1, 'preschool': k % 2}))
        made.append(w.new_indicator(c['id'], code='bool', value_type='boolean', min_value=...,
                                    max_value=..., position=3, weights={}))
        items, pages = w.walk(path, self.tok('head'), limit=3)
        self.assertEqual(pages, 4)
        want = sorted(made, key=lambda i: (i['position'], i['id']))
        self.assertEqual([i['id'] for i in items], [i['id'] for i in want])
        items, _ = w.walk(path, self.tok('portal'), limit=2, sort='name')
        self.assertEqual(len(items), len(made))
        for params, pred in (({'direction': 'reserve'}, lambda i: i['direction'] == 'reserve'),
                             ({'source': 'municipal'}, lambda i: i['source'] == 'municipal'),
                             ({'value_type': 'boolean'}, lambda i: i['value_type'] == 'boolean'),
                             ({'kind': 'preschool'},
                              lambda i: i['weights'].get('preschool', 0) > 0),
                             ({'kind': 'vocational'}, lambda i: False),
                             ({'kind': 'school', 'source': 'self'},
                              lambda i: i['source'] == 'self' and
                              i['weights'].get('school', 0) > 0),
                             ({'q': 'показатель я'}, lambda i: i['name'].startswith(
                                 'Показатель Я'))):
            items, _ = w.walk(path, w.admin.token, limit=2, **params)
            self.assertEqual(sorted(i['id'] for i in items),
                             sorted(i['id'] for i in made if pred(i)), params)
        for bad in ({'direction': 'finance'}, {'source': 'x'}, {'value_type': 'text'},
                    {'kind': 'university'}, {'limit': '501'}, {'cursor': 'nonsense'},
                    {'sort': 'position'}):
            assert_fields(w.get(url(path, **bad), token=w.admin.token), 400, list(bad))

    def test_indicator_patch_and_delete(self):
        w = self.w
        c = w.new_campaign()
        tok = self.tok('regional_operator')
        ind = w.new_indicator(c['id'], token=tok, code='p1', unit='чел.', method='Метод')
        w.new_indicator(c['id'], token=tok, code='p2')
        one = '%s/indicators/%d' % (API, ind['id'])
        self.refused('PATCH', one, {'name': 'x'}, 428, [], token=tok)
        self.refused('PATCH', one, {'name': 'x'}, 412, [], token=tok,
                     headers={'If-Match': '"5"'})
        for body, fields in (({'value_type': 'boolean'}, ['min_value', 'max_value']),
                             ({'min_value': 20}, ['max_value']),
                             ({'value_type': 'percent', 'max_value': 150}, ['max_value']),
                             ({'value_type': 'integer', 'min_value': 0.5}, ['min_value']),
                             ({'code': 'bad code'}, ['code']), ({'campaign_id': 1}, ['campaign_id']),
                             ({'weights': {'college': 1}}, ['weights.college']),
                             ({'name': None}, ['name']), ({}, [])):
            self.refused('PATCH', one, body, 400, fields, token=tok,
                         headers={'If-Match': w.etag(one)})
        self.refused('PATCH', one, {'code': 'p2'}, 409, ['code'], token=tok,
                     headers={'If-Match': w.etag(one)})
        for role in NON_WRITERS:
            self.refused('PATCH', one, {'name': 'x'}, 403, [], token=self.tok(role),
                         headers={'If-Match': w.etag(one)})
            self.refused('DELETE', one, None, 403, [], token=self.tok(role),
                         headers={'If-Match': w.etag(one)})
        tokb = self.tok('regional_operator', 'B')
        self.refused('PATCH', one, {'name': 'x'}, 404, [], token=tokb,
                     headers={'If-Match': w.etag(one)})
        self.refused('DELETE', one, None, 404, [], token=tokb, headers={'If-Match': w.etag(one)})
        r = w.call('PATCH', one, body={'value_type': 'boolean', 'min_value': None,
                                       'max_value': None, 'unit': None, 'polarity': 'down',
                                       'weights': {'special': 3}, 'position': 0,
                                       'direction': 'conditions', 'code': 'p1b'},
                   token=tok, headers={'If-Match': w.etag(one)})
        assert_status(r, 200)
        got = r.json
        self.assertEqual((got['value_type'], got['min_value'], got['max_value'], got['unit'],
                          got['polarity'], got['weights'], got['position'], got['direction'],
                          got['code'], got['method'], got['version']),
                         ('boolean', None, None, None, 'down', {'special': 3}, 0, 'conditions',
                          'p1b', 'Метод', 2))
        self.assertEqual(r.headers.get('etag'), '"2"')
        # back to a percent: bounds must be given again
        r = w.call('PATCH', one, body={'value_type': 'percent', 'min_value': 0,
                                       'max_value': 100},
                   token=tok, headers={'If-Match': w.etag(one)})
        assert_status(r, 200)
        # DELETE: If-Match, 204, audit row, gone
        self.refused('DELETE', one, None, 428, [], token=tok)
        self.refused('DELETE', one, None, 412, [], token=tok, headers={'If-Match': '"1"'})
        r = w.call('DELETE', one, token=tok, headers={'If-Match': w.etag(one)})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b'')
        assert_problem(w.get(one, token=tok), 404)
        self.assertEqual(w.count("SELECT count(*) FROM audit_events WHERE entity = 'indicator' "
                                 "AND entity_id = %d AND action = 'delete' AND before->>'code' "
                                 "= 'p1b' AND after IS NULL" % ind['id']), 1)
        self.assertEqual(w.get('%s/campaigns/%d' % (API, c['id']), token=tok)
                         .json['indicator_count'], 1)
        assert_problem(w.call('DELETE', one, token=tok, headers={'If-Match': '"3"'}), 404)


class DemoTest(harness.DaemonTestCase):
    """effmond load-demo: the monitoring part, once, and added to an older install."""

    def load(self):
        p = self.daemon.run('load-demo', timeout=180)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p.stdout

    def sql(self, q):
        return self.cluster.psql(q)

    def counts(self):
        return self.sql(
            "SELECT (SELECT count(*) FROM campaigns), (SELECT count(*) FROM indicators), "
            "(SELECT count(*) FROM submissions), (SELECT count(*) FROM submission_values), "
            "(SELECT count(*) FROM submission_scores), (SELECT count(*) FROM submission_history), "
            "(SELECT count(*) FROM organizations), (SELECT count(*) FROM users)")

    def audit(self):
        return int(self.sql('SELECT count(*) FROM audit_events'))

    def test_demo(self):
        out = self.load()
        self.assertIn('campaign', out)
        region = int(self.sql("SELECT id FROM regions WHERE code = '98'"))
        camps = self.sql("SELECT year || ':' || status FROM campaigns WHERE region_id = %d "
                         "ORDER BY year" % region)
        self.assertEqual(camps.split(), ['2025:published', '2026:open'])
        c25, c26 = (int(x) for x in self.sql(
            'SELECT id FROM campaigns WHERE region_id = %d ORDER BY year' % region).split())
        # the catalog: about 25 indicators over all ten directions, in both campaigns
        n = int(self.sql('SELECT count(*) FROM indicators WHERE campaign_id = %d' % c25))
        self.assertTrue(20 <= n <= 30, n)
        self.assertEqual(int(self.sql('SELECT count(DISTINCT direction_id) FROM indicators '
                                      'WHERE campaign_id = %d' % c25)), 10)
        self.assertEqual(int(self.sql('SELECT count(*) FROM indicators WHERE campaign_id = %d'
                                      % c26)), n)
        self.assertEqual(self.sql("SELECT string_agg(DISTINCT value_type, ',' ORDER BY "
                                  "value_type) FROM indicators WHERE campaign_id = %d" % c25),
                         'boolean,integer,number,percent')
        self.assertEqual(self.sql("SELECT string_agg(DISTINCT source, ',' ORDER BY source) "
                                  "FROM indicators WHERE campaign_id = %d" % c25),
                         'municipal,regional_import,self')
        self.assertGreater(int(self.sql("SELECT count(*) FROM indicators WHERE campaign_id = "
                                        "%d AND polarity = 'down'" % c25)), 0)
        # exam indicators do not apply to preschools; every kind has indicators
        for kind in ('school', 'preschool', 'additional', 'vocational', 'special'):
            self.assertGreater(int(self.sql(
                "SELECT count(*) FROM indicators WHERE campaign_id = %d AND "
                "coalesce((weights->>'%s')::numeric, 0) > 0" % (c25, kind))), 3, kind)
        self.assertEqual(self.sql(
            "SELECT count(*) FROM indicators WHERE campaign_id = %d AND name ILIKE '%%ЕГЭ%%' "
            "AND coalesce((weights->>'preschool')::numeric, 0) > 0" % c25), '0')
        # 2025: every active organization approved and scored
        active = int(self.sql("SELECT count(*) FROM organizations WHERE region_id = %d AND "
                              "status = 'active'" % region))
        self.assertEqual(self.sql(
            "SELECT count(*) || ':' || count(*) FILTER (WHERE status = 'approved' AND "
            "approved_at IS NOT NULL AND verified_at IS NOT NULL AND submitted_at IS NOT NULL "
            "AND first_submitted_at IS NOT NULL) FROM submissions WHERE campaign_id = %d"
            % c25), '%d:%d' % (active, active))
        self.assertEqual(self.sql(
            "SELECT count(*) FROM submission_scores WHERE campaign_id = %d AND status = "
            "'approved' AND total IS NOT NULL AND level IS NOT NULL" % c25), str(active))
        levels = self.sql("SELECT count(DISTINCT level) FROM submission_scores WHERE "
                          "campaign_id = %d" % c25)
        self.assertGreaterEqual(int(levels), 2)
        full = int(self.sql("SELECT count(*) FROM submission_scores WHERE campaign_id = %d "
                            "AND filled = applicable" % c25))
        self.assertGreater(full, active * 0.6)
        self.assertLess(full, active)  # a few values are missing
        # 2026: open now; the organizations whose head filled every self value are
        # approved and scored already, the others are drafts, some partly filled
        self.assertEqual(self.sql(
            "SELECT opens_at < now() AND closes_at > now() FROM campaigns WHERE id = %d" % c26),
            't')
        drafts, approved = (int(x) for x in self.sql(
            "SELECT count(*) FILTER (WHERE status = 'draft') || ' ' || count(*) FILTER "
            "(WHERE status = 'approved' AND approved_at < now()) FROM submissions "
            "WHERE campaign_id = %d" % c26).split())
        self.assertEqual(drafts + approved, active)
        self.assertTrue(0 < approved < active / 2, approved)
        self.assertEqual(self.sql(
            "SELECT count(*) FROM submissions s JOIN indicators i ON i.campaign_id = "
            "s.campaign_id AND coalesce((i.weights->>s.kind)::numeric, 0) > 0 WHERE "
            "s.campaign_id = %d AND s.status = 'approved' AND NOT EXISTS (SELECT 1 FROM "
            "submission_values v WHERE v.submission_id = s.id AND v.indicator_id = i.id)"
            % c26), '0')
        self.assertEqual(self.sql(
            "SELECT count(*) FROM submission_scores WHERE campaign_id = %d AND status = "
            "'approved' AND total IS NOT NULL AND level IS NOT NULL" % c26), str(approved))
        partly = int(self.sql("SELECT count(DISTINCT submission_id) FROM submission_values v "
                              "JOIN submissions s ON s.id = v.submission_id WHERE "
                              "s.campaign_id = %d" % c26))
        self.assertTrue(0 < partly < active, partly)
        self.assertEqual(self.sql("SELECT count(*) FROM submission_scores WHERE campaign_id = %d"
                                  % c26), str(active))
        # submission heads are the current ones
        self.assertEqual(self.sql(
            "SELECT count(*) FROM submissions s JOIN appointments a ON a.organization_id = "
            "s.organization_id AND a.ended_on IS NULL WHERE s.campaign_id = %d AND "
            "s.manager_id IS DISTINCT FROM a.manager_id" % c26), '0')
        # values respect their indicators
        self.assertEqual(self.sql(
            "SELECT count(*) FROM submission_values v JOIN indicators i ON i.id = "
            "v.indicator_id WHERE (i.value_type = 'boolean' AND v.value NOT IN (0, 1)) OR "
            "(i.value_type <> 'boolean' AND (v.value < i.min_value OR v.value > i.max_value)) "
            "OR (i.value_type = 'integer' AND v.value <> trunc(v.value)) OR "
            "coalesce((i.weights->>(SELECT kind FROM submissions WHERE id = v.submission_id))"
            "::numeric, 0) = 0"), '0')
        # the API shows them
        uid = self.daemon.create_user('demo-admin', 'admin', 'demo-secret-1')
        self.assertTrue(uid)
        tok = self.daemon.login('demo-admin', 'demo-secret-1')
        r = self.daemon.request('GET', url(API + '/campaigns', region_id=region), token=tok)
        assert_status(r, 200)
        self.assertEqual(sorted(c['year'] for c in r.json['items']), [2025, 2026])
        r = self.daemon.request('GET', '%s/campaigns/%d' % (API, c26), token=tok)
        self.assertEqual((r.json['catalog_source_id'], r.json['previous_campaign_id'],
                          r.json['indicator_count']), (c25, c25, n))
        # a second load changes nothing
        before, audit = self.counts(), self.audit()
        out = self.load()
        self.assertIn('already', out)
        self.assertEqual((self.counts(), self.audit()), (before, audit))
        # an older install (registry demo only) gets the monitoring part, and its users
        # stay as they were (the audit trail is append-only: the old events stay)
        # (the cycle rows of demo/cycle.sql point at the campaigns: they go too,
        # decisions despite their append-only trigger)
        cycle_audit = int(self.sql(
            "SELECT count(*) FROM audit_events WHERE action = 'load-demo' AND (entity IN "
            "('attestation', 'recommendation', 'decision') OR (entity = 'milestone' AND "
            "after->>'status' <> 'planned'))"))
        early = approved
        milestones = int(self.sql("SELECT count(*) FROM audit_events WHERE action = 'load-demo' "
                                  "AND entity = 'milestone' AND after->>'status' <> 'planned'"))
        self.assertEqual(milestones, 44)
        self.sql(
            "SET session_replication_role = replica; DELETE FROM decisions; "
            "SET session_replication_role = DEFAULT; DELETE FROM recommendation_history; "
            "DELETE FROM recommendations; DELETE FROM attestation_scores; "
            "DELETE FROM attestations; "
            "DELETE FROM direction_scores; DELETE FROM submission_scores; "
            "DELETE FROM submission_history; DELETE FROM submission_values; "
            "DELETE FROM submissions; DELETE FROM indicators; DELETE FROM campaigns")
        users = self.sql("SELECT string_agg(login || password_hash, ' ' ORDER BY id) FROM users")
        out = self.load()
        self.assertIn('Monitoring: 2 campaigns', out)
        self.assertIn('(exists: unchanged)', out)
        self.assertEqual(self.counts(), before)
        # roadmaps with progress are not touched again: no milestone events this time
        self.assertEqual(self.audit(), audit + 2 + 2 * active + early + cycle_audit
                         - milestones)
        self.assertEqual(self.sql("SELECT string_agg(login || password_hash, ' ' ORDER BY id) "
                                  'FROM users'), users)
        self.assertEqual(self.sql("SELECT count(*) FROM users WHERE login LIKE 'demo-%' "
                                  "AND login <> 'demo-admin'"), '5')


if __name__ == '__main__':
    harness.main()
