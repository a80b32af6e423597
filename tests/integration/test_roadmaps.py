#!/usr/bin/python3
"""
test_roadmaps.py - roadmaps and milestones over HTTP: creation by level and owner with
field-level validation, who writes what (regional / municipal operators, heads reporting
progress on their own organization's roadmap), the due date and recurrence derived from
the due text, every milestone transition and its illegal neighbours, overdue under a
controlled clock (EFFMON_NOW, honoured by test builds only), participants, the
/milestones?overdue=true list across the caller's scope, 404/403 by scope and role; and
`effmond load-demo`'s two seeded roadmaps (Sarov 2.1, the Sverdlovsk matrix), verbatim.

The registry world (regions A and B, users of every role) comes from registry_fixtures.py.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem, assert_status  # noqa: E402
import registry_fixtures as rf  # noqa: E402
from registry_fixtures import API, assert_fields, url  # noqa: E402


def hooks_enabled():
    """Is this a test build (meson -Dtest_hooks=true)? Its --help lists EFFMON_NOW."""
    p = subprocess.run([harness.EFFMOND, '--help'], capture_output=True, text=True, timeout=30)
    return 'EFFMON_NOW' in p.stdout


class RoadmapWorld(rf.World):
    """The registry world plus roadmap and milestone helpers."""

    def roadmap(self, level='municipal', token=None, expect=201, **over):
        owner = {'regional': ('region_id', self.region_a),
                 'municipal': ('municipality_id', self.muni_a1),
                 'organization': ('organization_id', self.org_a1)}[level]
        b = {'level': level, owner[0]: owner[1], 'title': 'Дорожная карта %d' % self.seq.next(),
             'period_from': '2021-01-01', 'period_to': '2022-12-31'}
        b.update(over)
        b = {k: v for k, v in b.items() if v is not Ellipsis}
        return self.create(API + '/roadmaps', b, token, expect=expect)

    def milestone(self, roadmap_id, token=None, expect=201, **over):
        b = {'number': str(self.seq.next()), 'title': 'Мероприятие',
             'due_text': 'Сентябрь 2021 г.', 'executors': ['Департамент образования']}
        b.update(over)
        b = {k: v for k, v in b.items() if v is not Ellipsis}
        return self.create('%s/roadmaps/%d/milestones' % (API, roadmap_id), b, token,
                           expect=expect)

    def move(self, mid, to, token=None, comment=None, expect=200):
        path = '%s/milestones/%d' % (API, mid)
        body = {'to': to}
        if comment is not None:
            body['comment'] = comment
        r = self.call('POST', path + '/transitions', body=body, token=token or self.admin.token,
                      headers={'If-Match': self.etag(path)})
        if expect == 200:
            assert_status(r, 200, 'move milestone %d to %s' % (mid, to))
        return r


class RoadmapTest(harness.DaemonTestCase):
    threads = 4

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.w = RoadmapWorld(cls.daemon, cls.cluster)

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

    # --- roadmaps

    def test_create_validation(self):
        w = self.w
        p = API + '/roadmaps'
        self.refused('POST', p, {}, 400, ['level', 'title', 'period_from', 'period_to'])
        self.refused('POST', p, {'level': 'national', 'title': '', 'period_from': '2021-02-30',
                                 'period_to': 'завтра', 'extra': 1}, 400,
                     ['level', 'title', 'period_from', 'period_to', 'extra'])
        # the owner must match the level, and only the owner is taken
        self.refused('POST', p, {'level': 'municipal', 'region_id': w.region_a, 'title': 'Т',
                                 'period_from': '2021-01-01', 'period_to': '2021-12-31'}, 400,
                     ['municipality_id', 'region_id'])
        self.refused('POST', p, {'level': 'organization', 'organization_id': w.org_a1,
                                 'municipality_id': w.muni_a1, 'title': 'Т',
                                 'period_from': '2021-01-01', 'period_to': '2021-12-31'}, 400,
                     ['municipality_id'])
        self.refused('POST', p, {'level': 'regional', 'region_id': w.region_a, 'title': 'Т',
                                 'period_from': '2022-01-01', 'period_to': '2021-12-31'}, 400,
                     ['period_to'])
        # an owner that does not exist
        self.refused('POST', p, {'level': 'regional', 'region_id': 999999, 'title': 'Т',
                                 'period_from': '2021-01-01', 'period_to': '2021-12-31'}, 400,
                     ['region_id'])

    def test_create_by_role_and_scope(self):
        w = self.w
        p = API + '/roadmaps'
        reg = w.roadmap('regional', token=self.tok('regional_operator'))
        self.assertEqual((reg['level'], reg['region_id'], reg['municipality_id'],
                          reg['organization_id']), ('regional', w.region_a, None, None))
        self.assertEqual(reg['milestones'], {'total': 0, 'planned': 0, 'in_progress': 0,
                                             'done': 0, 'cancelled': 0, 'overdue': 0})
        mun = w.roadmap('municipal', token=self.tok('municipal_operator'))
        self.assertEqual((mun['region_id'], mun['municipality_id']), (w.region_a, w.muni_a1))
        org = w.roadmap('organization', token=self.tok('municipal_operator'))
        self.assertEqual((org['region_id'], org['municipality_id'], org['organization_id']),
                         (w.region_a, w.muni_a1, w.org_a1))
        w.roadmap('organization', token=self.tok('regional_operator'), organization_id=w.org_a2)
        # a municipal operator: not a regional roadmap (403), not another municipality's (400)
        body = {'level': 'regional', 'region_id': w.region_a, 'title': 'Т',
                'period_from': '2021-01-01', 'period_to': '2021-12-31'}
        r = w.call('POST', p, body=body, token=self.tok('municipal_operator'))
        self.assertIn('regional operators', assert_problem(r, 403)['detail'])
        del body['region_id']
        self.refused('POST', p, dict(body, level='municipal', municipality_id=w.muni_a2), 400,
                     ['municipality_id'], token=self.tok('municipal_operator'))
        body.update(level='organization', organization_id=w.org_a2)
        self.refused('POST', p, body, 400, ['organization_id'],
                     token=self.tok('municipal_operator'))
        # a regional operator of A: not region B's
        self.refused('POST', p, {'level': 'regional', 'region_id': w.region_b, 'title': 'Т',
                                 'period_from': '2021-01-01', 'period_to': '2021-12-31'}, 400,
                     ['region_id'], token=self.tok('regional_operator'))
        for role in ('head', 'expert', 'portal'):
            assert_problem(w.call('POST', p, body=body, token=self.tok(role)), 403, role)
        assert_problem(w.call('POST', p, body=body), 401)

    def test_read_scope(self):
        w = self.w
        reg = w.roadmap('regional')
        mun1 = w.roadmap('municipal')
        mun2 = w.roadmap('municipal', municipality_id=w.muni_a2)
        org1 = w.roadmap('organization')
        org1b = w.roadmap('organization', organization_id=w.org_a1b)
        regb = w.roadmap('regional', region_id=w.region_b)
        everyone = [reg, mun1, mun2, org1, org1b, regb]
        seen = {
            'admin': everyone,
            'regional_operator': [reg, mun1, mun2, org1, org1b],
            'expert': [reg, mun1, mun2, org1, org1b],
            'municipal_operator': [reg, mun1, org1, org1b],
            'head': [reg, mun1, org1],
        }
        for role, visible in seen.items():
            tok = self.tok(role)
            ids = {x['id'] for x in w.walk(API + '/roadmaps', tok)[0]}
            for rm in everyone:
                r = w.get('%s/roadmaps/%d' % (API, rm['id']), token=tok)
                if rm in visible:
                    assert_status(r, 200, '%s reads roadmap %d' % (role, rm['id']))
                    self.assertIn(rm['id'], ids, role)
                    self.assertIsNotNone(r.headers.get('etag'))
                else:
                    assert_problem(r, 404, '%s reads roadmap %d' % (role, rm['id']))
                    self.assertNotIn(rm['id'], ids, role)
        assert_problem(w.get('%s/roadmaps/%d' % (API, reg['id']), token=self.tok('portal')), 403)
        assert_problem(w.get(API + '/roadmaps'), 401)
        # filters
        lv = w.walk(API + '/roadmaps', w.admin.token, level='organization',
                    municipality_id=w.muni_a1)[0]
        self.assertEqual({x['id'] for x in lv} & {r['id'] for r in everyone},
                         {org1['id'], org1b['id']})
        assert_fields(w.get(url(API + '/roadmaps', level='x', region_id='0'),
                            token=w.admin.token), 400, ['level', 'region_id'])

    def test_update(self):
        w = self.w
        reg = w.roadmap('regional')
        mun = w.roadmap('municipal')
        ms = w.milestone(mun['id'], due_text='В течение всего периода')
        self.assertEqual((ms['recurrence'], ms['due_on']), ('continuous', '2022-12-31'))
        one = w.milestone(mun['id'], due_text='2022 г.')
        p = '%s/roadmaps/%d' % (API, mun['id'])
        tok = self.tok('municipal_operator')
        assert_problem(w.call('PATCH', p, body={'title': 'Н'}, token=tok), 428)
        assert_problem(w.call('PATCH', p, body={'title': 'Н'}, token=tok,
                              headers={'If-Match': '"99"'}), 412)
        self.refused('PATCH', p, {'title': '', 'level': 'regional'}, 400, ['title', 'level'],
                     headers={'If-Match': w.etag(p)})
        self.refused('PATCH', p, {'period_from': '2023-01-01'}, 400, ['period_to'],
                     headers={'If-Match': w.etag(p)})
        r = w.call('PATCH', p, body={'title': 'Новое название', 'period_to': '2023-06-30',
                                     'description': None}, token=tok,
                   headers={'If-Match': w.etag(p)})
        assert_status(r, 200)
        self.assertEqual((r.json['title'], r.json['period_to'], r.json['description']),
                         ('Новое название', '2023-06-30', None))
        # the continuous milestone still ends with the roadmap; the dated one stays
        self.assertEqual(w.get('%s/milestones/%d' % (API, ms['id']), token=tok).json['due_on'],
                         '2023-06-30')
        self.assertEqual(w.get('%s/milestones/%d' % (API, one['id']), token=tok)
                         .json['due_on'], '2022-12-31')
        # a municipal operator reads the regional roadmap but may not change it
        rp = '%s/roadmaps/%d' % (API, reg['id'])
        r = w.call('PATCH', rp, body={'title': 'Н'}, token=tok, headers={'If-Match': w.etag(rp)})
        self.assertIn('regional operators', assert_problem(r, 403)['detail'])
        for role in ('head', 'expert', 'portal'):
            assert_problem(w.call('PATCH', rp, body={'title': 'Н'}, token=self.tok(role),
                                  headers={'If-Match': w.etag(rp)}), 403, role)
        # outside the scope: 404, not 403
        regb = w.roadmap('regional', region_id=w.region_b)
        bp = '%s/roadmaps/%d' % (API, regb['id'])
        assert_problem(w.call('PATCH', bp, body={'title': 'Н'}, token=self.tok('regional_operator'),
                              headers={'If-Match': w.etag(bp)}), 404)
        self.assertEqual(int(w.sql("SELECT count(*) FROM audit_events WHERE entity = 'roadmap' "
                                   "AND entity_id = %d AND action = 'update'" % mun['id'])), 1)

    # --- milestones

    def test_due_derivation_over_http(self):
        w = self.w
        rm = w.roadmap('municipal')
        cases = [
            ('Сентябрь 2021 г.', 'once', '2021-09-30'),
            ('Декабрь 2021', 'once', '2021-12-31'),
            ('до 1 октября 2021 г.', 'once', '2021-10-01'),
            ('2021 г.', 'once', '2021-12-31'),
            ('ноябрь 2022 г.', 'once', '2022-11-30'),
            ('Ежегодно в соответствии с планом-графиком курсовой подготовки НИРО', 'annual',
             None),
            ('Ежегодно, в декабре', 'annual', '2021-12-31'),
            ('В течение всего периода', 'continuous', '2022-12-31'),
            ('по мере необходимости', 'once', None),
        ]
        for text, rec, due in cases:
            m = w.milestone(rm['id'], due_text=text)
            self.assertEqual((m['due_text'], m['recurrence'], m['due_on']), (text, rec, due), text)
        # given values win over the derived ones
        m = w.milestone(rm['id'], due_text='Сентябрь 2021 г.', due_on='2021-09-15')
        self.assertEqual((m['recurrence'], m['due_on']), ('once', '2021-09-15'))
        m = w.milestone(rm['id'], due_text='Сентябрь 2021 г.', recurrence='annual', due_on=None)
        self.assertEqual((m['recurrence'], m['due_on']), ('annual', None))
        m = w.milestone(rm['id'], due_text=Ellipsis, expected_result=None, executors=Ellipsis)
        self.assertEqual((m['due_text'], m['due_on'], m['recurrence'], m['executors'],
                          m['expected_result']), (None, None, 'once', [], None))
        # a PATCH of the due text derives again what it does not give
        p = '%s/milestones/%d' % (API, m['id'])
        r = w.call('PATCH', p, body={'due_text': 'Февраль 2022 г.'}, token=w.admin.token,
                   headers={'If-Match': w.etag(p)})
        assert_status(r, 200)
        self.assertEqual((r.json['due_on'], r.json['recurrence']), ('2022-02-28', 'once'))
        r = w.call('PATCH', p, body={'title': 'Другое'}, token=w.admin.token,
                   headers={'If-Match': w.etag(p)})
        self.assertEqual(r.json['due_on'], '2022-02-28')  # kept
        r = w.call('PATCH', p, body={'due_on': '2022-03-01'}, token=w.admin.token,
                   headers={'If-Match': w.etag(p)})
        self.assertEqual((r.json['due_on'], r.json['due_text']), ('2022-03-01',
                                                                 'Февраль 2022 г.'))

    def test_milestone_validation(self):
        w = self.w
        rm = w.roadmap('municipal')
        p = '%s/roadmaps/%d/milestones' % (API, rm['id'])
        self.refused('POST', p, {}, 400, ['number', 'title'])
        self.refused('POST', p, {'number': '1.', 'title': '', 'due_text': '', 'due_on': '2021-13-01',
                                 'recurrence': 'weekly', 'executors': 'ОО',
                                 'evidence': ['ftp://x.example/a'], 'status': 'done'}, 400,
                     ['number', 'title', 'due_text', 'due_on', 'recurrence', 'executors',
                      'evidence[0]', 'status'])
        self.refused('POST', p, {'number': 'a.1', 'title': 'Т', 'executors': ['', 5],
                                 'evidence': ['https://ok.example/x', 'http://', 'javascript:1',
                                              'https://has space.example']}, 400,
                     ['number', 'executors[0]', 'executors[1]', 'evidence[1]', 'evidence[2]',
                      'evidence[3]'])
        w.milestone(rm['id'], number='2.1')
        r = self.refused('POST', p, {'number': '2.1', 'title': 'Т'}, 409, ['number'])
        self.assertIn('number', r.json['detail'])
        # order by number: 2.1 < 10 in a roadmap's list
        w.milestone(rm['id'], number='10')
        w.milestone(rm['id'], number='2')
        items = w.get('%s/roadmaps/%d/milestones' % (API, rm['id']), token=w.admin.token).json
        self.assertEqual([m['number'] for m in items['items']], ['2', '2.1', '10'])
        self.assertIsNone(items['next'])
        m = w.milestone(rm['id'])
        mp = '%s/milestones/%d' % (API, m['id'])
        self.refused('PATCH', mp, {'evidence': ['https://a.example/1', 'mailto:x@y'],
                                   'status': 'done'}, 400, ['evidence[1]', 'status'],
                     headers={'If-Match': w.etag(mp)})
        assert_problem(w.call('PATCH', mp, body={}, token=w.admin.token,
                              headers={'If-Match': w.etag(mp)}), 400)
        r = w.call('PATCH', mp, body={'evidence': ['https://sarov.example/prikaz.pdf'],
                                      'progress_report': 'Совещание проведено 14.09.2021',
                                      'executors': ['Департамент образования', 'ОО']},
                   token=w.admin.token, headers={'If-Match': w.etag(mp)})
        assert_status(r, 200)
        self.assertEqual(r.json['evidence'], ['https://sarov.example/prikaz.pdf'])
        self.assertEqual(r.json['executors'], ['Департамент образования', 'ОО'])
        assert_problem(w.call('POST', '%s/roadmaps/999999/milestones' % API,
                              body={'number': '1', 'title': 'Т'}, token=w.admin.token), 404)

    def test_transitions(self):
        w = self.w
        rm = w.roadmap('municipal')
        allowed = {'planned': ['in_progress', 'cancelled'], 'in_progress': ['done', 'cancelled'],
                   'done': [], 'cancelled': []}
        paths = {'done': ['in_progress', 'done'], 'in_progress': ['in_progress'],
                 'planned': [], 'cancelled': ['cancelled']}
        for state, steps in paths.items():
            m = w.milestone(rm['id'])
            for s in steps:
                w.move(m['id'], s, comment='причина' if s == 'cancelled' else None)
            mp = '%s/milestones/%d' % (API, m['id'])
            got = w.get(mp, token=w.admin.token).json
            self.assertEqual(got['status'], state)
            for to in ('planned', 'in_progress', 'done', 'cancelled'):
                if to in allowed[state]:
                    continue
                r = w.call('POST', mp + '/transitions', body={'to': to, 'comment': 'к'},
                           token=w.admin.token, headers={'If-Match': w.etag(mp)})
                detail = assert_problem(r, 409, '%s -> %s' % (state, to))['detail']
                for a in allowed[state]:
                    self.assertIn(a, detail)
                if not allowed[state]:
                    self.assertIn('final', detail)
        m = w.get(mp, token=w.admin.token).json
        self.assertIsNotNone(m['cancelled_at'])
        # cancelling needs a comment; If-Match is required; a bad target is 400
        m = w.milestone(rm['id'])
        mp = '%s/milestones/%d' % (API, m['id'])
        self.refused('POST', mp + '/transitions', {'to': 'cancelled'}, 400, ['comment'],
                     headers={'If-Match': w.etag(mp)})
        self.refused('POST', mp + '/transitions', {'to': 'finished', 'x': 1}, 400, ['to', 'x'],
                     headers={'If-Match': w.etag(mp)})
        assert_problem(w.call('POST', mp + '/transitions', body={'to': 'in_progress'},
                              token=w.admin.token), 428)
        assert_problem(w.call('POST', mp + '/transitions', body={'to': 'in_progress'},
                              token=w.admin.token, headers={'If-Match': '"77"'}), 412)
        r = w.move(m['id'], 'in_progress', token=self.tok('municipal_operator'))
        self.assertIsNotNone(r.json['started_at'])
        r = w.move(m['id'], 'done', token=self.tok('municipal_operator'))
        self.assertIsNotNone(r.json['done_at'])
        hist = w.sql("SELECT string_agg(from_status || '>' || to_status, ',' ORDER BY id) "
                     "FROM milestone_transitions WHERE milestone_id = %d" % m['id'])
        self.assertEqual(hist, 'planned>in_progress,in_progress>done')
        self.assertEqual(int(w.sql("SELECT count(*) FROM audit_events WHERE entity = "
                                   "'milestone' AND entity_id = %d AND action = 'transition'"
                                   % m['id'])), 2)

    def test_head_reports_progress_on_its_own(self):
        w = self.w
        head = self.tok('head')
        own = w.roadmap('organization')
        other = w.roadmap('organization', organization_id=w.org_a1b)
        mun = w.roadmap('municipal')
        m = w.milestone(own['id'])
        mp = '%s/milestones/%d' % (API, m['id'])
        r = w.call('PATCH', mp, body={'progress_report': 'Сделано', 'evidence': [
            'https://school1.example/report']}, token=head, headers={'If-Match': w.etag(mp)})
        assert_status(r, 200)
        r = w.call('PATCH', mp, body={'title': 'Другое'}, token=head,
                   headers={'If-Match': w.etag(mp)})
        self.assertIn('progress_report', assert_problem(r, 403)['detail'])
        w.move(m['id'], 'in_progress', token=head)
        r = w.call('POST', mp + '/transitions', body={'to': 'cancelled', 'comment': 'нет'},
                   token=head, headers={'If-Match': w.etag(mp)})
        self.assertIn('operator', assert_problem(r, 403)['detail'])
        w.move(m['id'], 'done', token=head)
        # the municipality's milestone: visible, not the head's to write
        mm = w.milestone(mun['id'])
        mmp = '%s/milestones/%d' % (API, mm['id'])
        assert_status(w.get(mmp, token=head), 200)
        assert_problem(w.call('PATCH', mmp, body={'progress_report': 'x'}, token=head,
                              headers={'If-Match': w.etag(mmp)}), 403)
        assert_problem(w.call('POST', mmp + '/transitions', body={'to': 'in_progress'},
                              token=head, headers={'If-Match': w.etag(mmp)}), 403)
        # another organization's: invisible
        om = w.milestone(other['id'])
        omp = '%s/milestones/%d' % (API, om['id'])
        assert_problem(w.get(omp, token=head), 404)
        assert_problem(w.call('PATCH', omp, body={'progress_report': 'x'}, token=head,
                              headers={'If-Match': w.etag(omp)}), 404)
        # heads and experts do not plan milestones
        for role in ('head', 'expert', 'portal'):
            assert_problem(w.call('POST', '%s/roadmaps/%d/milestones' % (API, own['id']),
                                  body={'number': '1', 'title': 'Т'}, token=self.tok(role)),
                           403, role)
        assert_problem(w.call('PATCH', mp, body={'progress_report': 'x'},
                              token=self.tok('expert'), headers={'If-Match': w.etag(mp)}), 403)

    def test_participants(self):
        w = self.w
        mun = w.roadmap('municipal')
        reg = w.roadmap('regional')
        m = w.milestone(mun['id'])
        pp = '%s/milestones/%d/participants' % (API, m['id'])
        tok = self.tok('municipal_operator')
        r = w.call('POST', pp, body={'manager_id': w.mgr_a1}, token=tok)
        assert_status(r, 201)
        self.assertEqual((r.json['manager_id'], r.json['full_name'], r.json['organization_id']),
                         (w.mgr_a1, 'Иванова Анна Петровна', w.org_a1))
        self.assertTrue(r.headers.get('location', '').endswith('/participants/%d' % w.mgr_a1))
        assert_status(w.call('POST', pp, body={'manager_id': w.mgr_a1b}, token=tok), 201)
        assert_problem(w.call('POST', pp, body={'manager_id': w.mgr_a1}, token=tok), 409)
        # not in the roadmap's territory (another municipality, another region), or missing
        for mgr in (w.mgr_a2, w.mgr_b1, 999999):
            self.refused('POST', pp, {'manager_id': mgr}, 400, ['manager_id'], token=tok)
        self.refused('POST', pp, {'manager_id': 'x', 'y': 1}, 400, ['manager_id', 'y'])
        for role in ('head', 'expert', 'portal'):
            assert_problem(w.call('POST', pp, body={'manager_id': w.mgr_a1}, token=self.tok(role)),
                           403, role)
        got = w.get(pp, token=tok).json
        self.assertEqual(sorted(x['manager_id'] for x in got['items']), sorted([w.mgr_a1,
                                                                               w.mgr_a1b]))
        self.assertEqual(w.get('%s/milestones/%d' % (API, m['id']), token=tok)
                         .json['participant_count'], 2)
        # a head sees the milestone and, of its participants, itself
        got = w.get(pp, token=self.tok('head')).json
        self.assertEqual([x['manager_id'] for x in got['items']], [w.mgr_a1])
        # the regional roadmap's milestone: any manager of the region, by its writers only
        rm = w.milestone(reg['id'])
        rp = '%s/milestones/%d/participants' % (API, rm['id'])
        assert_problem(w.call('POST', rp, body={'manager_id': w.mgr_a1}, token=tok), 403)
        assert_status(w.call('POST', rp, body={'manager_id': w.mgr_a2},
                             token=self.tok('regional_operator')), 201)
        # removal
        assert_problem(w.call('DELETE', '%s/%d' % (pp, w.mgr_a1), token=self.tok('head')), 403)
        r = w.call('DELETE', '%s/%d' % (pp, w.mgr_a1), token=tok)
        self.assertEqual(r.status, 204, r)
        assert_problem(w.call('DELETE', '%s/%d' % (pp, w.mgr_a1), token=tok), 404)
        self.assertEqual(int(w.sql("SELECT count(*) FROM audit_events WHERE entity = "
                                   "'milestone' AND entity_id = %d AND action LIKE "
                                   "'participant_%%'" % m['id'])), 3)
        # outside the scope: 404
        bm = w.milestone(w.roadmap('regional', region_id=w.region_b)['id'])
        bp = '%s/milestones/%d/participants' % (API, bm['id'])
        for method, path, body in (('GET', bp, None), ('POST', bp, {'manager_id': w.mgr_b1}),
                                   ('DELETE', '%s/%d' % (bp, w.mgr_b1), None)):
            assert_problem(w.call(method, path, body=body, token=self.tok('regional_operator')),
                           404, method)

    def test_milestone_scope_404(self):
        w = self.w
        bm = w.milestone(w.roadmap('regional', region_id=w.region_b)['id'])
        mp = '%s/milestones/%d' % (API, bm['id'])
        tag = w.etag(mp)
        for role in ('regional_operator', 'municipal_operator', 'head', 'expert'):
            tok = self.tok(role)
            assert_problem(w.get(mp, token=tok), 404, role)
            if role == 'expert':
                continue
            assert_problem(w.call('PATCH', mp, body={'progress_report': 'x'}, token=tok,
                                  headers={'If-Match': tag}), 404, role)
            assert_problem(w.call('POST', mp + '/transitions', body={'to': 'in_progress'},
                                  token=tok, headers={'If-Match': tag}), 404, role)
        assert_status(w.get(mp, token=self.tok('regional_operator', 'B')), 200)
        assert_problem(w.get(mp, token=self.tok('portal')), 403)
        assert_problem(w.get(mp), 401)
        assert_problem(w.get(API + '/milestones/999999', token=w.admin.token), 404)
        assert_problem(w.get('%s/roadmaps/%d/milestones' % (API, bm['roadmap_id']),
                             token=self.tok('regional_operator')), 404)

    def test_overdue_list_scope(self):
        """Overdue against the real date: every 2021 deadline has passed."""
        w = self.w
        reg = w.roadmap('regional')
        mun2 = w.roadmap('municipal', municipality_id=w.muni_a2)
        own = w.roadmap('organization')
        regb = w.roadmap('regional', region_id=w.region_b)
        late = {}
        for rm in (reg, mun2, own, regb):
            late[rm['id']] = w.milestone(rm['id'], due_text='Сентябрь 2021 г.')
            w.milestone(rm['id'], due_text='Декабрь 2099 г.')
        done = w.milestone(own['id'], due_text='Сентябрь 2021 г.')
        w.move(done['id'], 'in_progress')
        w.move(done['id'], 'done')
        self.assertTrue(late[reg['id']]['overdue'])
        self.assertFalse(w.get('%s/milestones/%d' % (API, done['id']), token=w.admin.token)
                         .json['overdue'])
        mine = {late[rm['id']]['id'] for rm in (reg, mun2, own, regb)}
        expect = {
            'regional_operator': {reg['id'], mun2['id'], own['id']},
            'municipal_operator': {reg['id'], own['id']},
            'head': {reg['id'], own['id']},
            'expert': {reg['id'], mun2['id'], own['id']},
            'admin': {reg['id'], mun2['id'], own['id'], regb['id']},
        }
        for role, rms in expect.items():
            items, pages = w.walk(API + '/milestones', self.tok(role), limit=2, overdue='true')
            got = {m['id'] for m in items} & mine
            self.assertEqual(got, {late[i]['id'] for i in rms}, role)
            self.assertTrue(all(m['overdue'] for m in items), role)
            self.assertNotIn(done['id'], {m['id'] for m in items})
        # filters
        items = w.walk(API + '/milestones', w.admin.token, overdue='false',
                       roadmap_id=own['id'])[0]
        self.assertEqual(len(items), 2)
        items = w.walk(API + '/milestones', w.admin.token, status='done', level='organization',
                       region_id=w.region_a)[0]
        self.assertIn(done['id'], {m['id'] for m in items})
        self.assertTrue(all(m['status'] == 'done' for m in items))
        rm = w.get(API + '/roadmaps/%d' % own['id'], token=w.admin.token).json['milestones']
        self.assertEqual((rm['total'], rm['overdue'], rm['done']), (3, 1, 1))
        assert_fields(w.get(url(API + '/milestones', overdue='yes', status='late', level='x',
                                roadmap_id='-1'), token=w.admin.token), 400,
                      ['overdue', 'status', 'level', 'roadmap_id'])
        assert_problem(w.get(API + '/milestones', token=self.tok('portal')), 403)


class ClockTest(harness.DaemonTestCase):
    """EFFMON_NOW moves em_today() in test builds (production builds do not read it:
    tests/unit/test_config_production.c)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.w = RoadmapWorld(cls.daemon, cls.cluster)
        assert hooks_enabled(), 'the integration tests need a build with -Dtest_hooks=true'

    def daemon_at(self, today):
        d = harness.Daemon(self.cluster, env={'EFFMON_NOW': today}, migrate=False)
        self.addCleanup(d.destroy)
        tok = d.login('root', rf.PASSWORD)
        return d, tok

    def test_overdue_follows_the_clock(self):
        w = self.w
        rm = w.roadmap('municipal', period_from='2021-01-01', period_to='2022-12-31')
        sept = w.milestone(rm['id'], due_text='Сентябрь 2021 г.')
        annual = w.milestone(rm['id'], due_text='Ежегодно в соответствии с планом-графиком')
        cont = w.milestone(rm['id'], due_text='В течение всего периода')
        started = w.milestone(rm['id'], due_text='до 1 октября 2021 г.')
        w.move(started['id'], 'in_progress')
        ids = {'sept': sept['id'], 'annual': annual['id'], 'cont': cont['id'],
               'started': started['id']}

        def overdue_at(today):
            d, tok = self.daemon_at(today)
            flags = {k: d.request('GET', '%s/milestones/%d' % (API, i), token=tok).json['overdue']
                     for k, i in ids.items()}
            listed = d.request('GET', url(API + '/milestones', overdue='true',
                                          roadmap_id=rm['id'], limit=500), token=tok).json
            self.assertEqual({m['id'] for m in listed['items']},
                             {ids[k] for k, v in flags.items() if v}, today)
            counted = d.request('GET', '%s/roadmaps/%d' % (API, rm['id']),
                                token=tok).json['milestones']['overdue']
            self.assertEqual(counted, sum(flags.values()), today)
            d.stop()
            return flags

        self.assertEqual(overdue_at('2021-09-30'), {'sept': False, 'annual': False,
                                                    'cont': False, 'started': False})
        self.assertEqual(overdue_at('2021-10-01'), {'sept': True, 'annual': False,
                                                    'cont': False, 'started': False})
        self.assertEqual(overdue_at('2021-10-02'), {'sept': True, 'annual': False,
                                                    'cont': False, 'started': True})
        # after the roadmap's period: the annual and continuous ones are late too
        self.assertEqual(overdue_at('2023-01-01'), {'sept': True, 'annual': True,
                                                    'cont': True, 'started': True})
        w.move(sept['id'], 'cancelled', comment='перенесено')
        self.assertFalse(overdue_at('2023-01-01')['sept'])

    def test_bad_clock_refused(self):
        p = self.daemon.run('version', env={'EFFMON_NOW': '2021-02-30'})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('EFFMON_NOW', p.stderr)


