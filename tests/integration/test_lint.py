#!/usr/bin/python3
"""
test_lint.py - the policy lint of a campaign's indicator catalog: GET /campaigns/{id}/lint
(its findings for a catalog in any status, ETag/304, roles and scope), the refusal to open a
draft whose catalog has an error finding (a 409 naming every offending indicator, nothing
written), each rule (vpr_raw, bounds, no_weight; empty_direction as a warning), the
indicators' data_kind (default, PATCH, copied with the catalog) and the cycle report's
count of findings in its indicators step.

The bounds rule is behind a CHECK constraint of its own (the API refuses min >= max), so
its test drops that constraint in this file's private cluster to stand for data written
before the constraint or by hand, and puts it back afterwards.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem, assert_status  # noqa: E402
import registry_fixtures as rf  # noqa: E402
from registry_fixtures import API, assert_fields, error_fields  # noqa: E402

DIRECTIONS = ['network', 'management', 'student_results', 'reserve', 'objectivity',
              'conditions', 'individualization', 'career_guidance',
              'management_qualification', 'teacher_development']


class LintTest(harness.DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.w = rf.World(cls.daemon, cls.cluster)
        cls.years = iter(range(2040, 2100))

    # --- helpers

    def campaign(self, region=None, catalog_from=None):
        w = self.w
        y = next(self.years)
        body = {'region_id': region or w.region_a, 'year': y, 'title': 'Мониторинг %d' % y,
                'goals': ['Цель'], 'opens_at': '2026-03-01T00:00:00+03:00',
                'closes_at': '2026-04-30T23:59:59+03:00', 'catalog_from': catalog_from}
        return w.create(API + '/campaigns', body)

    def indicator(self, camp, code, direction='management', **over):
        b = {'code': code, 'name': 'Показатель ' + code, 'direction': direction,
             'value_type': 'number', 'min_value': 0, 'max_value': 10, 'weights': {'school': 1}}
        b.update(over)
        return self.w.create('%s/campaigns/%d/indicators' % (API, camp), b)

    def lint(self, camp, token=None, expect=200):
        r = self.w.call('GET', '%s/campaigns/%d/lint' % (API, camp),
                        token=token or self.w.admin.token)
        assert_status(r, expect, 'lint of %d' % camp)
        return r

    def open_it(self, camp, expect):
        w = self.w
        path = '%s/campaigns/%d' % (API, camp)
        before = (w.audit_count(), w.sql('SELECT count(*) FROM submissions WHERE campaign_id '
                                         '= %d' % camp))
        r = w.call('POST', path + '/transitions', body={'to': 'open'}, token=w.admin.token,
                   headers={'If-Match': w.etag(path)})
        if expect != 200:
            after = (w.audit_count(), w.sql('SELECT count(*) FROM submissions WHERE '
                                            'campaign_id = %d' % camp))
            self.assertEqual(after, before, 'a refused opening wrote something')
            self.assertEqual(w.sql('SELECT status FROM campaigns WHERE id = %d' % camp),
                             'draft')
        assert_status(r, expect, 'open %d' % camp)
        return r

    def findings(self, doc, severity=None):
        return [(f['code'], f['rule'], f['field']) for f in doc['findings']
                if severity is None or f['severity'] == severity]

    # --- tests

    def test_1_clean_catalog_has_warnings_only(self):
        c = self.campaign()['id']
        self.indicator(c, 'm1', 'management', data_kind='management')
        self.indicator(c, 'o1', 'objectivity', data_kind='objectivity_marker')
        doc = self.lint(c).json
        self.assertEqual((doc['campaign_id'], doc['status'], doc['errors']), (c, 'draft', 0))
        empty = [d for d in DIRECTIONS if d not in ('management', 'objectivity')]
        self.assertEqual(sorted(f['direction'] for f in doc['findings']), sorted(empty))
        for f in doc['findings']:
            self.assertEqual((f['rule'], f['severity'], f['field'], f['indicator_id']),
                             ('empty_direction', 'warning', 'direction', None))
            self.assertIn(f['direction'], f['message'])
        self.assertEqual(doc['warnings'], len(empty))
        # warnings do not stop the opening
        assert_status(self.open_it(c, 200), 200)
        self.assertEqual(self.lint(c).json['status'], 'open')

    def test_2_vpr_raw_and_no_weight_refuse_the_opening(self):
        w = self.w
        c = self.campaign()['id']
        self.indicator(c, 'ok', 'management')
        vpr = self.indicator(c, 'res.vpr', 'student_results', data_kind='vpr_raw')
        zero = self.indicator(c, 'nobody', 'network', weights={'school': 0, 'preschool': 0})
        empty = self.indicator(c, 'empty', 'conditions', weights={})
        self.assertEqual(vpr['data_kind'], 'vpr_raw')
        doc = self.lint(c).json
        self.assertEqual(sorted(self.findings(doc, 'error')),
                         [('empty', 'no_weight', 'weights'), ('nobody', 'no_weight', 'weights'),
                          ('res.vpr', 'vpr_raw', 'data_kind')])
        self.assertEqual(doc['errors'], 3)
        f = [x for x in doc['findings'] if x['rule'] == 'vpr_raw'][0]
        self.assertEqual((f['indicator_id'], f['direction']), (vpr['id'], 'student_results'))
        self.assertIn('ВПР', f['message'])
        r = self.open_it(c, 409)
        doc = assert_fields(r, 409, ['indicators[res.vpr].data_kind',
                                     'indicators[nobody].weights',
                                     'indicators[empty].weights'])
        self.assertIn('policy lint', doc['detail'])
        self.assertEqual(len(doc['errors']), 3, doc)
        # fixing them one by one: the 409 names what is left
        for ind, body in ((vpr, {'data_kind': 'objectivity_marker'}),
                          (zero, {'weights': {'preschool': 2}})):
            r = w.call('PATCH', '%s/indicators/%d' % (API, ind['id']), body=body,
                       token=w.admin.token, headers={'If-Match': '"%d"' % ind['version']})
            assert_status(r, 200, 'PATCH %s' % ind['code'])
        r = self.open_it(c, 409)
        self.assertEqual(error_fields(r), {'indicators[empty].weights'})
        r = w.call('PATCH', '%s/indicators/%d' % (API, empty['id']),
                   body={'weights': {'school': 1}}, token=w.admin.token,
                   headers={'If-Match': '"%d"' % empty['version']})
        assert_status(r, 200, 'PATCH empty')
        self.assertEqual(self.lint(c).json['errors'], 0)
        self.open_it(c, 200)

    def test_3_bounds_of_rows_written_around_the_api(self):
        w = self.w
        c = self.campaign()['id']
        ind = self.indicator(c, 'b1', 'management', min_value=0, max_value=10)
        w.sql('ALTER TABLE indicators DROP CONSTRAINT indicators_bounds')
        try:
            w.sql('UPDATE indicators SET min_value = 10 WHERE id = %d' % ind['id'])
            doc = self.lint(c).json
            self.assertEqual(self.findings(doc, 'error'), [('b1', 'bounds', 'min_value')])
            assert_fields(self.open_it(c, 409), 409, ['indicators[b1].min_value'])
            w.sql('UPDATE indicators SET min_value = 0 WHERE id = %d' % ind['id'])
        finally:
            w.sql('UPDATE indicators SET min_value = 0 WHERE id = %d' % ind['id'])
            w.sql("ALTER TABLE indicators ADD CONSTRAINT indicators_bounds CHECK (CASE WHEN "
                  "value_type = 'boolean' THEN min_value IS NULL AND max_value IS NULL ELSE "
                  "min_value IS NOT NULL AND max_value IS NOT NULL AND min_value < max_value "
                  "END)")
        self.assertEqual(self.lint(c).json['errors'], 0)

    def test_4_data_kind_default_and_copy(self):
        w = self.w
        c = self.campaign()['id']
        plain = self.indicator(c, 'p1', 'management')
        self.assertEqual(plain['data_kind'], 'management')
        self.indicator(c, 'g1', 'student_results', data_kind='exam_results')
        self.indicator(c, 'v1', 'student_results', data_kind='vpr_raw')
        # a new campaign copies the catalog with its data kinds, and its lint finds the same
        copy = self.campaign(catalog_from=c)['id']
        got = w.sql("SELECT string_agg(code || ':' || data_kind, ',' ORDER BY code) FROM "
                    "indicators WHERE campaign_id = %d" % copy)
        self.assertEqual(got, 'g1:exam_results,p1:management,v1:vpr_raw')
        self.assertEqual(self.findings(self.lint(copy).json, 'error'),
                         [('v1', 'vpr_raw', 'data_kind')])
        # the cycle report's indicators step counts the kinds and the lint's error findings
        r = w.call('GET', '%s/campaigns/%d/cycle-report' % (API, copy), token=w.admin.token)
        assert_status(r, 200, 'cycle report')
        step = [s for s in r.json['steps'] if s['key'] == 'indicators'][0]
        self.assertEqual(step['policy_lint'], {'vpr_raw': 1, 'bounds': 0, 'no_weight': 0})
        self.assertEqual({k: v for k, v in step['by_data_kind'].items() if v},
                         {'management': 1, 'exam_results': 1, 'vpr_raw': 1})
        self.assertEqual(sorted(i['data_kind'] for i in step['items']),
                         ['exam_results', 'management', 'vpr_raw'])
        html = w.call('GET', '%s/campaigns/%d/cycle-report' % (API, copy), token=w.admin.token,
                      headers={'Accept': 'text/html'})
        assert_status(html, 200, 'cycle report html')
        self.assertIn('на первичных результатах ВПР — 1', html.body.decode('utf-8'))
        self.assertIn('первичные результаты ВПР', html.body.decode('utf-8'))

    def test_5_roles_scope_and_conditional(self):
        w = self.w
        c = self.campaign()['id']
        self.indicator(c, 'x1', 'management')
        for role in ('admin', 'regional_operator', 'municipal_operator', 'head', 'expert',
                     'portal'):
            r = self.lint(c, token=w.token(role, 'A'))
            self.assertEqual(r.json['campaign_id'], c)
            if role != 'admin':
                r = w.call('GET', '%s/campaigns/%d/lint' % (API, c), token=w.token(role, 'B'))
                assert_problem(r, 404, '%s of region B' % role)
        r = w.call('GET', '%s/campaigns/%d/lint' % (API, c))
        assert_problem(r, 401, 'anonymous')
        for bad in ('999999999', '0', 'abc', '-1'):
            r = w.call('GET', '%s/campaigns/%s/lint' % (API, bad), token=w.admin.token)
            self.assertIn(r.status, (400, 404), r)
            assert_problem(r, r.status, 'campaign %s' % bad)
        r = self.lint(c)
        etag = r.headers.get('etag')
        self.assertTrue(etag, r)
        again = w.call('GET', '%s/campaigns/%d/lint' % (API, c), token=w.admin.token,
                       headers={'If-None-Match': etag})
        self.assertEqual(again.status, 304, again)
        # a change of the catalog changes the answer and its tag
        self.indicator(c, 'x2', 'management', data_kind='vpr_raw')
        changed = self.lint(c)
        self.assertNotEqual(changed.headers.get('etag'), etag)
        self.assertEqual(changed.json['errors'], 1)
        r = w.call('POST', '%s/campaigns/%d/lint' % (API, c), token=w.admin.token, body={})
        self.assertEqual(r.status, 405, r)


if __name__ == '__main__':
    harness.main()