SAROV_1 = ('Доведение регламента проведения мониторинга эффективности руководителей всех '
           'образовательных организаций Нижегородской области и механизма его реализации до '
           'руководителей ОО Сарова')
SAROV_14 = ('Организация выполнения руководителями ОО Сарова рекомендаций по результатам '
            'мониторинга эффективности руководителей всех образовательных организаций '
            'региона:')
SAROV_15 = ('Подготовка предложений по внесению изменений в нормативно-правовые документы '
            'системы мониторинга эффективности руководителей всех ОО региона')
SAROV_15_RESULT = ('Аналитическое обоснование изменений в нормативно-правовые акты системы '
                   'эффективности руководителей всех ОО региона')
SVERD_2_MUNI = ('Проведение аттестации руководителей образовательных организаций на основе '
                'оценки компетенций руководителей. Введение эффективного контракта в '
                'образовательной организации')
SVERD_19_ORG = ('Коррекция управленческой деятельности руководителя образовательной '
                'организации на основе адресных рекомендаций по итогам анализа результатов '
                'мониторинга показателей эффективности деятельности руководителей '
                'образовательных организаций')


class DemoRoadmapTest(harness.DaemonTestCase):
    """load-demo: both seed roadmaps, verbatim, once; added to an older demo install."""

    def load(self):
        p = self.daemon.run('load-demo', timeout=180)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p.stdout

    def sql(self, q):
        return self.cluster.psql(q)

    def counts(self):
        return self.sql("SELECT (SELECT count(*) FROM roadmaps), (SELECT count(*) FROM "
                        "milestones), (SELECT count(*) FROM municipalities), (SELECT count(*) "
                        "FROM audit_events)")

    def milestones(self, roadmap):
        r = self.daemon.request('GET', '%s/roadmaps/%d/milestones' % (API, roadmap),
                                token=self.admin)
        assert_status(r, 200)
        return {m['number']: m for m in r.json['items']}

    def test_seeded_roadmaps(self):
        out = self.load()
        self.assertIn('Sarov', out)
        self.daemon.create_user('root', 'admin', rf.PASSWORD)
        self.admin = self.daemon.login('root', rf.PASSWORD)
        region = int(self.sql("SELECT id FROM regions WHERE code = '98'"))
        sarov = self.sql("SELECT id FROM municipalities WHERE region_id = %d AND name LIKE "
                         "'%%Саров%%'" % region)
        self.assertTrue(sarov)
        r = self.daemon.request('GET', url(API + '/roadmaps', municipality_id=sarov),
                                token=self.admin).json['items']
        # the seeded roadmap 2.1, and demo/cycle.sql's 2025-2026 continuation
        self.assertEqual(sorted(x['period_from'] for x in r), ['2021-01-01', '2025-07-01'])
        rm = next(x for x in r if x['period_from'] == '2021-01-01')
        self.assertEqual(rm['level'], 'municipal')
        self.assertIn('«дорожная карта» 2.1', rm['title'])
        self.assertEqual((rm['period_from'], rm['period_to']), ('2021-01-01', '2022-12-31'))
        self.assertEqual(rm['milestones']['total'], 15)
        ms = self.milestones(rm['id'])
        self.assertEqual(sorted(ms, key=int), [str(i) for i in range(1, 16)])
        one, m14, m15 = ms['1'], ms['14'], ms['15']
        self.assertEqual((one['title'], one['due_text'], one['due_on'], one['recurrence'],
                          one['executors'], one['expected_result']),
                         (SAROV_1, 'Сентябрь 2021 г.', '2021-09-30', 'once',
                          ['Департамент образования'],
                          'Проведено совещание с руководителями ОО Сарова'))
        self.assertEqual((m14['title'], m14['due_text'], m14['due_on'], m14['executors']),
                         (SAROV_14, 'Август 2022 г.', '2022-08-31',
                          ['Департамент образования', 'МБОУ ДПО МЦ', 'ОО']))
        self.assertIn(m14['expected_result'], (None, ''))
        self.assertEqual((m15['title'], m15['due_text'], m15['due_on'], m15['executors'],
                          m15['expected_result']),
                         (SAROV_15, 'ноябрь 2022 г.', '2022-11-30',
                          ['Департамент образования', 'МБОУ ДПО МЦ', 'ОО'], SAROV_15_RESULT))
        self.assertEqual((ms['5']['recurrence'], ms['5']['due_on']), ('continuous',
                                                                     '2022-12-31'))
        self.assertEqual((ms['7']['due_text'], ms['7']['recurrence'], ms['7']['due_on']),
                         ('Ежегодно в соответствии с планом-графиком курсовой подготовки НИРО',
                          'annual', None))
        self.assertEqual((ms['12']['due_text'], ms['12']['due_on'], ms['12']['executors']),
                         ('2022 г.', '2022-12-31', ['Департамент образования', 'ОО']))
        self.assertTrue(all(m['expected_result'] for n, m in ms.items() if n != '14'))

        # the Sverdlovsk matrix: one roadmap per column, 20 rows each
        sv = self.daemon.request('GET', url(API + '/roadmaps', q='Система мониторинга '
                                            'эффективности руководителей всех ОО региона'),
                                 token=self.admin).json['items']
        self.assertEqual(sorted(x['level'] for x in sv), ['municipal', 'organization',
                                                          'regional'])
        by = {x['level']: x for x in sv}
        for x in sv:
            self.assertEqual(x['milestones']['total'], 20, x['level'])
            self.assertEqual((x['period_from'], x['period_to']), ('2020-01-01', '2021-12-31'))
        muni = self.milestones(by['municipal']['id'])
        org = self.milestones(by['organization']['id'])
        reg = self.milestones(by['regional']['id'])
        self.assertEqual(muni['2']['title'], SVERD_2_MUNI)
        self.assertIsNone(muni['2']['due_text'])
        self.assertEqual((org['19']['title'], org['19']['due_text'], org['19']['due_on']),
                         (SVERD_19_ORG, '2021 год', '2021-12-31'))
        self.assertEqual((reg['10']['due_text'], reg['10']['due_on']), ('2020 год',
                                                                       '2020-12-31'))
        self.assertTrue(reg['1']['title'].startswith(
            'Разработка региональных показателей эффективности деятельности руководителей '
            'образовательных организаций с учетом специфики образовательной организации:\n'
            'по совершенствованию сети ОО;\n'))
        self.assertTrue(reg['1']['title'].endswith('по профессиональному развитию педагогов'))
        self.assertEqual(org['1']['title'].split('\n')[-1],
                         'Самооценка руководителем ОО эффективности деятельности')
        years = [m['due_text'] for m in reg.values()]
        self.assertEqual((years.count(None), years.count('2020 год'), years.count('2021 год')),
                         (8, 6, 6))
        # the organization's roadmap is demo-head's organization
        self.assertEqual(by['organization']['municipality_id'], by['municipal']['municipality_id'])

        # once: a second load changes nothing
        before = self.counts()
        self.load()
        self.assertEqual(self.counts(), before)

        # an install loaded before roadmaps existed gets them, and nothing else
        self.sql('DELETE FROM milestone_transitions; DELETE FROM milestone_participants; '
                 'DELETE FROM milestones; DELETE FROM roadmaps')
        munis = self.sql('SELECT count(*) FROM municipalities')
        out = self.load()
        self.assertEqual(self.sql('SELECT count(*) FROM roadmaps'), '4')
        self.assertEqual(self.sql('SELECT count(*) FROM milestones'), str(15 + 3 * 20))
        self.assertEqual(self.sql('SELECT count(*) FROM municipalities'), munis)


if __name__ == '__main__':
    harness.main()
